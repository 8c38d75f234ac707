// The interactive REPL (SPEC §10), on libedit.
//
// - `>>> ` prompt, `... ` while the input so far is incomplete (the parser's
//   error is an "expected ..." at the very end of the text).
// - Each complete input is compiled into one persistent module with
//   CompileOptions{.repl = true}: top-level expression statements call the
//   builtin `__repl_print`, which prints repr(value) unless it is nil.
// - Errors are reported and the session goes on; a KeyboardInterrupt in
//   running code too (the watcher in cli.cpp interrupts the main thread).
// - While waiting for input the main thread is in a BlockingRegion ("repl
//   input"), so threads started at the prompt keep running.
// - Ctrl-C at the prompt: SIGINT is blocked in every thread and consumed by
//   the watcher thread (cli.cpp). While we wait for input we publish a pipe in
//   g_prompt_wakeup_fd; the watcher writes a byte there instead of
//   interrupting. Our libedit getc function polls stdin and that pipe, and on
//   a byte (or a literal ^C character) it ends the line with '\n' and flags
//   it as cancelled, so the partial input is thrown away.
// - Ctrl-D on an empty line (or :quit) waits for threads and queues
//   (Session::finish) and exits 0.
// - History in $HOME/.weft_history (errors writing it are ignored).
// - Colour on a terminal unless NO_COLOR is set.
#include <editline/readline.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli.hpp"
#include "compiler.hpp"
#include "loader.hpp"
#include "parser.hpp"
#include "runtime/gil.hpp"
#include "runtime/natives.hpp"
#include "stdlib/sys_exit.hpp"
#include "vm.hpp"

namespace weft {

// Defined in cli.cpp (signal watcher): when >= 0, Ctrl-C writes a byte here
// instead of interrupting the main thread.
extern std::atomic<int> g_prompt_wakeup_fd;

namespace {

int g_wake_rd = -1;                 // read end of the Ctrl-C pipe
bool g_cancelled = false;           // the current line was ended by Ctrl-C
bool g_colour = false;

const char* kReset = "\033[0m";
const char* kRed = "\033[1;31m";
const char* kGreen = "\033[1;32m";
const char* kDim = "\033[2m";
const char* kCyan = "\033[36m";

std::string paint(const char* colour, const std::string& s) {
  if (!g_colour) return s;
  return colour + s + kReset;
}

void drain_pipe() {
  char buf[64];
  while (g_wake_rd >= 0 && read(g_wake_rd, buf, sizeof buf) > 0) {
  }
}

void cancel_echo() {
  const char* s = "^C";
  (void)!write(1, s, 2);
}

// libedit's getc hook: waits for a byte on stdin or a Ctrl-C from the
// watcher. Returns a whole code point (libedit stores it as a wchar_t), '\n'
// to end the line on Ctrl-C, or -1 (EOF) when stdin is gone.
int repl_getc(FILE* in) {
  int fd = fileno(in);
  auto read_byte = [&](unsigned char& c) -> int {
    for (;;) {
      pollfd p[2] = {{fd, POLLIN, 0}, {g_wake_rd, POLLIN, 0}};
      int r = poll(p, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        return -1;
      }
      if (p[1].revents & POLLIN) {
        drain_pipe();
        return 2;  // Ctrl-C
      }
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = read(fd, &c, 1);
        if (n == 1) return 1;
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        return -1;
      }
    }
  };
  unsigned char c = 0;
  int r = read_byte(c);
  if (r < 0) return -1;
  if (r == 2 || c == 0x03) {  // 0x03: the terminal passed ^C through as a byte
    g_cancelled = true;
    cancel_echo();
    return '\n';
  }
  if (c < 0x80) return c;
  // UTF-8: gather the continuation bytes into one code point.
  int len = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC0) ? 2 : 1;
  if (len == 1) return c;
  std::uint32_t cp = c & (0xFF >> (len + 1));
  for (int i = 1; i < len; ++i) {
    unsigned char k = 0;
    int rr = read_byte(k);
    if (rr < 0) return -1;
    if (rr == 2) {
      g_cancelled = true;
      cancel_echo();
      return '\n';
    }
    cp = (cp << 6) | (k & 0x3F);
  }
  return static_cast<int>(cp);
}

