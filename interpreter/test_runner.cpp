// `weft test` (SPEC §9, issue 20): runs every top-level `test_*` function of
// every `*_test.weft` file under the given paths, one fresh interpreter per
// file, with per-test timeouts, repeats, retries (FLAKY), JUnit XML, GIL
// traces of failing tests and per-test GIL figures.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <thread>

#include "cli.hpp"
#include "loader.hpp"
#include "parser.hpp"
#include "runtime/natives.hpp"
#include "stdlib/gil_measure.hpp"
#include "stdlib/sys_exit.hpp"
#include "vm.hpp"

namespace weft {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> find_test_files(const std::vector<std::string>& paths, std::vector<std::string>& missing) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        const auto& path = it->path();
        std::string name = path.filename().string();
        if (it->is_regular_file(ec) && name.size() > 10 && name.ends_with("_test.weft")) found.push_back(path.string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      fmt::print(stderr, "weft test: no such file or directory: {}\n", p);
      missing.push_back(p);
    }
  }
  return files;
}

// The names of the top-level `fn test_*` statements, in file order.
std::vector<std::string> test_names(const std::string& source) {
  std::vector<std::string> names;
  ast::Program program;
  ParseError err;
  if (!parse_program(source, program, err)) return names;
  for (const auto& s : program.stmts)
    if (const ast::FnStmt* f = boost::get<ast::FnStmt>(&s))
      if (f->name.name.rfind("test_", 0) == 0) names.push_back(f->name.name);
  return names;
}

std::string indent(const std::string& text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out += "    " + text.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
  return out;
}

