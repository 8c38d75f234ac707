#!/usr/bin/env python3
"""Hostile-input test for the weft binary (SPEC §5, issue 2/7).

Runs mangled and adversarial programs through `weft FILE` with a timeout and
checks that the interpreter never crashes (signal, sanitizer report) and never
hangs: the exit status must be 0 or 1 (or what the script itself asked for
with sys.exit), and a syntax error must be reported as
`FILE:LINE:COL: SyntaxError: MESSAGE`.

usage: hostile.py WEFT_BINARY [SOURCE_DIR] [--quick] [--seed N] [--keep DIR]
Prints one line per failure, then `N passed, N failed`; exit 0 iff none failed.
"""
import os
import random
import re
import subprocess
import sys
import tempfile
import time

args = [a for a in sys.argv[1:]]
quick = "--quick" in args
seed = 20240607
keep = None
if "--seed" in args:
    seed = int(args[args.index("--seed") + 1])
if "--keep" in args:
    keep = args[args.index("--keep") + 1]
pos = [a for i, a in enumerate(args) if not a.startswith("--")
       and (i == 0 or args[i - 1] not in ("--seed", "--keep"))]
if not pos:
    print(__doc__)
    sys.exit(2)
WEFT = os.path.abspath(pos[0])
SRC = os.path.abspath(pos[1] if len(pos) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(SRC, "tests", "hostile")
# Under sanitizers everything is several times slower.
TIMEOUT = float(os.environ.get("WEFT_HOSTILE_TIMEOUT", "60"))
rng = random.Random(seed)

# Cap the address space of release builds at 8 GiB so that a runaway program
# meets MemoryError (malloc fails) instead of the machine's OOM killer.
# Sanitizer runtimes reserve terabytes of virtual memory: no cap there.
def _sanitized(binary):
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    except OSError:
        return False
    if re.search(r"lib(a|t|ub)san", out):
        return True
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read() or False
SANITIZED = _sanitized(WEFT)
def _limits(as_mb=None):
    if not SANITIZED:
        import resource
        cap = (as_mb or int(os.environ.get("WEFT_HOSTILE_AS_MB", "4096"))) << 20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

SYNTAX_RE = re.compile(r"^.*:\d+:\d+: SyntaxError: .+", re.M)
ERROR_RE = re.compile(r"(^.*:\d+:\d+: [A-Za-z]*(Error|Interrupt)\b.*|^Exception in thread|Error)", re.M)
SANITIZER_RE = re.compile(r"(AddressSanitizer|LeakSanitizer|ThreadSanitizer|UndefinedBehaviorSanitizer|runtime error:|MemorySanitizer)")

work = keep or tempfile.mkdtemp(prefix="weft-hostile-")
os.makedirs(work, exist_ok=True)
passed = 0
failed = 0
slowest = (0.0, "")
durations = []


import threading
from concurrent.futures import ThreadPoolExecutor
_lock = threading.Lock()
_pending = []


def run_case(*a, **kw):
    _pending.append((a, kw))


def _run_case(name, data, expect_syntax=False, extra_opts=(), allowed=(0, 1), timeout=None, as_mb=None,
              mode="run"):
    """Writes `data` (bytes) to a file and runs weft on it: `weft FILE`
    (mode "run"), `weft dis FILE`, `weft test FILE` or `weft - < FILE`."""
    global passed, failed, slowest
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80]
    path = os.path.join(work, safe + ("_test.weft" if mode == "test" else ".weft"))
    with open(path, "wb") as f:
        f.write(data)
    cmd = {"run": [WEFT, *extra_opts, path], "dis": [WEFT, "dis", path],
           "test": [WEFT, *extra_opts, "test", path], "stdin": [WEFT, *extra_opts, "-"]}[mode]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=open(path, "rb") if mode == "stdin" else subprocess.DEVNULL,
                           stdout=subprocess.PIPE if mode == "test" else subprocess.DEVNULL,
                           stderr=subprocess.STDOUT if mode == "test" else subprocess.PIPE,
                           timeout=timeout or TIMEOUT, cwd=work,
                           preexec_fn=lambda: _limits(as_mb))
        code = p.returncode
        err = (p.stdout if mode == "test" else p.stderr).decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        code, err = "timeout", (e.stderr or b"").decode("utf-8", "replace")
    dt = time.monotonic() - t0
    with _lock:
        durations.append((dt, name))
        if dt > slowest[0]:
            slowest = (dt, name)
    why = None
    # SPEC §1: a file with a NUL byte in its first KiB is not a script; it is
    # refused with a one-line usage error (exit 2) before anything runs. And
    # `weft test` exits 5 when a (truncated) file has no test left (§9).
    refused_binary = (code == 2 and b"\x00" in data[:1024] and "is not a text file" in err
                      and err.count("\n") == 1)
    if code == "timeout":
        why = f"hung (no exit after {timeout or TIMEOUT:.0f} s)"
    elif code < 0:
        why = f"killed by signal {-code}"
    elif SANITIZER_RE.search(err):
        why = "sanitizer report"
    elif code not in allowed and not refused_binary and not (code == 5 and mode == "test" and "0 passed, 0 failed" in err):
        why = f"exit status {code}"
    elif expect_syntax and not refused_binary and not SYNTAX_RE.search(err):
        why = "no 'FILE:LINE:COL: SyntaxError: ...' line"
    elif code == 1 and not ERROR_RE.search(err):
        why = "exit 1 without an error message"
    elif "SyntaxError" in err and not SYNTAX_RE.search(err):
        why = "SyntaxError without FILE:LINE:COL"
    if why:
        with _lock:
            failed += 1
            print(f"FAIL {name}: {why}  (input kept in {path})")
            tail = "\n".join(err.strip().splitlines()[-8:])
            if tail:
                print("    " + tail.replace("\n", "\n    "), flush=True)
        return False
    with _lock:
        passed += 1
    if not keep:
        os.unlink(path)
    return True


