#!/usr/bin/env bash
# Runs the job-queue benchmark for Weft and CPython side by side.
#   scripts/bench/run_jobs_bench.sh [path/to/weft] [NOOP_JOBS] [WORKERS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
WEFT="${1:-${WEFT:-$root/build/weft}}"
N="${2:-200000}"
W="${3:-4}"
PY=/usr/bin/python3

[ -x "$WEFT" ] || { echo "weft binary not found: $WEFT (pass it as the first argument)" >&2; exit 2; }

# One mock API (20 ms per /users/ID) shared by both sides.
fifo="$(mktemp -u)"
mkfifo "$fifo"
"$WEFT" mock-api --port 0 --latency 20 > "$fifo" &
srv=$!
trap 'kill $srv 2>/dev/null || true; rm -f "$fifo"' EXIT
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
