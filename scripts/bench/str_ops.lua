-- String methods: format, upper/lower, replace, slicing, char indexing,
-- prefix/suffix tests, find, split, concatenation, tostring/tonumber.
local function split(s, sep)
    local out = {}
    local start = 1
    while true do
        local a = string.find(s, sep, start, true)
        if not a then out[#out + 1] = string.sub(s, start); return out end
        out[#out + 1] = string.sub(s, start, a - 1)
        start = a + #sep
    end
end

local function trim(s) return (string.gsub(s, "^%s*(.-)%s*$", "%1")) end

local function main()
    local n = 400000
    local words = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
    local total, upper_hits, prefix_hits, digits = 0, 0, 0, 0
    local lines = {}
    for i = 0, n - 1 do
        local w = words[i % 8 + 1]
        local line = string.format("%8s|%-6d|%05d|%.2f", w, i % 97, i, i / 7)
        local u = string.upper(line)
        if string.find(u, "ETA", 1, true) then upper_hits = upper_hits + 1 end
        local r = string.gsub(line, "|", ", ")
        local head = string.sub(r, 1, 10)
        local tail = string.sub(r, #r - 5)
        local h = trim(head)
        if string.sub(h, 1, 1) == "e" or string.sub(tail, -2) == "00" then
            prefix_hits = prefix_hits + 1
        end
        local p = i % #line + 1
        local c = string.sub(line, p, p)
        if c >= "0" and c <= "9" then digits = digits + 1 end
        local parts = split(line, "|")
        local dot = string.find(parts[4], ".", 1, true)
        total = total + math.tointeger(tonumber(parts[3])) + #trim(parts[1]) + (dot and dot - 1 or -1)
        local key = string.lower(w) .. "-" .. tostring(i % 13)
        if i % 1000 == 0 then lines[#lines + 1] = key .. ":" .. head end
        total = total + #key + #u
    end
    print(string.format("%d %d %d %d %d", total, upper_hits, prefix_hits, digits, #lines))
    print(table.concat({lines[1], lines[2], lines[3]}, ";"))
end
main()
