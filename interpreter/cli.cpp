#include "cli.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "builtins.hpp"
#include "runtime/cli_options.hpp"
#include "compiler.hpp"
#include "loader.hpp"
#include "runtime/natives.hpp"
#include "stdlib/console.hpp"
#include "stdlib/modules.hpp"
#include "stdlib/durable.hpp"
#include "stdlib/sys_exit.hpp"
#include "vm.hpp"

namespace weft {

// ------------------------------------------------------------------ Ctrl-C

// SIGINT is blocked in every thread and received by one watcher thread with
// sigwait, which can then safely wake the main thread from any wait
// (Thread::interrupt). A second Ctrl-C while the first is still pending ends
// the process at once, in case the program is stuck somewhere that never
// checks.
static std::mutex g_sig_mu;
static Thread* g_main_thread = nullptr;

// REPL hook (repl.cpp): while the REPL waits for input it stores the write
// end of a pipe here; Ctrl-C then writes a byte to it (cancel the line)
// instead of interrupting the main thread. -1 otherwise.
std::atomic<int> g_prompt_wakeup_fd{-1};

static void start_signal_watcher() {
  static std::once_flag once;
  std::call_once(once, [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set] {
      for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (int fd = g_prompt_wakeup_fd.load(); fd >= 0) {  // REPL prompt: cancel the line
          char c = 1;
          (void)!write(fd, &c, 1);
          continue;
        }
        std::lock_guard<std::mutex> lk(g_sig_mu);
        if (!g_main_thread) {
          std::fputs("KeyboardInterrupt\n", stderr);
          std::_Exit(130);
        }
        if (g_main_thread->gil.breaker.load() & kBreakInterrupt) {
          std::fflush(stdout);
          std::fputs("\nKeyboardInterrupt\n", stderr);
          std::_Exit(130);
        }
        g_main_thread->interrupt(kBreakInterrupt);
      }
    }).detach();
  });
}

// ----------------------------------------------------------------- session

Session::Session(const RuntimeOptions& opts, std::vector<std::string> args)
    : opts_(opts), interp_(std::make_unique<Interp>()) {
  start_signal_watcher();
  Interp& in = *interp_;
  in.debug = opts.debug;
#ifdef WEFT_GC_STRESS
  in.debug.gc_stress = true;
#endif
  if (const char* s = std::getenv("WEFT_GC_STRESS"); s && *s && *s != '0') in.debug.gc_stress = true;
  in.heap.set_stress(in.debug.gc_stress);
  if (opts.heap_limit_mb) {
    in.heap.set_limit(opts.heap_limit_mb << 20);
  } else {
    // By default a runaway program gets a MemoryError at a quarter of the
    // machine's memory (the heap counts objects, not every byte malloc
    // uses), instead of being killed by the kernel's OOM killer.
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) in.heap.set_limit(static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) / 4);
  }
  in.argv = std::move(args);
  in.gil.set_interval_ns(static_cast<std::uint64_t>(opts.switch_interval_ms * 1e6));
  in.gil.set_policy(opts.policy);
  main_ = new Thread(in, in.next_thread_id++, "main");
  in.gil.register_thread(main_->gil);
  in.gil.acquire(main_->gil);
  in.threads.push_back(main_);
  in.main_thread = main_;
  register_builtins(in);
  register_all_modules(in);
  std::lock_guard<std::mutex> lk(g_sig_mu);
  g_main_thread = main_;
}

Session::~Session() {
  {
    std::lock_guard<std::mutex> lk(g_sig_mu);
    g_main_thread = nullptr;
  }
  Interp& in = *interp_;
  if (in.gil.held_by(main_->gil)) in.gil.release(main_->gil);
  in.gil.unregister_thread(main_->gil);
  in.threads.clear();
  delete main_;
  interp_.reset();
}

ObjModule* Session::new_module(const std::string& path, const std::string& display, const std::string& source) {
  ObjModule* m = interp_->heap.make<ObjModule>();
  m->path = path;
  m->display = display;
  m->source = source;
  std::string key = path.empty() ? "<" + display + ">" : path;
  interp_->modules[key] = m;
  return m;
}

static bool is_keyboard_interrupt(Value v) {
  return is_obj_type(v, ObjType::Error) && as<ObjError>(v)->type_name->view() == "KeyboardInterrupt";
}

int Session::report_uncaught(Value error) {
  std::fflush(stdout);
  if (is_keyboard_interrupt(error)) {
    std::fputs("KeyboardInterrupt\n", stderr);
    // The exit reports and the trace cover the run up to the interrupt
    // (SPEC §1): they are what one looks at after stopping a stuck run.
    print_reports();
    std::fflush(stderr);
    std::_Exit(130);
  }
  std::string msg = format_uncaught(*interp_, error, main_->last_throw);
  std::fputs(msg.c_str(), stderr);
  return 1;
}

