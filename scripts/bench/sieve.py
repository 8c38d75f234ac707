# Sieve of Eratosthenes to 2 M over a list of bools.
def main():
    n = 2_000_000
    flags = [True] * (n + 1)
    flags[0] = False
    flags[1] = False
    i = 2
    while i * i <= n:
        if flags[i]:
            j = i * i
            while j <= n:
                flags[j] = False
                j += i
        i += 1
    count = 0
    last = 0
    k = 0
    while k <= n:
        if flags[k]:
            count += 1
            last = k
        k += 1
    print(count, last)

main()
