-- Field reads/writes on table "objects", a method stored in a table, and
-- list operations (append / length / remove-last).
local function make_particle(i)
    return {x = i % 100, y = i % 37, vx = i % 7 - 3, vy = i % 5 - 2}
end

local function make_stats()
    local self = {total = 0, calls = 0}
    self.add = function(v)
        self.total = self.total + v
        self.calls = self.calls + 1
    end
    return self
end

local function main()
    local ps = {}
    for i = 0, 999 do ps[#ps + 1] = make_particle(i) end
    local stats = make_stats()
    local trail = {}
    local popped = 0
    local step = 0
    while step < 300 do
        for _, p in ipairs(ps) do
            p.x = p.x + p.vx
            p.y = p.y + p.vy
            if p.x < 0 or p.x > 1000 then p.vx = -p.vx end
            if p.y < 0 or p.y > 1000 then p.vy = -p.vy end
            stats.add(p.x - p.y)
            trail[#trail + 1] = p.x
        end
        while #trail > 500 do
            popped = popped + table.remove(trail)
        end
        step = step + 1
    end
    local sx = 0
    local sy = 0
    for _, p in ipairs(ps) do
        sx = sx + p.x
        sy = sy + p.y
    end
    print(string.format("%d %d %d %d %d %d", sx, sy, stats.total, stats.calls, #trail, popped))
end
main()