void Session::finish() {
  Thread& t = *main_;
  for (auto hook : interp_->at_exit) {
    for (;;) {
      try {
        hook(t);
        break;
      } catch (NativeError& e) {
        Value v = make_thrown_error(t, e.type, e.message);
        t.pending = Value();
        if (is_keyboard_interrupt(v)) report_uncaught(v);
        break;
      } catch (ScriptThrow&) {
        Value v = t.pending;
        t.pending = Value();
        if (is_keyboard_interrupt(v)) report_uncaught(v);
        break;
      }
    }
  }
  console_flush_at_exit();
}

void Session::print_reports() {
  Gil& gil = interp_->gil;
  if (opts_.gil_stats) std::fputs(gil.stats_table().c_str(), stderr);
  if (opts_.gil_timeline) std::fputs(gil.timeline(0).c_str(), stderr);
  if (!opts_.gil_trace.empty()) {
    std::string err;
    if (!gil.write_trace(opts_.gil_trace, err))
      fmt::print(stderr, "weft: cannot write trace '{}': {}\n", opts_.gil_trace, err);
    else
      fmt::print(stderr, "weft: GIL trace written to {} (open it in https://ui.perfetto.dev)\n", opts_.gil_trace);
  }
  if (!opts_.gil_html.empty()) {
    std::string err;
    if (!gil.write_html(opts_.gil_html, err))
      fmt::print(stderr, "weft: cannot write GIL page '{}': {}\n", opts_.gil_html, err);
    else
      fmt::print(stderr, "weft: GIL timeline page written to {} (open it in a browser)\n", opts_.gil_html);
  }
}

int Session::run_script(const std::string& path, const std::string& display, const std::string& source) {
  Thread& t = *main_;
  ObjModule* m = new_module(path, display, source);
  std::string report;
  ObjClosure* cl = load_source(t, m, source, CompileOptions{}, report);
  if (!cl) {
    std::fputs(report.c_str(), stderr);
    return 1;
  }
  int status = 0;
  try {
    Value result, error;
    if (!guarded_call(t, Value::object(cl), nullptr, 0, result, error)) status = report_uncaught(error);
  } catch (SysExit& e) {
    status = e.code;
  }
  try {
    finish();
  } catch (SysExit& e) {
    status = e.code;
  }
  return status;
}

// --------------------------------------------------------------------- CLI

static const char* kUsage =
    "usage: weft [OPTIONS] FILE.weft [ARGS...]   run a script\n"
    "       weft [OPTIONS] -e 'CODE' [ARGS...]   run CODE\n"
    "       weft [OPTIONS] -                     run standard input\n"
    "       weft                                 start the REPL (when stdin is a terminal)\n"
    "       weft test [OPTIONS] [PATH...]        run *_test.weft files (default: tests/)\n"
    "       weft dis FILE.weft                   show the bytecode of a script\n"
    "       weft mock-api [OPTIONS]              serve a fake external API on 127.0.0.1\n"
    "       weft worker TASKS.weft --store URL [OPTIONS]   run durable jobs (docs/jobs.md)\n"
    "       weft --version | --help              (every sub-command takes --help too)\n";

static const char* kAbout =
    "Weft — a small scripting language with a real global interpreter lock (GIL).";

static const char* kExamples =
    "Examples:\n"
    "  weft -e 'print(1 + 2)'                              # 3\n"
    "  weft scripts/cpu_bound_threads.weft                 # why CPU-bound threads don't scale\n"
    "  weft --gil-timeline scripts/io_bound_threads.weft   # see sleeping threads overlap\n"
    "  weft --gil-policy classic scripts/convoy.weft       # the convoy effect\n"
    "  weft test tests/                                    # run the test scripts\n"
    "\n"
    "Docs: docs/language.md, docs/gil.md, docs/jobs.md, docs/cli.md, docs/testing.md\n";

