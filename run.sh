#!/usr/bin/env bash
# The two commands of the README:
#   ./run.sh demo   install what is missing, build, run the flagship demo
#   ./run.sh test   install what is missing, build, run every test suite
# (normal build, ASan+UBSan, TSan for the thread/GIL/jobs tests, GC stress)
set -uo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake libboost-dev libfmt-dev catch2 libcurl4-openssl-dev
          nlohmann-json3-dev libedit-dev libcpp-httplib-dev libsqlite3-dev python3 lua5.4
          redis-server libhiredis-dev libre2-dev libxml2-utils)
JOBS=$(nproc 2>/dev/null || echo 2)

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
      || { echo "run.sh: could not install ${missing[*]}" >&2; exit 1; }
  fi
}

# The --gil-html browser test (tests/gil_html_test.py) drives headless
# Chromium with playwright-core. Both are optional: when they cannot be
# installed the test says so and checks the page without a browser.
install_browser_deps() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  local missing=()
  for p in chromium nodejs; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  # Debian's nodejs may already bring npm (then the npm package conflicts).
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing (optional, for the browser test): ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
      echo "run.sh: could not install ${missing[*]}; the browser test will be skipped" >&2
  fi
  local dir="$HOME/.cache/weft-playwright"
  if command -v npm >/dev/null && [ ! -d "$dir/node_modules/playwright-core" ]; then
    mkdir -p "$dir" && (cd "$dir" && { [ -f package.json ] || npm init -y >/dev/null; } &&
      npm install --no-audit --no-fund playwright-core >/dev/null 2>&1) ||
      echo "run.sh: could not install playwright-core; the browser test will be skipped" >&2
  fi
}

# build DIR [cmake options...]
build() {
  local dir=$1; shift
  echo "==> building $dir $*"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null || exit 1
  cmake --build "$dir" -j"$JOBS" 2>&1 | grep -E "error|warning: unused" ; [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
}

TOTAL_PASS=0
TOTAL_FAIL=0
# suite NAME DIR [ctest args...]: runs ctest, adds its counts to the totals.
suite() {
  local name=$1 dir=$2; shift 2
  echo "==> $name"
  local log; log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure --timeout 600 "$@") 2>&1 | tee "$log"
  local line; line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -n 1)
  local failed total
  failed=$(sed -E 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.*tests failed out of ([0-9]+).*/\1/' <<<"$line")
  if [ -z "$line" ]; then failed=1; total=1; fi
  TOTAL_PASS=$((TOTAL_PASS + total - failed))
  TOTAL_FAIL=$((TOTAL_FAIL + failed))
  rm -f "$log"
}

# counted NAME CMD...: runs a script that ends with "N passed, N failed"
# (the fuzzers, tests/fuzz/run_fuzz.sh) and adds its counts to the totals;
# no such line counts as one failure.
counted() {
  local name=$1; shift
  echo "==> $name"
  local log; log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local line; line=$(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$log" | tail -n 1)
  local p=0 f=1
  if [ -n "$line" ]; then
    p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
    [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  fi
  TOTAL_PASS=$((TOTAL_PASS + p))
  TOTAL_FAIL=$((TOTAL_FAIL + f))
  rm -f "$log"
}

case "${1:-}" in
  demo)
    install_deps
    build build
    echo "==> flagship demo: scripts/job_queue_api.weft"
    exec build/weft scripts/job_queue_api.weft
    ;;
  test)
    install_deps
    install_browser_deps
    build build
    suite "tests (release build)" build
    build build-asan -DWEFT_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      suite "tests under AddressSanitizer + UndefinedBehaviorSanitizer" build-asan -E "bench|demos|repl_pty|hostile|stress_spawn"
    build build-tsan -DWEFT_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
      suite "thread, GIL and jobs tests under ThreadSanitizer" build-tsan -R "thread|sync|gil|jobs|contention|Gil|GIL|shared_examples"
    build build-gcstress -DWEFT_GC_STRESS=ON -DWEFT_UNIT_TESTS=OFF
    suite "thread tests with GC stress (collect at every safe point)" build-gcstress -R "thread|sync|gil|language|builtins|methods|shared_examples|golden"
    counted "libFuzzer: parser, programs, json.parse (45 s each, clang ASan+UBSan)" tests/fuzz/run_fuzz.sh 45
    echo
    echo "total: $TOTAL_PASS passed, $TOTAL_FAIL failed"
    [ "$TOTAL_FAIL" -eq 0 ]
    ;;
  build)
    install_deps
    build build
    ;;
  *)
    echo "usage: ./run.sh demo | test | build" >&2
    exit 2
    ;;
esac
