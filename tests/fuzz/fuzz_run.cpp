// libFuzzer target: compile and RUN small programs, with every resource
// bounded without touching the VM:
//   * time: a watchdog thread stops the program after ~50 ms of wall time.
//     It sets the main thread's TimeoutError bit (wakes any blocking wait)
//     and the collector bit; at the next safe point the VM collects, and a
//     root callback of this harness throws SysExit — which no `catch` in the
//     script can stop — so even `while true { try { ... } catch e {} }` ends.
//   * memory: the heap limit (Heap::set_limit, as --heap-limit) is 64 MiB.
//   * recursion: the VM's own 10,000-frame limit (RecursionError).
//   * threads, processes, files, network: the `thread`, `jobs`, `http` and
//     `io` modules, `input` and `import` are removed from the builtins, so a
//     program can neither spawn threads, wait for stdin, nor touch the file
//     system or the network.
// Each input gets a fresh interpreter (Session).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "fuzz_common.hpp"

using namespace weft;

namespace {

constexpr auto kBudget = std::chrono::milliseconds(50);
std::atomic<bool> g_stop{false};

struct Watchdog {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread th;

  explicit Watchdog(Thread& main) {
    th = std::thread([this, &main] {
      std::unique_lock<std::mutex> lk(mu);
      if (cv.wait_for(lk, kBudget, [this] { return finished; })) return;
      g_stop.store(true);
      // Keep poking until the run is over (a script may be inside a native
      // that only checks its stop token, or in a catch-all loop).
      while (!finished) {
        main.interrupt(kBreakTimeout);
        main.gil.breaker.fetch_or(kBreakGc, std::memory_order_relaxed);
        cv.wait_for(lk, std::chrono::milliseconds(5), [this] { return finished; });
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lk(mu);
      finished = true;
    }
    cv.notify_all();
    th.join();
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  weft_fuzz::silence_stdout();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return -1;  // small programs only (reject: not added to the corpus)
  std::string source(reinterpret_cast<const char*>(data), size);
  RuntimeOptions opts;
  opts.heap_limit_mb = 64;
  Session s(opts);
  Interp& in = s.interp();
  Thread& t = s.main();
  for (const char* name : {"thread", "jobs", "http", "io", "input", "import"}) in.builtins.erase(name);
  g_stop.store(false);
  in.heap.add_root_callback([](Heap&) {
    if (g_stop.load()) throw SysExit{0};
  });
  ObjModule* m = s.new_module("", "fuzz.weft", source);
  std::string report;
  ObjClosure* cl = load_source(t, m, source, CompileOptions{}, report);
  if (!cl) {
    if (report.find("SyntaxError") == std::string::npos) std::abort();
    return 0;
  }
  {
    Watchdog dog(t);
    try {
      Value result, error;
      if (!guarded_call(t, Value::object(cl), nullptr, 0, result, error)) {
        // The uncaught-error report must be producible for any thrown value.
        std::string msg = format_uncaught(in, error, t.last_throw);
        if (msg.empty()) std::abort();
      }
    } catch (SysExit&) {
      // sys.exit() or the watchdog
    }
  }
  // The session (and its heap) goes away with everything the program made.
  return 0;
}
