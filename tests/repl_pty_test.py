#!/usr/bin/env python3
"""Drives the Weft REPL through a real pseudo-terminal (SPEC §10).

usage: repl_pty_test.py /path/to/weft

Checks: banner and `>>> ` prompt, expression values, `... ` continuation,
errors that don't end the session, a thread started at the prompt that keeps
running while the prompt waits, Ctrl-C interrupting running code, Ctrl-C
cancelling a half-typed (multi-line) input, :help / :gil / unknown commands,
Ctrl-D exiting 0, the history file ($HOME/.weft_history) being written and
read back (Up arrow), :quit, sys.exit, and colour (on unless NO_COLOR).
Then the 0.2 REPL: Tab completion (keywords, module members, methods of the
value a name holds), auto-indent, a block recalled from history as a whole,
the bare words help and exit, :threads naming a sleeping thread, :timeline,
:jobs, a thread's error printed above the prompt without losing the line
being typed, keys typed while code runs, and a Ctrl-D typed right after the
Ctrl-C that stopped running code.
"""
import os
import pty
import re
import select
import signal
import sys
import tempfile
import time

TIMEOUT = 30.0  # per expectation; generous so slow CI machines don't flake
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|[\x01\x02\x07]")


class Repl:
    def __init__(self, weft, home, colour=False, args=()):
        env = dict(os.environ)
        env["HOME"] = home
        env["TERM"] = "xterm"
        env.pop("NO_COLOR", None)
        if not colour:
            env["NO_COLOR"] = "1"
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(weft, [weft, *args], env)
            finally:
                os._exit(127)
        self.raw = b""
        self.pos = 0  # expectations match after this offset of the clean text

    def clean(self):
        return ANSI.sub(b"", self.raw).replace(b"\r", b"")

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.fd], [], [], min(left, 0.2))
        if r:
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            self.raw += data
        return True

    def expect(self, pattern, timeout=TIMEOUT):
        """Waits for `pattern` (regex, bytes) after the last match."""
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.clean(), self.pos)
            if m:
                self.pos = m.end()
                return m
            if not self._read(deadline):
                m = rx.search(self.clean(), self.pos)
                if m:
                    self.pos = m.end()
                    return m
                fail(f"timed out waiting for {pattern!r}; output after last match:\n"
                     + self.clean()[self.pos:].decode(errors="replace"))

    def absent_for(self, pattern, seconds):
        """Reads for `seconds` and fails if `pattern` shows up after the last match."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read(deadline)
        if re.search(pattern, self.clean()[self.pos:], re.S):
            fail(f"unexpected {pattern!r} in:\n" + self.clean()[self.pos:].decode(errors="replace"))

    def poll_command(self, command, pattern, timeout=TIMEOUT):
        """Enters `command` until its output (up to the next prompt) matches
        `pattern`: for states another thread reaches in its own time."""
        deadline = time.monotonic() + timeout
        while True:
            start = self.pos
            self.line(command)
            self.expect(rb"\n" + PROMPT)
            text = self.clean()[start:self.pos]
            if re.search(pattern, text, re.S):
                return text
            if time.monotonic() > deadline:
                fail(f"{command} never showed {pattern!r}; last output:\n" + text.decode(errors="replace"))

    def send(self, s):
        os.write(self.fd, s.encode())

    def line(self, s):
        self.send(s + "\r")

    def wait_exit(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(time.monotonic() + 0.1):
                    pass
                return os.waitstatus_to_exitcode(status)
            self._read(time.monotonic() + 0.1)
        os.kill(self.pid, signal.SIGKILL)
        fail("the REPL did not exit")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def step(name):
    print("ok -", name, flush=True)


PROMPT = rb">>> "
CONT = rb"\.\.\. "


def main():
    weft = os.path.abspath(sys.argv[1])
    home = tempfile.mkdtemp(prefix="weft-repl-home-")
    hist = os.path.join(home, ".weft_history")

    # ---------------------------------------------------------- session 1
    r = Repl(weft, home)
    r.expect(rb"Weft \d+\.\d+\.\d+ .*:help.*Ctrl-D")
    r.expect(PROMPT)
    step("banner and prompt")

    r.line("1 + 2")
    r.expect(rb"\n3\n" + PROMPT)
    r.line('"a" + "b"')
    r.expect(rb'\n"ab"\n' + PROMPT)  # repr, not str
    r.line("let nothing = nil")
    r.expect(PROMPT)
    r.line("nothing")
    m = r.expect(PROMPT)
    if b"nil" in r.clean()[m.start() - 10:m.start()]:
        fail("nil was printed")
    step("expression values printed by repr, nil not printed")

    r.line("fn f(x) {")
    r.expect(CONT)
    r.line("  let y = x * 10")
    r.expect(CONT)
    r.line("  return [y,")
    r.expect(CONT)
    r.line("    y + 1]")
    r.expect(CONT)
    r.line("}")
    r.expect(PROMPT)
    r.line("f(2)")
    r.expect(rb"\n\[20, 21\]\n" + PROMPT)
    step("continuation prompt for an open block and bracket")

    r.line('1 + "a"')
    r.expect(rb"TypeError")
    r.expect(PROMPT)
    r.line("1 +* 2")
    r.expect(rb"SyntaxError")
    r.expect(PROMPT)
    r.line('throw error("ValueError", "boom")')
    r.expect(rb"ValueError: boom")
    r.expect(PROMPT)
    r.line("f(4)")
    r.expect(rb"\n\[40, 41\]\n" + PROMPT)
    step("errors are reported and the session goes on")

    # A thread started at the prompt runs while the prompt waits for input.
    r.line('let bg = thread.spawn(fn() { time.sleep(0.3); print("hello from the thread") })')
    r.expect(PROMPT)
    r.expect(rb"hello from the thread")  # no input sent: the prompt released the GIL
    r.line("let t = thread.spawn(fn() { time.sleep(0.2); return 7 })")
    r.expect(PROMPT)
    r.line("t.join()")
    r.expect(rb"\n7\n" + PROMPT)
    step("threads started at the prompt keep running")

    # Ctrl-C interrupts running code.
    r.line("let n = 0")
    r.expect(PROMPT)
    r.line("while true { n = n + 1 }")
    time.sleep(0.5)
    r.send("\x03")
    r.expect(rb"KeyboardInterrupt\n")
    r.expect(PROMPT)
    r.line("n > 0")
    r.expect(rb"\ntrue\n" + PROMPT)
    r.line("time.sleep(30)")
    time.sleep(0.5)
    r.send("\x03")
    r.expect(rb"KeyboardInterrupt\n", timeout=10)
    r.expect(PROMPT)
    step("Ctrl-C interrupts running code, the session goes on")

    # Ctrl-C at the prompt cancels the line (and pending continuation lines).
    r.send("12345")
    r.expect(rb"12345")
    r.send("\x03")
    r.expect(rb"\^C\n" + PROMPT)
    r.line("fn g() {")
    r.expect(CONT)
    r.send("let half = ")
    r.expect(rb"let half = ")
    r.send("\x03")
    r.expect(rb"\^C\n" + PROMPT)
    r.line("99 + 1")
    r.expect(rb"\n100\n" + PROMPT)
    r.absent_for(rb"12345|KeyboardInterrupt", 0.3)
    step("Ctrl-C at the prompt cancels the input")

    r.line(":help")
    r.expect(rb":gil.*:quit.*thread\.spawn.*docs/")
    r.expect(PROMPT)
    r.line(":gil")
    r.expect(rb"main")
    r.expect(PROMPT)
    r.line(":nope")
    r.expect(rb"unknown command ':nope'.*:help")
    r.expect(PROMPT)
    step(":help, :gil, unknown command")

    r.line("6 * 7")
    r.expect(rb"\n42\n" + PROMPT)
    r.send("\x04")
    code = r.wait_exit()
    if code != 0:
        fail(f"Ctrl-D exit status {code}, expected 0")
    step("Ctrl-D exits 0")

    if not os.path.exists(hist):
        fail("no history file at " + hist)
    with open(hist, "rb") as fh:
        h = fh.read()
    # libedit's format: a "_HiStOrY_V2_" line, then one entry per line with
    # spaces and other special characters vis(3)-encoded as \ooo.
    h = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), h)
    for entry in (b"1 + 2", b"fn f(x) {", b"6 * 7"):
        if entry not in h:
            fail(f"history file lacks {entry!r}:\n{h!r}")
    if b"12345" in h:
        fail("a cancelled line was saved in the history")
    step("history written to $HOME/.weft_history")

    # ---------------------------------------------------------- session 2
    # History is read back (Up arrow recalls `6 * 7`); :quit exits 0 after
    # waiting for a running thread.
    r = Repl(weft, home)
    r.expect(PROMPT)
    r.send("\x1b[A")
    r.expect(rb"6 \* 7")
    r.send("\r")
    r.expect(rb"\n42\n" + PROMPT)
    r.line('let w = thread.spawn(fn() { time.sleep(0.3); print("finished before exit") })')
    r.expect(PROMPT)
    r.line(":quit")
    r.expect(rb"finished before exit")
    code = r.wait_exit()
    if code != 0:
        fail(f":quit exit status {code}, expected 0")
    step("history read back, :quit waits for threads and exits 0")

    # ---------------------------------------------------------- session 3
    # Colour on a terminal without NO_COLOR; sys.exit(3) ends the REPL with 3.
    r = Repl(weft, home, colour=True)
    r.expect(PROMPT)
    if b"\x1b[" not in r.raw:
        fail("no colour without NO_COLOR")
    r.line("sys.exit(3)")
    code = r.wait_exit()
    if code != 3:
        fail(f"sys.exit(3) gave status {code}")
    step("colour on a terminal; sys.exit ends the REPL")

    # ---------------------------------------------------------- session 4
    # Completion, auto-indent, blocks in the history, bare words, the live
    # views of threads, the GIL and job queues, and background errors.
    r = Repl(weft, home)
    r.expect(PROMPT)
    r.send("math.sq\t")
    r.expect(rb"math\.sqrt")
    r.send("(16)\r")
    r.expect(rb"\n4(\.0)?\n" + PROMPT)
    r.line("let xs = [1, 2]")
    r.expect(PROMPT)
    r.send("xs.pu\t")
    r.expect(rb"xs\.push")
    r.send("(3)\r")
    r.expect(PROMPT)
    r.line("xs")
    r.expect(rb"\n\[1, 2, 3\]\n" + PROMPT)
    r.send("wh\t")
    r.expect(rb"while")
    r.send("\x03")
    r.expect(rb"\^C\n" + PROMPT)
    r.send("math.\t\t")  # Tab twice lists a module's members, not map methods
    # The listing is in columns, so which of two names comes first depends on
    # how many members the module has: look for both, in either order.
    r.expect(rb"(?=.*?math\.floor).*?math\.sqrt")
    r.absent_for(rb"math\.keys", 0.3)
    r.send("\x03")
    r.expect(rb"\^C\n" + PROMPT)
    # Completing never runs code: a getter-like global stays untouched.
    r.line("let calls = 0")
    r.expect(PROMPT)
    r.line("fn bump() { calls = calls + 1; return [] }")
    r.expect(PROMPT)
    r.send("bump.pu\t\t")
    r.send("\x03")
    r.expect(rb"\^C\n" + PROMPT)
    r.line("calls")
    r.expect(rb"\n0\n" + PROMPT)
    step("Tab completes keywords, module members and methods, runs no code")

    r.line("fn g(x) {")
    r.expect(CONT + rb" {4}")  # the new line inside the block is indented
    r.line("return x + 1")
    r.expect(CONT)
    r.line("}")
    r.expect(PROMPT)
    r.line("g(1)")
    r.expect(rb"\n2\n" + PROMPT)
    r.send("\x1b[A\x1b[A")  # Up twice: past g(1) to the whole block
    r.expect(rb"fn g\(x\) \{\n {4}return x \+ 1\n *\}")
    r.send("\r")
    r.expect(PROMPT)
    r.line("g(41)")
    r.expect(rb"\n42\n" + PROMPT)
    step("auto-indent in a block; a block is recalled as a whole")

    r.line("help")
    r.expect(rb":threads.*:timeline.*:jobs")
    r.expect(PROMPT)
    step("bare help")

    r.line('let s = thread.spawn_named("sleepy", fn() { time.sleep(6) })')
    r.expect(PROMPT)
    # The thread may not have reached its sleep yet on a busy machine.
    out = r.poll_command(":threads", rb"sleepy +blocked in time\.sleep +[0-9.]+m?s")
    if not re.search(rb"main +at the prompt", out):
        fail(":threads does not show the REPL's own thread:\n" + out.decode(errors="replace"))
    step(":threads names a sleeping thread and what it is blocked in")

    r.line(":timeline")
    r.expect(rb"GIL timeline: .*threads.*\nmain +\S.*\nsleepy +\S")
    r.expect(PROMPT)
    step(":timeline")

    r.line("let gate = sync.Channel()")
    r.expect(PROMPT)
    r.line('let q = jobs.queue({name: "mail", workers: 2})')
    r.expect(PROMPT)
    r.line("let j = q.submit(fn() { return gate.recv(30) })")
    r.expect(PROMPT)
    r.poll_command(":jobs", rb"mail +0 +1 +0 +0 +0 +0 +1 of 2")  # once a worker took it
    r.line("gate.send(5)")
    r.expect(PROMPT)
    r.line("j.result(30)")
    r.expect(rb"\n5\n" + PROMPT)
    step(":jobs shows a queue's counts and busy workers")

    r.line('let d = thread.spawn_named("doomed", fn() { time.sleep(0.3); '
           'throw error("ValueError", "lost in the background") })')
    r.expect(PROMPT)
    r.send("6 *")  # half a line, not entered: the error must not eat it
    r.expect(rb'Exception in thread "doomed".*ValueError: lost in the background')
    r.expect(PROMPT + rb"6 \*")  # prompt and the half-typed line redrawn
    r.send(" 7\r")
    r.expect(rb"\n42\n" + PROMPT)
    step("a thread's error is printed above the prompt, the typed line kept")

    r.line("exit")
    r.expect(rb"waiting for 1 thread to finish \(sleepy\)")
    code = r.wait_exit()
    if code != 0:
        fail(f"exit status {code}, expected 0")
    step("bare exit says it waits for a running thread, exits 0")

    with open(hist, "rb") as fh:
        entries = fh.read().split(b"\n")
    decode = lambda e: re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), e)
    # ... with the closing brace typed on an indented line moved back out.
    if not any(b"fn g(x) {\n    return x + 1\n}" in decode(e) for e in entries):
        fail("the block is not one history entry:\n" + repr(entries[-12:]))
    step("a block is saved as one history entry, its closing brace dedented")

    # ---------------------------------------------------------- session 5
    # Keys typed while code runs are kept; a Ctrl-D right after the Ctrl-C
    # that stopped running code is not lost.
    r = Repl(weft, home)
    r.expect(PROMPT)
    r.line('print("nap" + "ping"); time.sleep(1)')
    r.expect(rb"\nnapping")  # the output, not the echo of the line
    r.line("40 + 2")  # typed while the sleep runs
    r.expect(rb"\n42\n" + PROMPT)
    r.line('print("spin" + "ning"); while true { }')
    r.expect(rb"\nspinning")
    r.send("\x03")
    r.send("\x04")  # at once, before the KeyboardInterrupt is even printed
    r.expect(rb"KeyboardInterrupt")
    code = r.wait_exit()
    if code != 0:
        fail(f"Ctrl-D after Ctrl-C: exit status {code}, expected 0")
    step("typeahead kept; Ctrl-D right after Ctrl-C exits")

    print("all REPL checks passed")


if __name__ == "__main__":
    main()
