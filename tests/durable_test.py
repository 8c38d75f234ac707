#!/usr/bin/env python3
"""Durable queues end to end (SPEC §7.10), with real processes.

usage: durable_test.py path/to/weft

Every test uses its own temporary SQLite store. The front end, the workers
and the poller are separate `weft` processes; workers are killed with
SIGKILL, frozen with SIGSTOP and stopped with SIGTERM. Deadlines are
generous (a loaded 2-core machine), leases short (--lease 1).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

WEFT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/weft"

TASKS = r'''
fn add(a, b) { return a + b }
fn boom(x) { throw error("ValueError", "bad input " + str(x)) }
fn nap(s) { time.sleep(s); return "slept " + str(s) }
fn spin(n) { let i = 0; while i < n { i += 1 } return i }
# Appends a line per attempt, so the test can count the runs of a job.
fn logged_nap(path, tag, s) {
  io.append_file(path, tag + "\n")
  time.sleep(s)
  return tag
}
fn not_json() { return fn() {} }
'''

failures = []
tmp = tempfile.mkdtemp(prefix="weft-durable-test-")
procs = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what)


def weft(code, *args, timeout=60):
    r = subprocess.run([WEFT, "-e", code, *args], capture_output=True, text=True, timeout=timeout)
    return r


def start_worker(store, *opts, log=None):
    out = open(log, "w") if log else subprocess.DEVNULL
    p = subprocess.Popen([WEFT, "worker", os.path.join(tmp, "tasks.weft"), "--store", store, *opts],
                         stdout=out, stderr=subprocess.STDOUT, text=True)
    procs.append(p)
    return p


def wait_for(pred, timeout=20, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def status_of(store, job_id):
    r = weft('print(jobs.open(sys.args[0]).job(sys.args[1]).status())', store, job_id)
    return r.stdout.strip()


def enqueue(store, fn, args, opts="{}"):
    r = weft(f'let q = jobs.open(sys.args[0]); print(q.enqueue("{fn}", json.parse(sys.args[1]), {opts}).id)',
             store, json.dumps(args))
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return r.stdout.strip()


def stop(p, sig=signal.SIGTERM, timeout=20):
    if p.poll() is None:
        p.send_signal(sig)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return None


def store(name):
    return "sqlite:" + os.path.join(tmp, name + ".db")


# ---------------------------------------------------------------- tests

def test_three_processes():
    """enqueue in one process, work in another, poll from a third"""
    s = store("three")
    ids = [enqueue(s, "add", [i, 100]) for i in range(3)]
    bad = enqueue(s, "boom", [7], "{retries: 1, backoff: 0.05}")
    w = start_worker(s, "--lease", "2", log=os.path.join(tmp, "three.log"))
    r = weft('''
let q = jobs.open(sys.args[0])
for id in sys.args.slice(1, 4) { print(q.job(id).result(30)) }
let b = q.job(sys.args[4])
try { b.result(30) } catch e { print(e) }
print(b.attempts(), b.error().type, b.error().message, len(b.error().trace) > 0)
print(q.stats().done, q.stats().failed)
''', s, *ids, bad)
    check(r.returncode == 0, f"poller failed: {r.stderr}")
    lines = r.stdout.splitlines()
    check(lines[:3] == ["100", "101", "102"], f"results: {lines}")
    check(len(lines) > 3 and re.match(r"JobError: job \w+ failed after 2 attempts: ValueError: bad input 7", lines[3]),
          f"failure: {lines}")
    check(len(lines) > 4 and lines[4] == "2 ValueError bad input 7 true", f"error(): {lines}")
    check(len(lines) > 5 and lines[5] == "3 1", f"stats: {lines}")
    check(stop(w) == 0, "worker did not exit 0 on SIGTERM")
    log = open(os.path.join(tmp, "three.log")).read()
    check("done in" in log and "SIGTERM" in log and "stopped:" in log, f"worker log: {log}")


def test_missing_function_and_bad_result():
    s = store("missing")
    a = enqueue(s, "no_such_fn", [1], "{retries: 3}")
    b = enqueue(s, "not_json", [])
    w = start_worker(s)
    ok = wait_for(lambda: status_of(s, a) == "failed" and status_of(s, b) == "failed")
    check(ok, "missing function / non-JSON result did not end failed")
    r = weft('let q = jobs.open(sys.args[0]); for id in sys.args.slice(1) { let j = q.job(id); print(j.attempts(), j.error()) }',
             s, a, b)
    lines = r.stdout.splitlines()
    check(len(lines) == 2 and lines[0] == "1 NameError: tasks.weft has no top-level function 'no_such_fn'",
          f"missing function error: {lines}")
    check(len(lines) == 2 and lines[1].startswith("1 TypeError: the result of not_json() is not a JSON value"),
          f"non-JSON result error: {lines}")
    stop(w)


def test_kill_9_mid_job_is_reclaimed():
    """kill -9 a worker mid-job: re-claimed after the lease, done, run twice"""
    s = store("kill9")
    runs = os.path.join(tmp, "kill9.runs")
    jid = enqueue(s, "logged_nap", [runs, "k", 1.0])
    w1 = start_worker(s, "--lease", "1")
    check(wait_for(lambda: os.path.exists(runs)), "first worker never started the job")
    os.kill(w1.pid, signal.SIGKILL)
    w1.wait()
    check(status_of(s, jid) == "running", "job not running after its worker died")
    w2 = start_worker(s, "--lease", "1", log=os.path.join(tmp, "kill9.log"))
    r = weft('let j = jobs.open(sys.args[0]).job(sys.args[1]); print(j.result(30)); print(j.attempts()); print(j.info().lost_leases)',
             s, jid)
    check(r.stdout.split() == ["k", "2", "1"], f"re-claimed job: {r.stdout!r} {r.stderr}")
    check(open(runs).read() == "k\nk\n", "the job should have run exactly twice (at-least-once)")
    check(stop(w2) == 0, "second worker did not stop cleanly")


def test_frozen_worker_cannot_record_a_second_result():
    """a worker that lost its lease (SIGSTOP) cannot overwrite the outcome"""
    s = store("frozen")
    runs = os.path.join(tmp, "frozen.runs")
    jid = enqueue(s, "logged_nap", [runs, "f", 0.5])
    log1 = os.path.join(tmp, "frozen1.log")
    w1 = start_worker(s, "--lease", "1", log=log1)
    check(wait_for(lambda: os.path.exists(runs)), "first worker never started the job")
    os.kill(w1.pid, signal.SIGSTOP)
    w2 = start_worker(s, "--lease", "1")
    check(wait_for(lambda: status_of(s, jid) == "done", timeout=30), "job not done by the second worker")
    stop(w2)
    before = weft('print(jobs.open(sys.args[0]).job(sys.args[1]).info())', s, jid).stdout
    os.kill(w1.pid, signal.SIGCONT)
    check(wait_for(lambda: "lease lost" in open(log1).read(), timeout=20),
          "the frozen worker did not report its outcome as discarded")
    after = weft('print(jobs.open(sys.args[0]).job(sys.args[1]).info())', s, jid).stdout
    check(before == after, f"the outcome changed after the frozen worker resumed:\n{before}\n{after}")
    stop(w1)


def test_sigterm_finishes_running_and_releases_the_rest():
    s = store("term")
    short = enqueue(s, "nap", [0.5])
    w = start_worker(s, "--grace", "5")
    check(wait_for(lambda: status_of(s, short) == "running"), "short job never started")
    w.send_signal(signal.SIGTERM)
    check(stop(w) == 0, "worker did not exit 0")
    check(status_of(s, short) == "done", "running job was not finished within the grace period")
    # A job longer than the grace period is interrupted and released.
    long = enqueue(s, "nap", [30])
    log = os.path.join(tmp, "term.log")
    w = start_worker(s, "--grace", "0.3", log=log)
    check(wait_for(lambda: status_of(s, long) == "running"), "long job never started")
    t0 = time.time()
    w.send_signal(signal.SIGTERM)
    code = stop(w)
    check(code == 0 and time.time() - t0 < 10, f"worker did not stop promptly ({code})")
    check(status_of(s, long) == "queued", f"long job should be back in the queue: {status_of(s, long)}")
    check("lease released" in open(log).read(), "no 'lease released' in the log")


def test_two_processes_cpu_bound():
    """--processes 2: both processes run CPU-bound jobs; the supervisor stops them"""
    s = store("procs")
    log = os.path.join(tmp, "procs.log")
    w = start_worker(s, "--processes", "2", log=log)
    # Both processes registered before the jobs arrive (so one cannot take all).
    check(wait_for(lambda: weft('print(jobs.open(sys.args[0]).stats().workers)', s).stdout.strip() == "2"),
          "the 2 worker processes did not register")
    r = weft('let q = jobs.open(sys.args[0]); for i in range(8) { q.enqueue("spin", [2000000]) }', s)
    check(r.returncode == 0, r.stderr)
    r = weft('''
let q = jobs.open(sys.args[0])
let t0 = time.monotonic()
while q.stats().done < 8 { if time.monotonic() - t0 > 60 { break }; time.sleep(0.05) }
print(q.stats().done)
''', s)
    check(r.stdout.strip() == "8", f"CPU-bound jobs not all done: {r.stdout}")
    check(stop(w) == 0, "supervisor did not exit 0 after SIGTERM")
    text = open(log).read()
    pids = set(re.findall(r"worker (\d+): job \w+ spin done", text))
    check(len(pids) == 2, f"expected jobs done by 2 processes, got {pids}")
    check(len(re.findall(r"worker \d+: stopped:", text)) == 2, "both worker processes should report stopping")


def test_supervisor_restarts_a_killed_process():
    s = store("restart")
    log = os.path.join(tmp, "restart.log")
    w = start_worker(s, "--processes", "1", "--lease", "1", log=log)
    check(wait_for(lambda: re.search(r"worker (\d+): tasks", open(log).read())), "worker never started")
    child = int(re.search(r"worker (\d+): tasks", open(log).read()).group(1))
    os.kill(child, signal.SIGKILL)
    check(wait_for(lambda: "starting a new one" in open(log).read()), "supervisor did not restart the worker")
    jid = enqueue(s, "add", [2, 3])
    r = weft('print(jobs.open(sys.args[0]).job(sys.args[1]).result(30))', s, jid)
    check(r.stdout.strip() == "5", f"restarted worker did not run the job: {r.stdout} {r.stderr}")
    check(stop(w) == 0, "supervisor did not exit 0")


def test_bad_stores():
    cases = [
        ("sqlite:/nonexistent-dir/x.db", "cannot open store"),
        ("redis://127.0.0.1:1/0", "Redis backend is not available"),
        ("ftp://x", "unsupported store URL"),
    ]
    notdb = os.path.join(tmp, "notdb.db")
    with open(notdb, "w") as f:
        f.write("this is not a database, just text " * 100)
    cases.append(("sqlite:" + notdb, "not a database"))
    for url, msg in cases:
        r = subprocess.run([WEFT, "worker", os.path.join(tmp, "tasks.weft"), "--store", url],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and msg in r.stderr, f"worker with store {url}: {r.returncode} {r.stderr!r}")
        r = weft('jobs.open(sys.args[0])', url)
        check(r.returncode == 1 and msg in r.stderr, f"jobs.open({url}): {r.stderr!r}")
    r = subprocess.run([WEFT, "worker", os.path.join(tmp, "tasks.weft")], capture_output=True, text=True)
    check(r.returncode == 2 and "--store" in r.stderr, f"missing --store: {r.stderr!r}")
    r = subprocess.run([WEFT, "worker", os.path.join(tmp, "nope.weft"), "--store", store("x")],
                       capture_output=True, text=True)
    check(r.returncode == 2 and "cannot open" in r.stderr, f"missing tasks file: {r.stderr!r}")


def test_store_locked_then_back():
    """the store is unavailable (locked by another process) and comes back"""
    s = store("locked")
    path = s[len("sqlite:"):]
    jid = enqueue(s, "add", [1, 1])
    import sqlite3
    con = sqlite3.connect(path, isolation_level=None, timeout=0)
    con.execute("BEGIN EXCLUSIVE")  # in WAL mode this blocks writers, not readers
    w = start_worker(s, log=os.path.join(tmp, "locked.log"))
    time.sleep(1.0)
    check(w.poll() is None, "worker died while the store was locked")
    con.execute("COMMIT")
    con.close()
    r = weft('print(jobs.open(sys.args[0]).job(sys.args[1]).result(30))', s, jid)
    check(r.stdout.strip() == "2", f"job not done after the store came back: {r.stdout} {r.stderr}")
    check(stop(w) == 0, "worker did not stop cleanly")


def main():
    with open(os.path.join(tmp, "tasks.weft"), "w") as f:
        f.write(TASKS)
    tests = [v for k, v in globals().items() if k.startswith("test_")]
    t_all = time.time()
    try:
        for t in tests:
            t0 = time.time()
            n = len(failures)
            try:
                t()
            except Exception as e:  # noqa: BLE001
                failures.append(f"{t.__name__}: {e!r}")
                print("  FAIL:", repr(e))
            print(f"{'ok  ' if len(failures) == n else 'FAIL'} {t.__name__} ({time.time() - t0:.1f} s)")
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except OSError:
                    pass
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(tests)} tests, {len(failures)} failures ({time.time() - t_all:.1f} s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
