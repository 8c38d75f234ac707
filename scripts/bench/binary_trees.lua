-- Binary trees (benchmarks-game algorithm), max depth 16.
-- Optional argument: the max depth (default 16).
-- A node is a table {left, right}; a leaf is {} (both fields nil).
local function make(d)
    if d == 0 then return {nil, nil} end
    return {make(d - 1), make(d - 1)}
end

local function check(t)
    if t[1] == nil then return 1 end
    return 1 + check(t[1]) + check(t[2])
end

local function main()
    local min_depth = 4
    local max_depth = tonumber(arg and arg[1]) or 16
    local stretch = max_depth + 1
    print(string.format("stretch tree of depth %d check: %d", stretch, check(make(stretch))))
    local long_lived = make(max_depth)
    local d = min_depth
    while d <= max_depth do
        local iters = 1
        local e = 0
        while e < max_depth - d + min_depth do
            iters = iters * 2
            e = e + 1
        end
        local chk = 0
        for i = 0, iters - 1 do
            chk = chk + check(make(d))
        end
        print(string.format("%d trees of depth %d check: %d", iters, d, chk))
        d = d + 2
    end
    print(string.format("long lived tree of depth %d check: %d", max_depth, check(long_lived)))
end
main()
