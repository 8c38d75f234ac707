#!/usr/bin/python3
"""Weft benchmark runner: Weft vs CPython vs Lua 5.4 (and LuaJIT's interpreter), side by side.

Usage (from the repository root):

    /usr/bin/python3 scripts/bench/run_bench.py [--rounds N] [--only NAME[,NAME...]]
        [--weft PATH] [--python PATH] [--lua PATH] [--markdown]
        [--weft-baseline PATH] [--args NAME=ARG ...] [--extra]
        [--luajit PATH] [--memory]

For every benchmark the three interpreters run alternately (weft, python, lua,
weft, python, lua, ...) for --rounds rounds, so a change in machine load hits
all three alike. The outputs must be identical: a mismatch (or a crash) is
reported loudly and makes the exit status non-zero.

Two clocks are recorded per run:
  * wall time: time.perf_counter() around subprocess.run (the headline number);
  * CPU time: user+sys of the child, from getrusage(RUSAGE_CHILDREN) deltas.
    On a busy machine wall time is inflated by waiting for a core; CPU time is
    not, so both tables are printed.

Where LuaJIT is installed (`luajit`, Debian's package) its interpreter runs
too, with the JIT off (`luajit -joff`): it shows what a hand-tuned interpreter
reaches on the same Lua programs. --luajit "" leaves it out.

--memory adds a table of peak resident memory (measured by /usr/bin/time,
median over the rounds) for every interpreter.

--weft-baseline PATH measures the cost of the GIL checks and the always-on
instrumentation: PATH is a second weft binary built without them (e.g. with
-DWEFT_NO_GIL_INSTRUMENTATION=ON, when that build option exists). The two weft
binaries run alternately on every benchmark and the overhead
(weft / baseline - 1) is reported per benchmark and as a geometric mean.
"""

import argparse
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

BENCHMARKS = [
    "fib",
    "loop",
    "strings",
    "sieve",
    "maps",
    "binary_trees",
    "closures",
    "fields",
]

# More typical programs, to check that the speed is general (issue #6). They
# run with --only NAME[,...] or --extra (the default suite plus these).
EXTRA_BENCHMARKS = [
    "nbody",
    "spectral_norm",
    "fannkuch",
    "dispatch",
    "str_ops",
    "sort_lists",
    "map_iter",
    "queens",
    "json_rt",
    "wordfreq",
]

TIMEOUT_S = 600


def resolve_exe(path):
    """A path relative to the cwd, else relative to the repo root, else PATH."""
    if os.sep in path or path.startswith("."):
        if os.path.exists(path):
            return os.path.abspath(path)
        alt = os.path.join(ROOT, path)
        if os.path.exists(alt):
            return alt
        return None
    return path  # a bare command name: looked up on PATH by subprocess


class RunResult:
    def __init__(self, wall, cpu, out, err, code, rss_mb=None):
        self.wall, self.cpu, self.out, self.err, self.code = wall, cpu, out, err, code
        self.rss_mb = rss_mb


# Peak RSS is read with /usr/bin/time (Debian's `time` package): a child
# forked from this Python process inherits its ~13 MB resident set as its
# starting high-water mark, and Linux keeps that mark across exec, so the
# child's own ru_maxrss would over-state small programs. /usr/bin/time is a
# small C program, so the mark it reports for its child is the child's.
TIME_BIN = "/usr/bin/time"


def run_once(cmd, memory=False):
    """Runs cmd once; CPU time is the child's own (wait4)."""
    import tempfile
    rss_file = None
    if memory and os.path.exists(TIME_BIN):
        rss_file = tempfile.NamedTemporaryFile(delete=False)
        rss_file.close()
        cmd = [TIME_BIN, "-f", "%M", "-o", rss_file.name] + cmd
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, cwd=HERE)
        deadline = t0 + TIMEOUT_S
        code, ru = None, None
        while code is None:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG if time.perf_counter() < deadline else 0)
            if pid == 0:
                time.sleep(0.002)
                if time.perf_counter() >= deadline:
                    p.kill()
                continue
            code = os.waitstatus_to_exitcode(status)
        p.returncode = code
        t1 = time.perf_counter()
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    if t1 >= deadline:
        code, err = "timeout", err + b"\n[timed out]"
    cpu = ru.ru_utime + ru.ru_stime
    rss = None
    if rss_file:
        try:
            with open(rss_file.name) as f:
                lines = [ln for ln in f.read().split() if ln.isdigit()]
                rss = int(lines[-1]) / 1024.0 if lines else None
        finally:
            os.unlink(rss_file.name)
    return RunResult(t1 - t0, cpu, out, err, code, rss)


