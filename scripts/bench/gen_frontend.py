#!/usr/bin/env python3
"""Writes a large Weft file for measuring parse + compile time.

usage: gen_frontend.py LINES OUT.weft

The file defines LINES/10 functions of ten lines each (continuation lines,
blocks, map and list literals, loops, a comment and an f-string) and calls
none of them, so running it costs parsing, compiling and one closure per
function (docs/performance.md, "Front end: parse + compile time").
"""
import sys

lines, out = int(sys.argv[1]), sys.argv[2]
with open(out, "w") as f:
    for i in range(lines // 10):
        f.write(f'''fn f{i}(a, b) {{
  let c = a + b * 2 -
    {i}
  if c > 10 {{ c = c - 1 }} else {{ c = c + 1 }}
  let m = {{k: c, xs: [1, 2, 3], s: "text {i}"}}
  for x in m.xs {{ c += x; c = c * 2 }}
  while c > 100 and not false {{ c = c // 2 }}
  # a comment line
  return f"{{c:>4}} {{m.k}} {{m["s"]!r}}"
}}
''')
