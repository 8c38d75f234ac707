// Console input and output (SPEC §6 print/input, §7.6 io.write, write_err,
// flush, read_line): see console.hpp.
//
// stdout stays a stdio stream so that everything else the interpreter prints
// (the test runner, the REPL, reports) keeps its order with script output.
// Only the moments when stdio would make a system call release the GIL: the
// text is formatted under the GIL first (the GIL rule), then handed to stdio.
#include "stdlib/console.hpp"

#include <poll.h>
#include <stdio_ext.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <stop_token>
#include <string>

#include "runtime/gil.hpp"
#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"

namespace weft {

namespace {

// Appends str(v) to out without a copy for strings.
void append_str(std::string& out, Value v) {
  if (v.is_obj() && v.as.o->type == ObjType::String)
    out.append(static_cast<ObjString*>(v.as.o)->view());
  else
    out += to_str(v);
}

// True when fwrite(n bytes) to stdout will reach the operating system: the
// stream is unbuffered or line buffered (a terminal), has no buffer yet, or
// the bytes do not fit in what is left of it.
bool stdout_write_is_syscall(std::size_t n) {
  std::size_t size = __fbufsize(stdout);
  if (size == 0 || __flbf(stdout)) return true;
  return __fpending(stdout) + n >= size;
}

[[noreturn]] void stdout_failed(int err) {
  // What could not be written is dropped, so the exit-time flush does not
  // report the same failure a second time.
  __fpurge(stdout);
  clearerr(stdout);
  raisef("IOError", "cannot write to standard output: {}", std::strerror(err));
}

// ----------------------------------------------------------------- stdin

// read_line keeps its own buffer over fd 0 so that a wait for input can be
// interrupted: it polls stdin together with an eventfd that the thread's
// stop token signals (Ctrl-C, job timeout).
struct StdinReader {
  std::mutex mu;  // one reader at a time (held only inside the region)
  std::string buf;
  bool eof = false;
};

StdinReader& stdin_reader() {
  static StdinReader r;
  return r;
}

enum class LineStatus { Line, Eof, Interrupted, Error };

LineStatus read_line_blocking(std::stop_token token, std::string& line, int& err) {
  StdinReader& r = stdin_reader();
  std::unique_lock<std::mutex> lk(r.mu);
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    err = errno;
    return LineStatus::Error;
  }
  struct FdGuard {
    int fd;
    ~FdGuard() { ::close(fd); }
  } guard{efd};
  std::stop_callback wake(token, [efd] {
    std::uint64_t one = 1;
    ssize_t ignored = ::write(efd, &one, sizeof one);
    (void)ignored;
  });
  for (;;) {
    auto nl = r.buf.find('\n');
    if (nl != std::string::npos) {
      line = r.buf.substr(0, nl);
      r.buf.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return LineStatus::Line;
    }
    if (r.eof) {
      if (r.buf.empty()) return LineStatus::Eof;
      line.swap(r.buf);
      r.buf.clear();
      return LineStatus::Line;
    }
    if (token.stop_requested()) return LineStatus::Interrupted;
    struct pollfd fds[2] = {{0, POLLIN, 0}, {efd, POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      err = errno;
      return LineStatus::Error;
    }
    if (fds[1].revents) return LineStatus::Interrupted;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
      char chunk[4096];
      ssize_t n = ::read(0, chunk, sizeof chunk);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        err = errno;
        return LineStatus::Error;
      }
      if (n == 0) r.eof = true;
      else r.buf.append(chunk, static_cast<std::size_t>(n));
    }
  }
}

bool g_exit_flush_failed = false;
bool g_exit_flush_reported = false;

Value print_native(Thread& t, Args a) {
  std::string out;
  for (int i = 0; i < a.n; ++i) {
    if (i) out.push_back(' ');
    append_str(out, a[i]);
  }
  out.push_back('\n');
  console_write_stdout(t, out, "print");
  return Value();
}