// The runtime options (SPEC §1), shared by running a script and `weft test`.
static void add_runtime_options(OptionParser& p, RuntimeOptions& o) {
  p.option("--switch-interval", "MS",
           "how long a waiting thread lets the holder run before asking it to drop the GIL (default 5)",
           [&o](const std::string& v) {
             o.switch_interval_ms = parse_number_option("--switch-interval", v, 1e-6, 60000, "milliseconds, e.g. 5 or 0.5");
           });
  p.option("--gil-policy", "POLICY",
           "'responsive' (default): a thread back from I/O gets the lock promptly; 'classic': CPython 3.2+",
           [&o](const std::string& v) {
             if (v == "classic") o.policy = GilPolicy::Classic;
             else if (v == "responsive") o.policy = GilPolicy::Responsive;
             else throw UsageError{fmt::format("unknown --gil-policy '{}' (use classic or responsive)", v)};
           });
  p.option("--gil", "on|off", "the GIL (default) or free-threaded mode", [&o](const std::string& v) {
    if (v == "on") o.gil_off = false;
    else if (v == "off") throw UsageError{"--gil=off: free-threaded mode is not available in this build"};
    else throw UsageError{fmt::format("bad --gil '{}' (use on or off)", v)};
  });
  p.flag("--gil-stats", "print a per-thread contention table to stderr at exit", [&o] { o.gil_stats = true; });
  p.flag("--gil-timeline", "draw who held the GIL over time, at exit (stderr)", [&o] { o.gil_timeline = true; });
  p.option("--gil-trace", "FILE.json", "write a trace to open in https://ui.perfetto.dev", [&o](const std::string& v) {
    if (v.empty()) throw UsageError{"--gil-trace needs a file name: --gil-trace trace.json"};
    o.gil_trace = v;
  });
  p.option("--gil-html", "FILE.html", "write an interactive timeline page (opens offline, in any browser)",
           [&o](const std::string& v) {
             if (v.empty()) throw UsageError{"--gil-html needs a file name: --gil-html gil.html"};
             o.gil_html = v;
           });
  p.flag("--trace-exec", "print every instruction as it runs", [&o] { o.debug.trace_execution = true; });
  p.flag("--print-code", "print the bytecode of each compiled function", [&o] { o.debug.print_code = true; });
  p.flag("--gc-stress", "collect garbage at every safe point", [&o] { o.debug.gc_stress = true; });
  p.option("--heap-limit", "MB", "raise MemoryError past MB megabytes of heap", [&o](const std::string& v) {
    o.heap_limit_mb = static_cast<std::size_t>(parse_number_option("--heap-limit", v, 1, 1e9, "megabytes"));
  });
}

// A one-line usage error (exit 2), for problems with a path.
[[noreturn]] static void path_error(const std::string& msg) {
  std::fflush(stdout);
  fmt::print(stderr, "weft: {}\n", msg);
  std::exit(2);
}

// A script path must name a readable text file (SPEC §1): directories and
// binary files (a NUL byte in the first KiB) are usage errors.
static std::string read_script(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    path_error(fmt::format("'{}' is a directory, not a script", path));
  std::string source, err;
  if (!read_file(path, source, err)) path_error(fmt::format("cannot open '{}': {}", path, err));
  if (source.find('\0') < 1024) path_error(fmt::format("'{}' is not a text file (it contains NUL bytes)", path));
  return source;
}

// --gil-trace is checked before the script runs (SPEC §1), so a long run
// does not end with "cannot write trace". A file created by the check is
// removed again; the trace is written at exit.
static void check_trace_path(const std::string& path, const char* what = "trace") {
  if (path.empty()) return;
  struct stat st{};
  bool existed = ::stat(path.c_str(), &st) == 0;
  if (existed && S_ISDIR(st.st_mode)) path_error(fmt::format("cannot write {} '{}': it is a directory", what, path));
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (!f) path_error(fmt::format("cannot write {} '{}': {}", what, path, std::strerror(errno)));
  std::fclose(f);
  if (!existed) std::remove(path.c_str());
}

static int run_source(const RuntimeOptions& opts, const std::string& path, const std::string& display,
                      const std::string& source, std::vector<std::string> args) {
  check_trace_path(opts.gil_trace);
  check_trace_path(opts.gil_html, "GIL page");
  int status;
  {
    Session s(opts, std::move(args));
    status = s.run_script(path, display, source);
    s.print_reports();
    // Output that never reached stdout (a full disk, a closed pipe) is an
    // error the user must hear about, not a silent exit 0.
    if (!console_flush_at_exit() && status == 0) status = 1;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // Every thread has ended and every queue has drained: freeing the heap
    // object by object would only delay the exit (by a lot, for big heaps).
    // Sanitizer builds do tear down, so leaks still show up there.
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(status);
#endif
  }
  return status;
}

