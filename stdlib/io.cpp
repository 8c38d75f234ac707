// The io module (SPEC §7.6): read_file, write_file, append_file, exists,
// remove, read_line. Every system call runs inside a BlockingRegion (the GIL
// is released); arguments are copied to std::string first and result
// objects are built after the region. Failures raise IOError naming the
// path and strerror's reason. Bytes are kept as is (invalid UTF-8 is fine).
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "runtime/gil.hpp"
#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"
#include "stdlib/modules.hpp"

namespace weft {

namespace {

std::string path_arg(Args a, int i, const char* fn) {
  std::string_view p = arg_str(a, i, fn);
  if (p.empty()) raisef("ValueError", "{}() path is empty", fn);
  if (p.find('\0') != std::string_view::npos) raisef("ValueError", "{}() path contains a NUL byte", fn);
  return std::string(p);
}

struct IoFailure {
  std::string what;  // "cannot open"
  int err = 0;
};

int open_retry(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do fd = ::open(path, flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

// Reads a whole file; nullopt + failure on error.
std::optional<std::string> read_all(const std::string& path, IoFailure& f) {
  int fd = open_retry(path.c_str(), O_RDONLY);
  if (fd < 0) {
    f = {"cannot open", errno};
    return std::nullopt;
  }
  std::string out;
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      f = {"cannot read", errno};
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

bool write_all(const std::string& path, const std::string& data, bool append, IoFailure& f) {
  int fd = open_retry(path.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0666);
  if (fd < 0) {
    f = {append ? "cannot open for appending" : "cannot open for writing", errno};
    return false;
  }
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      f = {"cannot write", errno};
      ::close(fd);
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 && errno != EINTR) {
    f = {"cannot write", errno};
    return false;
  }
  return true;
}

[[noreturn]] void io_error(const IoFailure& f, const std::string& path) {
  raisef("IOError", "{} '{}': {}", f.what, path, std::strerror(f.err));
}

Value io_read_file(Thread& t, Args a) {
  std::string path = path_arg(a, 0, "read_file");
  IoFailure f;
  std::optional<std::string> data;
  {
    BlockingRegion br(t.interp.gil, t.gil, "io.read_file");
    data = read_all(path, f);
  }
  t.check_interrupts();
  if (!data) io_error(f, path);
  return str_value(t, *data);
}

Value write_common(Thread& t, Args a, bool append) {
  const char* fn = append ? "append_file" : "write_file";
  std::string path = path_arg(a, 0, fn);
  std::string data(arg_str(a, 1, fn));
  IoFailure f;
  bool ok;
  {
    BlockingRegion br(t.interp.gil, t.gil, append ? "io.append_file" : "io.write_file");
    ok = write_all(path, data, append, f);
  }
  t.check_interrupts();
  if (!ok) io_error(f, path);
  return Value();
}

Value io_write_file(Thread& t, Args a) { return write_common(t, a, false); }
Value io_append_file(Thread& t, Args a) { return write_common(t, a, true); }

Value io_exists(Thread& t, Args a) {
  std::string path = path_arg(a, 0, "exists");
  bool exists;
  {
    BlockingRegion br(t.interp.gil, t.gil, "io.exists");
    struct stat st {};
    exists = ::stat(path.c_str(), &st) == 0;
  }
  t.check_interrupts();
  return Value::boolean(exists);
}

Value io_remove(Thread& t, Args a) {
  std::string path = path_arg(a, 0, "remove");
  int err = 0;
  {
    BlockingRegion br(t.interp.gil, t.gil, "io.remove");
    if (std::remove(path.c_str()) != 0) err = errno;
  }
  t.check_interrupts();
  if (err) raisef("IOError", "cannot remove '{}': {}", path, std::strerror(err));
  return Value();
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

Value io_read_line(Thread& t, Args) {
  std::stop_token token = t.wait_token();
  std::string line;
  int err = 0;
  LineStatus st;
  {
    BlockingRegion br(t.interp.gil, t.gil, "io.read_line");
    st = read_line_blocking(token, line, err);
  }
  t.check_interrupts();
  switch (st) {
    case LineStatus::Line:
      return str_value(t, line);
    case LineStatus::Eof:
      return Value();
    case LineStatus::Interrupted:
      raise("IOError", "read_line() interrupted");
    case LineStatus::Error:
      break;
  }
  raisef("IOError", "cannot read standard input: {}", std::strerror(err));
}

}  // namespace

void register_io(Interp& in) {
  ObjMap* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, Value v) { m->set(Value::object(in.heap.intern(name)), v); };
  put("read_file", in.native("read_file", io_read_file, 1, 1));
  put("write_file", in.native("write_file", io_write_file, 2, 2));
  put("append_file", in.native("append_file", io_append_file, 2, 2));
  put("exists", in.native("exists", io_exists, 1, 1));
  put("remove", in.native("remove", io_remove, 1, 1));
  put("read_line", in.native("read_line", io_read_line, 0, 0));
  in.add_builtin("io", Value::object(m));
}

}  // namespace weft
