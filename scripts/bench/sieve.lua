-- Sieve of Eratosthenes to 2 M over a list (table) of bools.
local function main()
    local n = 2000000
    local flags = {}
    for k = 0, n do flags[k] = true end
    flags[0] = false
    flags[1] = false
    local i = 2
    while i * i <= n do
        if flags[i] then
            local j = i * i
            while j <= n do
                flags[j] = false
                j = j + i
            end
        end
        i = i + 1
    end
    local count = 0
    local last = 0
    local k = 0
    while k <= n do
        if flags[k] then
            count = count + 1
            last = k
        end
        k = k + 1
    end
    print(string.format("%d %d", count, last))
end
main()
