# 5 M closure calls: an adder closure and a counter closure that
# mutates a captured variable.
def make_adder(n):
    return lambda x: x + n

def make_counter():
    count = 0
    def inc(step):
        nonlocal count
        count += step
        return count
    return inc

def main():
    add3 = make_adder(3)
    counter = make_counter()
    s = 0
    c = 0
    i = 0
    while i < 2_500_000:
        s = add3(s) % 1_000
        c = counter(2)
        i += 1
    print(s, c)

main()
