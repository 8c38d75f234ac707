# Field reads/writes on map "objects", a method stored in a map, and list
# method calls (push / len / pop).
def make_particle(i):
    return {"x": i % 100, "y": i % 37, "vx": i % 7 - 3, "vy": i % 5 - 2}

def make_stats():
    self = {"total": 0, "calls": 0}
    def add(v):
        self["total"] += v
        self["calls"] += 1
    self["add"] = add
    return self

def main():
    ps = []
    for i in range(1000):
        ps.append(make_particle(i))
    stats = make_stats()
    trail = []
    popped = 0
    step = 0
    while step < 300:
        for p in ps:
            p["x"] += p["vx"]
            p["y"] += p["vy"]
            if p["x"] < 0 or p["x"] > 1000:
                p["vx"] = -p["vx"]
            if p["y"] < 0 or p["y"] > 1000:
                p["vy"] = -p["vy"]
            stats["add"](p["x"] - p["y"])
            trail.append(p["x"])
        while len(trail) > 500:
            popped += trail.pop()
        step += 1
    sx = 0
    sy = 0
    for p in ps:
        sx += p["x"]
        sy += p["y"]
    print(sx, sy, stats["total"], stats["calls"], len(trail), popped)

main()
