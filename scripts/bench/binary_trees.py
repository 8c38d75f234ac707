# Binary trees (benchmarks-game algorithm), max depth 16.
# Optional argument: the max depth (default 16).
# A node is a list [left, right]; a leaf is [None, None].
import sys

def make(d):
    if d == 0:
        return [None, None]
    return [make(d - 1), make(d - 1)]

def check(t):
    if t[0] is None:
        return 1
    return 1 + check(t[0]) + check(t[1])

def main():
    min_depth = 4
    max_depth = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    stretch = max_depth + 1
    print("stretch tree of depth", stretch, "check:", check(make(stretch)))
    long_lived = make(max_depth)
    d = min_depth
    while d <= max_depth:
        iters = 1
        e = 0
        while e < max_depth - d + min_depth:
            iters *= 2
            e += 1
        chk = 0
        for i in range(iters):
            chk += check(make(d))
        print(iters, "trees of depth", d, "check:", chk)
        d += 2
    print("long lived tree of depth", max_depth, "check:", check(long_lived))

main()
