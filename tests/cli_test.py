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


def sigint_case(name, code, expect_out=None, expect_code=130, ready="ready", opts=(), extra=None):
    """Starts `weft -e code`, waits until it prints `ready`, sends SIGINT and
    checks the exit status and that KeyboardInterrupt was reported."""
    # stdout is a pipe, so print() is block-buffered: the script announces
    # that it is ready on stderr, which is not buffered.
    code = code.replace('print("ready")', 'io.append_file("/dev/stderr", "ready\\n")')
    p = subprocess.Popen([WEFT, *opts, "-e", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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
    if extra is not None:
        ok = ok and extra(out, err)
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


    # --- SPEC §1: one option parser, --help everywhere, paths ---------------
    for sub in (["test"], ["dis"], ["mock-api"], ["worker"]):
        code, out, err = run(sub + ["--help"])
        check(f"weft {sub[0]} --help exits 0 with usage", code == 0 and out.startswith("usage: weft " + sub[0]) and err == "",
              f"{code} {out[:200]!r} {err[:200]!r}")
    for spelling in (["--switch-interval", "1"], ["--switch-interval=1"]):
        code, out, err = run(spelling + ["-e", "print(gil.switch_interval())"])
        check(f"{' '.join(spelling)} works", code == 0 and out == "0.001\n", out + err)
    for spelling in (["--gil-policy", "classic"], ["--gil-policy=classic"]):
        code, out, err = run(spelling + ["-e", "print(gil.policy())"])
        check(f"{' '.join(spelling)} works", code == 0 and out == "classic\n", out + err)
    for spelling in (["--port", "x"], ["--port=x"]):
        code, out, err = run(["mock-api"] + spelling)
        check(f"mock-api {' '.join(spelling)}: both spellings parsed", code == 2 and "invalid port 'x'" in err, err)
    for spelling in (["--concurrency", "x"], ["--concurrency=x"]):
        code, out, err = run(["worker", "t.weft", "--store", "sqlite:x.db"] + spelling)
        check(f"worker {' '.join(spelling)}: both spellings parsed", code == 2 and "bad --concurrency 'x'" in err, err)
    code, out, err = run(["--swich-interval", "2", "x.weft"])
    check("misspelt option: exit 2 with a hint", code == 2 and "did you mean '--switch-interval'" in err, err)
    code, out, err = run(["--gil=off", "-e", "print(1)"])
    check("--gil=off is a usage error", code == 2 and "free-threaded mode is not available in this build" in err and out == "",
          out + err)
    code, out, err = run(["--gil", "on", "-e", "print(gil.mode())"])
    check("--gil on runs with the GIL", code == 0 and out == "gil\n", out + err)
    code, out, err = run([tmp])
    check("a directory as the script: exit 2, one line",
          code == 2 and err.count("\n") == 1 and "is a directory" in err, err)
    binary = os.path.join(tmp, "binary.weft")
    with open(binary, "wb") as f:
        f.write(b"print(1)\n\x00\x01\x02")
    code, out, err = run([binary])
    check("a binary file as the script: exit 2, one line",
          code == 2 and err.count("\n") == 1 and "not a text file" in err and out == "", err)
    os.makedirs(os.path.join(tmp, "sub", "dir"), exist_ok=True)
    write(tmp, "sub/dir/oops.weft", "let x = 1\nprint(y)\n")
    p = subprocess.run([WEFT, "sub/dir/oops.weft"], cwd=tmp, capture_output=True, text=True, timeout=60)
    check("diagnostics show the path as given", p.returncode == 1 and "sub/dir/oops.weft:2:" in p.stderr, p.stderr)
    code, out, err = run(["--gil-trace", os.path.join(tmp, "no", "such", "dir", "t.json"), "-e", 'print("ran")'])
    check("--gil-trace path checked before the script runs", code == 2 and out == "" and "cannot write trace" in err,
          out + err)
    bad = write(tmp, "bad_syntax.weft", "let x = )\n")
    c1, _, _ = run([bad])
    c2, _, _ = run(["dis", bad])
    c3, _, _ = run(["dis"])
    c4, _, e4 = run(["dis", os.path.join(tmp, "missing.weft")])
    check("weft and weft dis agree: syntax error 1, usage 2", (c1, c2, c3, c4) == (1, 1, 2, 2), f"{c1} {c2} {c3} {c4} {e4}")

    # --- SPEC §7.2: thread errors reported when the thread ends -------------
    script = write(tmp, "thread_err.weft",
                   'fn boom() { throw error("ValueError", "bad") }\n'
                   'let t = thread.spawn(boom)\n'
                   'time.sleep(0.3)\n'
                   'io.append_file("/dev/stderr", "after\\n")\n'
                   'let e = assert_raises("ValueError", fn() { t.join() })\n'
                   'print("joined", e)\n')
    code, out, err = run([script])
    head = 'Exception in thread "thread-2" (spawned at ' + script + ':2):'
    check("an error that ends a thread is printed when the thread ends; join still throws it",
          code == 0 and head in err and err.index(head) < err.index("after") and out == "joined ValueError: bad\n"
          and "thread_err.weft:1:" in err, out + err)
    script = write(tmp, "thread_join.weft",
                   'let t = thread.spawn(fn() { time.sleep(0.1)\n throw error("KeyError", "k") })\n'
                   'try { t.join() } catch e { print("caught", e) }\n')
    code, out, err = run([script])
    check("not printed when a thread is waiting in join()", code == 0 and out == "caught KeyError: k\n" and err == "",
          out + err)
    script = write(tmp, "thread_args.weft", 'fn two(a, b) { return a }\n\nlet t = thread.spawn(two, 1)\nt.alive()\n')
    code, out, err = run([script])
    check("a wrong argument count points at the spawn call",
          code == 0 and "Exception in thread" in err and script + ":3:" in err and "TypeError" in err, out + err)

    # --- weft test (SPEC §9, issue 20) --------------------------------------
    tdir = os.path.join(tmp, "suite")
    os.makedirs(tdir)
    write(tdir, "a_test.weft",
          'let state = {"runs": 0}\n'
          'fn test_ok() { assert_eq(1 + 1, 2) }\n'
          'fn test_exit() { sys.exit(3) }\n'
          'fn test_after_exit() { assert(true) }\n'
          'fn test_loop() {\n  let n = 0\n  while true { n += 1 }\n}\n'
          'fn test_fails() { assert_eq(1, 2, "a <b> & \\"c\\"") }\n'
          'fn test_flaky() {\n  state["runs"] += 1\n  assert(state["runs"] % 2 == 0, "every other run fails")\n}\n')
    write(tdir, "b_test.weft", 'sys.exit(4)\nfn test_one() { }\nfn test_two() { }\n')
    junit = os.path.join(tmp, "junit.xml")
    traces = os.path.join(tmp, "traces")
    t0 = time.monotonic()
    code, out, err = run(["test", "--timeout", "0.5", "--retries", "1", "--junit", junit, "--trace-failed", traces,
                          "--gil-stats", tdir])
    took = time.monotonic() - t0
    lines = out.splitlines()
    check("weft test: closing line counts runs", code == 1 and lines[-1] == "3 passed, 5 failed", out + err)
    check("weft test: sys.exit fails only that test",
          "FAIL " + tdir + "/a_test.weft::test_exit" in out and "sys.exit(3) called in a test" in out
          and "PASS " + tdir + "/a_test.weft::test_after_exit" in out, out)
    check("weft test: sys.exit at a file's top level fails every test of it",
          "FAIL " + tdir + "/b_test.weft::test_one" in out and "FAIL " + tdir + "/b_test.weft::test_two" in out, out)
    check("weft test: --timeout interrupts a test and the run goes on",
          "test timed out after 0.5 s" in out and took < 10, f"{took:.1f} s\n{out}")
    check("weft test: --retries reports FLAKY, counted as passed",
          "FLAKY " + tdir + "/a_test.weft::test_flaky" in out, out)
    check("weft test: --gil-stats prints a GIL line per test", out.count("    gil: switches=") == 6, out)
    try:
        import xml.etree.ElementTree as ET
        root = ET.parse(junit).getroot()
        cases = root.findall("./testsuite/testcase")
        failures = root.findall("./testsuite/testcase/failure")
        fail = [c for c in cases if c.get("name") == "test_fails"][0].find("failure")
        ok = (root.tag == "testsuites" and len(root.findall("testsuite")) == 2 and len(cases) == 8
              and len(failures) == 5 and fail.get("type") == "AssertionError"
              and fail.get("message") == 'a <b> & "c": expected 2, got 1' and "Traceback" in fail.text
              and all(c.get("classname") and c.get("time") for c in cases))
        check("weft test --junit: well-formed JUnit XML with testcase/failure elements", ok, open(junit).read()[:800])
    except Exception as e:  # noqa: BLE001
        check("weft test --junit: well-formed JUnit XML with testcase/failure elements", False, repr(e))
    xsd = os.path.join(os.path.dirname(os.path.abspath(__file__)), "junit.xsd")
    if subprocess.run(["which", "xmllint"], capture_output=True).returncode == 0:
        p = subprocess.run(["xmllint", "--noout", "--schema", xsd, junit], capture_output=True, text=True)
        check("weft test --junit: valid against the Ant JUnit schema", p.returncode == 0, p.stderr)
    names = sorted(os.listdir(traces)) if os.path.isdir(traces) else []
    check("weft test --trace-failed: one trace per failing test, none for passing ones",
          names == ["a_test__test_exit.json", "a_test__test_fails.json", "a_test__test_loop.json"], names)
    try:
        with open(os.path.join(traces, "a_test__test_loop.json")) as f:
            doc = json.load(f)
        ok = any(e.get("name") == "running" and e.get("dur", 0) > 100000 for e in doc["traceEvents"])
        check("weft test --trace-failed: the trace shows the failing test's GIL activity", ok, str(doc)[:300])
    except Exception as e:  # noqa: BLE001
        check("weft test --trace-failed: the trace shows the failing test's GIL activity", False, repr(e))
    code, out, err = run(["test", "--repeat", "3", "--filter", "test_ok", tdir])
    check("weft test --repeat N runs each test N times", code == 0 and out.count("PASS") == 3
          and out.splitlines()[-1] == "3 passed, 0 failed", out + err)
    code, out, err = run(["test", "--repeat=2", "--filter=test_ok", tdir])
    check("weft test options take --opt=V too", code == 0 and out.splitlines()[-1] == "2 passed, 0 failed", out + err)
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    code, out, err = run(["test", empty])
    check("weft test: no test found exits 5 and says why",
          code == 5 and out == "0 passed, 0 failed\n" and "no tests ran" in err, out + err)
    code, out, err = run(["test", "--filter", "nothing_matches", tdir])
    check("weft test: a filter that matches nothing exits 5", code == 5 and "--filter" in err, out + err)
    code, out, err = run(["test", "--junit", os.path.join(tmp, "no", "such", "j.xml"), tdir])
    check("weft test --junit path checked before the run", code == 2 and out == "" and "--junit" in err, out + err)
    code, out, err = run(["test", "--gil=off", tdir])
    check("weft test --gil=off is a usage error", code == 2 and "free-threaded" in err, out + err)
    code, out, err = run(["test", "--gil-policy", "classic", "--filter", "test_ok", tdir])
    check("weft test --gil-policy applies to the run", code == 0, out + err)

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
    ctrlc_trace = os.path.join(tmp, "ctrlc_trace.json")
    sigint_case("Ctrl-C still produces the exit reports and the trace", 'print("ready")\ntime.sleep(30)',
                opts=["--gil-stats", "--gil-trace", ctrlc_trace],
                extra=lambda out, err: "main" in err and "GIL trace written" in err and os.path.exists(ctrlc_trace))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