// Interrupts a test that runs past --timeout, the way job attempts are
// timed out: it sets kBreakTimeout on the test's thread, which raises
// TimeoutError at the next bytecode check or wakes any interruptible wait.
// One thread for the whole run, asleep on a condition variable until the
// armed deadline.
class Watchdog {
 public:
  Watchdog() : thread_([this] { loop(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void arm(Thread* t, double seconds) {
    std::lock_guard<std::mutex> lk(mu_);
    fired_ = false;
    target_ = seconds > 0 ? t : nullptr;
    deadline_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                        std::chrono::duration<double>(seconds));
    cv_.notify_all();
  }
  // Returns true when the deadline passed (the thread was interrupted).
  bool disarm() {
    std::lock_guard<std::mutex> lk(mu_);
    target_ = nullptr;
    return fired_;
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!quit_) {
      if (!target_) {
        cv_.wait(lk);
        continue;
      }
      if (std::chrono::steady_clock::now() >= deadline_) {
        fired_ = true;
        target_->interrupt(kBreakTimeout);
        target_ = nullptr;
        continue;
      }
      cv_.wait_until(lk, deadline_);
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  Thread* target_ = nullptr;
  std::chrono::steady_clock::time_point deadline_;
  bool fired_ = false;
  bool quit_ = false;
  std::thread thread_;
};

// One run of a test (or of a file's top-level code).
struct Outcome {
  bool ok = false;
  bool interrupted = false;  // Ctrl-C
  double secs = 0;
  std::string type, message;  // of the error
  std::string report;         // traceback as printed
  std::uint64_t t0 = 0, t1 = 0;
  GilWindow gil;
};

// One test's result, for the summary and JUnit.
struct CaseResult {
  std::string name;
  double secs = 0;
  bool failed = false;
  bool flaky = false;
  int failed_runs = 0;
  std::string type, message, report;
};

// Closes what a run left open when sys.exit unwound it (SysExit passes every
// frame without the VM's own clean-up): frames, handlers, open upvalues and
// the stack go back to where the run began.
void restore_thread(Thread& t, std::size_t frames, std::size_t handlers, Value* sp) {
  while (t.open_upvalues && t.open_upvalues->location >= sp) {
    ObjUpvalue* u = t.open_upvalues;
    u->closed = *u->location;
    u->location = &u->closed;
    t.open_upvalues = u->next_open;
  }
  t.frames.resize(frames);
  t.handlers.resize(handlers);
  t.sp = sp;
  t.pending = Value();
}

Outcome run_one(Session& s, Watchdog& dog, double timeout_s, Value fn, bool top_level = false) {
  Thread& t = s.main();
  Interp& in = s.interp();
  Outcome o;
  GilStats before = in.gil.total_stats();
  o.t0 = now_ns();
  std::size_t frames = t.frames.size(), handlers = t.handlers.size();
  Value* sp = t.sp;
  Value result, error;
  dog.arm(&t, timeout_s);
  try {
    o.ok = guarded_call(t, fn, nullptr, 0, result, error);
  } catch (SysExit& e) {
    // The frames are still there: the error points at the sys.exit call.
    error = make_thrown_error(t, "RuntimeError", fmt::format("sys.exit({}) called {}", e.code, top_level ? "at the top level of a test file" : "in a test"));
    restore_thread(t, frames, handlers, sp);
    o.ok = false;
  }
  bool timed_out = dog.disarm();
  o.t1 = now_ns();
  o.secs = static_cast<double>(o.t1 - o.t0) / 1e9;
  if (timed_out) {
    // Consume a late interrupt, and stop the threads the test started so
    // the file's remaining tests (and the exit) don't wait for them.
    try {
      t.check_interrupts();
    } catch (NativeError&) {
    }
    for (Thread* other : in.threads)
      if (other != &t) other->interrupt(kBreakTimeout);
    if (o.ok || (is_obj_type(error, ObjType::Error) && as<ObjError>(error)->type_name->view() == "TimeoutError")) {
      if (o.ok) {
        error = make_thrown_error(t, "TimeoutError", "");
        t.pending = Value();
      }
      as<ObjError>(error)->message =
          new_string(t, fmt::format("test timed out after {} s (--timeout {})", timeout_s, timeout_s));
      o.ok = false;
    }
  }
  if (!o.ok) {
    if (is_obj_type(error, ObjType::Error)) {
      auto* e = as<ObjError>(error);
      o.type = std::string(e->type_name->view());
      o.message = std::string(e->message->view());
      o.interrupted = o.type == "KeyboardInterrupt";
    } else {
      o.type = "Error";
      o.message = "uncaught value " + to_repr(error);
    }
    o.report = format_uncaught(in, error, t.last_throw);
  }
  GilStats after = in.gil.total_stats();
  o.gil = gil_window(before, after, [](int) { return true; });
  return o;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 has no way to write other control characters at all.
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
          out += '?';
        else
          out += static_cast<char>(c);
    }
  }
  return out;
}

struct SuiteResult {
  std::string file;
  double secs = 0;
  std::vector<CaseResult> cases;
};

// JUnit XML in the shape of the Ant/Jenkins schemas that CI systems read:
// <testsuites> with one <testsuite> per file (properties, testcases,
// system-out, system-err) and one <testcase> per test run.
bool write_junit(const std::string& path, const std::vector<SuiteResult>& suites, std::string& err) {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n";
  int id = 0;
  for (const SuiteResult& s : suites) {
    int failures = 0;
    std::string flaky;
    for (const auto& c : s.cases) {
      failures += c.failed;
      if (c.flaky) flaky += fmt::format("FLAKY {}::{} (failed {} time(s) before passing)\n", s.file, c.name, c.failed_runs);
    }
    out += fmt::format(
        "  <testsuite name=\"{}\" package=\"weft\" id=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3f}\" "
        "timestamp=\"{}\" hostname=\"{}\">\n    <properties/>\n",
        xml_escape(s.file), id++, s.cases.size(), failures, s.secs, stamp, xml_escape(host));
    for (const auto& c : s.cases) {
      out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\"", xml_escape(s.file),
                         xml_escape(c.name), c.secs);
      if (!c.failed) {
        out += "/>\n";
        continue;
      }
      out += fmt::format(">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                         xml_escape(c.message), xml_escape(c.type), xml_escape(c.report));
    }
    out += fmt::format("    <system-out>{}</system-out>\n    <system-err/>\n  </testsuite>\n", xml_escape(flaky));
  }
  out += "</testsuites>\n";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    err = std::strerror(errno);
    return false;
  }
  bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) err = std::strerror(errno);
  return ok;
}

