-- 500 k string keys: insert, then look every key up again.
local function main()
    local n = 500000
    local m = {}
    for i = 0, n - 1 do
        m["k" .. tostring(i)] = i
    end
    local size = 0
    for _ in pairs(m) do size = size + 1 end
    local total = 0
    for i = 0, n - 1 do
        total = total + m["k" .. tostring(i)]
    end
    local hits = 0
    for i = 0, n - 1, 5 do
        if m["k" .. tostring(i * 3)] ~= nil then hits = hits + 1 end
    end
    print(string.format("%d %d %d", size, total, hits))
end
main()
