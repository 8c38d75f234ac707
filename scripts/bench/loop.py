# 10 M-iteration arithmetic while loop over locals.
def main():
    i = 0
    s = 0
    t = 0
    while i < 10_000_000:
        s = (s + i * 3) % 1_000_003
        t += i // 7 - i % 5
        i += 1
    print(s, t)

main()
