-- Build 200 k strings, join them, split back, search.
local function main()
    local n = 200000
    local parts = {}
    for i = 0, n - 1 do
        parts[#parts + 1] = "item-" .. tostring(i)
    end
    local s = table.concat(parts, ",")
    local back = {}
    for p in string.gmatch(s, "[^,]+") do
        back[#back + 1] = p
    end
    local count = 0
    local total = 0
    for _, p in ipairs(back) do
        if string.find(p, "7", 1, true) then count = count + 1 end
        total = total + #p
    end
    local pos = (string.find(s, "item-199999", 1, true) or 0) - 1
    local missing = (string.find(s, "item-200000", 1, true) or 0) - 1
    print(string.format("%d %d %d %d %d %d", #s, #back, count, total, pos, missing))
end
main()