Value input_native(Thread& t, Args a) {
  if (a.n > 0 && !a[0].is_nil()) {
    std::string prompt;
    append_str(prompt, a[0]);
    console_write_stdout(t, prompt, "input");
    // The prompt must be visible before the wait, whatever the buffering.
    int err = 0;
    {
      BlockingRegion br(t.interp.gil, t.gil, "input");
      if (std::fflush(stdout) != 0) err = errno;
    }
    if (err) stdout_failed(err);
  }
  return console_read_line(t, "input");
}

}  // namespace

void console_write_stdout(Thread& t, std::string_view bytes, const char* label) {
  if (bytes.empty()) return;
  // The buffer is inspected under stdout's own lock. When another thread
  // holds that lock it is writing with the GIL released: rather than wait for
  // it while holding the GIL, take the slow path and wait without it.
  if (ftrylockfile(stdout) == 0) {
    if (!stdout_write_is_syscall(bytes.size())) {
      // Fits in the stdio buffer: a memcpy, no system call.
      fwrite_unlocked(bytes.data(), 1, bytes.size(), stdout);
      funlockfile(stdout);
      return;
    }
    funlockfile(stdout);
  }
  int err = 0;
  {
    BlockingRegion br(t.interp.gil, t.gil, label);
    errno = 0;
    if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) err = errno ? errno : EIO;
    static const bool tty = isatty(1) != 0;
    if (!err && tty && std::fflush(stdout) != 0) err = errno;
    if (!err && std::ferror(stdout)) err = EIO;
  }
  t.check_interrupts();
  if (err) stdout_failed(err);
}

Value console_read_line(Thread& t, const char* fn) {
  std::stop_token token = t.wait_token();
  std::string line;
  int err = 0;
  LineStatus st;
  {
    BlockingRegion br(t.interp.gil, t.gil, fn);
    st = read_line_blocking(token, line, err);
  }
  t.check_interrupts();
  switch (st) {
    case LineStatus::Line:
      return str_value(t, line);
    case LineStatus::Eof:
      return Value();
    case LineStatus::Interrupted:
      raisef("IOError", "{}() interrupted", fn);
    case LineStatus::Error:
      break;
  }
  raisef("IOError", "cannot read standard input: {}", std::strerror(err));
}

Value console_io_write(Thread& t, Args a) {
  std::string out;
  for (int i = 0; i < a.n; ++i) append_str(out, a[i]);
  console_write_stdout(t, out, "io.write");
  return Value();
}

// stderr is unbuffered: every write is a system call. stdout is flushed first
// so that output sent to both streams of one terminal or file (2>&1) appears
// in the order the script wrote it.
Value console_io_write_err(Thread& t, Args a) {
  std::string out;
  for (int i = 0; i < a.n; ++i) append_str(out, a[i]);
  if (out.empty()) return Value();
  int err = 0;
  {
    BlockingRegion br(t.interp.gil, t.gil, "io.write_err");
    std::fflush(stdout);
    errno = 0;
    if (std::fwrite(out.data(), 1, out.size(), stderr) != out.size() || std::fflush(stderr) != 0)
      err = errno ? errno : EIO;
  }
  t.check_interrupts();
  if (err) {
    clearerr(stderr);
    raisef("IOError", "cannot write to standard error: {}", std::strerror(err));
  }
  return Value();
}

Value console_io_flush(Thread& t, Args) {
  int err = 0;
  {
    BlockingRegion br(t.interp.gil, t.gil, "io.flush");
    errno = 0;
    if (std::fflush(stdout) != 0) err = errno ? errno : EIO;
    std::fflush(stderr);
  }
  t.check_interrupts();
  if (err) stdout_failed(err);
  return Value();
}

bool console_flush_at_exit() {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    int err = errno ? errno : EIO;
    g_exit_flush_failed = true;
    if (!g_exit_flush_reported) {
      g_exit_flush_reported = true;
      std::fprintf(stderr, "weft: cannot write to standard output: %s\n", std::strerror(err));
      std::fflush(stderr);
    }
    __fpurge(stdout);
    clearerr(stdout);
  }
  return !g_exit_flush_failed;
}

void register_console(Interp& in) {
  in.add_builtin("print", in.native("print", print_native, 0, -1));
  in.add_builtin("input", in.native("input", input_native, 0, 1));
}

}  // namespace weft