Value repl_print(Thread& t, Args a) {
  (void)t;
  if (a.n < 1 || a.v[0].is_nil()) return Value();
  std::string s = to_repr(a.v[0]);
  s.push_back('\n');
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
  return Value();
}

// Does `text` stop in the middle of something (an open bracket, block or
// operator)? Then the parser's complaint is an "expected ..." at the end.
bool is_incomplete(const std::string& text, const ParseError& e) {
  if (e.message.rfind("expected", 0) != 0) return false;
  // Offset of the error position (1-based line/col).
  std::size_t off = 0;
  int line = 1;
  while (line < e.line && off < text.size()) {
    if (text[off] == '\n') ++line;
    ++off;
  }
  off += static_cast<std::size_t>(e.col > 0 ? e.col - 1 : 0);
  std::size_t last = text.find_last_not_of(" \t\r\n");
  if (last == std::string::npos) return true;
  return off > last;  // the complaint is about what is missing after the text
}

// Prints an error report, the header line ("file:line:col: Type: msg") in red.
void print_report(const std::string& report) {
  std::fflush(stdout);
  if (!g_colour) {
    std::fputs(report.c_str(), stderr);
  } else {
    std::size_t pos = 0;
    bool header_done = false;
    while (pos < report.size()) {
      std::size_t nl = report.find('\n', pos);
      std::string line = report.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? report.size() : nl + 1;
      bool header = !header_done && !line.empty() && line[0] != ' ' && line.rfind("Traceback", 0) != 0;
      if (header) header_done = true;
      std::fputs((header ? paint(kRed, line) : line).c_str(), stderr);
      std::fputc('\n', stderr);
    }
  }
  std::fflush(stderr);
}

bool is_keyboard_interrupt(Value v) {
  return is_obj_type(v, ObjType::Error) && as<ObjError>(v)->type_name->view() == "KeyboardInterrupt";
}

const char* kHelpText =
    "Type Weft code at the >>> prompt; the value of an expression is printed\n"
    "(nil is not). A line with an open bracket or block continues at ... .\n"
    "\n"
    "Commands:\n"
    "  :help    this text\n"
    "  :gil     GIL statistics and timeline of this session so far\n"
    "  :quit    leave (waits for running threads); Ctrl-D does the same\n"
    "\n"
    "Keys: Ctrl-C cancels the line, or interrupts running code (KeyboardInterrupt);\n"
    "      Up/Down walk the history (kept in ~/.weft_history).\n"
    "\n"
    "Try:\n"
    "  let xs = [1, 2, 3]\n"
    "  fn sq(x) { return x * x }\n"
    "  sq(7)\n"
    "  let t = thread.spawn(fn() { time.spin(1) })   # runs while you type\n"
    "  :gil                                          # see who held the GIL\n"
    "\n"
    "Docs: docs/repl.md, docs/language.md, docs/gil.md, docs/jobs.md\n";

}  // namespace

