# Recursion with many small lists: n-queens by list concatenation, and all
# permutations of a list built recursively with slice/+/append.
def safe(cols, c):
    row = len(cols)
    for r in range(row):
        d = cols[r] - c
        if d == 0 or d == row - r or d == r - row:
            return False
    return True

def queens(n, cols):
    if len(cols) == n:
        return 1
    count = 0
    for c in range(n):
        if safe(cols, c):
            count += queens(n, cols + [c])
    return count

def permutations(items):
    if len(items) <= 1:
        return [items.copy()]
    out = []
    for i in range(len(items)):
        rest = items[0:i] + items[i + 1:]
        for p in permutations(rest):
            p.append(items[i])
            out.append(p)
    return out

def main():
    print(queens(8, []), queens(10, []))
    perms = permutations([1, 2, 3, 4, 5, 6, 7, 8, 9])
    check = 0
    for i, p in enumerate(perms):
        if p[0] < p[8]:
            check += p[3] * (i % 7)
    print(len(perms), check, "[" + ", ".join(str(x) for x in perms[len(perms) - 1]) + "]")

main()
