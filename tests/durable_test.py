#!/usr/bin/env python3
"""Durable queues end to end (SPEC §7.10), with real processes, against both
backends: a SQLite file and a real redis-server.

usage: durable_test.py path/to/weft

Every scenario runs once per backend, each time with a fresh store (its own
SQLite file, or its own Redis database number on a redis-server this script
starts on a free loopback port in a temporary directory and always kills at
the end). The front end, the workers and the poller are separate `weft`
processes; workers are killed with SIGKILL, frozen with SIGSTOP and stopped
with SIGTERM; the store is locked (SQLite) or killed and restarted (Redis)
under a running worker. Deadlines are generous (a loaded 2-core machine),
leases short (--lease 1).

A missing redis-server is a failure, not a skip: CI installs it (run.sh).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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
fn stamp(x) { return [x, time.now()] }
fn not_json() { return fn() {} }
fn left() { return jobs.remaining() }
# Issue 16: counts its runs in a file; the first run meets a 429 with
# Retry-After: 1 (as an HTTPError from http.check).
fn runs_in(path) {
  io.append_file(path, str(time.now()) + "\n")
  return io.read_file(path).split()
}
fn throttled(path) {
  let runs = runs_in(path)
  if len(runs) == 1 {
    http.check({status: 429, ok: false, url: "http://x/", body: "", headers: {"retry-after": "1"}})
  }
  return float(runs[1]) - float(runs[0])
}
fn snoozer(path) {
  if len(runs_in(path)) < 3 {
    jobs.snooze(0.1)
  }
  return "woke"
}
# The first run opens a breaker on a closed port, then meets CircuitOpenError.
fn circuit(path) {
  let n = len(runs_in(path))
  http.breaker("127.0.0.1:9", {failures: 1, reset: 0.3})
  if n == 1 {
    try {
      http.get("http://127.0.0.1:9/")
    } catch e {
    }
    http.get("http://127.0.0.1:9/")
  }
  return n
}
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


def stats_of(store):
    r = weft('print(json.stringify(jobs.open(sys.args[0]).stats()))', store)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}


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


def log_text(path):
    with open(path) as f:
        return f.read()


# ---------------------------------------------------------------- backends

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A throw-away redis-server on a free loopback port. persistent=True
    keeps an append-only file (fsync on every write) so the server can be
    killed and restarted with its data."""

    def __init__(self, name, persistent=False, port=None):
        self.dir = os.path.join(tmp, "redis-" + name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.persistent = persistent
        self.proc = None
        self.next_db = 0

    def start(self):
        persist = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--databases", "64", "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log"), *persist],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if not wait_for(self.ping, timeout=20):
            self.kill()
            raise RuntimeError(f"redis-server did not start on port {self.port}: "
                               + log_text(os.path.join(self.dir, "redis.log"))[-2000:])

    def ping(self):
        if self.proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def url(self):
        db = self.next_db
        self.next_db += 1
        if db >= 64:
            raise RuntimeError("out of Redis databases (start the server with more --databases)")
        return f"redis://127.0.0.1:{self.port}/{db}"


servers = []


class FlakyProxy:
    """A TCP proxy in front of a redis-server that drops the connection
    instead of forwarding every `every`-th reply: the server has run the
    command, the client never hears back (a reply lost with the network)."""

    def __init__(self, target_port, every):
        self.target = target_port
        self.every = every
        self.replies = 0
        self.dropped = 0
        self.armed = False
        self.lock = threading.Lock()
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
                s = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            self.socks += [c, s]
            threading.Thread(target=self.pump, args=(c, s, False), daemon=True).start()
            threading.Thread(target=self.pump, args=(s, c, True), daemon=True).start()

    def pump(self, src, dst, replies):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if replies:
                    with self.lock:
                        self.replies += self.armed
                        drop = self.armed and self.replies % self.every == 0
                        self.dropped += drop
                    if drop:
                        break
                dst.sendall(data)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def close(self):
        self.lsock.close()
        for x in self.socks:
            try:
                x.close()
            except OSError:
                pass


def only(backend):
    """Marks a test that applies to one backend."""
    def mark(f):
        f.backend = backend
        return f
    return mark


class Sqlite:
    name = "sqlite"

    def store(self, name):
        return "sqlite:" + os.path.join(tmp, name + ".db")


class Redis:
    name = "redis"

    def __init__(self):
        self.server = RedisServer("main")
        servers.append(self.server)
        self.server.start()

    def store(self, name):
        return self.server.url()


# ---------------------------------------------------------------- tests (both backends)

def test_three_processes(b):
    """enqueue in one process, work in another, poll from a third"""
    s = b.store("three")
    ids = [enqueue(s, "add", [i, 100]) for i in range(3)]
    bad = enqueue(s, "boom", [7], "{retries: 1, backoff: 0.05}")
    log = os.path.join(tmp, b.name + "-three.log")
    w = start_worker(s, "--lease", "2", log=log)
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
    text = log_text(log)
    check("done in" in text and "SIGTERM" in text and "stopped:" in text, f"worker log: {text}")


def test_retry_after_snooze_and_open_circuit(b):
    """issue 16: retry_after obeyed; snooze and CircuitOpenError use no attempt"""
    s = b.store("politeness")
    paths = [os.path.join(tmp, f"{b.name}-{n}.runs") for n in ("throttled", "snoozer", "circuit")]
    a = enqueue(s, "throttled", [paths[0]], "{retries: 2, backoff: 0.01}")
    c = enqueue(s, "snoozer", [paths[1]], "{retries: 0}")
    d = enqueue(s, "circuit", [paths[2]], "{retries: 0, backoff: 0.01}")
    w = start_worker(s, "--concurrency", "3")
    r = weft('''
let q = jobs.open(sys.args[0])
let a = q.job(sys.args[1])
print(a.result(30) >= 0.9, a.attempts())
let c = q.job(sys.args[2])
print(c.result(30), c.attempts(), c.status())
let d = q.job(sys.args[3])
print(d.result(30), d.attempts())
''', s, a, c, d)
    check(r.returncode == 0, f"poller failed: {r.stderr}")
    check(r.stdout.splitlines() == ["true 2", "woke 1 done", "2 1"], f"politeness: {r.stdout!r} {r.stderr}")
    check(stop(w) == 0, "worker did not exit 0 on SIGTERM")


def test_pause_is_stored_for_every_worker(b):
    """issue 16: q.pause() stops every worker process from claiming"""
    s = b.store("paused")
    r = weft('let q = jobs.open(sys.args[0]); q.pause(); print(q.paused(), q.paused("other"))', s)
    check(r.stdout.strip() == "true false", f"paused(): {r.stdout!r} {r.stderr}")
    a = enqueue(s, "add", [1, 2])
    w1 = start_worker(s)
    w2 = start_worker(s)
    time.sleep(1.5)
    check(status_of(s, a) == "queued", "a paused queue's job was claimed")
    r = weft('let q = jobs.open(sys.args[0]); q.resume(); print(q.paused(), q.job(sys.args[1]).result(30))', s, a)
    check(r.stdout.strip() == "false 3", f"after resume: {r.stdout!r} {r.stderr}")
    check(stop(w1) == 0 and stop(w2) == 0, "workers did not exit 0 on SIGTERM")


def test_unique_keys_across_processes(b):
    """issue 16: a unique key gives one job while it is unfinished, from any process"""
    s = b.store("unique")
    a = enqueue(s, "nap", [0.5], '{unique: "sync-1"}')
    a2 = enqueue(s, "nap", [0.5], '{unique: "sync-1"}')
    c = enqueue(s, "nap", [0.01], '{unique: "sync-2"}')
    check(a == a2, f"same key, two jobs: {a} {a2}")
    check(a != c, "different keys, one job")
    w = start_worker(s)
    ok = wait_for(lambda: status_of(s, a) == "done", timeout=30)
    check(ok, "the unique job did not finish")
    a3 = enqueue(s, "nap", [0.01], '{unique: "sync-1"}')
    check(a3 != a, "a finished job still held its unique key")
    r = weft('let q = jobs.open(sys.args[0]); q.enqueue_many("nap", [[0]], {unique: "k"})', s)
    check(r.returncode == 1 and "ValueError" in r.stderr, f"enqueue_many with unique: {r.stderr}")
    check(stop(w) == 0, "worker did not exit 0 on SIGTERM")


def test_deadline_is_a_whole_job_budget(b):
    """issue 16: deadline bounds the job, jobs.remaining() sees it, not retried"""
    s = b.store("deadline")
    a = enqueue(s, "nap", [10], "{retries: 5, backoff: 0.05, deadline: 0.6}")
    c = enqueue(s, "left", [], "{deadline: 30}")
    d = enqueue(s, "left", [])
    w = start_worker(s, "--concurrency", "3")
    t0 = time.time()
    r = weft('''
let q = jobs.open(sys.args[0])
let a = q.job(sys.args[1])
try {
  a.result(30)
} catch e {
  print(e.message.contains("TimeoutError: deadline exceeded"))
}
print(a.attempts(), a.error().type, a.error().message)
let rem = q.job(sys.args[2]).result(30)
print(rem > 20 and rem <= 30, q.job(sys.args[3]).result(30))
''', s, a, c, d)
    check(r.returncode == 0, f"poller failed: {r.stderr}")
    check(r.stdout.splitlines() == ["true", "1 TimeoutError deadline exceeded", "true nil"],
          f"deadline: {r.stdout!r} {r.stderr}")
    check(time.time() - t0 < 8, "the job outlived its deadline")
    check(stop(w) == 0, "worker did not exit 0 on SIGTERM")


def test_missing_function_and_bad_result(b):
    s = b.store("missing")
    a = enqueue(s, "no_such_fn", [1], "{retries: 3}")
    c = enqueue(s, "not_json", [])
    w = start_worker(s)
    ok = wait_for(lambda: status_of(s, a) == "failed" and status_of(s, c) == "failed")
    check(ok, "missing function / non-JSON result did not end failed")
    r = weft('let q = jobs.open(sys.args[0]); for id in sys.args.slice(1) { let j = q.job(id); print(j.attempts(), j.error()) }',
             s, a, c)
    lines = r.stdout.splitlines()
    check(len(lines) == 2 and lines[0] == "1 NameError: tasks.weft has no top-level function 'no_such_fn'",
          f"missing function error: {lines}")
    check(len(lines) == 2 and lines[1].startswith("1 TypeError: the result of not_json() is not a JSON value"),
          f"non-JSON result error: {lines}")
    stop(w)


# The script API against a store with no worker, then with one: options,
# states, the dead set, purge, TTLs and the order of claims. The same checks
# as tests/weft/durable_test.weft, which only knows SQLite (a `weft test` file
# has no way to be given a Redis URL).
API_SCRIPT = r'''
let url = sys.args[0]
let tasks = sys.args[1]
let q = jobs.open(url)
assert_eq(q.url, url)
# states and cancel
let j = q.enqueue("add", [1, 2], {delay: 60})
assert_eq([j.status(), j.attempts(), j.error(), j.done()], ["queued", 0, nil, false])
assert_eq(j.cancel(), true)
assert_eq(j.cancel(), false)
assert_eq(j.status(), "cancelled")
assert(j.info().finished_at != nil, "finished_at of a cancelled job")
let e = assert_raises("JobError", fn() { j.result(1) })
assert(e.message.contains("was cancelled"), e.message)
# a handle from the id alone, JSON arguments
let k = jobs.open(url).enqueue("add", [{"a": [1, 2.5, nil, "x"]}, 2], {priority: 7, retries: 3, timeout: 4})
let again = jobs.open(url).job(k.id)
let info = again.info()
assert_eq([info.function, info.args, info.priority, info.retries, info.status, info.attempts, info.lost_leases],
          ["add", [{"a": [1, 2.5, nil, "x"]}, 2], 7, 3, "queued", 0, 0])
assert(info.created_at > 0 and info.finished_at == nil, "timestamps")
assert_raises("JobError", fn() { q.job("no-such-id") })
assert_raises("TypeError", fn() { q.enqueue("add", [fn() {}]) })
# result() times out while nobody works
let t0 = time.monotonic()
let te = assert_raises("TimeoutError", fn() { k.result(0.1) })
assert(te.message.contains("queued"), te.message)
assert(time.monotonic() - t0 < 5, "result(0.1) took too long")
# stats, purge
assert_eq(len(q.enqueue_many("add", [[1, 1], [2, 2], [3, 3]])), 3)
assert_eq(q.enqueue_many("add", []), [])
let st = q.stats()
assert_eq([st.queued, st.cancelled, st.running, st.workers], [4, 1, 0, 0])
assert_eq(q.purge(), 1)
assert_eq(q.purge(["queued"]), 4)
assert_eq(q.stats().queued, 0)
assert_raises("JobError", fn() { k.status() })
# another queue of the same store is separate
let other = jobs.open(url, {queue: "other"})
other.enqueue("add", [1, 1])
assert_eq([other.stats().queued, q.stats().queued], [1, 0])
other.purge(["queued"])

# Jobs enqueued before any worker exists, so the order is the store's:
# priority first, then FIFO; a delayed job waits.
let low = q.enqueue("stamp", ["low"], {priority: -1})
let mid = q.enqueue_many("stamp", [["mid1"], ["mid2"]])
let high = q.enqueue("stamp", ["high"], {priority: 10})
let late = q.enqueue("stamp", ["late"], {priority: 99, delay: 1.0})
let w = jobs.spawn_worker(tasks, url, {concurrency: 1, lease: 2})
let order = [high, mid[0], mid[1], low]
q.wait(order, 30)
let times = []
for x in order { times.push(x.result()[1]) }
assert_eq(high.result()[0], "high")
for i in range(3) { assert(times[i] <= times[i + 1], format("job {} ran out of order", i)) }
assert(late.result(30)[1] > times[3], "the delayed job ran before its time")
# retries, the dead set, retry_failed
let bad = q.enqueue("boom", [7], {retries: 2, backoff: 0.05})
let ok = q.enqueue("add", [20, 22])
assert_eq(ok.result(30), 42)
let be = assert_raises("JobError", fn() { bad.result(30) })
assert(be.message.contains("failed after 3 attempts: ValueError: bad input 7"), be.message)
assert_eq(bad.attempts(), 3)
assert_eq(bad.error().type, "ValueError")
let dead = q.failed()
assert_eq(len(dead), 1)
assert_eq(dead[0].id, bad.id)
assert_eq(q.retry_failed(), 1)
assert_raises("JobError", fn() { bad.result(30) })
assert_eq(bad.attempts(), 6)
# result_ttl: the job is gone some time after it finished
let short = q.enqueue("add", [2, 2], {result_ttl: 0.5})
assert_eq(short.result(30), 4)
let t1 = time.monotonic()
while time.monotonic() - t1 < 20 {
  let gone = false
  try { short.status() } catch err { gone = true }
  if gone { break }
  time.sleep(0.1)
}
assert_raises("JobError", fn() { short.status() })
let fin = q.stats()
assert_eq([fin.done, fin.failed, fin.queued, fin.running, fin.retrying, fin.workers], [6, 1, 0, 0, 0, 1])
w.kill()
assert_eq(w.wait(20), 0)
print("api ok")
'''


def test_api_semantics(b):
    s = b.store("api")
    r = weft(API_SCRIPT, s, os.path.join(tmp, "tasks.weft"), timeout=120)
    check(r.returncode == 0 and r.stdout.strip() == "api ok", f"API checks: {r.stdout} {r.stderr}")


def test_kill_9_mid_job_is_reclaimed(b):
    """kill -9 a worker mid-job: re-claimed after the lease, done, run twice"""
    s = b.store("kill9")
    runs = os.path.join(tmp, b.name + "-kill9.runs")
    jid = enqueue(s, "logged_nap", [runs, "k", 1.0])
    w1 = start_worker(s, "--lease", "1")
    check(wait_for(lambda: os.path.exists(runs)), "first worker never started the job")
    os.kill(w1.pid, signal.SIGKILL)
    w1.wait()
    check(status_of(s, jid) == "running", "job not running after its worker died")
    w2 = start_worker(s, "--lease", "1")
    r = weft('let j = jobs.open(sys.args[0]).job(sys.args[1]); print(j.result(30)); print(j.attempts()); print(j.info().lost_leases)',
             s, jid)
    check(r.stdout.split() == ["k", "2", "1"], f"re-claimed job: {r.stdout!r} {r.stderr}")
    check(log_text(runs) == "k\nk\n", "the job should have run exactly twice (at-least-once)")
    check(stop(w2) == 0, "second worker did not stop cleanly")


def test_job_that_kills_its_worker_goes_to_the_dead_set(b):
    """a job whose worker dies every time: re-claimed 4 times, then failed"""
    s = b.store("crashloop")
    runs = os.path.join(tmp, b.name + "-crashloop.runs")
    jid = enqueue(s, "logged_nap", [runs, "c", 30], "{retries: 3}")
    for i in range(1, 6):
        w = start_worker(s, "--lease", "0.5")
        ok = wait_for(lambda: os.path.exists(runs) and len(log_text(runs).split()) == i, timeout=20)
        check(ok, f"run {i} of the job did not start")
        os.kill(w.pid, signal.SIGKILL)
        w.wait()
        if not ok:
            return
    w = start_worker(s, "--lease", "0.5")
    check(wait_for(lambda: status_of(s, jid) == "failed", timeout=20), f"job not failed: {status_of(s, jid)}")
    r = weft('let j = jobs.open(sys.args[0]).job(sys.args[1]); let i = j.info(); print(i.attempts, i.lost_leases); print(j.error())',
             s, jid)
    lines = r.stdout.splitlines()
    check(lines[:1] == ["5 5"], f"attempts, lost leases: {lines}")
    check(len(lines) > 1 and lines[1] == "JobError: the worker running this job stopped answering (its lease expired) "
          "5 times; giving up", f"error: {lines}")
    check(len(log_text(runs).split()) == 5, "the job ran again after it failed")
    check(stop(w) == 0, "worker did not stop cleanly")


def test_frozen_worker_cannot_record_a_second_result(b):
    """a worker that lost its lease (SIGSTOP) cannot overwrite the outcome"""
    s = b.store("frozen")
    runs = os.path.join(tmp, b.name + "-frozen.runs")
    jid = enqueue(s, "logged_nap", [runs, "f", 0.5])
    log1 = os.path.join(tmp, b.name + "-frozen1.log")
    w1 = start_worker(s, "--lease", "1", log=log1)
    check(wait_for(lambda: os.path.exists(runs)), "first worker never started the job")
    os.kill(w1.pid, signal.SIGSTOP)
    w2 = start_worker(s, "--lease", "1")
    check(wait_for(lambda: status_of(s, jid) == "done", timeout=30), "job not done by the second worker")
    stop(w2)
    before = weft('print(jobs.open(sys.args[0]).job(sys.args[1]).info())', s, jid).stdout
    os.kill(w1.pid, signal.SIGCONT)
    check(wait_for(lambda: "lease lost" in log_text(log1), timeout=20),
          "the frozen worker did not report its outcome as discarded")
    after = weft('print(jobs.open(sys.args[0]).job(sys.args[1]).info())', s, jid).stdout
    check(before == after, f"the outcome changed after the frozen worker resumed:\n{before}\n{after}")
    stop(w1)


def test_sigterm_finishes_running_and_releases_the_rest(b):
    s = b.store("term")
    short = enqueue(s, "nap", [0.5])
    w = start_worker(s, "--grace", "5")
    check(wait_for(lambda: status_of(s, short) == "running"), "short job never started")
    w.send_signal(signal.SIGTERM)
    check(stop(w) == 0, "worker did not exit 0")
    check(status_of(s, short) == "done", "running job was not finished within the grace period")
    # A job longer than the grace period is interrupted and released.
    long = enqueue(s, "nap", [30])
    log = os.path.join(tmp, b.name + "-term.log")
    w = start_worker(s, "--grace", "0.3", log=log)
    check(wait_for(lambda: status_of(s, long) == "running"), "long job never started")
    t0 = time.time()
    w.send_signal(signal.SIGTERM)
    code = stop(w)
    check(code == 0 and time.time() - t0 < 10, f"worker did not stop promptly ({code})")
    check(status_of(s, long) == "queued", f"long job should be back in the queue: {status_of(s, long)}")
    check("lease released" in log_text(log), "no 'lease released' in the log")
    st = stats_of(s)
    check(st.get("running") == 0 and st.get("queued") == 1 and st.get("workers") == 0, f"stats after stop: {st}")


def test_two_processes_cpu_bound(b):
    """--processes 2: both processes run CPU-bound jobs; the supervisor stops them"""
    s = b.store("procs")
    log = os.path.join(tmp, b.name + "-procs.log")
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
    text = log_text(log)
    pids = set(re.findall(r"worker (\d+): job \w+ spin done", text))
    check(len(pids) == 2, f"expected jobs done by 2 processes, got {pids}")
    check(len(re.findall(r"worker \d+: stopped:", text)) == 2, "both worker processes should report stopping")


def test_supervisor_restarts_a_killed_process(b):
    s = b.store("restart")
    log = os.path.join(tmp, b.name + "-restart.log")
    w = start_worker(s, "--processes", "1", "--lease", "1", log=log)
    check(wait_for(lambda: re.search(r"worker (\d+): tasks", log_text(log))), "worker never started")
    child = int(re.search(r"worker (\d+): tasks", log_text(log)).group(1))
    os.kill(child, signal.SIGKILL)
    check(wait_for(lambda: "starting a new one" in log_text(log)), "supervisor did not restart the worker")
    jid = enqueue(s, "add", [2, 3])
    r = weft('print(jobs.open(sys.args[0]).job(sys.args[1]).result(30))', s, jid)
    check(r.stdout.strip() == "5", f"restarted worker did not run the job: {r.stdout} {r.stderr}")
    check(stop(w) == 0, "supervisor did not exit 0")


def test_bad_stores(b):
    if b.name == "sqlite":
        notdb = os.path.join(tmp, "notdb.db")
        with open(notdb, "w") as f:
            f.write("this is not a database, just text " * 100)
        cases = [
            ("sqlite:/nonexistent-dir/x.db", 1, "cannot open store"),
            ("sqlite:" + notdb, 1, "not a database"),
            ("ftp://x", 1, "unsupported store URL"),
        ]
    else:
        dead = free_port()
        port = b.server.port
        cases = [
            (f"redis://127.0.0.1:{dead}/0", 1, f"cannot connect to redis store 'redis://127.0.0.1:{dead}/0': Connection refused"),
            (f"redis://127.0.0.1:{port}/9999", 1, "DB index is out of range"),
            ("redis://127.0.0.1:http/0", 1, "bad port 'http'"),
            ("redis://127.0.0.1:6379/zero", 1, "bad database number 'zero'"),
            ("redis://:6379/0", 1, "has no host"),
        ]
    for url, code, msg in cases:
        r = subprocess.run([WEFT, "worker", os.path.join(tmp, "tasks.weft"), "--store", url],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == code and msg in r.stderr, f"worker with store {url}: {r.returncode} {r.stderr!r}")
        r = weft('jobs.open(sys.args[0])', url)
        check(r.returncode == 1 and msg in r.stderr, f"jobs.open({url}): {r.stderr!r}")
    r = subprocess.run([WEFT, "worker", os.path.join(tmp, "tasks.weft")], capture_output=True, text=True)
    check(r.returncode == 2 and "--store" in r.stderr, f"missing --store: {r.stderr!r}")
    r = subprocess.run([WEFT, "worker", os.path.join(tmp, "nope.weft"), "--store", b.store("x")],
                       capture_output=True, text=True)
    check(r.returncode == 2 and "cannot open" in r.stderr, f"missing tasks file: {r.stderr!r}")


# ---------------------------------------------------------------- tests (one backend)

@only("sqlite")
def test_store_locked_then_back(b):
    """SQLite: the store is unavailable (locked by another process) and comes back"""
    s = b.store("locked")
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


@only("redis")
def test_store_goes_away_and_comes_back(b):
    """Redis: the server is killed (kill -9) under a running worker and
    restarted on the same port with its data; the worker reconnects and
    carries on; every job is done, each run and recorded once"""
    srv = RedisServer("outage", persistent=True)
    servers.append(srv)
    srv.start()
    s = srv.url()
    runs = os.path.join(tmp, "outage.runs")
    n = 60
    r = weft('''
let q = jobs.open(sys.args[0])
let args = []
for i in range(int(sys.args[2])) { args.push([sys.args[1], "t" + str(i), 0.03]) }
q.enqueue_many("logged_nap", args)
''', s, runs, str(n))
    check(r.returncode == 0, f"enqueue: {r.stderr}")
    log = os.path.join(tmp, "outage.log")
    # A lease longer than the outage: no job is re-run because of it.
    w = start_worker(s, "--lease", "20", "--status-interval", "0", log=log)
    check(wait_for(lambda: stats_of(s).get("done", 0) >= 10, timeout=30), "the worker did not get going")
    # A front end with an idle connection across the restart: its next call
    # (a long command, written to a connection the server has reset) fails
    # with IOError, the one after reconnects. (It must not die of SIGPIPE.)
    go = os.path.join(tmp, "outage.go")
    connected = os.path.join(tmp, "outage.connected")
    fe = subprocess.Popen([WEFT, "-e", '''
let q = jobs.open(sys.args[0], {queue: "front"})
q.enqueue("add", [1, 1])
io.write_file(sys.args[2], "")
while not io.exists(sys.args[1]) { time.sleep(0.02) }
let big = []
for i in range(500) { big.push(["x" * 10000]) }
try { q.enqueue_many("add", big) } catch e { print(e.type) }
print(len(q.enqueue_many("add", big)))
''', s, go, connected], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.append(fe)
    check(wait_for(lambda: os.path.exists(connected) or fe.poll() is not None), "the front end did not connect")
    srv.kill()
    time.sleep(1.5)
    check(w.poll() is None, "the worker died while the store was away")
    srv.start()
    open(go, "w").close()
    try:
        out, _ = fe.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        fe.kill()
        out, _ = fe.communicate()
    check(fe.returncode == 0 and out.split()[-1:] == ["500"], f"front end across the restart: {fe.returncode} {out!r}")
    check(wait_for(lambda: stats_of(s).get("done", 0) == n, timeout=60), f"not all jobs done: {stats_of(s)}")
    st = stats_of(s)
    check(st.get("failed") == 0 and st.get("queued") == 0 and st.get("running") == 0, f"stats after the outage: {st}")
    r = weft('''
let q = jobs.open(sys.args[0])
for j in q.enqueue_many("add", [[1, 1]]) { print(j.result(30)) }
''', s)
    check(r.stdout.strip() == "2", f"a new job after the outage: {r.stdout} {r.stderr}")
    check(stop(w) == 0, "worker did not stop cleanly")
    text = log_text(log)
    check("store error" in text and "store reachable again" in text, f"worker log: {text[-3000:]}")
    tags = log_text(runs).split()
    dup = sorted({t for t in tags if tags.count(t) > 1})
    check(len(tags) == n and not dup, f"each job should run once: {len(tags)} runs, repeated: {dup}")
    done_lines = re.findall(r"job (\w+) logged_nap done", text)
    check(len(done_lines) == n and len(set(done_lines)) == n,
          f"each outcome recorded once: {len(done_lines)} done lines, {len(set(done_lines))} distinct")
    check("lease lost" not in text, "an outcome was reported as discarded")
    srv.kill()


@only("redis")
def test_lost_replies(b):
    """Redis: replies lost after the server ran the command (a proxy drops
    the connection instead of every 4th reply). A lost claim's jobs go back
    to the queue unrun; an outcome recorded twice changes nothing. Every job
    runs once, is recorded once, and counts one attempt."""
    s = b.store("lost")
    port = int(re.match(r"redis://127.0.0.1:(\d+)/", s).group(1))
    proxy = FlakyProxy(port, 4)
    try:
        flaky = s.replace(f":{port}/", f":{proxy.port}/")
        runs = os.path.join(tmp, "lost.runs")
        n = 200
        r = weft('''
let q = jobs.open(sys.args[0])
let args = []
for i in range(int(sys.args[2])) { args.push([sys.args[1], "t" + str(i), 0.005]) }
q.enqueue_many("logged_nap", args)
''', s, runs, str(n))
        check(r.returncode == 0, f"enqueue: {r.stderr}")
        log = os.path.join(tmp, "lost.log")
        w = start_worker(flaky, "--lease", "30", "--status-interval", "0", log=log)
        check(wait_for(lambda: w.poll() is not None or "tasks" in log_text(log), 10) and w.poll() is None,
              f"worker could not start through the proxy: {log_text(log)}")
        proxy.armed = True  # (from now on, the worker's calls lose replies)
        check(wait_for(lambda: stats_of(s).get("done", 0) == n, timeout=90), f"not all jobs done: {stats_of(s)}")
        check(stop(w) == 0, "worker did not stop cleanly")
        check(proxy.dropped >= 10, f"the proxy dropped only {proxy.dropped} replies")
        text = log_text(log)
        tags = log_text(runs).split()
        dup = sorted({t for t in tags if tags.count(t) > 1})
        check(len(tags) == n and not dup, f"each job should run once: {len(tags)} runs, repeated: {dup[:10]}")
        check("lease lost" not in text, "an outcome was reported as discarded")
        r = weft('''
let q = jobs.open(sys.args[0])
let st = q.stats()
print(st.done, st.queued, st.running, st.failed)
''', s)
        check(r.stdout.split() == [str(n), "0", "0", "0"], f"stats: {r.stdout} {r.stderr}")
        r = subprocess.run(["redis-cli", "-p", str(port), "-n", s.rsplit("/", 1)[1], "--no-raw", "eval",
                            "local n = 0 for _, k in ipairs(redis.call('KEYS', 'weft:job:*')) do "
                            "if redis.call('HGET', k, 'attempts') ~= '1' then n = n + 1 end end return n", "0"],
                           capture_output=True, text=True)
        check(r.stdout.strip() == "(integer) 0", f"jobs with attempts != 1: {r.stdout} {r.stderr}")
    finally:
        proxy.close()


def main():
    with open(os.path.join(tmp, "tasks.weft"), "w") as f:
        f.write(TASKS)
    tests = [v for k, v in globals().items() if k.startswith("test_")]
    t_all = time.time()
    count = 0
    try:
        backends = [Sqlite()]
        if shutil.which("redis-server") is None:
            failures.append("redis-server not found")
            print("FAIL redis-server is not installed: the Redis backend tests cannot run "
                  "(apt-get install redis-server; run.sh installs it)")
        else:
            try:
                backends.append(Redis())
            except Exception as e:  # noqa: BLE001
                failures.append(f"redis-server: {e!r}")
                print("FAIL cannot start redis-server:", repr(e))
        for b in backends:
            for t in tests:
                if getattr(t, "backend", b.name) != b.name:
                    continue
                t0 = time.time()
                n = len(failures)
                count += 1
                try:
                    t(b)
                except Exception as e:  # noqa: BLE001
                    failures.append(f"{t.__name__}[{b.name}]: {e!r}")
                    print("  FAIL:", repr(e))
                print(f"{'ok  ' if len(failures) == n else 'FAIL'} {t.__name__}[{b.name}] ({time.time() - t0:.1f} s)")
                sys.stdout.flush()
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except OSError:
                    pass
                p.kill()
                p.wait()
        for srv in servers:
            srv.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{count} tests, {len(failures)} failures ({time.time() - t_all:.1f} s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