int run_repl(const RuntimeOptions& opts) {
  const char* nc = std::getenv("NO_COLOR");
  g_colour = isatty(1) && !(nc && *nc);
  // libedit converts the line through the C library's multibyte functions.
  if (!std::setlocale(LC_CTYPE, "") || MB_CUR_MAX == 1) std::setlocale(LC_CTYPE, "C.UTF-8");

  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::perror("weft: pipe");
    return 1;
  }
  g_wake_rd = fds[0];
  int wake_wr = fds[1];

  Session s(opts);
  Interp& in = s.interp();
  Thread& t = s.main();
  // Before the first compile: the compiler binds globals to builtins then.
  in.add_builtin("__repl_print", in.native("__repl_print", &repl_print, 1, 1));
  ObjModule* mod = s.new_module("", "<stdin>", "");

  std::string hist;
  if (const char* home = std::getenv("HOME"); home && *home) hist = std::string(home) + "/.weft_history";
  rl_getc_function = repl_getc;
  rl_catch_signals = 0;
  rl_readline_name = const_cast<char*>("weft");
  using_history();
  if (!hist.empty()) (void)read_history(hist.c_str());

  std::string banner = std::string("Weft ") + WEFT_VERSION + " — type :help for help, Ctrl-D to exit";
  std::printf("%s\n", paint(kDim, banner).c_str());
  std::fflush(stdout);

  auto prompt_of = [&](bool cont) {
    std::string p = cont ? "..." : ">>>";
    if (!g_colour) return p + " ";
    // \001 ... \002 mark the escape codes as zero-width for libedit (which
    // drops such a sequence at the very end of a prompt: end with the space).
    return std::string("\001") + (cont ? kCyan : kGreen) + "\002" + p + "\001" + kReset + "\002 ";
  };

  int status = 0;
  bool quit = false;
  std::string buffer;  // the input so far (several lines while incomplete)
  std::string session_source;  // every input compiled so far
  std::size_t session_lines = 0;
  while (!quit) {
    // A Ctrl-C that arrived after the last code finished: nothing to cancel.
    try {
      t.check_interrupts();
    } catch (NativeError&) {
    }
    std::fflush(stdout);
    std::fflush(stderr);
    std::string prompt = prompt_of(!buffer.empty());
    char* raw = nullptr;
    g_cancelled = false;
    {
      BlockingRegion br(in.gil, t.gil, "repl input");
      drain_pipe();
      g_prompt_wakeup_fd.store(wake_wr);
      raw = readline(prompt.c_str());
      g_prompt_wakeup_fd.store(-1);
    }
    if (!raw) {  // Ctrl-D (or the terminal went away)
      std::fputs("\n", stdout);
      break;
    }
    std::string line = raw;
    std::free(raw);
    if (g_cancelled) {
      buffer.clear();
      continue;
    }
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      add_history(line.c_str());
      if (!hist.empty()) (void)write_history(hist.c_str());
    }

    if (buffer.empty()) {
      std::size_t b = line.find_first_not_of(" \t");
      if (b == std::string::npos) continue;
      if (line[b] == ':') {
        std::string cmd = line.substr(b);
        while (!cmd.empty() && (cmd.back() == ' ' || cmd.back() == '\t' || cmd.back() == '\r')) cmd.pop_back();
        if (cmd == ":help" || cmd == ":h" || cmd == ":?") {
          std::fputs(kHelpText, stdout);
        } else if (cmd == ":gil") {
          std::fputs(in.gil.stats_table().c_str(), stdout);
          std::fputs(in.gil.timeline(0).c_str(), stdout);
        } else if (cmd == ":quit" || cmd == ":q" || cmd == ":exit") {
          quit = true;
        } else {
          std::string msg = "unknown command '" + cmd + "' (commands: :help, :gil, :quit)";
          std::fprintf(stderr, "%s\n", paint(kRed, msg).c_str());
        }
        continue;
      }
    }

    // A blank line inside an open bracket or block is part of it; after an
    // incomplete statement ("let y", "1 +") it submits, to show the error.
    bool blank = line.find_first_not_of(" \t\r") == std::string::npos;
    buffer += line;
    buffer += '\n';
    {
      ast::Program program;
      ParseError perr;
      if (!parse_program(buffer, program, perr) && is_incomplete(buffer, perr) &&
          !(blank && perr.message.find(" to close ") == std::string::npos))
        continue;
    }
    // Line numbers run on through the session: each input is compiled with
    // as many blank lines in front as came before it, and the module's
    // source is everything typed so far, so a traceback through a function
    // defined three inputs ago shows the right line.
    std::string chunk;
    chunk.swap(buffer);
    std::string source(session_lines, '\n');
    source += chunk;
    session_source += chunk;
    session_lines += static_cast<std::size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
    mod->source = session_source;
    std::string report;
    ObjClosure* cl = load_source(t, mod, source, CompileOptions{.repl = true}, report);
    if (!cl) {
      print_report(report);
      continue;
    }
    try {
      Value result, error;
      if (!guarded_call(t, Value::object(cl), nullptr, 0, result, error)) {
        std::fflush(stdout);
        if (is_keyboard_interrupt(error))
          std::fprintf(stderr, "\n%s\n", paint(kRed, "KeyboardInterrupt").c_str());
        else
          print_report(format_uncaught(in, error, t.last_throw));
      }
    } catch (SysExit& e) {
      status = e.code;
      quit = true;
    }
    std::fflush(stdout);
  }

  g_prompt_wakeup_fd.store(-1);
  try {
    s.finish();
  } catch (SysExit& e) {
    status = e.code;
  }
  s.print_reports();
  if (!hist.empty()) (void)write_history(hist.c_str());
  std::fflush(stdout);
  close(wake_wr);
  close(g_wake_rd);
  g_wake_rd = -1;
  return status;
}

}  // namespace weft
