-- Text processing: iterate characters of a string, build words char by char,
-- count them in a table, then sort the (count, word) results.
local function make_text(n)
    local syll = {"ka", "lo", "mi", "ne", "ru", "ta", "so", "vi", "de", "po"}
    local seed = 7
    local words = {}
    for i = 1, n do
        seed = (seed * 1103515245 + 12345) % 2147483648
        local w = syll[seed % 10 + 1] .. syll[(seed // 10) % 10 + 1]
        if seed % 3 == 0 then w = w .. syll[(seed // 100) % 10 + 1] end
        if seed % 11 == 0 then w = string.upper(w) end
        words[#words + 1] = w
        if seed % 13 == 0 then words[#words + 1] = "." end
    end
    return table.concat(words, " ")
end

local function main()
    local text = make_text(800000)
    local counts, ncounts = {}, 0
    local cur = ""
    local letters = 0
    for i = 1, #text do
        local ch = string.sub(text, i, i)
        if (ch >= "a" and ch <= "z") or (ch >= "A" and ch <= "Z") then
            cur = cur .. ch
            letters = letters + 1
        elseif #cur > 0 then
            local w = string.lower(cur)
            if counts[w] == nil then ncounts = ncounts + 1 end
            counts[w] = (counts[w] or 0) + 1
            cur = ""
        end
    end
    if #cur > 0 then
        local w = string.lower(cur)
        if counts[w] == nil then ncounts = ncounts + 1 end
        counts[w] = (counts[w] or 0) + 1
    end
    local keys = {}
    for w, c in pairs(counts) do keys[#keys + 1] = string.format("%06d:%s", 999999 - c, w) end
    table.sort(keys)
    local top = {}
    for i = 1, 5 do top[#top + 1] = string.match(keys[i], ":(.*)") end
    print(string.format("%d %d %d %s", #text, letters, ncounts, table.concat(top, ",")))
end
main()
