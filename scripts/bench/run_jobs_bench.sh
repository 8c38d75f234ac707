#!/usr/bin/env bash
# Runs the job-queue benchmarks:
#  (1), (2) the in-process queue, Weft and CPython side by side;
#  (3) the durable queue (durable_bench.weft), SQLite and Redis side by side
#      in the same run: a throw-away redis-server (no persistence) on a free
#      loopback port in a temporary directory, killed at the end.
#   scripts/bench/run_jobs_bench.sh [path/to/weft] [NOOP_JOBS] [WORKERS] [DURABLE_JOBS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
WEFT="${1:-${WEFT:-$root/build/weft}}"
N="${2:-200000}"
W="${3:-4}"
DN="${4:-20000}"
PY=/usr/bin/python3

[ -x "$WEFT" ] || { echo "weft binary not found: $WEFT (pass it as the first argument)" >&2; exit 2; }

# One mock API (20 ms per /users/ID) shared by both sides.
fifo="$(mktemp -u)"
mkfifo "$fifo"
"$WEFT" mock-api --port 0 --latency 20 > "$fifo" &
srv=$!
redis_pid=""
redis_dir=""
cleanup() {
  kill "$srv" 2>/dev/null || true
  rm -f "$fifo"
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  [ -n "$redis_dir" ] && rm -rf "$redis_dir"
}
trap cleanup EXIT
exec 3< "$fifo"
read -r first <&3
url="${first#listening on }"
echo "mock API: $url (20 ms latency)"

weft_out="$("$WEFT" "$here/jobs_bench.weft" "$url" "$N" "$W")"
py_out="$("$PY" "$here/jobs_bench.py" "$url" "$N" "$W")"
get() { echo "$1" | awk -v k="$2" '$1 == k { print $2 }'; }

w_rate=$(get "$weft_out" noop_jobs_per_s); p_rate=$(get "$py_out" noop_jobs_per_s)
w_api=$(get "$weft_out" api_seconds);      p_api=$(get "$py_out" api_seconds)
ideal=$(awk 'BEGIN { printf "%.3f", int((200 + 15) / 16) * 0.020 }')

echo
echo "(1) no-op jobs through the queue, $W workers, $N jobs (best of 3)"
printf "    %-34s %12s jobs/s\n" "weft jobs.queue" "$w_rate"
printf "    %-34s %12s jobs/s\n" "CPython ThreadPoolExecutor" "$p_rate"
awk -v a="$w_rate" -v b="$p_rate" 'BEGIN { printf "    weft / CPython: %.2fx (target >= 5x)\n", a / b }'
echo
echo "(2) 200 calls to a 20 ms API, 16 workers (best of 3)"
printf "    %-34s %8.3f s\n" "ideal ceil(200/16) x 20 ms" "$ideal"
printf "    %-34s %8.3f s\n" "weft jobs.queue" "$w_api"
printf "    %-34s %8.3f s\n" "CPython ThreadPoolExecutor" "$p_api"
awk -v a="$w_api" -v i="$ideal" -v p="$p_api" 'BEGIN {
  printf "    weft / ideal: %.2fx (target <= 1.25x); CPython / ideal: %.2fx\n", a / i, p / i }'

# (3) The durable queue: SQLite and Redis, alternating, best of 3 each.
echo
echo "(3) durable queue, enqueue to done, $DN no-op jobs, 2 worker processes x 1 thread (best of 3)"
rate() { echo "$1" | awk '/enqueue-to-done/ { print $2 }'; }
redis_url=""
if command -v redis-server >/dev/null; then
  redis_dir="$(mktemp -d)"
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --dir "$redis_dir" --save '' --appendonly no \
    --logfile "$redis_dir/redis.log" --daemonize no &
  redis_pid=$!
  for _ in $(seq 100); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.05
  done
  redis_url="redis://127.0.0.1:$port/0"
  echo "    redis-server $(redis-server --version | sed -E 's/.*v=([0-9.]+).*/\1/') on port $port (no persistence)"
else
  echo "    (redis-server is not installed: Redis is left out)"
fi
sq_best=0
rd_best=0
sq_all=""
rd_all=""
for i in 1 2 3; do
  r=$(rate "$("$WEFT" "$here/durable_bench.weft" "$DN" 2 1 sqlite)")
  sq_all="$sq_all $r"
  sq_best=$(awk -v a="$sq_best" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
  if [ -n "$redis_url" ]; then
    r=$(rate "$("$WEFT" "$here/durable_bench.weft" "$DN" 2 1 "$redis_url")")
    rd_all="$rd_all $r"
    rd_best=$(awk -v a="$rd_best" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
  fi
done
printf "    %-34s %12s jobs/s (runs:%s; target >= 5000)\n" "SQLite (a WAL file)" "$sq_best" "$sq_all"
[ -n "$redis_url" ] && printf "    %-34s %12s jobs/s (runs:%s; target >= 20000)\n" "Redis" "$rd_best" "$rd_all"
echo "    load average: $(cut -d' ' -f1-3 /proc/loadavg)"
