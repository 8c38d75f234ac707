-- List building and sorting: sort (ints and strings), sorted copy, reverse,
-- slice, copy, concatenation, membership, index, min/max, list-of-lists.
local function copy(t) local r = {} for i = 1, #t do r[i] = t[i] end return r end
local function slice(t, a, b) local r = {} for i = a + 1, b do r[#r + 1] = t[i] end return r end
local function reverse(t)
    local i, j = 1, #t
    while i < j do t[i], t[j] = t[j], t[i]; i = i + 1; j = j - 1 end
end
local function contains(t, v) for i = 1, #t do if t[i] == v then return true end end return false end
local function index(t, v) for i = 1, #t do if t[i] == v then return i - 1 end end return -1 end
local function minl(t) local m = t[1] for i = 2, #t do if t[i] < m then m = t[i] end end return m end
local function maxl(t) local m = t[1] for i = 2, #t do if t[i] > m then m = t[i] end end return m end

local function main()
    local seed = 42
    local checksum = 0
    for rep = 1, 40 do
        local xs = {}
        for i = 1, 20000 do
            seed = (seed * 1103515245 + 12345) % 2147483648
            xs[#xs + 1] = seed % 100000
        end
        local ys = copy(xs)
        table.sort(ys)
        local zs = copy(xs)
        table.sort(zs)
        reverse(ys)
        local top = slice(ys, 0, 10)
        local bottom = slice(zs, 0, 10)
        local merged = copy(top)
        for i = 1, #bottom do merged[#merged + 1] = bottom[i] end
        checksum = checksum + merged[4] + merged[14] + minl(xs) + maxl(xs)
        local evens = {}
        for _, x in ipairs(zs) do
            if x % 2 == 0 then evens[#evens + 1] = x // 2 end
        end
        checksum = checksum + #evens + evens[#evens // 2 + 1]
        local probe = slice(xs, 0, 200)
        local found = 0
        for k = 0, 99999, 500 do
            if contains(probe, k) then found = found + 1 end
        end
        checksum = checksum + found + index(probe, xs[151])
        local names = {}
        for _, x in ipairs(slice(xs, 0, 4000)) do names[#names + 1] = "n" .. tostring(x % 977) end
        table.sort(names)
        checksum = checksum + #names[1] + #names[#names]
        local pairs_ = {}
        for i = 0, 1999 do pairs_[#pairs_ + 1] = {xs[i + 1] % 50, i} end
        local buckets = {}
        for i = 1, 50 do buckets[i] = 0 end
        for _, p in ipairs(pairs_) do buckets[p[1] + 1] = buckets[p[1] + 1] + p[2] end
        checksum = checksum + maxl(buckets) - minl(buckets)
    end
    print(checksum)
end
main()
