#include "cli.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "builtins.hpp"
#include "compiler.hpp"
#include "loader.hpp"
#include "runtime/natives.hpp"
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
  std::fflush(stdout);
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
    "       weft test [--filter S] [PATH...]     run *_test.weft files (default: tests/)\n"
    "       weft dis FILE.weft                   show the bytecode of a script\n"
    "       weft mock-api [--port P] [--latency MS] [--fail-rate F] [--seed S]\n"
    "                                            serve a fake external API on 127.0.0.1\n"
    "       weft worker TASKS.weft --store URL [--queue NAME] [--concurrency N] [--processes P] [--lease S]\n"
    "                                            run durable jobs (docs/jobs.md)\n"
    "       weft --version | --help\n";

static const char* kHelp =
    "Weft — a small scripting language with a real global interpreter lock (GIL).\n"
    "\n"
    "%s"
    "\n"
    "GIL options (before the script name):\n"
    "  --switch-interval=MS      how long a waiting thread lets the holder run before\n"
    "                            asking it to drop the GIL (default 5 ms)\n"
    "  --gil-policy=POLICY       'responsive' (default): a thread back from I/O gets the\n"
    "                            lock promptly; 'classic': CPython 3.2+ (convoy effect)\n"
    "  --gil-stats               print a per-thread contention table to stderr at exit\n"
    "  --gil-timeline            draw who held the GIL over time, at exit (stderr)\n"
    "  --gil-trace=FILE.json     write a trace to open in https://ui.perfetto.dev\n"
    "  --gil-html=FILE.html      write an interactive timeline page (opens offline)\n"
    "\n"
    "Debug options:\n"
    "  --trace-exec              print every instruction as it runs\n"
    "  --print-code              print the bytecode of each compiled function\n"
    "  --gc-stress               collect garbage at every safe point\n"
    "  --heap-limit=MB           raise MemoryError past MB megabytes of heap\n"
    "\n"
    "Examples:\n"
    "  weft -e 'print(1 + 2)'                              # 3\n"
    "  weft scripts/cpu_bound_threads.weft                 # why CPU-bound threads don't scale\n"
    "  weft --gil-timeline scripts/io_bound_threads.weft   # see sleeping threads overlap\n"
    "  weft --gil-policy=classic scripts/convoy.weft       # the convoy effect\n"
    "  weft test tests/                                    # run the test scripts\n"
    "\n"
    "Docs: docs/language.md, docs/gil.md, docs/jobs.md, docs/cli.md\n";

[[noreturn]] static void usage_error(const std::string& msg) {
  fmt::print(stderr, "weft: {}\n{}", msg, kUsage);
  std::exit(2);
}

// Parses one runtime option at argv[i]; returns false if it isn't one.
static bool parse_runtime_option(const std::string& arg, RuntimeOptions& o) {
  auto value_of = [&](const char* name) -> const char* {
    std::size_t n = std::strlen(name);
    if (arg.compare(0, n, name) == 0 && arg.size() > n && arg[n] == '=') return arg.c_str() + n + 1;
    return nullptr;
  };
  if (const char* v = value_of("--switch-interval")) {
    char* end = nullptr;
    double ms = std::strtod(v, &end);
    if (!*v || *end || !(ms > 0) || ms > 60000) usage_error(fmt::format("bad --switch-interval '{}' (milliseconds, e.g. 5 or 0.5)", v));
    o.switch_interval_ms = ms;
    return true;
  }
  if (const char* v = value_of("--gil-policy")) {
    std::string p = v;
    if (p == "classic") o.policy = GilPolicy::Classic;
    else if (p == "responsive") o.policy = GilPolicy::Responsive;
    else usage_error(fmt::format("unknown --gil-policy '{}' (use classic or responsive)", p));
    return true;
  }
  if (const char* v = value_of("--gil-trace")) {
    if (!*v) usage_error("--gil-trace needs a file name: --gil-trace=trace.json");
    o.gil_trace = v;
    return true;
  }
  if (const char* v = value_of("--gil-html")) {
    if (!*v) usage_error("--gil-html needs a file name: --gil-html=gil.html");
    o.gil_html = v;
    return true;
  }
  if (const char* v = value_of("--heap-limit")) {
    char* end = nullptr;
    long mb = std::strtol(v, &end, 10);
    if (!*v || *end || mb <= 0) usage_error(fmt::format("bad --heap-limit '{}' (megabytes)", v));
    o.heap_limit_mb = static_cast<std::size_t>(mb);
    return true;
  }
  if (arg == "--gil-stats") return o.gil_stats = true;
  if (arg == "--gil-timeline") return o.gil_timeline = true;
  if (arg == "--trace-exec") return o.debug.trace_execution = true;
  if (arg == "--print-code") return o.debug.print_code = true;
  if (arg == "--gc-stress") return o.debug.gc_stress = true;
  if (arg == "--switch-interval" || arg == "--gil-policy" || arg == "--gil-trace" || arg == "--gil-html" ||
      arg == "--heap-limit")
    usage_error(fmt::format("{} needs a value: {}=VALUE", arg, arg));
  return false;
}

