# Richards-like message dispatch: "objects" are dicts of closures, polymorphic
# handle() calls through a dict field, message dicts queued in lists.
def make_counter(sched, id):
    self = {"id": id, "total": 0, "hits": 0}
    def bump(v):
        self["total"] += v
        self["hits"] += 1
    self["bump"] = bump
    def handle(msg):
        self["bump"](msg["v"])
        if msg["v"] > 1:
            sched["send"]((self["id"] * 3 + 1) % sched["n"], msg["v"] - 1)
    self["handle"] = handle
    return self

def make_router(sched, id):
    self = {"id": id, "routed": 0}
    def pick(v):
        return (v * 7 + self["id"]) % sched["n"]
    self["pick"] = pick
    def handle(msg):
        self["routed"] += 1
        if msg["v"] > 0:
            sched["send"](self["pick"](msg["v"]), msg["v"] // 2)
    self["handle"] = handle
    return self

def make_acc(sched, id):
    self = {"id": id, "last": [], "sum": 0}
    def handle(msg):
        last = self["last"]
        last.append(msg["v"])
        if len(last) > 8:
            self["sum"] += last[0]
            last.pop(0)
        if msg["v"] > 2:
            sched["send"]((self["id"] + msg["v"]) % sched["n"], msg["v"] - 2)
    self["handle"] = handle
    return self

def make_sched(n):
    sched = {"n": n, "next": [], "sent": 0, "objs": []}
    def send(dest, v):
        sched["next"].append({"dest": dest, "v": v})
        sched["sent"] += 1
    sched["send"] = send
    for i in range(n):
        k = i % 3
        if k == 0:
            sched["objs"].append(make_counter(sched, i))
        elif k == 1:
            sched["objs"].append(make_router(sched, i))
        else:
            sched["objs"].append(make_acc(sched, i))
    return sched

def main():
    sched = make_sched(99)
    objs = sched["objs"]
    delivered = 0
    for round in range(3000):
        for i in range(sched["n"]):
            sched["send"](i, (i * round) % 20 + 5)
        while len(sched["next"]) > 0:
            cur = sched["next"]
            sched["next"] = []
            for msg in cur:
                objs[msg["dest"]]["handle"](msg)
                delivered += 1
    total = 0
    hits = 0
    routed = 0
    sum_ = 0
    for o in objs:
        if "total" in o:
            total += o["total"]
            hits += o["hits"]
        if "routed" in o:
            routed += o["routed"]
        if "sum" in o:
            sum_ += o["sum"]
    print(sched["sent"], delivered, total, hits, routed, sum_)

main()