// "tests/contention/convoy_test.weft" + "test_x" -> "convoy_test__test_x.json"
std::string trace_name(const std::string& file, const std::string& test, int run, int runs) {
  std::string stem = fs::path(file).stem().string();
  std::string name = stem + "__" + test;
  if (runs > 1) name += fmt::format("__run{}", run);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '_';
  return name + ".json";
}

}  // namespace

int run_tests(const RuntimeOptions& opts_in, const TestOptions& topts) {
  // --gil-stats means one line of GIL figures per test here, not the
  // exit-time table of every file.
  RuntimeOptions opts = opts_in;
  bool per_test_gil = opts.gil_stats;
  opts.gil_stats = false;
  if (!topts.trace_failed.empty()) {
    std::error_code ec;
    fs::create_directories(topts.trace_failed, ec);
    if (!fs::is_directory(topts.trace_failed, ec)) {
      fmt::print(stderr, "weft test: cannot create --trace-failed directory '{}'\n", topts.trace_failed);
      return 2;
    }
  }
  std::vector<std::string> missing;
  std::vector<std::string> files = find_test_files(topts.paths, missing);
  int passed = 0, failed = 0, flaky = 0;
  std::vector<SuiteResult> suites;
  Watchdog dog;
  bool any_selected = false;
  auto print_gil = [&](const Outcome& o) {
    if (per_test_gil) fmt::print("    gil: {}\n", format_gil_window(o.gil));
  };
  auto finish_run = [&](int status) {
    if (!topts.junit.empty()) {
      std::string err;
      if (!write_junit(topts.junit, suites, err)) {
        fmt::print(stderr, "weft test: cannot write --junit file '{}': {}\n", topts.junit, err);
        if (status == 0) status = 1;
      }
    }
    return status;
  };
  for (const auto& file : files) {
    std::string source, err;
    SuiteResult suite;
    suite.file = file;
    if (!read_file(file, source, err)) {
      fmt::print("FAIL {} (cannot read: {})\n", file, err);
      ++failed;
      suite.cases.push_back(CaseResult{"<file>", 0, true, false, 1, "IOError", err, err});
      suites.push_back(std::move(suite));
      continue;
    }
    std::vector<std::string> names = test_names(source);
    if (!topts.filter.empty()) {
      std::vector<std::string> keep;
      for (auto& n : names)
        if ((file + "::" + n).find(topts.filter) != std::string::npos) keep.push_back(n);
      names.swap(keep);
      if (names.empty()) continue;
    }
    Session s(opts);
    Thread& t = s.main();
    ObjModule* m = s.new_module(file, file, source);
    std::string report;
    ObjClosure* cl = load_source(t, m, source, CompileOptions{}, report);
    if (!cl) {
      any_selected = true;
      fmt::print("FAIL {} (does not compile)\n{}", file, indent(report));
      ++failed;
      suite.cases.push_back(CaseResult{"<file>", 0, true, false, 1, "SyntaxError", report.substr(0, report.find('\n')), report});
      suites.push_back(std::move(suite));
      std::fflush(stdout);
      continue;
    }
    if (!names.empty()) any_selected = true;
    Outcome top = run_one(s, dog, topts.timeout_s, Value::object(cl), true);
    suite.secs += top.secs;
    if (!top.ok) {
      // The file's top-level code failed (or called sys.exit): every test of
      // the file fails with that error.
      fmt::print("FAIL {} (error while loading)\n{}", file, indent(top.report));
      if (names.empty()) {
        ++failed;
        suite.cases.push_back(CaseResult{"<file>", top.secs, true, false, 1, top.type, top.message, top.report});
      }
      for (const auto& name : names) {
        fmt::print("FAIL {}::{} (not run: the file's top-level code failed)\n", file, name);
        ++failed;
        suite.cases.push_back(CaseResult{name, 0, true, false, 1, top.type, top.message, top.report});
      }
      if (top.interrupted) {
        fmt::print("{} passed, {} failed\n", passed, failed);
        std::fflush(stdout);
        std::_Exit(130);
      }
      try {
        s.finish();
      } catch (SysExit&) {
      }
      suites.push_back(std::move(suite));
      std::fflush(stdout);
      continue;
    }
    for (const auto& name : names) {
      auto it = m->slots.find(name);
      Value fn = it == m->slots.end() ? Value() : m->values[static_cast<std::size_t>(it->second)];
      for (int run = 1; run <= topts.repeat; ++run) {
        Outcome o;
        int failures = 0;
        for (int attempt = 0; attempt <= topts.retries; ++attempt) {
          if (is_obj_type(fn, ObjType::Closure) || is_obj_type(fn, ObjType::Native)) {
            o = run_one(s, dog, topts.timeout_s, fn);
          } else {
            o = Outcome{};
            o.type = "TypeError";
            o.message = name + " is not a function";
            o.report = "TypeError: " + o.message + "\n";
          }
          if (o.ok || o.interrupted) break;
          ++failures;
          if (attempt < topts.retries) {
            fmt::print("RETRY {}::{} ({} ms): {}: {}\n", file, name, static_cast<long>(o.secs * 1000), o.type, o.message);
            std::fflush(stdout);
          }
        }
        long ms = static_cast<long>(o.secs * 1000);
        CaseResult c{name, o.secs, !o.ok, o.ok && failures > 0, failures, o.type, o.message, o.report};
        suite.secs += o.secs;
        if (o.ok && failures == 0) {
          fmt::print("PASS {}::{} ({} ms)\n", file, name, ms);
          ++passed;
        } else if (o.ok) {
          fmt::print("FLAKY {}::{} ({} ms, passed after {} failed run{})\n", file, name, ms, failures,
                     failures == 1 ? "" : "s");
          ++passed;
          ++flaky;
        } else {
          fmt::print("FAIL {}::{} ({} ms)\n{}", file, name, ms, indent(o.report));
          ++failed;
          if (!topts.trace_failed.empty()) {
            GilRecording rec = gil_recording_window(s.interp().gil.recording(), o.t0, o.t1);
            std::string path = (fs::path(topts.trace_failed) / trace_name(file, name, run, topts.repeat)).string();
            std::FILE* f = std::fopen(path.c_str(), "wb");
            std::string json = render_trace_json(rec);
            if (f && std::fwrite(json.data(), 1, json.size(), f) == json.size() && std::fclose(f) == 0)
              fmt::print("    GIL trace of the failing run: {}\n", path);
            else
              fmt::print(stderr, "weft test: cannot write trace '{}'\n", path);
          }
        }
        print_gil(o);
        suite.cases.push_back(std::move(c));
        std::fflush(stdout);
        if (o.interrupted) {
          suites.push_back(std::move(suite));
          fmt::print("{} passed, {} failed\n", passed, failed);
          std::fflush(stdout);
          finish_run(130);
          std::_Exit(130);
        }
      }
    }
    // The file's threads must end too: a thread a test started and never
    // joined gets the same --timeout, then it is interrupted.
    dog.arm(&t, topts.timeout_s);
    try {
      s.finish();
    } catch (SysExit&) {
    }
    if (dog.disarm()) {
      fmt::print("FAIL {} (threads still running {} s after its last test; interrupted)\n", file, topts.timeout_s);
      ++failed;
      suite.cases.push_back(CaseResult{"<threads>", 0, true, false, 1, "TimeoutError",
                                       "threads still running after the last test", ""});
      for (Thread* other : s.interp().threads)
        if (other != &t) other->interrupt(kBreakTimeout);
      try {
        t.check_interrupts();
      } catch (NativeError&) {
      }
      try {
        s.finish();
      } catch (SysExit&) {
      }
    }
    s.print_reports();
    suites.push_back(std::move(suite));
  }
  fmt::print("{} passed, {} failed\n", passed, failed);
  std::fflush(stdout);
  if (passed + failed == 0) {
    if (!missing.empty())
      fmt::print(stderr, "weft test: no tests ran: no such file or directory: {}\n", missing.front());
    else if (files.empty())
      fmt::print(stderr, "weft test: no tests ran: no *_test.weft files under {}\n", fmt::join(topts.paths, ", "));
    else if (!topts.filter.empty() && !any_selected)
      fmt::print(stderr, "weft test: no tests ran: no test matches --filter '{}'\n", topts.filter);
    else
      fmt::print(stderr, "weft test: no tests ran: the files have no top-level fn test_* functions\n");
    return finish_run(5);
  }
  return finish_run(failed == 0 && missing.empty() ? 0 : 1);
}

}  // namespace weft
