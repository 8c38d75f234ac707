# String methods: format, upper/lower, replace, slicing, char indexing,
# startswith/endswith, find, split, concatenation, str()/int() conversions.
def main():
    n = 400000
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    total = 0
    upper_hits = 0
    prefix_hits = 0
    digits = 0
    lines = []
    for i in range(n):
        w = words[i % 8]
        line = "{:>8}|{:<6}|{:05}|{:.2f}".format(w, i % 97, i, i / 7)
        u = line.upper()
        if "ETA" in u:
            upper_hits += 1
        r = line.replace("|", ", ")
        head = r[0:10]
        tail = r[len(r) - 6:]
        if head.strip().startswith("e") or tail.endswith("00"):
            prefix_hits += 1
        c = line[i % len(line)]
        if c >= "0" and c <= "9":
            digits += 1
        parts = line.split("|")
        total += int(parts[2]) + len(parts[0].strip()) + parts[3].find(".")
        key = w.lower() + "-" + str(i % 13)
        if i % 1000 == 0:
            lines.append(key + ":" + head)
        total += len(key) + len(u)
    print(total, upper_hits, prefix_hits, digits, len(lines))
    print(";".join(lines[0:3]))

main()
