# 500 k string keys: insert, then look every key up again.
def main():
    n = 500_000
    m = {}
    for i in range(n):
        m["k" + str(i)] = i
    total = 0
    for i in range(n):
        total += m["k" + str(i)]
    hits = 0
    for i in range(0, n, 5):
        if ("k" + str(i * 3)) in m:
            hits += 1
    print(len(m), total, hits)

main()
