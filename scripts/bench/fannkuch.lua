-- Fannkuch-redux: permutations in lists, indexing, swapping, reversing prefixes.
-- (0-based indices kept in the tables, to mirror the other two versions.)
local function fannkuch(n)
    local perm1, count, perm = {}, {}, {}
    for i = 0, n - 1 do perm1[i] = i; count[i] = 0; perm[i] = 0 end
    local max_flips, checksum, sign, r = 0, 0, 1, n
    while true do
        while r ~= 1 do
            count[r - 1] = r
            r = r - 1
        end
        for i = 0, n - 1 do perm[i] = perm1[i] end
        local flips = 0
        local k = perm[0]
        while k ~= 0 do
            local i, j = 0, k
            while i < j do
                local t = perm[i]
                perm[i] = perm[j]
                perm[j] = t
                i = i + 1
                j = j - 1
            end
            flips = flips + 1
            k = perm[0]
        end
        if flips > max_flips then max_flips = flips end
        checksum = checksum + sign * flips
        sign = -sign
        -- next permutation
        while true do
            if r == n then return checksum, max_flips end
            local p0 = perm1[0]
            local i = 0
            while i < r do
                perm1[i] = perm1[i + 1]
                i = i + 1
            end
            perm1[r] = p0
            count[r] = count[r] - 1
            if count[r] > 0 then break end
            r = r + 1
        end
    end
end

local function main()
    local n = 9
    local checksum, max_flips = fannkuch(n)
    print(checksum)
    print(string.format("Pfannkuchen(%d) = %d", n, max_flips))
end
main()