def version_of(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return p.stdout.decode(errors="replace").strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001 - report whatever went wrong
        return f"unknown ({e})"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return float("nan")
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def fmt_s(x):
    return "FAIL" if x is None else f"{x:.3f}"


def fmt_mb(x):
    return "FAIL" if x is None else f"{x:.1f}"


def fmt_r(x):
    return "-" if x is None else f"{x:.2f}x"


def print_table(title, rows, headers, markdown):
    if markdown:
        print(f"**{title}**\n")
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print()
    else:
        print(title)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        line = "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                         for i, h in enumerate(headers))
        print(line)
        print("-" * len(line))
        for r in rows:
            print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                            for i, c in enumerate(r)))
        print()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated benchmark names")
    ap.add_argument("--weft", default="build/weft")
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--lua", default="lua5.4")
    ap.add_argument("--luajit", default="luajit",
                    help="LuaJIT, run as `luajit -joff` (interpreter only); \"\" to leave it out")
    ap.add_argument("--memory", action="store_true", help="also report peak RSS per program")
    ap.add_argument("--extra", action="store_true",
                    help="also run EXTRA_BENCHMARKS (nbody, fannkuch, json_rt, ...)")
    ap.add_argument("--markdown", action="store_true", help="print tables in Markdown")
    ap.add_argument("--weft-baseline", default="",
                    help="a weft built without GIL checks/instrumentation, to measure their cost")
    ap.add_argument("--args", action="append", default=[], metavar="NAME=ARG",
                    help="extra argument for one benchmark, e.g. binary_trees=14")
    opts = ap.parse_args()

    weft = resolve_exe(opts.weft)
    if weft is None or not os.path.exists(weft):
        print(f"error: weft binary not found: {opts.weft} "
              f"(build it: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && "
              f"cmake --build build --target weft)", file=sys.stderr)
        return 2
    python = resolve_exe(opts.python)
    lua = resolve_exe(opts.lua)
    baseline = None
    if opts.weft_baseline:
        baseline = resolve_exe(opts.weft_baseline)
        if baseline is None or not os.path.exists(baseline):
            print(f"error: baseline weft binary not found: {opts.weft_baseline}", file=sys.stderr)
            return 2

    names = BENCHMARKS + (EXTRA_BENCHMARKS if opts.extra else [])
    if opts.only:
        known = BENCHMARKS + EXTRA_BENCHMARKS
        wanted = [n.strip() for n in opts.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in known]
        if unknown:
            print(f"error: unknown benchmark(s): {', '.join(unknown)}; "
                  f"known: {', '.join(known)}", file=sys.stderr)
            return 2
        names = wanted
    extra = {}
    for a in opts.args:
        k, _, v = a.partition("=")
        extra.setdefault(k, []).extend(v.split())

    interps = [("weft", [weft], ".weft"), ("python", [python], ".py"), ("lua", [lua], ".lua")]
    import shutil
    luajit = shutil.which(opts.luajit) if opts.luajit else None
    if luajit:
        interps.append(("luajit", [luajit, "-joff"], ".lua"))
    if baseline:
        interps.append(("weft-baseline", [baseline], ".weft"))

    load_before = os.getloadavg()
    failed = False
    results = {}  # name -> interp -> list[RunResult]
    for name in names:
        results[name] = {k: [] for k, _, _ in interps}
        broken = set()
        for rnd in range(opts.rounds):
            for key, cmd, ext in interps:
                if key in broken:
                    continue
                r = run_once(cmd + [name + ext] + extra.get(name, []), opts.memory)
                if r.code != 0:
                    broken.add(key)
                    results[name][key] = None
                    if key == "luajit":
                        # LuaJIT speaks Lua 5.1: programs that use 5.3/5.4
                        # features (`//`, math.tointeger) have no column.
                        print(f"  {name}: luajit cannot run it (Lua 5.4 features), left out",
                              file=sys.stderr)
                        continue
                    failed = True
                    print(f"!!! {name}: {key} FAILED (exit {r.code})", file=sys.stderr)
                    print(r.err.decode(errors="replace")[-2000:], file=sys.stderr)
                    results[name][key] = None
                    continue
                results[name][key].append(r)
            print(f"  {name}: round {rnd + 1}/{opts.rounds} done", file=sys.stderr)
        # outputs must agree
        outs = {k: v[0].out for k, v in results[name].items() if v}
        ref = outs.get("python")
        for k, o in outs.items():
            if ref is not None and o != ref:
                failed = True
                results[name]["mismatch"] = True
                print(f"!!! OUTPUT MISMATCH in {name}: {k} differs from python", file=sys.stderr)
                print(f"--- python:\n{ref.decode(errors='replace')}"
                      f"--- {k}:\n{o.decode(errors='replace')}", file=sys.stderr)
    load_after = os.getloadavg()

    def med(name, key, clock):
        rs = results[name].get(key)
        if not rs:
            return None
        return statistics.median(getattr(r, clock) for r in rs)

    md = opts.markdown
    headers = ["benchmark", "weft (s)", "python (s)", "lua (s)"] + \
        (["luajit -joff (s)"] if luajit else []) + ["weft/python", "weft/lua"] + \
        (["weft/luajit"] if luajit else [])
    for clock, title in (("wall", f"Wall time, median of {opts.rounds} runs"),
                         ("cpu", f"CPU time (user+sys), median of {opts.rounds} runs")):
        rows, rp, rl, rj = [], [], [], []
        for name in names:
            w, p, l = med(name, "weft", clock), med(name, "python", clock), med(name, "lua", clock)
            j = med(name, "luajit", clock) if luajit else None
            a = w / p if w and p else None
            b = w / l if w and l else None
            c = w / j if w and j else None
            if a:
                rp.append(a)
            if b:
                rl.append(b)
            if c:
                rj.append(c)
            label = name + (" (MISMATCH)" if results[name].get("mismatch") else "")
            rows.append([label, fmt_s(w), fmt_s(p), fmt_s(l)] + ([fmt_s(j)] if luajit else []) +
                        [fmt_r(a), fmt_r(b)] + ([fmt_r(c)] if luajit else []))
        rows.append(["geometric mean", "", "", ""] + ([""] if luajit else []) +
                    [fmt_r(geomean(rp) if rp else None), fmt_r(geomean(rl) if rl else None)] +
                    ([fmt_r(geomean(rj) if rj else None)] if luajit else []))
        print_table(title, rows, headers, md)

    if opts.memory:
        keys = [k for k, _, _ in interps]
        rows, ratios = [], []
        for name in names:
            vals = {k: med(name, k, "rss_mb") for k in keys}
            r = vals["weft"] / vals["python"] if vals.get("weft") and vals.get("python") else None
            if r:
                ratios.append(r)
            rows.append([name] + [fmt_mb(vals[k]) for k in keys] + [fmt_r(r)])
        rows.append(["geometric mean"] + [""] * len(keys) + [fmt_r(geomean(ratios) if ratios else None)])
        print_table(f"Peak resident memory (MB, median of {opts.rounds} runs)", rows,
                    ["benchmark"] + [f"{k} (MB)" for k in keys] + ["weft/python"], md)

    if baseline:
        rows, ov = [], []
        for name in names:
            w, b = med(name, "weft", "cpu"), med(name, "weft-baseline", "cpu")
            o = (w / b) if w and b else None
            if o:
                ov.append(o)
            rows.append([name, fmt_s(w), fmt_s(b),
                         "-" if o is None else f"{(o - 1) * 100:+.1f} %"])
        g = geomean(ov) if ov else None
        rows.append(["geometric mean", "", "", "-" if g is None else f"{(g - 1) * 100:+.1f} %"])
        print_table("GIL checks + instrumentation cost (CPU time, weft vs baseline build)",
                    rows, ["benchmark", "weft (s)", "baseline (s)", "overhead"], md)
    else:
        print(("_" if md else "") +
              "GIL/instrumentation cost: skipped (pass --weft-baseline PATH, a weft built "
              "without GIL checks and instrumentation)" + ("_" if md else ""))
        print()

    nl = "  \n" if md else "\n"
    print(f"Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}, "
          f"{platform.system()} {platform.release()}; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after", end=nl)
    print(f"Versions: {version_of([weft, '--version'])} ({weft}); "
          f"{version_of([python, '--version'])}; {version_of([lua, '-v'])}", end=nl)
    if luajit:
        print(f"LuaJIT: {version_of([luajit, '-v'])}, run with -joff (interpreter only)", end=nl)
    print(f"Rounds: {opts.rounds}, alternating weft/python/lua" + ("/luajit" if luajit else "")
          + ("/weft-baseline" if baseline else ""))
    if failed:
        print("\n!!! SOME BENCHMARKS FAILED OR PRODUCED MISMATCHED OUTPUT (see stderr)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
