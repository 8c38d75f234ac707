-- Table iteration and mutation: pairs over string and int keys, get with
-- default, removal (assign nil), copy. (Lua tables are unordered; the
-- computed totals do not depend on order.)
local function main()
    local total, removed = 0, 0
    for rep = 0, 199 do
        local m, mn = {}, 0
        for i = 0, 4999 do m["key" .. tostring(i)] = i * 3 + rep; mn = mn + 1 end
        local ints, intn = {}, 0
        for i = 0, 4999 do ints[i * 7] = i; intn = intn + 1 end
        for k, v in pairs(m) do
            if v % 5 == 0 then total = total + #k end
        end
        for k in pairs(m) do total = total + #k % 3 end
        for _, v in pairs(m) do total = total + v % 11 end
        for k, v in pairs(ints) do total = total + (k + v) % 13 end
        for i = 0, 4999, 3 do
            local key = "key" .. tostring(i)
            local v = m[key]
            m[key] = nil
            if v ~= nil then removed = removed + 1; mn = mn - 1 end
        end
        for i = 0, 9999 do
            local v = ints[i]
            if v == nil then v = -1 end
            total = total + v
        end
        local c, cn = {}, 0
        for k, v in pairs(m) do c[k] = v; cn = cn + 1 end
        for k, v in pairs(c) do
            if v % 2 == 0 then c[k] = nil; cn = cn - 1 end
        end
        local counts, ncounts = {}, 0
        for k, v in pairs(m) do
            local b = v % 17
            if counts[b] == nil then counts[b] = 0; ncounts = ncounts + 1 end
            counts[b] = counts[b] + 1
        end
        total = total + mn + cn + intn + counts[3] + ncounts
    end
    print(string.format("%d %d", total, removed))
end
main()
