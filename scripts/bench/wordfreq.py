# Text processing: iterate characters of a string, build words char by char,
# count them in a dict, then sort the (count, word) results.
def make_text(n):
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "so", "vi", "de", "po"]
    seed = 7
    words = []
    for i in range(n):
        seed = (seed * 1103515245 + 12345) % 2147483648
        w = syll[seed % 10] + syll[(seed // 10) % 10]
        if seed % 3 == 0:
            w += syll[(seed // 100) % 10]
        if seed % 11 == 0:
            w = w.upper()
        words.append(w)
        if seed % 13 == 0:
            words.append(".")
    return " ".join(words)

def main():
    text = make_text(800000)
    counts = {}
    cur = ""
    letters = 0
    for ch in text:
        if (ch >= "a" and ch <= "z") or (ch >= "A" and ch <= "Z"):
            cur += ch
            letters += 1
        elif len(cur) > 0:
            w = cur.lower()
            counts[w] = counts.get(w, 0) + 1
            cur = ""
    if len(cur) > 0:
        counts[cur.lower()] = counts.get(cur.lower(), 0) + 1
    keys = []
    for w, c in counts.items():
        keys.append("{:06}:{}".format(999999 - c, w))
    keys.sort()
    top = []
    for k in keys[0:5]:
        top.append(k.split(":")[1])
    print(len(text), letters, len(counts), ",".join(top))

main()