def sources():
    out = []
    for d in ("tests/weft", "tests/golden", "scripts"):
        full = os.path.join(SRC, d)
        if not os.path.isdir(full):
            continue
        for n in sorted(os.listdir(full)):
            # These wait on worker processes they start themselves; a flipped
            # byte can make them wait for a job no worker will ever run, which
            # is the script's own (valid) behaviour, not an interpreter hang.
            if n in ("front_end_polling.weft", "processes_vs_threads.weft", "durable_test.weft"):
                continue
            if n.endswith(".weft"):
                out.append((f"{d}/{n}", open(os.path.join(full, n), "rb").read()))
    return out


# Scripts whose *running* is slow or needs the network/terminal: only their
# syntactically broken variants are run (a truncation that still parses would
# run a long demo).
def exit_codes_of(data):
    codes = {0, 1}
    for m in re.finditer(rb"sys\.exit\((\d+)", data):
        codes.add(int(m.group(1)))
    return tuple(codes)


# ---------------------------------------------------------------- adversarial
def adversarial():
    n = 100_000
    cases = [
        ("parens_100k", b"(" * n, True),
        ("brackets_100k", b"[" * n, True),
        ("braces_100k", b"{" * n, True),
        ("parens_100k_closed", b"print(" + b"(" * n + b"1" + b")" * n + b")\n", False),
        ("brackets_100k_closed", b"let x = " + b"[" * n + b"]" * n + b"\nprint(len(x))\n", False),
        ("maps_100k_open", b"let x = " + b"{a: " * n + b"1", True),
        ("blocks_100k", b"fn f() {\n" + b"if true { " * n + b"}" * n + b"\n}\nf()\n", False),
        ("unary_minus_100k", b"print(" + b"-" * n + b"1)\n", False),
        ("not_100k", b"print(" + b"not " * n + b"true)\n", False),
        ("calls_100k", b"let f = fn(x) { return x }\nprint(" + b"f(" * n + b"1" + b")" * n + b")\n", False),
        ("index_100k", b"let a = [1]\nprint(a" + b"[0]" * n + b")\n", False),
        ("fn_nest_10k", b"let f = " + b"fn() { return " * 10_000 + b"1" + b" }" * 10_000 + b"\nprint(f)\n", False),
        ("plus_200k", b"print(" + b"1+" * 200_000 + b"1)\n", False),
        ("plus_20k_str", b"let s = " + b"\"a\"+" * 20_000 + b"\"a\"\nprint(len(s))\n", False),
        ("and_200k", b"print(" + b"true and " * 200_000 + b"true)\n", False),
        ("or_200k", b"print(" + b"false or " * 200_000 + b"true)\n", False),
        ("cmp_200k", b"print(" + b"1 < " * 200_000 + b"2)\n", False),
        ("mixed_ops_200k", b"print(" + b"1*2-3+" * 70_000 + b"1)\n", False),
        ("assign_chain", b"let a = 0\n" + b"a = " * 50_000 + b"1\nprint(a)\n", False),
        ("list_200k_items", b"let x = [" + b"1," * 200_000 + b"1]\nprint(len(x))\n", False),
        ("map_100k_items", b"let x = {" + b",".join(b"k%d: %d" % (i, i) for i in range(100_000)) + b"}\nprint(len(x))\n", False),
        ("args_100k", b"print(" + b"1," * 100_000 + b"1)\n", False),
        ("long_line_1MB", b"let x = \"" + b"a" * 1_000_000 + b"\"\nprint(len(x))\n", False),
        ("long_ident_1MB", b"let " + b"a" * 1_000_000 + b" = 1\nprint(1)\n", False),
        ("long_comment_1MB", b"# " + b"x" * 1_000_000 + b"\nprint(1)\n", False),
        ("long_number", b"print(" + b"9" * 100_000 + b")\n", False),
        ("long_float", b"print(1." + b"9" * 100_000 + b"e99999999999)\n", False),
        ("long_hex", b"print(0x" + b"F" * 1000 + b")\n", False),
        ("many_lines", b"\n" * 1_000_000 + b"print(1 +)\n", True),
        ("many_statements", b"let x = 0\n" + b"x = x + 1\n" * 200_000 + b"print(x)\n", False),
        ("many_locals", b"fn f() {\n" + b"".join(b"let v%d = %d\n" % (i, i) for i in range(20_000)) + b"return v0 }\nprint(f())\n", False),
        ("many_globals", b"".join(b"let g%d = %d\n" % (i, i) for i in range(100_000)) + b"print(g99999)\n", False),
        ("many_consts", b"let x = [" + b",".join(b"%d.5" % i for i in range(100_000)) + b"]\nprint(len(x))\n", False),
        ("many_strings", b"let x = [" + b",".join(b"\"s%d\"" % i for i in range(100_000)) + b"]\nprint(len(x))\n", False),
        ("many_params", b"fn f(" + b",".join(b"p%d" % i for i in range(10_000)) + b") { return p0 }\nprint(1)\n", False),
        ("many_upvalues", b"fn f() {\n" + b"".join(b"let v%d = %d\n" % (i, i) for i in range(1000)) +
         b"return fn() { return " + b"+".join(b"v%d" % i for i in range(1000)) + b" } }\nprint(f()())\n", False),
        ("deep_closure_nest", b"fn f0() { let x = 1\n" + b"".join(b"return fn() {\n" for _ in range(3000)) + b"return x" + b"}" * 3000 + b"}\nprint(f0)\n", False),
        ("jump_too_far", b"if true {\n" + b"let x = [1,2,3]\nx[0] = x[1] + x[2]\n" * 30_000 + b"}\nprint(1)\n", False),
        ("loop_body_huge", b"let i = 0\nwhile i < 2 {\n" + b"i = i + 0\n" * 100_000 + b"i = i + 1 }\nprint(i)\n", False),
        ("nul_bytes", b"\x00" * 1000, True),
        ("nul_in_code", b"print(1)\x00\nprint(2)\n", True),
        ("nul_in_string", b"print(\"a\x00b\")\n", False),
        ("nul_escape", b"print(len(\"a\\0b\"))\n", False),
        ("invalid_utf8_string", b"print(\"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\")\nprint(repr(\"\xc0\xaf\xed\xa0\x80\"))\n", False),
        ("invalid_utf8_code", b"let \xff = 1\n", True),
        ("invalid_utf8_comment", b"# \xff\xfe\xfd\nprint(1)\n", False),
        ("invalid_utf8_caret", b"let x = \"\xe2\x82\" + \xf0\x9f\x98 + 1\n", True),
        ("utf8_bom", b"\xef\xbb\xbfprint(1)\n", False),
        ("unicode_escape_bad", b"print(\"\\u{110000}\")\n", True),
        ("unicode_escape_surrogate", b"print(\"\\u{D800}\")\n", True),
        ("unicode_escape_huge", b"print(\"\\u{FFFFFFFFFFFFFFFFFFFF}\")\n", True),
        ("unicode_escape_open", b"print(\"\\u{12", True),
        ("unterminated_string", b"print(\"abc\n", True),
        ("unterminated_string_eof_escape", b"print(\"abc\\", True),
        ("lone_backslash", b"\\\n", True),
        ("int_overflow_literal", b"print(9223372036854775808)\n", True),
        ("int_min", b"print(-9223372036854775807 - 1)\nprint((-9223372036854775807 - 1) / -1)\n", False),
        ("int_min_ops", b"let m = -9223372036854775807 - 1\nfor f in [fn() { return m % -1 }, fn() { return -m }, fn() { return abs(m) }, fn() { return m * -1 }, fn() { return m / -1 }, fn() { return int(float(m)) }, fn() { return m // -1 }] { try { print(f()) } catch e { print(e) } }\n", False),
        ("int_conv_edge", b"for s in [\"9223372036854775808\", \"-9223372036854775809\", \"1e400\", \"nan\", \"inf\", \"0x\", \"_\", \"\", \" \", \"1_\"] { try { print(int(s)) } catch e { print(e) } }\nfor f in [1e300, -1e300, 0.0/0.0, 9.3e18, -9.3e18] { try { print(int(f)) } catch e { print(e) } }\n", False),
        ("shift_edge", b"for b in [-1, 0, 63, 64, 65, 1000] { try { print(1 << b) } catch e { print(e) }\n try { print(1 >> b) } catch e { print(e) } }\n", False),
        ("zero_div", b"for f in [fn() { return 1 / 0 }, fn() { return 1 % 0 }, fn() { return 1.0 / 0 }, fn() { return 1 // 0 }, fn() { return 0.0 % 0.0 }] { try { print(f()) } catch e { print(e) } }\n", False),
        ("format_hostile", b"for spec in [\"{:>99999999999}\", \"{:.99999999999f}\", \"{\", \"}\", \"{:}\", \"{0}{1}{2}\", \"{:d}\", \"{:s}\", \"{:x}\", \"{:%}\", \"{:>1000000}\", \"{:{}}\", \"{:\\0}\", \"{:.2147483648f}\", \"{:2147483648}\"] { try { print(len(format(spec, 1.5))) } catch e { print(e) } }\n", False),
        ("string_repeat_huge", b"try { let s = \"ab\" * 9223372036854775807\nprint(len(s)) } catch e { print(e) }\ntry { let l = [1] * 9223372036854775807\nprint(len(l)) } catch e { print(e) }\ntry { print(len(\"x\" * -5)) } catch e { print(e) }\n", False),
        ("range_huge", b"let r = range(9223372036854775807)\nprint(len(r))\nlet r2 = range(-9223372036854775807 - 1, 9223372036854775807)\ntry { print(len(r2)) } catch e { print(e) }\ntry { print(range(0, 10, 0)) } catch e { print(e) }\ntry { print(len(list(range(9223372036854775807)))) } catch e { print(e) }\n", False),
        ("slicing_edges", b"let s = \"hello\"\nlet l = [1,2,3]\nfor i in [-9223372036854775807 - 1, -6, -1, 0, 5, 6, 9223372036854775807] { try { print(s[i]) } catch e { print(e) }\n try { print(l[i]) } catch e { print(e) } }\n", False),
        ("recursion_deep", b"fn f(n) { return f(n + 1) }\ntry { f(0) } catch e { print(type(e), e) }\nfn g(n) { if n == 0 { return 0 } return 1 + g(n - 1) }\nprint(g(5000))\n", False),
        ("recursion_uncaught", b"fn f(n) { return f(n + 1) + 1 }\nf(0)\n", False),
        ("recursion_via_native", b"fn f(x) { return sorted([x, 1]) and f(x) }\ntry { f(1) } catch e { print(type(e)) }\nfn h() { return assert_raises(\"TypeError\", h) }\ntry { h() } catch e { print(type(e)) }\n", False),
        ("recursion_via_map", b"let l = sync.Lock()\nfn f() { return l.with(f) }\ntry { f() } catch e { print(type(e)) }\n", False),
        ("recursion_repr_cycle", b"let l = [1]\nl.push(l)\nprint(l)\nlet m = {}\nm.self = m\nprint(m)\nprint(str(m), repr(l), len(json.stringify([1])))\ntry { print(json.stringify(l)) } catch e { print(e) }\n", False),
        ("deep_nested_data", b"let x = []\nfor i in range(200000) { x = [x] }\ntry { print(len(str(x))) } catch e { print(type(e)) }\ntry { print(len(json.stringify(x))) } catch e { print(type(e)) }\ntry { print(x == x) } catch e { print(type(e)) }\nlet y = []\nfor i in range(200000) { y = [y] }\ntry { print(x == y) } catch e { print(type(e)) }\ntry { print(sorted([x, y])) } catch e { print(type(e)) }\n", False),
        ("deep_nested_map", b"let x = {}\nfor i in range(200000) { x = {a: x} }\ntry { print(len(repr(x))) } catch e { print(type(e)) }\nlet y = {}\nfor i in range(200000) { y = {a: y} }\ntry { print(x == y) } catch e { print(type(e)) }\n", False),
        ("json_deep", b"try { print(json.parse(\"" + b"[" * 100_000 + b"\")) } catch e { print(type(e)) }\ntry { print(json.parse(\"" + b"[" * 100_000 + b"]" * 100_000 + b"\")) } catch e { print(type(e)) }\n", False),
        ("json_garbage", b"for s in [\"\", \"{\", \"[1,\", \"\\\"\\\\u\", \"\\\"\\\\ud800\\\"\", \"1e99999\", \"-\", \"nul\", \"{\\\"a\\\":}\", \"\\xff\"] { try { print(json.parse(s)) } catch e { print(e) } }\n", False),
        ("memory_runaway_string", b"let s = \"x\"\nwhile true { s = s + s }\n", False),
        ("memory_runaway_list", b"let l = [0]\nwhile true { l = l + l }\n", False),
        ("memory_runaway_push", b"let l = []\nwhile true { l.push([1, 2, 3, 4, 5, 6, 7, 8]) }\n", False),
        ("memory_runaway_map", b"let m = {}\nlet i = 0\nwhile true { m[str(i)] = [i]\ni = i + 1 }\n", False),
        ("memory_caught", b"try { let s = \"x\"\nwhile true { s = s + s } } catch e { print(type(e)) }\nprint(\"still alive\", 1 + 1)\n", False),
        ("throw_weird", b"throw nil\n", False),
        ("throw_weird2", b"throw [1, {a: fn() {}}]\n", False),
        ("throw_in_catch", b"try { throw 1 } catch e { throw e + 1 }\n", False),
        ("error_bad_type", b"let e = error(\"NotAType\", \"m\")\nprint(e)\nthrow error(123, nil)\n", False),
        ("error_huge_msg", b"throw error(\"ValueError\", \"x\" * 1000000)\n", False),
        ("thread_spawn_flood", b"let ts = []\nfor i in range(200) { ts.push(thread.spawn(fn() { return i })) }\nlet s = 0\nfor t in ts { s = s + t.join() }\nprint(s, thread.count())\n", False),
        ("thread_error_flood", b"for i in range(50) { thread.spawn(fn() { throw error(\"ValueError\", \"boom\") }) }\n", False),
        ("thread_recursion", b"fn f(n) { return f(n + 1) }\nlet t = thread.spawn(f, 0)\ntry { t.join() } catch e { print(type(e)) }\n", False),
        ("thread_join_self", b"try { thread.current().join(0.1) } catch e { print(type(e)) }\n", False),
        ("thread_bad_args", b"for a in [nil, 1, \"x\", [], {}] { try { thread.spawn(a) } catch e { print(type(e)) } }\n", False),
        ("lock_misuse", b"let l = sync.Lock()\ntry { l.release() } catch e { print(type(e)) }\nl.acquire()\nprint(l.acquire(0.01))\nl.release()\ntry { l.acquire(-1) } catch e { print(type(e)) }\ntry { l.acquire(1e300) } catch e { print(type(e)) }\nl.release()\n", False),
        ("channel_misuse", b"let c = sync.Channel(1)\nc.send(1)\ntry { c.recv(-1) } catch e { print(type(e)) }\nc.close()\ntry { c.send(2) } catch e { print(type(e)) }\nprint(c.recv(), c.recv(), c.try_recv())\ntry { sync.Channel(-1) } catch e { print(type(e)) }\ntry { sync.Channel(9223372036854775807) } catch e { print(type(e)) }\ntry { print(c.recv(nil)) } catch e { print(type(e)) }\n", False),
        ("sleep_bad", b"for s in [-1, 0, nil, \"x\", 0.0/0.0] { try { time.sleep(s) } catch e { print(type(e)) } }\ntry { time.sleep(1e300) } catch e { print(type(e)) }\n", False),
        ("builtins_bad_args", b"let fs = [print, repr, str, int, float, bool, type, len, list, range, min, max, abs, sorted, format, error, assert, assert_eq, assert_raises, import]\nlet argsets = [[], [nil], [1, 2, 3], [\"\"], [[]], [{}], [fn() {}], [-1], [1e308], [\"x\", nil]]\nlet n = 0\nfor f in fs { for a in argsets { try { if len(a) == 0 { f() } else if len(a) == 1 { f(a[0]) } else if len(a) == 2 { f(a[0], a[1]) } else { f(a[0], a[1], a[2]) } } catch e { n = n + 1 } } }\nprint(\"errors:\", n > 0)\n", False),
        ("import_self", b"let m = import(\"import_self.weft\")\nprint(1)\n", False),
        ("import_missing", b"import(\"/nonexistent/dir/x.weft\")\n", False),
        ("import_dir", b"import(\"/\")\n", False),
        ("import_binary", b"import(\"/bin/sh\")\n", False),
        ("import_bad_types", b"for a in [nil, 1, \"\", \"\\0\"] { try { import(a) } catch e { print(type(e)) } }\n", False),
        ("io_bad", b"for p in [\"\", \"/\", \"/nonexistent/x\", \"\\0\", \"a\\0b\"] { try { io.read_file(p) } catch e { print(type(e)) } }\ntry { io.write_file(\"/\", \"x\") } catch e { print(type(e)) }\ntry { io.read_file(\"/proc/self/mem\") } catch e { print(type(e)) }\n", False),
        ("http_bad", b"for u in [\"\", \"x\", \"http://\", \"http://127.0.0.1:1/\", \"ftp://a\", \"http://[::1\", \"http://127.0.0.1:99999/\", \"\\0\"] { try { http.get(u, {timeout: 1}) } catch e { print(type(e)) } }\ntry { http.get(\"http://127.0.0.1:1/\", {timeout: -1}) } catch e { print(type(e)) }\ntry { http.get(\"http://127.0.0.1:1/\", {timeout: 0.0/0.0}) } catch e { print(type(e)) }\ntry { http.get(\"http://127.0.0.1:1/\", {headers: {\"a\\r\\nb\": \"c\\r\\n\"}}) } catch e { print(type(e)) }\n", False),
        ("jobs_bad", b"for o in [nil, 1, {workers: 0}, {workers: -1}, {workers: 100000}, {retries: -1}, {backoff: -1}, {timeout: -1}, {rate: -1}, {workers: 0.0/0.0}] { try { let q = jobs.queue(o)\nq.shutdown() } catch e { print(type(e)) } }\nlet q = jobs.queue({workers: 2})\ntry { q.submit(nil) } catch e { print(type(e)) }\nlet j = q.submit(fn() { throw 1 })\ntry { j.result(5) } catch e { print(type(e)) }\nq.shutdown()\ntry { q.submit(fn() {}) } catch e { print(type(e)) }\n", False),
        ("gil_bad", b"for v in [0, -1, 1e300, 0.0/0.0, nil, \"x\", 1e-300] { try { gil.set_switch_interval(v) } catch e { print(type(e)) } }\ntry { gil.set_policy(\"x\") } catch e { print(type(e)) }\nprint(type(gil.stats()))\n", False),
        ("sys_exit_weird", b"sys.exit(\"x\")\n", False),
        ("sys_exit_big", b"sys.exit(9223372036854775807)\n", False),
        ("method_on_everything", b"let vs = [nil, true, 1, 1.5, \"s\", [], {}, fn() {}, print, range(3), error(\"ValueError\", \"m\"), sync.Lock(), sync.Channel()]\nlet ms = [\"push\", \"pop\", \"keys\", \"values\", \"split\", \"join\", \"len\", \"get\", \"x\", \"__proto__\", \"type\", \"message\", \"trace\", \"id\"]\nlet n = 0\nfor v in vs { for m in ms { try { let f = v[m]\nn = n + 1 } catch e { n = n + 1 }\n try { v[m] = 1 } catch e { n = n + 1 } } }\nprint(n > 0)\n", False),
        ("string_methods_edge", b"let s = \"abc\"\nfor f in [fn() { return s.split(\"\") }, fn() { return s.replace(\"\", \"x\") }, fn() { return s.find(\"\") }, fn() { return \"\".join([1, 2]) }, fn() { return s.repeat(-1) }, fn() { return s.substr(9223372036854775807, 1) }, fn() { return s.slice(-9223372036854775807 - 1, 9223372036854775807) }, fn() { return s.pad(9223372036854775807) }] { try { print(f()) } catch e { print(type(e)) } }\n", False),
        ("list_methods_edge", b"let l = [3, 1, 2]\nfor f in [fn() { return l.insert(9223372036854775807, 1) }, fn() { return l.insert(-9223372036854775807 - 1, 1) }, fn() { return l.pop(99) }, fn() { return [].pop() }, fn() { return l.slice(-9223372036854775807 - 1, 9223372036854775807) }, fn() { return l.remove(99) }, fn() { return l.index(99) }, fn() { return sorted([1, \"a\", nil, []]) }, fn() { return l.sort(fn(a, b) { throw 1 }) }, fn() { return l.sort(fn(a, b) { l.push(1)\nreturn true }) }] { try { print(f()) } catch e { print(type(e)) } }\n", False),
        ("mutate_while_iterating", b"let l = [1, 2, 3]\nlet n = 0\nfor x in l { if n < 1000 { l.push(x) }\nn = n + 1 }\nprint(n)\nlet m = {a: 1, b: 2}\nlet k = 0\nfor key in m { if k < 100 { m[str(k)] = k }\nk = k + 1 }\nprint(k > 0)\nlet l2 = [1, 2, 3, 4, 5]\nfor x in l2 { l2.pop() }\nprint(l2)\nlet m2 = {a: 1, b: 2, c: 3}\nfor key in m2 { m2.remove(key) }\nprint(len(m2))\n", False),
        ("sort_comparator_mutates", b"let l = []\nfor i in range(1000) { l.push((i * 7919) % 1000) }\ntry { print(len(sorted(l))) } catch e { print(type(e)) }\n", False),
    ]
    return cases


