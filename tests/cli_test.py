#!/usr/bin/env python3
"""End-to-end tests of the `weft` command line: options, exit statuses, the
GIL reports, and Ctrl-C (SIGINT sent to a child `weft`).

usage: cli_test.py WEFT_BINARY
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

WEFT = os.path.abspath(sys.argv[1])
passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    sys.stdout.flush()
    if cond:
        passed += 1
        print(f"PASS {name}")
    else:
        failed += 1
        print(f"FAIL {name}\n    {detail}")
    sys.stdout.flush()


def run(args, stdin=None, timeout=60):
    p = subprocess.run([WEFT] + args, input=stdin, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def sigint_case(name, code, expect_out=None, expect_code=130, ready="ready"):
    """Starts `weft -e code`, waits until it prints `ready`, sends SIGINT and
    checks the exit status and that KeyboardInterrupt was reported."""
    # stdout is a pipe, so print() is block-buffered: the script announces
    # that it is ready on stderr, which is not buffered.
    code = code.replace('print("ready")', 'io.append_file("/dev/stderr", "ready\\n")')
    p = subprocess.Popen([WEFT, "-e", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    if ready not in line:
        p.kill()
        check(name, False, f"no '{ready}' line, got {line!r}")
        return
    time.sleep(0.3)  # let it get into the blocking call
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        # wait() keeps stdin open (communicate() would close it, and a
        # script blocked in io.read_line would see end of input instead).
        p.wait(timeout=20)
        out, err = p.stdout.read(), p.stderr.read()
    except subprocess.TimeoutExpired:
        p.kill()
        check(name, False, "did not stop within 20 s of SIGINT")
        return
    took = time.monotonic() - t0
    ok = p.returncode == expect_code and took < 10
    if expect_code == 130:
        ok = ok and "KeyboardInterrupt" in err
    if expect_out is not None:
        ok = ok and expect_out in out
    check(name, ok, f"status {p.returncode} after {took:.2f} s, stdout {out!r}, stderr {err[-300:]!r}")


with tempfile.TemporaryDirectory() as tmp:
    # --- basics -------------------------------------------------------------
    code, out, err = run(["--version"])
    check("--version", code == 0 and out.startswith("weft "), out + err)
    code, out, err = run(["--help"])
    check("--help teaches usage", code == 0 and "--gil-policy" in out and "Examples" in out, out[:200])
    code, out, err = run(["--no-such-option", "x.weft"])
    check("unknown option exits 2", code == 2 and "unknown option" in err, err)
    code, out, err = run(["--gil-policy=fast", "-e", "1"])
    check("bad policy exits 2", code == 2 and "classic or responsive" in err, err)
    code, out, err = run(["--switch-interval=abc", "-e", "1"])
    check("bad interval exits 2", code == 2, err)
    code, out, err = run(["no_such_file.weft"])
    check("missing script exits 2", code == 2 and "cannot open" in err, err)
    code, out, err = run(["-e", "print(sys.args)", "a", "b"])
    check("-e with args", code == 0 and out == '["a", "b"]\n', out + err)
    code, out, err = run(["-"], stdin="print(40 + 2)\n")
    check("- reads stdin", code == 0 and out == "42\n", out + err)
    code, out, err = run([], stdin="print(\"piped\")\n")
    check("stdin that is not a terminal runs as a script", code == 0 and out == "piped\n", out + err)
    code, out, err = run(["-e", "sys.exit(7)"])
    check("sys.exit status", code == 7, err)
    code, out, err = run(["-e", "let x = [1, 2]\nprint(x[5])"])
    check("uncaught error exits 1 with a traceback",
          code == 1 and "IndexError" in err and "<string>:2:" in err and "^" in err, err)
    code, out, err = run(["-e", "print(1)\nlet = 2"])
    check("syntax error: nothing runs, exit 1", code == 1 and out == "" and "SyntaxError" in err, out + err)
    code, out, err = run(["--switch-interval=2", "-e", "print(gil.switch_interval(), gil.policy())"])
    check("--switch-interval sets the interval", code == 0 and out == "0.002 responsive\n", out + err)
    code, out, err = run(["--gil-policy=classic", "-e", "print(gil.policy())"])
    check("--gil-policy sets the policy", code == 0 and out == "classic\n", out + err)

    # --- dis ------------------------------------------------------------------
    src = write(tmp, "d.weft", "fn add(a, b) { return a + b }\nprint(add(1, 2))\n")
    code, out, err = run(["dis", src])
    check("dis lists functions and opcodes", code == 0 and "== fn add" in out and "ADD" in out and "CALL" in out,
          out[:300])

    # --- GIL reports ------------------------------------------------------------
    script = write(tmp, "g.weft",
                   "fn spin(s) { time.spin(s) }\n"
                   "let a = thread.spawn_named(\"alpha\", spin, 0.15)\n"
                   "let b = thread.spawn_named(\"beta\", time.sleep, 0.1)\n"
                   "a.join(); b.join()\nprint(\"done\")\n")
    trace = os.path.join(tmp, "trace.json")
    code, out, err = run(["--gil-stats", "--gil-timeline", f"--gil-trace={trace}", script])
    check("GIL report run succeeds", code == 0 and out == "done\n", out + err)
    check("--gil-stats prints a per-thread table", "alpha" in err and "beta" in err and "main" in err, err[:500])
    check("--gil-timeline prints a legend", "running" in err and "waiting" in err, err[:500])
    try:
        with open(trace) as f:
            doc = json.load(f)
        events = doc["traceEvents"] if isinstance(doc, dict) else doc
        names = {e.get("args", {}).get("name") for e in events if e.get("ph") == "M"}
        slices = {e.get("name", "") for e in events if e.get("ph") == "X"}
        ok = {"alpha", "beta", "main"} <= names and "running" in slices and any(
            s.startswith("blocked: ") for s in slices)
        check("--gil-trace writes Chrome trace JSON with named tracks", ok, f"{names} {sorted(slices)[:10]}")
    except Exception as e:  # noqa: BLE001
        check("--gil-trace writes Chrome trace JSON with named tracks", False, repr(e))

    # --- Ctrl-C ----------------------------------------------------------------
    sigint_case("SIGINT interrupts time.sleep", 'print("ready")\ntime.sleep(30)')
    sigint_case("SIGINT interrupts a CPU loop", 'print("ready")\nlet i = 0\nwhile true { i += 1 }')
    sigint_case("SIGINT interrupts join",
                'let t = thread.spawn(time.sleep, 30)\nprint("ready")\nt.join()')
    sigint_case("SIGINT interrupts Lock.acquire",
                'let l = sync.Lock()\nthread.spawn(fn() { l.acquire(); time.sleep(30) })\n'
                'time.sleep(0.1)\nprint("ready")\nl.acquire()')
    sigint_case("SIGINT interrupts Channel.recv", 'let c = sync.Channel()\nprint("ready")\nc.recv()')
    sigint_case("SIGINT interrupts io.read_line", 'print("ready")\nio.read_line()')
    sigint_case("SIGINT reaches main while another thread spins holding the GIL",
                'thread.spawn(fn() { time.spin(30) })\nprint("ready")\nlet i = 0\nwhile true { i += 1 }')
    sigint_case("KeyboardInterrupt can be caught",
                'print("ready")\ntry { time.sleep(30) } catch e { print("caught", e.type) }',
                expect_out="caught KeyboardInterrupt", expect_code=0)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