static int run_source(const RuntimeOptions& opts, const std::string& path, const std::string& display,
                      const std::string& source, std::vector<std::string> args) {
  int status;
  {
    Session s(opts, std::move(args));
    status = s.run_script(path, display, source);
    s.print_reports();
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

static int dis_command(const std::vector<std::string>& rest) {
  if (rest.size() != 1) usage_error("dis needs exactly one file: weft dis FILE.weft");
  std::string source, err;
  if (!read_file(rest[0], source, err)) {
    fmt::print(stderr, "weft: cannot open '{}': {}\n", rest[0], err);
    return 1;
  }
  RuntimeOptions opts;
  Session s(opts);
  std::string display = rest[0].substr(rest[0].find_last_of('/') + 1);
  ObjModule* m = s.new_module(rest[0], display, source);
  std::string report;
  ObjClosure* cl = load_source(s.main(), m, source, CompileOptions{}, report);
  if (!cl) {
    std::fputs(report.c_str(), stderr);
    return 1;
  }
  std::fputs(disassemble(cl->proto).c_str(), stdout);
  return 0;
}

int weft_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  RuntimeOptions opts;
  std::size_t i = 0;
  // Runtime options may come before a subcommand too (`weft
  // --switch-interval=1 test tests/`).
  while (i < args.size() && args[i].size() > 2 && args[i].rfind("--", 0) == 0 && args[i] != "--help" &&
         args[i] != "--version" && parse_runtime_option(args[i], opts))
    ++i;
  if (i < args.size()) {
    const std::string& cmd = args[i];
    if (cmd == "--version" || cmd == "-V") {
      fmt::print("weft {}\n", WEFT_VERSION);
      return 0;
    }
    if (cmd == "--help" || cmd == "-h") {
      std::printf(kHelp, kUsage);
      return 0;
    }
    if (cmd == "mock-api") return mock_api_main(argc - static_cast<int>(i) - 1, argv + i + 1);
    if (cmd == "dis") return dis_command({args.begin() + static_cast<long>(i) + 1, args.end()});
    if (cmd == "worker") return worker_main(argc - static_cast<int>(i) - 1, argv + i + 1);
    if (cmd == "test") {
      std::vector<std::string> paths;
      std::string filter;
      for (std::size_t k = i + 1; k < args.size(); ++k) {
        if (args[k] == "--filter") {
          if (k + 1 >= args.size()) usage_error("--filter needs a value: weft test --filter NAME");
          filter = args[++k];
        } else if (args[k].rfind("--filter=", 0) == 0) {
          filter = args[k].substr(9);
        } else if (parse_runtime_option(args[k], opts)) {
        } else if (args[k].size() > 1 && args[k][0] == '-') {
          usage_error(fmt::format("unknown test option '{}'", args[k]));
        } else {
          paths.push_back(args[k]);
        }
      }
      if (paths.empty()) paths.push_back("tests/");
      return run_tests(opts, paths, filter);
    }
  }
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-" || a == "-e" || a.empty() || a[0] != '-') break;
    if (a == "--help" || a == "-h") {
      std::printf(kHelp, kUsage);
      return 0;
    }
    if (a == "--version") {
      fmt::print("weft {}\n", WEFT_VERSION);
      return 0;
    }
    if (!parse_runtime_option(a, opts)) usage_error(fmt::format("unknown option '{}'", a));
  }
  if (i >= args.size()) {
    if (isatty(0)) return run_repl(opts);
    std::string source((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return run_source(opts, "", "<stdin>", source, {});
  }
  const std::string& what = args[i];
  if (what == "-e") {
    if (i + 1 >= args.size()) usage_error("-e needs code: weft -e 'print(1 + 2)'");
    return run_source(opts, "", "<string>", args[i + 1], {args.begin() + static_cast<long>(i) + 2, args.end()});
  }
  if (what == "-") {
    std::string source((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return run_source(opts, "", "<stdin>", source, {args.begin() + static_cast<long>(i) + 1, args.end()});
  }
  std::string source, err;
  if (!read_file(what, source, err)) {
    fmt::print(stderr, "weft: cannot open '{}': {}\n", what, err);
    return 2;
  }
  std::string display = what.substr(what.find_last_of('/') + 1);
  return run_source(opts, what, display, source, {args.begin() + static_cast<long>(i) + 1, args.end()});
}

}  // namespace weft