t_start = time.monotonic()

# 1. hand-written adversarial programs
for name, data, syntax in adversarial():
    # runaway-memory programs get a 2 GiB address space (release builds)
    # (sanitizer builds can't cap their address space: give them a heap limit)
    run_case(f"adv/{name}", data, expect_syntax=syntax, as_mb=1024 if "memory" in name else None,
             extra_opts=("--heap-limit=256",) if SANITIZED and "memory" in name else (),
             allowed=(0, 1, 255) if name.startswith("sys_exit") else (0, 1))
    # the disassembler sees the same inputs (it never runs them)
    run_case(f"dis/{name}", data, expect_syntax=syntax, mode="dis")
# a few through stdin (`weft -`)
for name, data, syntax in adversarial()[:12]:
    run_case(f"stdin/{name}", data, expect_syntax=syntax, mode="stdin")

# 1b. runaway memory under --heap-limit: MemoryError, exit 1, then nothing else
for name, data in [("heap_limit_string", b"let s = \"x\"\nwhile true { s = s + s }\n"),
                   ("heap_limit_list", b"let l = []\nwhile true { l.push([1, 2, 3]) }\n"),
                   ("heap_limit_caught", b"let n = 0\ntry { let l = []\nwhile true { l.push(\"abcdefgh\" * 100) } } catch e { print(e) }\nprint(\"ok\")\n")]:
    run_case(f"heap/{name}", data, extra_opts=("--heap-limit=32",))

