-- Richards-like message dispatch: "objects" are tables of closures, polymorphic
-- handle() calls through a table field, message tables queued in lists.
local function make_counter(sched, id)
    local self = {id = id, total = 0, hits = 0}
    self.bump = function(v)
        self.total = self.total + v
        self.hits = self.hits + 1
    end
    self.handle = function(msg)
        self.bump(msg.v)
        if msg.v > 1 then sched.send((self.id * 3 + 1) % sched.n, msg.v - 1) end
    end
    return self
end

local function make_router(sched, id)
    local self = {id = id, routed = 0}
    self.pick = function(v) return (v * 7 + self.id) % sched.n end
    self.handle = function(msg)
        self.routed = self.routed + 1
        if msg.v > 0 then sched.send(self.pick(msg.v), msg.v // 2) end
    end
    return self
end

local function make_acc(sched, id)
    local self = {id = id, last = {}, sum = 0}
    self.handle = function(msg)
        local last = self.last
        last[#last + 1] = msg.v
        if #last > 8 then
            self.sum = self.sum + last[1]
            table.remove(last, 1)
        end
        if msg.v > 2 then sched.send((self.id + msg.v) % sched.n, msg.v - 2) end
    end
    return self
end

local function make_sched(n)
    local sched = {n = n, next = {}, sent = 0, objs = {}}
    sched.send = function(dest, v)
        local nx = sched.next
        nx[#nx + 1] = {dest = dest, v = v}
        sched.sent = sched.sent + 1
    end
    for i = 0, n - 1 do
        local k = i % 3
        local objs = sched.objs
        if k == 0 then objs[#objs + 1] = make_counter(sched, i)
        elseif k == 1 then objs[#objs + 1] = make_router(sched, i)
        else objs[#objs + 1] = make_acc(sched, i) end
    end
    return sched
end

local function main()
    local sched = make_sched(99)
    local objs = sched.objs
    local delivered = 0
    for round = 0, 2999 do
        for i = 0, sched.n - 1 do sched.send(i, (i * round) % 20 + 5) end
        while #sched.next > 0 do
            local cur = sched.next
            sched.next = {}
            for _, msg in ipairs(cur) do
                objs[msg.dest + 1].handle(msg)
                delivered = delivered + 1
            end
        end
    end
    local total, hits, routed, sum = 0, 0, 0, 0
    for _, o in ipairs(objs) do
        if o.total ~= nil then total = total + o.total; hits = hits + o.hits end
        if o.routed ~= nil then routed = routed + o.routed end
        if o.sum ~= nil then sum = sum + o.sum end
    end
    print(string.format("%d %d %d %d %d %d", sched.sent, delivered, total, hits, routed, sum))
end
main()