static int dis_command(const std::vector<std::string>& args, std::size_t from) {
  OptionParser p("weft dis", "usage: weft dis FILE.weft",
                 "Compiles a script without running it and prints its bytecode, function by function.\n"
                 "Exit status: 0, 1 for a syntax error, 2 for bad usage.");
  std::vector<std::string> rest;
  try {
    rest = p.parse(args, from, false);
  } catch (const UsageError& e) {
    return p.report(e);
  }
  if (p.help_requested()) return 0;
  if (rest.size() != 1) return p.report(UsageError{"needs exactly one file: weft dis FILE.weft"});
  std::string source = read_script(rest[0]);
  RuntimeOptions opts;
  Session s(opts);
  ObjModule* m = s.new_module(rest[0], rest[0], source);
  std::string report;
  ObjClosure* cl = load_source(s.main(), m, source, CompileOptions{}, report);
  if (!cl) {
    std::fputs(report.c_str(), stderr);
    return 1;
  }
  std::fputs(disassemble(cl->proto).c_str(), stdout);
  return 0;
}

static int test_command(RuntimeOptions opts, const std::vector<std::string>& args, std::size_t from) {
  TestOptions t;
  OptionParser p("weft test", "usage: weft test [OPTIONS] [PATH...]",
                 "Runs every top-level fn test_* of every *_test.weft file under the PATHs (default: tests/),\n"
                 "one fresh interpreter per file. Exit status: 0 all passed, 1 a test failed, 2 bad usage,\n"
                 "5 no test ran. See docs/testing.md.");
  p.option("--filter", "TEXT", "run only the tests whose 'file::test_name' contains TEXT",
           [&t](const std::string& v) { t.filter = v; });
  p.option("--timeout", "S", "fail a test that runs longer than S seconds (default 60; 0: no limit)",
           [&t](const std::string& v) { t.timeout_s = parse_number_option("--timeout", v, 0, 1e7, "seconds"); });
  p.option("--repeat", "N", "run every selected test N times", [&t](const std::string& v) {
    t.repeat = static_cast<int>(parse_number_option("--repeat", v, 1, 1e6, "a count from 1"));
  });
  p.option("--retries", "N", "re-run a failed test up to N times; FLAKY (counted as passed) if a rerun passes",
           [&t](const std::string& v) {
             t.retries = static_cast<int>(parse_number_option("--retries", v, 0, 1000, "a count from 0"));
           });
  p.option("--junit", "FILE", "write a JUnit XML report (for CI)", [&t](const std::string& v) {
    if (v.empty()) throw UsageError{"--junit needs a file name"};
    t.junit = v;
  });
  p.option("--trace-failed", "DIR", "write a Perfetto trace of each failing test's GIL activity into DIR",
           [&t](const std::string& v) {
             if (v.empty()) throw UsageError{"--trace-failed needs a directory"};
             t.trace_failed = v;
           });
  add_runtime_options(p, opts);
  try {
    t.paths = p.parse(args, from, false);
  } catch (const UsageError& e) {
    return p.report(e);
  }
  if (p.help_requested()) return 0;
  if (t.paths.empty()) t.paths.push_back("tests/");
  check_trace_path(opts.gil_trace);
  check_trace_path(opts.gil_html, "GIL page");
  check_trace_path(t.junit, "--junit file");
  return run_tests(opts, t);
}

int weft_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  RuntimeOptions opts;
  bool version = false;
  std::string code;
  bool have_code = false;
  OptionParser p("weft", kUsage, kAbout);
  add_runtime_options(p, opts);
  p.flag("--version", "print the version and exit", [&version] { version = true; });
  p.alias("-V", "--version");
  p.epilog(kExamples);
  p.option("-e", "CODE", "run CODE (the arguments after it go to sys.args)", [&](const std::string& v) {
    code = v;
    have_code = true;
  }, true);
  std::vector<std::string> rest;
  try {
    rest = p.parse(args, 0, true);
  } catch (const UsageError& e) {
    return p.report(e);
  }
  if (p.help_requested()) return 0;
  if (version) {
    fmt::print("weft {}\n", WEFT_VERSION);
    return 0;
  }
  if (have_code) return run_source(opts, "", "<string>", code, rest);
  if (rest.empty()) {
    check_trace_path(opts.gil_trace);
    check_trace_path(opts.gil_html, "GIL page");
    if (isatty(0)) return run_repl(opts);
    std::string source((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return run_source(opts, "", "<stdin>", source, {});
  }
  const std::string& what = rest[0];
  std::size_t at = static_cast<std::size_t>(argc) - rest.size();  // argv index of `what`
  if (what == "test") return test_command(opts, rest, 1);
  if (what == "dis") return dis_command(rest, 1);
  if (what == "mock-api") return mock_api_main(argc - static_cast<int>(at), argv + at);
  if (what == "worker") return worker_main(argc - static_cast<int>(at), argv + at);
  if (what == "-") {
    std::string source((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return run_source(opts, "", "<stdin>", source, {rest.begin() + 1, rest.end()});
  }
  std::string source = read_script(what);
  return run_source(opts, what, what, source, {rest.begin() + 1, rest.end()});
}

}  // namespace weft
