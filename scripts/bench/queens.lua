-- Recursion with many small lists: n-queens by list concatenation, and all
-- permutations of a list built recursively with slice/concat/append.
local function concat(a, b)
    local r = {}
    for i = 1, #a do r[i] = a[i] end
    for i = 1, #b do r[#r + 1] = b[i] end
    return r
end
local function slice(t, a, b)
    local r = {}
    for i = a + 1, (b or #t) do r[#r + 1] = t[i] end
    return r
end

local function safe(cols, c)
    local row = #cols
    for r = 0, row - 1 do
        local d = cols[r + 1] - c
        if d == 0 or d == row - r or d == r - row then return false end
    end
    return true
end

local function queens(n, cols)
    if #cols == n then return 1 end
    local count = 0
    for c = 0, n - 1 do
        if safe(cols, c) then count = count + queens(n, concat(cols, {c})) end
    end
    return count
end

local function permutations(items)
    if #items <= 1 then return {slice(items, 0)} end
    local out = {}
    for i = 0, #items - 1 do
        local rest = concat(slice(items, 0, i), slice(items, i + 1))
        for _, p in ipairs(permutations(rest)) do
            p[#p + 1] = items[i + 1]
            out[#out + 1] = p
        end
    end
    return out
end

local function main()
    print(string.format("%d %d", queens(8, {}), queens(10, {})))
    local perms = permutations({1, 2, 3, 4, 5, 6, 7, 8, 9})
    local check = 0
    for i, p in ipairs(perms) do
        if p[1] < p[9] then check = check + p[4] * ((i - 1) % 7) end
    end
    print(string.format("%d %d [%s]", #perms, check, table.concat(perms[#perms], ", ")))
end
main()
