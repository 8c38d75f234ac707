#!/usr/bin/env bash
# Runs golden-output scripts: for each NAME.weft with a NAME.out beside it,
# stdout must equal NAME.out exactly; the exit status must equal NAME.code
# (0 when absent); every line of NAME.err must appear in stderr. Files named
# *_test.weft are run with `weft test` and must end with "N passed, 0 failed".
# usage: run_golden.sh WEFT_BINARY DIR
set -u
weft="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
dir="$2"
pass=0
fail=0
cd "$dir" || exit 2
for script in *.weft; do
  name="${script%.weft}"
  if [[ "$script" == *_test.weft ]]; then
    out=$(timeout 120 "$weft" test "$script" 2>&1)
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [[ "$last" =~ ^[0-9]+\ passed,\ 0\ failed$ ]]; then
      pass=$((pass + 1)); echo "PASS $script ($last)"
    else
      fail=$((fail + 1)); echo "FAIL $script"; printf '%s\n' "$out" | sed 's/^/    /'
    fi
    continue
  fi
  [ -f "$name.out" ] || continue
  args=()
  [ -f "$name.args" ] && read -r -a args < "$name.args"
  stdin=/dev/null
  [ -f "$name.in" ] && stdin="$name.in"
  timeout 120 "$weft" "$script" "${args[@]}" < "$stdin" > /tmp/golden_out.$$ 2> /tmp/golden_err.$$
  code=$?
  expected_code=0
  [ -f "$name.code" ] && expected_code=$(tr -d '[:space:]' < "$name.code")
  ok=1
  why=""
  if ! cmp -s /tmp/golden_out.$$ "$name.out"; then
    ok=0; why="stdout differs"
  fi
  if [ "$code" != "$expected_code" ]; then ok=0; why="$why; exit status $code, expected $expected_code"; fi
  if [ -f "$name.err" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      [ -z "$line" ] && continue
      if ! grep -qF -- "$line" /tmp/golden_err.$$; then ok=0; why="$why; stderr lacks: $line"; fi
    done < "$name.err"
  fi
  if [ $ok = 1 ]; then
    pass=$((pass + 1)); echo "PASS $script"
  else
    fail=$((fail + 1)); echo "FAIL $script: $why"
    diff /tmp/golden_out.$$ "$name.out" | head -20 | sed 's/^/    /'
    sed 's/^/    stderr: /' /tmp/golden_err.$$ | head -20
  fi
done
rm -f /tmp/golden_err.$$ /tmp/golden_out.$$
echo "$pass passed, $fail failed"
[ $fail = 0 ]
