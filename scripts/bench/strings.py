# Build 200 k strings, join them, split back, search.
def main():
    n = 200_000
    parts = []
    for i in range(n):
        parts.append("item-" + str(i))
    s = ",".join(parts)
    back = s.split(",")
    count = 0
    total = 0
    for p in back:
        if "7" in p:
            count += 1
        total += len(p)
    pos = s.find("item-199999")
    missing = s.find("item-200000")
    print(len(s), len(back), count, total, pos, missing)

main()
