-- 5 M closure calls: an adder closure and a counter closure that
-- mutates a captured variable.
local function make_adder(n)
    return function(x) return x + n end
end

local function make_counter()
    local count = 0
    return function(step)
        count = count + step
        return count
    end
end

local function main()
    local add3 = make_adder(3)
    local counter = make_counter()
    local s = 0
    local c = 0
    local i = 0
    while i < 2500000 do
        s = add3(s) % 1000
        c = counter(2)
        i = i + 1
    end
    print(string.format("%d %d", s, c))
end
main()
