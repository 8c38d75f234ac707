# List building and sorting: sort (ints and strings), sorted, reverse, slice,
# copy, concatenation, membership, index, min/max, list-of-lists.
def main():
    seed = 42
    checksum = 0
    for rep in range(40):
        xs = []
        for i in range(20000):
            seed = (seed * 1103515245 + 12345) % 2147483648
            xs.append(seed % 100000)
        ys = xs.copy()
        ys.sort()
        zs = sorted(xs)
        ys.reverse()
        top = ys[0:10]
        bottom = zs[0:10]
        merged = top + bottom
        checksum += merged[3] + merged[13] + min(xs) + max(xs)
        evens = []
        for x in zs:
            if x % 2 == 0:
                evens.append(x // 2)
        checksum += len(evens) + evens[len(evens) // 2]
        probe = xs[0:200]
        found = 0
        for k in range(0, 100000, 500):
            if k in probe:
                found += 1
        checksum += found + probe.index(xs[150])
        names = []
        for x in xs[0:4000]:
            names.append("n" + str(x % 977))
        names.sort()
        checksum += len(names[0]) + len(names[len(names) - 1])
        pairs = []
        for i in range(2000):
            pairs.append([xs[i] % 50, i])
        buckets = [0] * 50
        for p in pairs:
            buckets[p[0]] += p[1]
        checksum += max(buckets) - min(buckets)
    print(checksum)

main()
