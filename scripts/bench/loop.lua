-- 10 M-iteration arithmetic while loop over locals.
local function main()
    local i = 0
    local s = 0
    local t = 0
    while i < 10000000 do
        s = (s + i * 3) % 1000003
        t = t + (i // 7 - i % 5)
        i = i + 1
    end
    print(string.format("%d %d", s, t))
end
main()
