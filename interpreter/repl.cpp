// The interactive REPL (SPEC §10), on libedit.
//
// - `>>> ` prompt, `... ` while the input so far is incomplete (the parser's
//   error is an "expected ..." at the very end of the text); a new line
//   inside a bracket or block starts indented (repl_complete.cpp).
// - Each complete input is compiled into one persistent module with
//   CompileOptions{.repl = true}: top-level expression statements call the
//   builtin `__repl_print`, which prints repr(value) unless it is nil.
// - Errors are reported and the session goes on; a KeyboardInterrupt in
//   running code too (the watcher in cli.cpp interrupts the main thread).
// - While waiting for input the main thread is in a BlockingRegion ("repl
//   input"), so threads started at the prompt keep running.
// - Output of other threads while the prompt waits (a print, or the report
//   of an error that ended a thread) must not break the line being typed.
//   On a terminal, libedit draws on its own copy of the terminal's fd, and
//   while readline() waits, fds 1 and 2 point into a pipe that our getc hook
//   also polls: it clears the input line, writes what arrived, and has
//   libedit redraw the prompt and the half-typed line below it. So that
//   printing happens on the REPL's thread, never in the middle of a redraw.
// - Ctrl-C at the prompt: SIGINT is blocked in every thread and consumed by
//   the watcher thread (cli.cpp). While we wait for input we publish a pipe in
//   g_prompt_wakeup_fd; the watcher writes a byte there instead of
//   interrupting. Our libedit getc function polls stdin and that pipe, and on
//   a byte (or a literal ^C character) it ends the line with '\n' and flags
//   it as cancelled, so the partial input is thrown away.
// - Keys typed while code runs are kept: between prompts the terminal is in
//   its normal (canonical) mode but with NOFLSH, so the Ctrl-C that stops the
//   code does not flush what was typed, and with VEOF disabled, so a Ctrl-D
//   typed then stays a character (0x04) that libedit reads at the next
//   prompt as "end of input" instead of an end-of-file marker it can't see.
// - Ctrl-D on an empty line, :quit, or the bare words exit/quit wait for
//   threads and queues (Session::finish) and exit 0.
// - History in $HOME/.weft_history: a whole input (a block of several lines
//   too) is one entry; each is appended to the file as it is entered, and the
//   file is trimmed to the last kHistoryMax entries at start-up.
// - Colour on a terminal unless NO_COLOR is set.
#include <editline/readline.h>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"
#include "compiler.hpp"
#include "loader.hpp"
#include "parser.hpp"
#include "repl_internal.hpp"
#include "runtime/gil.hpp"
#include "runtime/natives.hpp"
#include "runtime/suggest.hpp"
#include "stdlib/jobs_view.hpp"
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
// Spaces still to type for the user at the start of a continuation line.
// libedit clears the line when readline() starts, so the indentation is fed
// through the getc hook as if typed: it is then ordinary, editable text.
int g_pending_indent = 0;
// Typing a closing bracket first thing on an auto-indented line takes one
// level of indentation back (as editors do): the keys for that (backspaces,
// then the bracket) are queued here and handed to libedit one by one.
int g_auto_spaces = 0;        // spaces fed on the current line
bool g_auto_pristine = false; // nothing typed on it yet
std::string g_queued_keys;
// No key of this input line has been read yet (see the NUL case in repl_getc).
bool g_first_key = true;

constexpr const char* kWaitLabel = "repl input";
constexpr int kHistoryMax = 1000;

// Output capture while the prompt waits (terminal sessions only; -1 off).
int g_term_fd = -1;    // a dup of the terminal: libedit and we draw here
int g_cap_rd = -1;     // read end of the pipe fds 1 and 2 point to meanwhile
int g_cap_wr = -1;
int g_saved_out = -1;  // the real fds 1 and 2
int g_saved_err = -1;

// The terminal's settings at start-up (restored at the prompt and at exit).
bool g_tty = false;
termios g_tio{};

