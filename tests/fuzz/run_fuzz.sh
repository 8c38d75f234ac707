#!/usr/bin/env bash
# Builds the libFuzzer targets (clang) in build-fuzz/ and runs each for
# SECONDS on a copy of the seed corpus (tests/weft, tests/golden, scripts,
# tests/fuzz/corpus_json). Inputs in tests/fuzz/regressions/TARGET/ are
# replayed first. Prints executions and coverage per target, then
# "N passed, N failed" (one per target); exits non-zero on a crash, whose
# input is kept in build-fuzz/crashes/.
#
# usage: tests/fuzz/run_fuzz.sh [SECONDS]      (default 60)
#   WEFT_FUZZ_BUILD=DIR   build directory (default: build-fuzz at the repo root)
#   WEFT_FUZZ_TARGETS="fuzz_parser fuzz_json"   a subset
#   WEFT_FUZZ_JOBS=N      parallel build jobs (default: nproc)
set -uo pipefail
seconds=${1:-60}
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${WEFT_FUZZ_BUILD:-$root/build-fuzz}"
targets=(${WEFT_FUZZ_TARGETS:-fuzz_parser fuzz_run fuzz_json})
jobs=${WEFT_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

cxx=""
for c in clang++-14 clang++; do command -v "$c" >/dev/null && { cxx=$(command -v "$c"); break; }; done
fuzzer_rt=$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null | head -n 1)
if [ -z "$cxx" ] || [ -z "$fuzzer_rt" ]; then
  echo "==> fuzz: installing clang-14 and libFuzzer (libclang-rt-14-dev)"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
  cxx=$(command -v clang++-14)
  if [ -z "$cxx" ]; then echo "fuzz: clang++-14 not available"; echo "0 passed, 1 failed"; exit 1; fi
fi

echo "==> building fuzz targets in $build ($cxx)"
t0=$(date +%s)
if ! { CXX="$cxx" cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
       cmake --build "$build" -j"$jobs" 2>&1 | grep -E "error|Error" ; [ "${PIPESTATUS[0]}" -eq 0 ]; }; then
  echo "fuzz: build failed"
  echo "0 passed, ${#targets[@]} failed"
  exit 1
fi
echo "    built in $(( $(date +%s) - t0 )) s"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:allocator_may_return_null=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:halt_on_error=1:print_stacktrace=1"

# Seed corpora (fresh copies: the fuzzer adds what it finds to them).
seed_dir() {  # TARGET -> directory
  local t=$1 d="$build/corpus/$1"
  rm -rf "$d"; mkdir -p "$d"
  if [ "$t" = fuzz_json ]; then
    cp "$here"/corpus_json/* "$d"/
  else
    local f
    for f in "$root"/tests/weft/*.weft "$root"/tests/golden/*.weft "$root"/scripts/*.weft; do
      [ -f "$f" ] && cp "$f" "$d/$(basename "$(dirname "$f")")_$(basename "$f")"
    done
  fi
  echo "$d"
}

pass=0; fail=0
mkdir -p "$build/crashes" "$build/logs"
for t in "${targets[@]}"; do
  exe="$build/$t"
  log="$build/logs/$t.log"
  # 1. regressions: every saved crash input must now pass
  reg="$here/regressions/$t"
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
    if ! "$exe" -timeout=10 -rss_limit_mb=2048 "$reg"/* >"$build/logs/$t.regressions.log" 2>&1; then
      echo "FAIL $t: a regression input crashes again (see $build/logs/$t.regressions.log)"
      tail -n 30 "$build/logs/$t.regressions.log" | sed 's/^/    /'
      fail=$((fail + 1))
      continue
    fi
    echo "    $t: $(ls "$reg" | wc -l) regression inputs pass"
  fi
  # 2. fuzz for $seconds
  corpus=$(seed_dir "$t")
  dict=()
  [ "$t" != fuzz_json ] && dict=(-dict="$here/weft.dict")
  "$exe" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" "${dict[@]}" "$corpus" >"$log" 2>&1
  status=$?
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -n 1)
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -n 1)
  units=$(ls "$corpus" | wc -l)
  if [ $status -eq 0 ]; then
    pass=$((pass + 1))
    echo "PASS $t: ${execs:-?} executions in ${seconds} s, ${cov:-cov ?}, corpus $units inputs"
  else
    fail=$((fail + 1))
    crash=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -n 1 | sed 's/Test unit written to //')
    echo "FAIL $t: fuzzer stopped with status $status after ${execs:-?} executions; input: ${crash:-?}"
    grep -E "ERROR|SUMMARY|runtime error|#[0-9]+ 0x" "$log" | head -n 25 | sed 's/^/    /'
    echo "    full log: $log  (reproduce: $exe ${crash:-CRASH_FILE})"
  fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
