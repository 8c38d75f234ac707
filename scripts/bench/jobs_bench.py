"""Job-queue benchmark, CPython side: concurrent.futures.ThreadPoolExecutor.

Usage: python3 jobs_bench.py API_URL [NOOP_JOBS] [WORKERS]
Prints the same "key value" lines as jobs_bench.weft.
"""
import sys
import time
import http.client
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor, wait

url = sys.argv[1]
n_noop = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
workers = int(sys.argv[3]) if len(sys.argv) > 3 else 4


def noop():
    return None


def bench_noop(n):
    with ThreadPoolExecutor(max_workers=workers) as ex:
        ex.submit(noop).result()  # start a worker outside the timing
        t0 = time.monotonic()
        fs = [ex.submit(noop) for _ in range(n)]
        wait(fs)
        return time.monotonic() - t0


best = min(bench_noop(n_noop) for _ in range(3))
print(f"noop_jobs {n_noop}")
print(f"noop_workers {workers}")
print(f"noop_seconds {best:.4f}")
print(f"noop_jobs_per_s {n_noop / best:.0f}")

# Keep-alive connection per worker thread (what libcurl does on the Weft side).
parts = urllib.parse.urlsplit(url)
local = threading.local()


def call(i):
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", f"/users/{i}")
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        raise IOError(f"HTTP {r.status}")
    return r.status


def bench_api():
    with ThreadPoolExecutor(max_workers=16) as ex:
        list(ex.map(call, range(16)))  # warm up
        t0 = time.monotonic()
        fs = [ex.submit(call, i) for i in range(200)]
        wait(fs)
        el = time.monotonic() - t0
        assert all(f.result() == 200 for f in fs)
        return el


best_api = min(bench_api() for _ in range(3))
print("api_calls 200")
print("api_workers 16")
print(f"api_seconds {best_api:.4f}")
