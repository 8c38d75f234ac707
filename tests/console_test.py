#!/usr/bin/env python3
"""End-to-end tests of console input and output that need a real child
process: write failures (stdout on /dev/full), the order of stdout and
stderr written to one file, and input() releasing the GIL while it waits.

usage: console_test.py WEFT_BINARY
"""
import os
import select
import subprocess
import sys
import time

WEFT = os.path.abspath(sys.argv[1])
passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"PASS {name}")
    else:
        failed += 1
        print(f"FAIL {name}\n    {detail}")
    sys.stdout.flush()


def run_to(code, stdout, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE):
    p = subprocess.run([WEFT, "-e", code], stdin=stdin, stdout=stdout, stderr=stderr, timeout=60)
    return p.returncode, (p.stderr or b"").decode()


if os.path.exists("/dev/full"):
    with open("/dev/full", "w") as full:
        code, err = run_to("print(1)", full)
        check("a failed exit-time flush exits 1 with a message", code == 1 and
              "cannot write to standard output: No space left on device" in err, f"{code} {err!r}")
        code, err = run_to("for i in range(100000) { print(i) }", full)
        check("print raises IOError when stdout is full", code == 1 and
              "IOError: cannot write to standard output" in err and err.count("cannot write") == 1,
              f"{code} {err!r}")
        code, err = run_to('try { for i in range(100000) { io.write(i) } } catch e { io.write_err(e.type, "\\n") }',
                           full)
        check("the IOError can be caught", "IOError" in err, f"{code} {err!r}")
        code, err = run_to('try { io.write("x"); io.flush() } catch e { io.write_err("caught ", e.message, "\\n") }',
                           full)
        check("io.flush reports the failure", "caught cannot write to standard output" in err, f"{code} {err!r}")

# Both streams into one pipe: io.write_err flushes stdout first, so the
# order is the program's.
p = subprocess.run([WEFT, "-e", 'print("one")\nio.write_err("two\\n")\nio.write("three\\n")\nio.write_err("four\\n")'],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
check("stdout and stderr keep program order in one file", p.stdout.decode() == "one\ntwo\nthree\nfour\n",
      repr(p.stdout))

# input() releases the GIL: a thread that wakes up while main waits for
# input can run and report on stderr before any input arrives (it would
# wait for the GIL forever otherwise).
code = ('let t = thread.spawn(fn() {\n time.sleep(0.05)\n io.write_err("thread ran\\n")\n})\n'
        'let line = input("> ")\nt.join()\nprint(repr(line))')
p = subprocess.Popen([WEFT, "-e", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
ready, _, _ = select.select([p.stderr], [], [], 30)
line = p.stderr.readline() if ready else b""
out, err = p.communicate(b"typed\n", timeout=60)
check("input waits without the GIL", line == b"thread ran\n" and p.returncode == 0 and out == b'> "typed"\n',
      repr((line, out, err)))

# Four threads printing at once into a pipe: every line arrives whole.
code = ('let ts = []\nfor k in range(4) {\n ts.push(thread.spawn(fn(k) {\n'
        '  for i in range(20000) {\n   print("thread", k, "line", i, "x" * 40)\n  }\n }, k))\n}\n'
        'for t in ts {\n t.join()\n}')
p = subprocess.run([WEFT, "-e", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
lines = p.stdout.decode().split("\n")
whole = [l for l in lines[:-1] if len(l.split()) == 5 and l.endswith(" " + "x" * 40)]
check("lines printed by several threads stay whole", p.returncode == 0 and len(lines) == 80001 and
      len(whole) == 80000 and lines[-1] == "", f"{len(lines)} lines, {len(whole)} whole, {p.stderr[-300:]!r}")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
