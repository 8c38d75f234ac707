// The `weft` command line (SPEC §1): option parsing, sessions, exit reports.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/interp.hpp"

namespace weft {

// Options that apply to every way of running code.
struct RuntimeOptions {
  double switch_interval_ms = 5.0;
  GilPolicy policy = GilPolicy::Responsive;
  bool gil_stats = false;
  bool gil_timeline = false;
  std::string gil_trace;  // path, or empty
  bool gil_off = false;   // --gil=off (refused while free threading does not exist)
  std::string gil_html;   // path, or empty (--gil-html)
  DebugOptions debug;
  std::size_t heap_limit_mb = 0;  // 0: no limit
};

// An interpreter with its main thread registered and holding the GIL, the
// builtins and modules installed, and Ctrl-C routed to the main thread.
class Session {
 public:
  explicit Session(const RuntimeOptions& opts, std::vector<std::string> args = {});
  ~Session();
  Interp& interp() { return *interp_; }
  Thread& main() { return *main_; }

  // Creates a module for `display`/`path` with `source`, registered for
  // import caching and error reports.
  ObjModule* new_module(const std::string& path, const std::string& display, const std::string& source);

  // Runs a whole script: load, run, at-exit hooks. Returns the exit status
  // (0, 1 for errors, sys.exit's value); prints errors to stderr. A Ctrl-C
  // that nobody caught ends the process with status 130 right away.
  int run_script(const std::string& path, const std::string& display, const std::string& source);

  // Runs the at-exit hooks (wait for threads, drain job queues); returns
  // false if an error (or Ctrl-C) ended them.
  void finish();

  // Prints the --gil-stats/--gil-timeline/--gil-trace reports.
  void print_reports();

  // Reports an uncaught error escaping call_value (ScriptThrow, NativeError)
  // the way SPEC §5 shows; returns 1, or ends the process with 130 for a
  // KeyboardInterrupt.
  int report_uncaught(Value error);

 private:
  RuntimeOptions opts_;
  std::unique_ptr<Interp> interp_;
  Thread* main_ = nullptr;
};

// Entry point of the `weft` binary.
int weft_main(int argc, char** argv);

// What `weft test` was asked to do (SPEC §9 and issue 20).
struct TestOptions {
  std::vector<std::string> paths;  // files and directories, as given
  std::string filter;              // substring of "file::test_name"
  double timeout_s = 60;           // per test run; 0: none
  int repeat = 1;                  // runs of every selected test
  int retries = 0;                 // extra runs of a failed test
  std::string junit;               // JUnit XML file, or empty
  std::string trace_failed;        // directory for failing tests' GIL traces, or empty
};

// `weft test PATH... [OPTIONS]` (SPEC §9). Returns the exit status: 0 all
// passed, 1 something failed, 5 no test ran.
int run_tests(const RuntimeOptions& opts, const TestOptions& topts);

// The interactive REPL (SPEC §10).
int run_repl(const RuntimeOptions& opts);

}  // namespace weft
