# Map iteration and mutation: for k, v in dict.items(), keys(), values(),
# items(), get() with default, pop(), copy(), int keys and string keys.
def main():
    total = 0
    removed = 0
    for rep in range(200):
        m = {}
        for i in range(5000):
            m["key" + str(i)] = i * 3 + rep
        ints = {}
        for i in range(5000):
            ints[i * 7] = i
        for k, v in m.items():
            if v % 5 == 0:
                total += len(k)
        for k in m.keys():
            total += len(k) % 3
        for v in m.values():
            total += v % 11
        for kv in ints.items():
            total += (kv[0] + kv[1]) % 13
        for i in range(0, 5000, 3):
            v = m.pop("key" + str(i), None)
            if v is not None:
                removed += 1
        for i in range(10000):
            total += ints.get(i, -1)
        c = m.copy()
        for k, v in list(c.items()):
            if v % 2 == 0:
                del c[k]
        counts = {}
        for k, v in m.items():
            b = v % 17
            counts[b] = counts.get(b, 0) + 1
        total += len(m) + len(c) + len(ints) + counts[3] + len(counts)
    print(total, removed)

main()
