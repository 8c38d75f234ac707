#!/usr/bin/env python3
"""Checks that the examples in docs/*.md still produce the output shown.

usage: check_docs.py WEFT_BINARY [DOCS_DIR_OR_FILE...]

Every fenced block marked ```weft that is immediately followed (blank lines
allowed in between, nothing else) by a fenced block marked ```output is run
with WEFT_BINARY from a temporary file (30 s timeout); its stdout must equal
the output block exactly. Blocks whose output depends on timing are shown in
plain ``` blocks in the docs and are not checked.
Prints one line per failure, then "N passed, N failed"; exits 1 on failure.
"""
import os
import re
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```\s*([A-Za-z0-9_-]*)\s*$")


def blocks(text):
    """Yields (lang, body, start_line, end_line) for each fenced block."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            lang = m.group(1)
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            yield lang, "\n".join(body) + "\n" if body else "", start + 1, i + 1
        i += 1


def examples(path):
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    bs = list(blocks(text))
    for a, b in zip(bs, bs[1:]):
        if a[0] == "weft" and b[0] == "output":
            between = lines[a[3]:b[2] - 1]
            if all(not l.strip() for l in between):
                yield a[2], a[1], b[1]


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    weft = os.path.abspath(sys.argv[1])
    here = os.path.dirname(os.path.abspath(__file__))
    targets = sys.argv[2:] or [os.path.join(here, "..", "docs")]
    files = []
    for t in targets:
        if os.path.isdir(t):
            files += sorted(os.path.join(t, f) for f in os.listdir(t) if f.endswith(".md"))
        else:
            files.append(t)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="weft_docs_") as tmp:
        for f in files:
            for line, code, expected in examples(f):
                script = os.path.join(tmp, "example.weft")
                with open(script, "w", encoding="utf-8") as fh:
                    fh.write(code)
                where = f"{os.path.relpath(f)}:{line}"
                try:
                    r = subprocess.run([weft, os.path.basename(script)], cwd=tmp, capture_output=True,
                                       timeout=30, stdin=subprocess.DEVNULL)
                    actual = r.stdout.decode("utf-8", "replace")
                    why = None if actual == expected else "stdout differs"
                except subprocess.TimeoutExpired:
                    actual, why = "", "timed out after 30 s"
                if why is None:
                    passed += 1
                    continue
                failed += 1
                print(f"FAIL {where}: {why}")
                print("  expected:")
                print("".join("    | " + l + "\n" for l in expected.splitlines()), end="")
                print("  actual:")
                print("".join("    | " + l + "\n" for l in actual.splitlines()), end="")
                if why == "stdout differs" and r.stderr:
                    err = r.stderr.decode("utf-8", "replace").splitlines()[:10]
                    print("".join("    stderr: " + l + "\n" for l in err), end="")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