# 1c. hand-written regression cases (tests/hostile/cases/*.weft), as they
# are; a first line "# weft-options: ..." gives command-line options.
cases_dir = os.path.join(HERE, "cases")
if os.path.isdir(cases_dir):
    for n in sorted(os.listdir(cases_dir)):
        if n.endswith(".weft"):
            data = open(os.path.join(cases_dir, n), "rb").read()
            m = re.match(rb"# weft-options:(.*)\n", data)
            opts = tuple(m.group(1).decode().split()) if m else ()
            run_case(f"case/{n}", data, extra_opts=opts, as_mb=1024)

# 2. random bytes, printable junk and token soup
TOKENS = [b"let", b"fn", b"return", b"if", b"else", b"while", b"for", b"in", b"break", b"continue",
          b"true", b"false", b"nil", b"and", b"or", b"not", b"try", b"catch", b"throw", b"x", b"y",
          b"f", b"(", b")", b"[", b"]", b"{", b"}", b",", b";", b".", b":", b"=", b"==", b"!=", b"<",
          b">", b"<=", b">=", b"+", b"-", b"*", b"/", b"%", b"+=", b"\"s\"", b"\"", b"1", b"0x", b"1e",
          b"1.5", b"#", b"\n", b" ", b"\\", b"print", b"range", b"thread", b"sync", b"json", b"\x00",
          b"\xff", b"\"\\u{", b"9223372036854775807", b"-"]
