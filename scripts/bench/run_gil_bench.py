#!/usr/bin/python3
"""Weft GIL benchmark: Weft (classic / responsive) next to CPython 3.11.

Usage (from the repository root):

    /usr/bin/python3 scripts/bench/run_gil_bench.py [--weft PATH] [--python PATH]
        [--gil-bench PATH] [--repeats N] [--quick] [--markdown]
        [--weft-baseline PATH | --build-baseline | --build-baseline-only]

Runs every scenario of gil_scenarios.weft / gil_scenarios.py (same scenarios,
same parameters, switch interval 5 ms on both sides), interleaving the
interpreters, repeats each measurement --repeats times (default 3) and reports
the median of the repeats, with the targets of issue 3 and PASS/MISS:

  1. throughput of 1/2/4 CPU-bound threads relative to 1 thread   (>= 0.95)
  2. I/O latency (time.sleep(0.001) overshoot) next to 0-4 CPU-bound
     threads: classic ~ one interval (like CPython), responsive p99 <= 1 ms
  3. hold-time p99 with 4 CPU-bound threads                       (<= interval + 10 %)
     Weft: running slices of the --gil-trace (authoritative); both languages:
     run slices observed from inside the threads (a >200 us gap in a busy loop)
  4. uncontended acquire + release, ns (scripts/bench/gil_bench.cpp)
  5. single-thread cost of the GIL: the eval-breaker checks and the always-on
     instrumentation (target <= 2 %). --build-baseline builds a second weft
     with the CMake option WEFT_NO_GIL_INSTRUMENTATION=ON (the VM never
     tests its eval breaker; the GIL records no events) and runs the two
     binaries alternately on a pure-bytecode loop and on a loop of blocking
     calls. Without a baseline only the proxies are reported (0 vs 1 idle
     parked thread; recording on/off in gil_bench.cpp).

The machine's load average is printed at the start and the end: these are
timing measurements, and on a loaded machine (fewer free cores than threads)
the OS scheduler adds its own delays to every number, for both interpreters.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WEFT_SCEN = os.path.join(HERE, "gil_scenarios.weft")
PY_SCEN = os.path.join(HERE, "gil_scenarios.py")
INTERVAL = 0.005
TIMEOUT_S = 300


# ----------------------------------------------------------------- helpers

def find_weft(arg):
    cands = [arg] if arg else [os.path.join(ROOT, "build", "weft"), "/tmp/build-gilbench/weft",
                               os.path.join(ROOT, "build-release", "weft")]
    for c in cands:
        if c and os.path.exists(c):
            return os.path.abspath(c)
    sys.exit("weft binary not found; pass --weft PATH")


def run_json(cmd):
    """Runs one scenario; its JSON, plus the child's CPU time (`_cpu`, s) and
    involuntary context switches (`_nivcsw`: the OS took a CPU away from one
    of its threads) from getrusage(RUSAGE_CHILDREN) deltas."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT_S,
                       cwd=HERE)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.decode()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in p.stdout.decode().splitlines() if ln.startswith("{")]
    out = json.loads(lines[-1])
    out["_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out["_nivcsw"] = after.ru_nivcsw - before.ru_nivcsw
    return out


def pct(xs, p):
    """Nearest-rank percentile (p in 0..100) of a list."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    i = int(round(p / 100.0 * (len(s) - 1)))
    return s[min(i, len(s) - 1)]


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def ok(flag):
    return "PASS" if flag else "MISS"


class Interp:
    def __init__(self, label, cmd, policy=None):
        self.label, self.cmd, self.policy = label, cmd, policy

    def scen(self, *args, extra=()):
        args = [str(a) for a in args]
        if args[0] == "latency":
            args[1] = self.policy or "cpython"
        return run_json(self.cmd[:1] + list(extra) + self.cmd[1:] + args)


def loadavg():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version_of(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return p.stdout.decode(errors="replace").strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return f"unknown ({e})"


# --------------------------------------------------------------- scenarios

def bench_throughput(weft, py, total, repeats, log):
    """{lang: {n: median wall}}, relative throughput = wall(1) / wall(n)."""
    walls = {i.label: {n: [] for n in (1, 2, 4)} for i in (weft, py)}
    cpus = {i.label: {n: [] for n in (1, 2, 4)} for i in (weft, py)}
    for r in range(repeats):
        for n in (1, 2, 4):
            for it in (weft, py):
                o = it.scen("throughput", n, total)
                walls[it.label][n].append(o["wall"])
                cpus[it.label][n].append(o["_cpu"])
                log(f"  throughput {it.label:<8} {n} thread(s) run {r + 1}: {o['wall']:.3f} s"
                    f" (process CPU {o['_cpu']:.3f} s, {o['_nivcsw']} preemptions)")
    return ({lab: {n: med(v) for n, v in d.items()} for lab, d in walls.items()},
            {lab: {n: med(v) for n, v in d.items()} for lab, d in cpus.items()})


def bench_latency(interps, rounds, repeats, log):
    """{label: {ncpu: (p50, p99, cpu_loops_per_s)}} in seconds (medians of repeats)."""
    res = {i.label: {n: [] for n in (0, 1, 2, 4)} for i in interps}
    for r in range(repeats):
        for n in (0, 1, 2, 4):
            for it in interps:
                o = it.scen("latency", "-", n, rounds)
                x = o["extra"]
                res[it.label][n].append((pct(x, 50), pct(x, 99), o["cpu_loops_per_s"],
                                         o["_nivcsw"] / o["wall"]))
                log(f"  latency {it.label:<18} {n} CPU: p50 {pct(x, 50) * 1e3:.3f} ms"
                    f"  p99 {pct(x, 99) * 1e3:.3f} ms")
    return {lab: {n: tuple(med([v[k] for v in vs]) for k in range(4)) for n, vs in d.items()}
            for lab, d in res.items()}


def trace_run_slices(path):
    """Durations (s) of the `running` slices of every non-main thread."""
    with open(path) as f:
        tr = json.load(f)
    names = {e["tid"]: e["args"]["name"] for e in tr["traceEvents"]
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    per = {}
    for e in tr["traceEvents"]:
        if e.get("ph") == "X" and e.get("name") == "running" and names.get(e["tid"]) != "main":
            per.setdefault(e["tid"], []).append((e["ts"], e["dur"] / 1e6))
    out = []
    for tid, sl in per.items():
        sl.sort()
        out.extend(d for _, d in sl[1:-1])  # drop the thread's start and end slices
    return out


def bench_holds(weft, py, seconds, repeats, log):
    """p50/p99/max of run slices: Weft trace, Weft observed, CPython observed."""
    acc = {"weft-trace": [], "weft-observed": [], "cpython-observed": []}
    counts = {k: [] for k in acc}
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            tp = os.path.join(d, "trace.json")
            o = weft.scen("holds", 4, seconds, extra=[f"--gil-trace={tp}"])
            tr = trace_run_slices(tp)
        po = py.scen("holds", 4, seconds)
        for key, xs in (("weft-trace", tr), ("weft-observed", o["slices"]),
                        ("cpython-observed", po["slices"])):
            acc[key].append((pct(xs, 50), pct(xs, 99), max(xs) if xs else float("nan")))
            counts[key].append(len(xs))
            log(f"  holds {key:<17} run {r + 1}: n={len(xs)} p50 {pct(xs, 50) * 1e3:.3f} ms"
                f"  p99 {pct(xs, 99) * 1e3:.3f} ms")
    return {k: tuple(med([v[i] for v in vs]) for i in range(3)) + (int(med(counts[k])),)
            for k, vs in acc.items()}


def bench_single(a, b, kinds, repeats, log, idle_ab=False):
    """Alternate two configurations; {kind: (median a, median b)} of the process
    CPU time (user + sys: unlike wall time it does not count the time the
    machine's other load kept the thread off a CPU; startup, a few ms, is in
    both sides alike).

    With idle_ab, `a` and `b` are the same interpreter with 0 and 1 idle
    threads; otherwise two interpreters (e.g. weft and weft-baseline), 0 idle.
    """
    out = {}
    for kind, n in kinds:
        wa, wb = [], []
        for r in range(repeats):
            if idle_ab:
                wa.append(a.scen("single", kind, n, 0)["_cpu"])
                wb.append(a.scen("single", kind, n, 1)["_cpu"])
            else:
                wa.append(a.scen("single", kind, n, 0)["_cpu"])
                wb.append(b.scen("single", kind, n, 0)["_cpu"])
            log(f"  single {kind:<8} {a.label} run {r + 1}: {wa[-1]:.4f} s vs {wb[-1]:.4f} s")
        out[kind] = (med(wa), med(wb))
    return out


def run_gil_bench(path, log):
    if not path:
        path = os.path.join(tempfile.gettempdir(), "weft_gil_bench")
        src = [os.path.join(ROOT, p) for p in
               ("scripts/bench/gil_bench.cpp", "runtime/gil.cpp", "runtime/gil_report.cpp")]
        if not os.path.exists(path) or any(os.path.getmtime(s) > os.path.getmtime(path) for s in src):
            log(f"  building {path}")
            subprocess.run(["g++", "-O2", "-std=c++20", f"-I{ROOT}", f"-I{ROOT}/runtime"] + src +
                           ["-lfmt", "-pthread", "-o", path], check=True)
    p = subprocess.run([path], stdout=subprocess.PIPE, check=True, timeout=TIMEOUT_S)
    text = p.stdout.decode()
    off = on = float("nan")
    for line in text.splitlines():
        if "ns per pair" in line:
            parts = line.split()
            off = float(parts[0])
            on = float(line.split(",")[1].split()[0])
    return off, on, text


# ------------------------------------------------------- baseline weft build

def build_baseline(weft_path, out_dir, log):
    """A weft without eval-breaker checks and without GIL event recording.

    Configures and builds the project in `out_dir` with the CMake option
    WEFT_NO_GIL_INSTRUMENTATION=ON (same build type as a release build).
    Good for single-thread timing only: without breaker checks there is no
    switching, GC or Ctrl-C.
    """
    log(f"  configuring {out_dir} with -DWEFT_NO_GIL_INSTRUMENTATION=ON")
    subprocess.run(["cmake", "-S", ROOT, "-B", out_dir, "-DCMAKE_BUILD_TYPE=Release",
                    "-DWEFT_NO_GIL_INSTRUMENTATION=ON", "-DWEFT_BUILD_TESTS=OFF"],
                   check=True, stdout=subprocess.DEVNULL)
    log("  building the baseline weft")
    subprocess.run(["cmake", "--build", out_dir, "-j", str(os.cpu_count() or 2), "--target", "weft"],
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(out_dir, "weft")


# ------------------------------------------------------------------ report

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weft")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--gil-bench", help="prebuilt gil_bench binary (else built in /tmp)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables for docs/performance.md")
    ap.add_argument("--weft-baseline", help="weft built without breaker checks / instrumentation")
    ap.add_argument("--build-baseline", action="store_true",
                    help="build that baseline into /tmp/weft-gil-baseline (see the docstring)")
    ap.add_argument("--build-baseline-only", action="store_true",
                    help="only build that baseline and print its path (it also serves "
                         "scripts/bench/run_bench.py --weft-baseline)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run")
    args = ap.parse_args()

    weft_path = find_weft(args.weft)
    if args.build_baseline_only:
        print(build_baseline(weft_path, os.path.join(tempfile.gettempdir(), "weft-gil-baseline"),
                             lambda m: print(m, file=sys.stderr)))
        return
    reps = args.repeats
    total = 5_000_000 if args.quick else 20_000_000
    rounds = 60 if args.quick else 200
    hold_s = 0.6 if args.quick else 2.0
    single_kinds = ([("loop", 2_000_000), ("blocking", 50_000)] if args.quick
                    else [("loop", 10_000_000), ("blocking", 300_000)])

    def log(msg):
        if args.verbose:
            print(msg, file=sys.stderr, flush=True)

    def step(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}  (load {loadavg()})", file=sys.stderr, flush=True)

    weft_cmd = [weft_path, WEFT_SCEN]
    py_cmd = [args.python, PY_SCEN]
    weft = Interp("weft", weft_cmd)
    py = Interp("cpython", py_cmd)
    classic = Interp("weft classic", weft_cmd, "classic")
    responsive = Interp("weft responsive", weft_cmd, "responsive")
    cpy = Interp("cpython 3.11", py_cmd, "cpython")

    load_start = loadavg()
    t_start = time.time()
    step("1. throughput")
    thr, thr_cpu = bench_throughput(weft, py, total, reps, log)
    step("2. I/O latency")
    lat = bench_latency([classic, responsive, cpy], rounds, reps, log)
    step("3. hold times")
    hold = bench_holds(weft, py, hold_s, reps, log)
    step("4. gil_bench.cpp")
    unc_off, unc_on, gb_text = run_gil_bench(args.gil_bench, log)
    step("5. single-thread cost")
    r5 = max(reps, 5)
    idle_w = bench_single(weft, None, single_kinds, r5, log, idle_ab=True)
    idle_p = bench_single(py, None, single_kinds, r5, log, idle_ab=True)
    base_path = args.weft_baseline
    if args.build_baseline and not base_path:
        base_path = build_baseline(weft_path, os.path.join(tempfile.gettempdir(), "weft-gil-baseline"), log)
    base = None
    if base_path:
        b = Interp("weft-baseline", [base_path, WEFT_SCEN])
        base = bench_single(weft, b, single_kinds, max(reps, 7), log)
    load_end = loadavg()
    elapsed = time.time() - t_start

    # ---- assemble rows ----
    md = args.markdown
    out = []

    def table(header, rows):
        if md:
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            for r in rows:
                out.append("| " + " | ".join(str(c) for c in r) + " |")
        else:
            w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
            out.append("  ".join(str(h).ljust(w[i]) for i, h in enumerate(header)))
            for r in rows:
                out.append("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
        out.append("")

    def title(t):
        out.append(("### " if md else "== ") + t)
        out.append("")

    ms = lambda x: f"{x * 1e3:.3f}"  # noqa: E731

    out.append(f"Machine: {cpu_model()}, {os.cpu_count()} CPUs; {version_of([weft_path, '--version'])}; "
               f"{version_of([args.python, '--version'])}; switch interval {INTERVAL * 1e3:.0f} ms; "
               f"median of {reps} runs (5: median of {r5}{'' if not base else f', baseline A/B of {max(reps, 7)}'}); "
               f"load average at start {load_start}, at end {load_end}; {elapsed:.0f} s in all.")
    out.append("")

    title(f"1. CPU-bound threads: {total:,} loop iterations split over 1/2/4 threads "
          "(throughput relative to 1 thread; target >= 0.95)")
    rows = []
    for n in (1, 2, 4):
        rw = thr["weft"][1] / thr["weft"][n]
        rp = thr["cpython"][1] / thr["cpython"][n]
        cw = thr_cpu["weft"][1] / thr_cpu["weft"][n]
        cp = thr_cpu["cpython"][1] / thr_cpu["cpython"][n]
        rows.append([n, f"{thr['weft'][n]:.3f}", f"{rw:.2f}", f"{cw:.2f}", f"{thr['cpython'][n]:.3f}",
                     f"{rp:.2f}", f"{cp:.2f}", "-" if n == 1 else ok(rw >= 0.95)])
    table(["threads", "weft wall s", "weft rel.", "weft rel. per CPU-s", "cpython wall s", "cpython rel.",
           "cpython rel. per CPU-s", "weft target"], rows)

    title(f"2. I/O latency: time.sleep(0.001) overshoot, ms, {rounds} rounds "
          "(classic ~ one interval like CPython; responsive p99 <= 1 ms)")
    rows = []
    for n in (0, 1, 2, 4):
        c, r, p = lat["weft classic"][n], lat["weft responsive"][n], lat["cpython 3.11"][n]
        cpu_ratio = (r[2] / c[2]) if n else float("nan")
        if n == 0:
            verdict = "-"
        else:
            # classic must reproduce CPython: about one interval per CPU-bound
            # thread queued ahead (FIFO), i.e. within +-50 % of CPython's p50
            verdict = ok(r[1] <= 0.001) + " / " + ok(0.5 <= c[0] / p[0] <= 1.5)
        rows.append([n, f"{ms(c[0])} ({c[0] / INTERVAL:.1f} iv)", ms(c[1]), ms(r[0]), ms(r[1]),
                     f"{ms(p[0])} ({p[0] / INTERVAL:.1f} iv)", ms(p[1]),
                     "-" if n == 0 else f"{cpu_ratio:.2f}",
                     f"{c[3]:.0f} / {r[3]:.0f} / {p[3]:.0f}", verdict])
    table(["CPU threads", "classic p50", "classic p99", "responsive p50", "responsive p99",
           "cpython p50", "cpython p99", "CPU progress resp./classic", "OS preemptions/s c/r/py",
           "resp. p99 <= 1 ms / classic ~ cpython"], rows)

    title(f"3. Run (hold) slices with 4 CPU-bound threads, ms, {hold_s:.1f} s per run "
          f"(target p99 <= interval + 10 % = {INTERVAL * 1.1 * 1e3:.1f} ms)")
    rows = []
    for key, label in (("weft-trace", "weft, --gil-trace running slices"),
                       ("weft-observed", "weft, observed in the threads"),
                       ("cpython-observed", "cpython, observed in the threads")):
        p50, p99, mx, n = hold[key]
        rows.append([label, n, ms(p50), ms(p99), ms(mx), ok(p99 <= INTERVAL * 1.1) if key.startswith("weft") else "-"])
    table(["source", "slices", "p50", "p99", "max", "target"], rows)

    title("4. Uncontended acquire + release (scripts/bench/gil_bench.cpp)")
    table(["event recording", "ns per pair"],
          [["off (set_event_limit(0))", f"{unc_off:.1f}"], ["on (the default: per-thread rings)", f"{unc_on:.1f}"]])

    title("5. Single-thread cost of the GIL (target <= 2 %)")
    rows = []
    for kind, n in single_kinds:
        what = (f"arithmetic loop, {n:,} iterations" if kind == "loop"
                else f"{n:,} blocking calls (io.exists / os.path.exists)")
        w0, w1 = idle_w[kind]
        p0, p1 = idle_p[kind]
        row = [what, f"{w0:.4f}", f"{(w1 / w0 - 1) * 100:+.1f} %", f"{p0:.4f}", f"{(p1 / p0 - 1) * 100:+.1f} %"]
        if base:
            bw, bb = base[kind]
            cost = bw / bb - 1
            row += [f"{bb:.4f}", f"{bw:.4f}", f"{cost * 100:+.1f} %", ok(cost <= 0.02)]
        rows.append(row)
    hdr = ["benchmark (process CPU s)", "weft", "weft +1 idle thread", "cpython", "cpython +1 idle thread"]
    if base:
        hdr += ["weft baseline", "weft (same run)", "cost of checks+instr.", "target"]
    table(hdr, rows)
    if base:
        out.append(f"Per blocking call: {(base['blocking'][0] - base['blocking'][1]) / single_kinds[1][1] * 1e9:+.0f} ns "
                   "of recording; per loop iteration: "
                   f"{(base['loop'][0] - base['loop'][1]) / single_kinds[0][1] * 1e9:+.2f} ns of breaker checks.")
        out.append("")

    print("\n".join(out))
    if args.verbose:
        print(gb_text)


if __name__ == "__main__":
    main()
