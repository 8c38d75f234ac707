# JSON round trip: build nested records, json.dumps (compact), json.loads,
# then walk the parsed structure.
import json

def make_records(n):
    recs = []
    for i in range(n):
        recs.append({
            "id": i,
            "name": "user-" + str(i),
            "active": i % 3 == 0,
            "score": i * 0.5,
            "tags": ["t" + str(i % 7), "g" + str(i % 5), "x"],
            "address": {"city": "city-" + str(i % 50), "zip": 10000 + i, "note": None},
        })
    return recs

def main():
    recs = make_records(2000)
    total_len = 0
    acc = 0.0
    active = 0
    for rep in range(120):
        s = json.dumps({"version": rep, "records": recs}, separators=(",", ":"))
        total_len += len(s)
        back = json.loads(s)
        for r in back["records"]:
            acc += r["score"]
            if r["active"]:
                active += 1
            acc += r["address"]["zip"] % 7
            acc += len(r["tags"])
    print(total_len, "{:.1f}".format(acc), active)

main()
