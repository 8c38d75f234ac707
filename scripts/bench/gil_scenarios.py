"""gil_scenarios.py -- GIL benchmark scenarios (CPython side).

The same scenarios, with the same parameters, as gil_scenarios.weft; see that
file for the usage. Driven by run_gil_bench.py. Prints ONE line of JSON.
The "policy" argument of `latency` is ignored (CPython has one policy, which
Weft's "classic" reproduces).
"""

import json
import os
import sys
import threading
import time

sys.setswitchinterval(0.005)

GAP = 0.0002
SLEEP = 0.001
stop = False


def count(n, out, k):
    i = 0
    while i < n:
        i += 1
    out[k] = i


def burn(out, k):
    i = 0
    while not stop:
        i += 1
    out[k] = i


def run_threads(target, n, *args):
    out = [None] * n
    ts = [threading.Thread(target=target, args=args + (out, k)) for k in range(n)]
    for t in ts:
        t.start()
    return ts, out


def throughput(nthreads, total):
    per = total // nthreads
    t0 = time.monotonic()
    ts, out = run_threads(count, nthreads, per)
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    assert sum(out) == per * nthreads
    return {"wall": wall, "iterations": sum(out)}


def io_loop(rounds, out, k):
    extra = []
    for _ in range(rounds):
        t0 = time.monotonic()
        time.sleep(SLEEP)
        extra.append(time.monotonic() - t0 - SLEEP)
    out[k] = extra


def latency(policy, ncpu, rounds):
    global stop
    cpus, loops = run_threads(burn, ncpu)
    if ncpu > 0:
        time.sleep(0.02)
    t0 = time.monotonic()
    ios, res = run_threads(io_loop, 1, rounds)
    ios[0].join()
    wall = time.monotonic() - t0
    stop = True
    for t in cpus:
        t.join()
    n = sum(loops)
    return {"extra": res[0], "wall": wall, "cpu_loops": n, "cpu_loops_per_s": n / wall}


def slicer(out, k):
    slices = []
    start = time.monotonic()
    last = start
    while not stop:
        now = time.monotonic()
        if now - last > GAP:
            slices.append(last - start)
            start = now
        last = now
    out[k] = slices[1:]


def holds(ncpu, seconds):
    global stop
    ts, out = run_threads(slicer, ncpu)
    time.sleep(seconds)
    stop = True
    for t in ts:
        t.join()
    return {"slices": [x for s in out for x in s]}


def arith(n):
    i = 0
    s = 0
    t = 0
    while i < n:
        s = (s + i * 3) % 1_000_003
        t += i // 7 - i % 5
        i += 1
    return s + t


def blocking(n):
    c = 0
    for _ in range(n):
        if os.path.exists("/"):
            c += 1
    return c


def parked(ev, out, k):
    ev.wait()


def single(kind, n, idle):
    ev = threading.Event()
    ts, _ = run_threads(parked, idle, ev)
    if idle > 0:
        time.sleep(0.01)
    t0 = time.monotonic()
    r = arith(n) if kind == "loop" else blocking(n)
    wall = time.monotonic() - t0
    ev.set()
    for t in ts:
        t.join()
    return {"wall": wall, "result": r}


def main(a):
    what = a[0]
    if what == "throughput":
        out = throughput(int(a[1]), int(a[2]))
    elif what == "latency":
        out = latency(a[1], int(a[2]), int(a[3]))
    elif what == "holds":
        out = holds(int(a[1]), float(a[2]))
    elif what == "single":
        out = single(a[1], int(a[2]), int(a[3]))
    else:
        raise ValueError("unknown scenario " + what)
    out["interval"] = sys.getswitchinterval()
    out["policy"] = "cpython"
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