const char* kReset = "\033[0m";
const char* kRed = "\033[1;31m";
const char* kGreen = "\033[1;32m";
const char* kDim = "\033[2m";
const char* kCyan = "\033[36m";
const char* kValue = "\033[33m";

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

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// Everything other threads wrote since the last call (non-blocking).
std::string read_captured() {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(g_cap_rd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return out;
  }
}

// Writes captured output to the terminal with "\r\n" line ends (the editor
// may have turned the terminal's output processing off), ending the last line.
void write_to_terminal(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  for (char c : data) {
    if (c == '\n') out += '\r';
    out += c;
  }
  if (!out.empty() && out.back() != '\n') out += "\r\n";
  write_all(g_term_fd, out);
}

// Output arrived while the user is typing: put it above the input line and
// have libedit draw the prompt and the line again underneath.
void show_background_output() {
  std::string data = read_captured();
  if (data.empty()) return;
  write_all(g_term_fd, "\r\033[K");
  write_to_terminal(data);
  rl_forced_update_display();
}

// While readline() waits, other threads' output goes into the capture pipe.
void begin_capture() {
  if (g_cap_wr < 0) return;
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(g_cap_wr, 1);
  dup2(g_cap_wr, 2);
}

// Back to the terminal; whatever was captured after the last redraw is
// written out first, so nothing is lost or reordered.
void end_capture() {
  if (g_cap_wr < 0) return;
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(g_saved_out, 1);
  dup2(g_saved_err, 2);
  std::string data = read_captured();
  if (!data.empty()) write_to_terminal(data);
}

// The terminal while code runs: canonical as usual, but a Ctrl-C must not
// flush typed-ahead keys (NOFLSH) and a Ctrl-D must stay a character for the
// next prompt (VEOF off). libedit reads the settings afresh at every prompt,
// so the original ones are put back first.
void tty_for_code() {
  if (!g_tty) return;
  termios t = g_tio;
  t.c_lflag |= NOFLSH;
  t.c_cc[VEOF] = _POSIX_VDISABLE;
  tcsetattr(0, TCSANOW, &t);
}

void tty_for_prompt() {
  if (g_tty) tcsetattr(0, TCSANOW, &g_tio);
}

