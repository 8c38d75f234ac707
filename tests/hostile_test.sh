#!/usr/bin/env bash
# Mangled and adversarial inputs through the weft binary (issues 2 and 7):
# truncated and byte-flipped versions of every test script and demo, random
# bytes, NUL bytes, 100,000 open brackets, 200,000-term expressions, huge
# lines, invalid UTF-8, deep recursion, runaway memory. Each run must exit
# 0 or 1 (never a signal, a sanitizer report or a timeout), and a syntax error
# must print FILE:LINE:COL: SyntaxError: MESSAGE.
# usage: tests/hostile_test.sh WEFT_BINARY [--quick] [--seed N] [--keep DIR]
# Ends with "N passed, N failed"; exit 0 iff nothing failed.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 WEFT_BINARY [--quick] [--seed N] [--keep DIR]" >&2
  exit 2
fi
weft="$1"; shift
exec /usr/bin/env python3 "$here/hostile/hostile.py" "$weft" "$here/.." "$@"