n_random = 15 if quick else 60
for i in range(n_random):
    size = rng.choice([1, 2, 7, 64, 500, 4096, 65536])
    run_case(f"random_bytes/{i}", bytes(rng.getrandbits(8) for _ in range(size)))
for i in range(n_random):
    size = rng.choice([5, 50, 500, 5000])
    run_case(f"random_printable/{i}", bytes(rng.choice(b"()[]{}\"'\\ \n\t;,.:=+-*/%<>!#_azAZ09") for _ in range(size)))
for i in range(n_random * 2):
    n = rng.choice([3, 10, 40, 200, 2000])
    run_case(f"token_soup/{i}", b" ".join(rng.choice(TOKENS) for _ in range(n)))

# 3. every test script and demo, mangled: truncations and byte flips
def mangled_runs(name, data):
    codes = exit_codes_of(data)
    L = len(data)
    if L == 0:
        return
    # truncations: at fixed fractions and a few random points, plus 1 byte short
    points = sorted(set([1, L // 7, L // 3, L // 2, (2 * L) // 3, L - 1] +
                        [rng.randrange(1, L) for _ in range(2 if quick else 6)]))
    for p in points:
        if 0 < p < L:
            run_case(f"trunc/{name}@{p}", data[:p], allowed=codes)
    # truncated test files through the test runner too (`weft test`)
    if name.endswith("_test.weft"):
        for p in points[1:4]:
            if 0 < p < L:
                run_case(f"test-trunc/{name}@{p}", data[:p], allowed=codes, mode="test")
    # byte flips: one random bit, one random byte, a random delimiter deleted
    for k in range(3 if quick else 8):
        b = bytearray(data)
        kind = k % 4
        i = rng.randrange(L)
        if kind == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            b[i] = rng.getrandbits(8)
        elif kind == 2:
            delims = [j for j, c in enumerate(b) if c in b"(){}[]\","]
            if delims:
                del b[rng.choice(delims)]
        else:
            for _ in range(8):
                b[rng.randrange(L)] = rng.getrandbits(8)
        run_case(f"flip{kind}/{name}#{k}", bytes(b), allowed=codes)
    # a NUL byte and an invalid UTF-8 sequence dropped in the middle
    run_case(f"nul/{name}", data[:L // 2] + b"\x00" + data[L // 2:], allowed=codes)
    run_case(f"badutf8/{name}", data[:L // 3] + b"\xc3\x28\xff" + data[L // 3:], allowed=codes)


for name, data in sources():
    # The slow demos: only their broken versions run (a cut at a statement
    # boundary would run the demo itself, which takes seconds); we check
    # them anyway but with the same timeout.
    mangled_runs(name, data)

# Most runs are tiny; the demos mostly sleep: a few at a time.
JOBS = int(os.environ.get("WEFT_HOSTILE_JOBS", "3"))
with ThreadPoolExecutor(max_workers=JOBS) as pool:
    for f in [pool.submit(_run_case, *a, **kw) for a, kw in _pending]:
        f.result()

print(f"hostile inputs: {passed + failed} runs in {time.monotonic() - t_start:.1f} s, "
      f"slowest {slowest[0]:.2f} s ({slowest[1]}), seed {seed}")
if os.environ.get("WEFT_HOSTILE_TIMES"):
    for dt, n in sorted(durations, reverse=True)[:25]:
        print(f"  {dt:6.2f} s  {n}")
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