// libedit's getc hook: waits for a byte on stdin or a Ctrl-C from the
// watcher. Returns a whole code point (libedit stores it as a wchar_t), '\n'
// to end the line on Ctrl-C, or -1 (EOF) when stdin is gone.
int repl_getc(FILE* in) {
  if (!g_queued_keys.empty()) {
    int k = static_cast<unsigned char>(g_queued_keys.front());
    g_queued_keys.erase(0, 1);
    return k;
  }
  if (g_pending_indent > 0) {
    --g_pending_indent;
    ++g_auto_spaces;
    g_auto_pristine = true;
    return ' ';
  }
  int fd = fileno(in);
  auto read_byte = [&](unsigned char& c) -> int {
    for (;;) {
      pollfd p[3] = {{fd, POLLIN, 0}, {g_wake_rd, POLLIN, 0}, {g_cap_rd, POLLIN, 0}};
      int r = poll(p, g_cap_rd >= 0 ? 3 : 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        return -1;
      }
      if (g_cap_rd >= 0 && (p[2].revents & POLLIN)) {
        show_background_output();
        continue;
      }
      // Keys already waiting were typed before the Ctrl-C: they go first
      // (an Enter among them submits the line, and the Ctrl-C then
      // interrupts that code: see after readline() in run_repl).
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = read(fd, &c, 1);
        if (n == 1) return 1;
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        return -1;
      }
      if (p[1].revents & POLLIN) {
        drain_pipe();
        return 2;  // Ctrl-C
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
  // libedit prints the prompt a moment before it switches the terminal to
  // raw mode. A Ctrl-D typed in that moment reaches the still canonical
  // terminal, which turns it into an end-of-file mark that reads as a NUL
  // byte once the mode changes. As the first key of a line a NUL can only
  // be that (Ctrl-Space, the other source, means nothing there), so it is
  // read as the Ctrl-D it was.
  if (c == 0 && g_first_key) c = 0x04;
  g_first_key = false;
  if (g_auto_pristine) {
    g_auto_pristine = false;
    if ((c == '}' || c == ')' || c == ']') && g_auto_spaces >= 4) {
      g_queued_keys = std::string(3, '\b') + static_cast<char>(c);
      return '\b';
    }
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
  std::string s = paint(kValue, to_repr(a.v[0]));
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

// Reads the history file, trimming it to the last kHistoryMax entries when
// it has grown past them (entries are appended one at a time, never the
// whole history rewritten after each line).
void load_history(const std::string& hist) {
  using_history();
  if (hist.empty()) return;
  (void)read_history(hist.c_str());
  bool trim = history_length > kHistoryMax;
  stifle_history(kHistoryMax);
  if (trim) (void)write_history(hist.c_str());
}

void remember(const std::string& hist, std::string entry) {
  while (!entry.empty() && (entry.back() == '\n' || entry.back() == '\r')) entry.pop_back();
  if (entry.find_first_not_of(" \t\r\n") == std::string::npos) return;
  add_history(entry.c_str());
  if (hist.empty()) return;
  // append_history adds the last entry to the file; a new file needs the
  // header line write_history puts first.
  if (access(hist.c_str(), F_OK) != 0)
    (void)write_history(hist.c_str());
  else
    (void)append_history(1, hist.c_str());
}

// What leaving has to wait for, said before waiting: the live threads other
// than `self` (job workers are counted with their queue) and the job queues
// that still have work.
std::string exit_wait_message(Interp& in, Thread& self) {
  std::vector<QueueSnapshot> queues = jobs_snapshot(in);
  std::vector<std::string> names, busy_queues;
  for (Thread* th : in.threads) {
    if (th == &self) continue;
    const std::string& n = th->gil.name;
    bool worker = std::any_of(queues.begin(), queues.end(), [&](const QueueSnapshot& q) {
      return n.rfind(q.name + "-worker-", 0) == 0;
    });
    if (!worker) names.push_back(n);
  }
  for (const QueueSnapshot& q : queues)
    if (q.queued + q.running + q.retrying > 0) busy_queues.push_back(q.name);
  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (std::size_t i = 0; i < v.size() && i < 6; ++i) out += (i ? ", " : "") + v[i];
    if (v.size() > 6) out += ", ...";
    return out;
  };
  std::string what;
  if (!names.empty())
    what = fmt::format("{} thread{} to finish ({})", names.size(), names.size() == 1 ? "" : "s", list(names));
  if (!busy_queues.empty())
    what += fmt::format("{}job queue{} {} to drain", what.empty() ? "" : " and for ",
                        busy_queues.size() == 1 ? "" : "s", list(busy_queues));
  if (what.empty()) return "";
  return "waiting for " + what + "; Ctrl-C stops them";
}

bool is_defined(ObjModule* mod, const std::string& name) {
  auto it = mod->slots.find(name);
  return it != mod->slots.end() && !mod->values[static_cast<std::size_t>(it->second)].is_undef();
}

// Sets up output capture and the terminal handling (terminal sessions only).
void setup_terminal() {
  g_tty = isatty(0) && isatty(1) && tcgetattr(0, &g_tio) == 0;
  if (!g_tty) return;
  int cap[2];
  g_term_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
  g_saved_out = fcntl(1, F_DUPFD_CLOEXEC, 3);
  g_saved_err = fcntl(2, F_DUPFD_CLOEXEC, 3);
  if (g_term_fd < 0 || g_saved_out < 0 || g_saved_err < 0 || pipe2(cap, O_CLOEXEC) != 0) return;
  g_cap_rd = cap[0];
  g_cap_wr = cap[1];
  fcntl(g_cap_rd, F_SETFL, O_NONBLOCK);
  rl_outstream = fdopen(g_term_fd, "w");
}

void teardown_terminal() {
  end_capture();
  tty_for_prompt();
  for (int* fd : {&g_cap_rd, &g_cap_wr, &g_saved_out, &g_saved_err}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

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
  setup_terminal();
  rl_getc_function = repl_getc;
  rl_catch_signals = 0;
  rl_readline_name = const_cast<char*>("weft");
  repl_install_completion(in, t, mod, kWaitLabel);
  load_history(hist);

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
  // :timeline shows what happened since the prompt before the current one.
  std::uint64_t prev_prompt_ns = now_ns(), this_prompt_ns = prev_prompt_ns;
  while (!quit) {
    // A Ctrl-C that arrived after the last code finished: nothing to cancel.
    try {
      t.check_interrupts();
    } catch (NativeError&) {
    }
    std::fflush(stdout);
    std::fflush(stderr);
    std::string prompt = prompt_of(!buffer.empty());
    if (buffer.empty()) {
      prev_prompt_ns = this_prompt_ns;
      this_prompt_ns = now_ns();
    }
    g_pending_indent = buffer.empty() ? 0 : repl_indent_for(buffer);
    g_auto_spaces = 0;
    g_auto_pristine = false;
    g_first_key = true;
    g_queued_keys.clear();
    char* raw = nullptr;
    g_cancelled = false;
    {
      BlockingRegion br(in.gil, t.gil, kWaitLabel);
      drain_pipe();
      tty_for_prompt();
      begin_capture();
      g_prompt_wakeup_fd.store(wake_wr);
      raw = readline(prompt.c_str());
      g_prompt_wakeup_fd.store(-1);
      // A Ctrl-C that came after the Enter that ended this line: it is
      // meant for the code about to run.
      pollfd p{g_wake_rd, POLLIN, 0};
      if (raw && !g_cancelled && poll(&p, 1, 0) == 1) {
        drain_pipe();
        t.interrupt(kBreakInterrupt);
      }
      end_capture();
      tty_for_code();
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

    if (buffer.empty()) {
      std::size_t b = line.find_first_not_of(" \t");
      if (b == std::string::npos) continue;
      std::string word = line.substr(b);
      while (!word.empty() && (word.back() == ' ' || word.back() == '\t' || word.back() == '\r')) word.pop_back();
      // The bare words of SPEC §10, unless the session defined them.
      if ((word == "exit" || word == "quit" || word == "help") && !is_defined(mod, word)) {
        remember(hist, word);
        if (word == "help")
          std::fputs(kReplHelpText, stdout);
        else
          quit = true;
        continue;
      }
      if (line[b] == ':') {
        std::string cmd = word;
        remember(hist, cmd);
        if (cmd == ":help" || cmd == ":h" || cmd == ":?") {
          std::fputs(kReplHelpText, stdout);
        } else if (cmd == ":threads" || cmd == ":t") {
          std::fputs(repl_threads_report(in, t.id()).c_str(), stdout);
        } else if (cmd == ":timeline") {
          std::fputs(repl_timeline_since(in, prev_prompt_ns, 0).c_str(), stdout);
        } else if (cmd == ":jobs") {
          std::fputs(repl_jobs_report(in).c_str(), stdout);
        } else if (cmd == ":gil") {
          std::fputs(in.gil.stats_table().c_str(), stdout);
          std::fputs(in.gil.timeline(0).c_str(), stdout);
        } else if (cmd == ":quit" || cmd == ":q" || cmd == ":exit") {
          quit = true;
        } else {
          std::vector<std::string_view> known = {":help", ":threads", ":timeline", ":jobs", ":gil", ":quit"};
          std::string msg = "unknown command '" + cmd + "'";
          msg += did_you_mean(cmd, known);
          msg += " — commands: :help, :threads, :timeline, :jobs, :gil, :quit";
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
    remember(hist, chunk);  // a block is one history entry, recalled whole
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
  if (std::string msg = exit_wait_message(in, t); !msg.empty()) {
    std::fprintf(stderr, "%s\n", paint(kDim, msg).c_str());
    std::fflush(stderr);
  }
  try {
    s.finish();
  } catch (SysExit& e) {
    status = e.code;
  }
  s.print_reports();
  std::fflush(stdout);
  std::fflush(stderr);
  teardown_terminal();
  close(wake_wr);
  close(g_wake_rd);
  g_wake_rd = -1;
  return status;
}

}  // namespace weft
