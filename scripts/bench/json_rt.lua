-- JSON round trip: build nested records, encode (compact), decode, then walk
-- the parsed structure. Lua has no json module: a small pure-Lua codec
-- stands in (objects keep their key order in a side list, like the others).
local NULL = setmetatable({}, {__tostring = function() return "null" end})

local function obj(keys, vals)  -- ordered object
    local t = {__keys = keys}
    for i, k in ipairs(keys) do t[k] = vals[i] end
    return t
end

local encode_value
local function encode_string(s, buf)
    buf[#buf + 1] = '"' .. s:gsub('[%c"\\]', function(c)
        if c == '"' then return '\\"' elseif c == '\\' then return '\\\\'
        elseif c == '\n' then return '\\n' else return string.format('\\u%04x', c:byte()) end
    end) .. '"'
end
encode_value = function(v, buf)
    local tv = type(v)
    if v == NULL then buf[#buf + 1] = "null"
    elseif tv == "boolean" then buf[#buf + 1] = v and "true" or "false"
    elseif tv == "number" then
        if math.type(v) == "integer" then buf[#buf + 1] = tostring(v)
        elseif v == math.floor(v) then buf[#buf + 1] = string.format("%.1f", v)
        else buf[#buf + 1] = string.format("%.17g", v) end
    elseif tv == "string" then encode_string(v, buf)
    elseif v.__keys then
        buf[#buf + 1] = "{"
        for i, k in ipairs(v.__keys) do
            if i > 1 then buf[#buf + 1] = "," end
            encode_string(k, buf)
            buf[#buf + 1] = ":"
            encode_value(v[k], buf)
        end
        buf[#buf + 1] = "}"
    else
        buf[#buf + 1] = "["
        for i = 1, #v do
            if i > 1 then buf[#buf + 1] = "," end
            encode_value(v[i], buf)
        end
        buf[#buf + 1] = "]"
    end
end
local function stringify(v)
    local buf = {}
    encode_value(v, buf)
    return table.concat(buf)
end

local function parse(s)
    local pos = 1
    local value
    local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
    local function str()
        local start = pos + 1
        local e = s:find('["\\]', start)
        if s:byte(e) == 34 then pos = e + 1; return s:sub(start, e - 1) end
        local parts = {}
        while true do
            e = s:find('["\\]', start)
            parts[#parts + 1] = s:sub(start, e - 1)
            if s:byte(e) == 34 then pos = e + 1; return table.concat(parts) end
            local c = s:sub(e + 1, e + 1)
            if c == "n" then parts[#parts + 1] = "\n"; start = e + 2
            elseif c == "u" then parts[#parts + 1] = utf8.char(tonumber(s:sub(e + 2, e + 5), 16)); start = e + 6
            else parts[#parts + 1] = c; start = e + 2 end
        end
    end
    value = function()
        ws()
        local c = s:byte(pos)
        if c == 123 then  -- {
            pos = pos + 1
            local keys, t = {}, {}
            ws()
            if s:byte(pos) == 125 then pos = pos + 1; t.__keys = keys; return t end
            while true do
                ws()
                local k = str()
                ws(); pos = pos + 1  -- ':'
                t[k] = value()
                keys[#keys + 1] = k
                ws()
                local d = s:byte(pos); pos = pos + 1
                if d == 125 then t.__keys = keys; return t end
            end
        elseif c == 91 then  -- [
            pos = pos + 1
            local t = {}
            ws()
            if s:byte(pos) == 93 then pos = pos + 1; return t end
            while true do
                t[#t + 1] = value()
                ws()
                local d = s:byte(pos); pos = pos + 1
                if d == 93 then return t end
            end
        elseif c == 34 then return str()
        elseif c == 116 then pos = pos + 4; return true
        elseif c == 102 then pos = pos + 5; return false
        elseif c == 110 then pos = pos + 4; return NULL
        else
            local a, b = s:find("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
            local text = s:sub(a, b)
            pos = b + 1
            if text:find("[.eE]") then return tonumber(text) + 0.0 end
            return math.tointeger(tonumber(text))
        end
    end
    return value()
end

local REC_KEYS = {"id", "name", "active", "score", "tags", "address"}
local ADDR_KEYS = {"city", "zip", "note"}

local function make_records(n)
    local recs = {}
    for i = 0, n - 1 do
        recs[#recs + 1] = obj(REC_KEYS, {
            i,
            "user-" .. tostring(i),
            i % 3 == 0,
            i * 0.5,
            {"t" .. tostring(i % 7), "g" .. tostring(i % 5), "x"},
            obj(ADDR_KEYS, {"city-" .. tostring(i % 50), 10000 + i, NULL}),
        })
    end
    return recs
end

local function main()
    local recs = make_records(2000)
    local total_len, acc, active = 0, 0.0, 0
    for rep = 0, 119 do
        local s = stringify(obj({"version", "records"}, {rep, recs}))
        total_len = total_len + utf8.len(s)
        local back = parse(s)
        for _, r in ipairs(back.records) do
            acc = acc + r.score
            if r.active then active = active + 1 end
            acc = acc + r.address.zip % 7
            acc = acc + #r.tags
        end
    end
    print(string.format("%d %.1f %d", total_len, acc, active))
end
main()
