// The time module (SPEC §7.5): now, monotonic, sleep, spin, thread_cpu.
//
// time.sleep releases the GIL and waits on a condition variable with the
// thread's stop token, so Ctrl-C and job timeouts wake it at once; its
// deadline is shortened to the job attempt's deadline (TimeoutError when
// that cut it short). time.spin keeps the GIL and does `s` seconds of work
// measured on the calling thread's CPU clock, honouring drop requests as
// bytecode does: a CPU-bound thread for contention demos.
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include <time.h>

#include "runtime/gil.hpp"
#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"
#include "stdlib/modules.hpp"

namespace weft {

namespace {

// Longest accepted duration (about 31 years): keeps ns arithmetic in range.
constexpr double kMaxSeconds = 1e9;

double duration_arg(Args a, const char* fn) {
  double s = arg_number(a, 0, fn);
  if (std::isnan(s)) raisef("ValueError", "{}() duration must be a number, not nan", fn);
  if (s < 0) raisef("ValueError", "{}() duration must be non-negative, not {}", fn, to_repr(a[0]));
  if (s > kMaxSeconds) raisef("OverflowError", "{}() duration too large", fn);
  return s;
}

Value time_now(Thread&, Args) {
  auto d = std::chrono::system_clock::now().time_since_epoch();
  return Value::number(std::chrono::duration<double>(d).count());
}

Value time_monotonic(Thread&, Args) { return Value::number(static_cast<double>(now_ns()) / 1e9); }

Value time_sleep(Thread& t, Args a) {
  double s = duration_arg(a, "sleep");
  std::uint64_t start = now_ns();
  std::uint64_t target = start + static_cast<std::uint64_t>(s * 1e9);
  std::uint64_t job_deadline = t.deadline_ns.load(std::memory_order_relaxed);
  bool cut = false;
  if (job_deadline != 0 && job_deadline < target) {
    target = job_deadline;
    cut = true;
  }
  std::stop_token token = t.wait_token();
  {
    BlockingRegion br(t.interp.gil, t.gil, "time.sleep");
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock<std::mutex> lk(mu);
    auto tp = std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(target)));
    // Returns on the deadline or at once when the token is stopped.
    cv.wait_until(lk, token, tp, [] { return false; });
  }
  t.check_interrupts();
  if (cut && now_ns() >= job_deadline) raise("TimeoutError", "time.sleep() cut short by the job deadline");
  return Value();
}

// CPU time of the calling thread, in nanoseconds.
std::uint64_t thread_cpu_ns() {
  struct timespec ts {};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

Value time_thread_cpu(Thread&, Args) { return Value::number(static_cast<double>(thread_cpu_ns()) / 1e9); }

// Counts the thread's own CPU time rather than a wall-clock deadline, so that
// N threads spinning under the GIL take N times as long, exactly like N
// counting loops (SPEC §7.5). Time spent waiting for the GIL after a forced
// switch is not CPU time: Gil::yield blocks on a condition variable.
Value time_spin(Thread& t, Args a) {
  double s = duration_arg(a, "spin");
  std::uint64_t budget = static_cast<std::uint64_t>(s * 1e9);
  std::uint64_t start = thread_cpu_ns();
  // Some real work per iteration so the loop looks like bytecode execution,
  // with a breaker check (drop requests, interrupts, GC) every time. Reading
  // the thread CPU clock is a system call, so it is read once per few µs of
  // work rather than once per check.
  volatile std::uint64_t sink = 0;
  std::uint64_t x = 88172645463325252ull;
  for (;;) {
    if (t.gil.breaker.load(std::memory_order_relaxed)) safe_point(t);
    for (int i = 0; i < 4096; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
    sink = x;
    if (thread_cpu_ns() - start >= budget) break;
  }
  (void)sink;
  return Value();
}

}  // namespace

void register_time(Interp& in) {
  ObjMap* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, Value v) { m->set(Value::object(in.heap.intern(name)), v); };
  put("now", in.native("now", time_now, 0, 0));
  put("monotonic", in.native("monotonic", time_monotonic, 0, 0));
  put("sleep", in.native("sleep", time_sleep, 1, 1));
  put("spin", in.native("spin", time_spin, 1, 1));
  put("thread_cpu", in.native("thread_cpu", time_thread_cpu, 0, 0));
  in.add_builtin("time", Value::object(m));
}

}  // namespace weft
