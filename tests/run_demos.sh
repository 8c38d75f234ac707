#!/usr/bin/env bash
# Every demo in scripts/ must run to completion from a clean build and exit 0
# (issue 5), and be listed in scripts/README.md (issue 14). Each gets a
# generous timeout; the demos themselves aim for < 15 s.
# usage: run_demos.sh WEFT_BINARY SCRIPTS_DIR
set -u
weft="$1"
dir="$2"
pass=0
fail=0
for script in "$dir"/*.weft; do
  name=$(basename "$script")
  if ! grep -q "| \`$name\` |" "$dir/README.md"; then
    fail=$((fail + 1)); echo "FAIL $name is not listed in the table of $dir/README.md"
    continue
  fi
  start=$(date +%s)
  if out=$(timeout 120 "$weft" "$script" 2>&1 </dev/null); then
    took=$(( $(date +%s) - start ))
    pass=$((pass + 1)); echo "PASS $name ($took s)"
    # The target is < 15 s; a loaded machine may exceed it, so only warn.
    [ "$took" -lt 15 ] || echo "  note: $name took $took s (target: under 15 s)"
  else
    code=$?
    fail=$((fail + 1)); echo "FAIL $(basename "$script") (exit $code)"
    printf '%s\n' "$out" | tail -20 | sed 's/^/    /'
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
