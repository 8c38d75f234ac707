// The io module (SPEC §7.6): read_file, write_file, append_file, exists,
// remove, read_line, list_dir, write, write_err, flush (the last three and
// read_line live in console.cpp with print and input). Every system call runs inside a BlockingRegion (the GIL
// is released); arguments are copied to std::string first and result
// objects are built after the region. Failures raise IOError naming the
// path and strerror's reason. Bytes are kept as is (invalid UTF-8 is fine).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "runtime/gil.hpp"
#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"
#include "stdlib/console.hpp"
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

Value io_read_line(Thread& t, Args) { return console_read_line(t, "read_line"); }

Value io_list_dir(Thread& t, Args a) {
  std::string path = path_arg(a, 0, "list_dir");
  std::vector<std::string> names;
  int err = 0;
  {
    BlockingRegion br(t.interp.gil, t.gil, "io.list_dir");
    if (DIR* d = ::opendir(path.c_str())) {
      errno = 0;
      while (struct dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
      }
      if (errno) err = errno;
      ::closedir(d);
    } else {
      err = errno;
    }
  }
  t.check_interrupts();
  if (err) raisef("IOError", "cannot list directory '{}': {}", path, std::strerror(err));
  std::sort(names.begin(), names.end());
  ObjList* out = new_list(t);
  for (const std::string& n : names) out->items.push_back(str_value(t, n));
  return Value::object(out);
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
  put("list_dir", in.native("list_dir", io_list_dir, 1, 1));
  put("write", in.native("write", console_io_write, 0, -1));
  put("write_err", in.native("write_err", console_io_write_err, 0, -1));
  put("flush", in.native("flush", console_io_flush, 0, 0));
  in.add_builtin("io", Value::object(m));
}

}  // namespace weft
