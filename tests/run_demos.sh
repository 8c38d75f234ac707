#!/usr/bin/env bash
# Every demo in scripts/ must run to completion from a clean build and exit 0
# (issue 5). Each gets a generous timeout; the demos themselves aim for < 30 s.
# usage: run_demos.sh WEFT_BINARY SCRIPTS_DIR
set -u
weft="$1"
dir="$2"
pass=0
fail=0
for script in "$dir"/*.weft; do
  start=$(date +%s)
  if out=$(timeout 120 "$weft" "$script" 2>&1 </dev/null); then
    pass=$((pass + 1)); echo "PASS $(basename "$script") ($(( $(date +%s) - start )) s)"
  else
    code=$?
    fail=$((fail + 1)); echo "FAIL $(basename "$script") (exit $code)"
    printf '%s\n' "$out" | tail -20 | sed 's/^/    /'
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
