// gil (SPEC §7.4): the switch interval, the policy, statistics and the
// timeline, from scripts.
#include <time.h>

#include "gil_measure.hpp"
#include "modules.hpp"
#include "runtime/natives.hpp"
#include "thread.hpp"

namespace weft {

namespace {

Value switch_interval(Thread& t, Args) {
  return Value::number(static_cast<double>(t.interp.gil.interval_ns()) / 1e9);
}

Value set_switch_interval(Thread& t, Args a) {
  double s = arg_number(a, 0, "set_switch_interval");
  if (!(s > 0) || s > 60) raise("ValueError", "switch interval must be between 0 and 60 seconds");
  t.interp.gil.set_interval_ns(static_cast<std::uint64_t>(s * 1e9));
  return Value();
}

Value policy(Thread& t, Args) { return str_value(t, policy_name(t.interp.gil.policy())); }

Value set_policy(Thread& t, Args a) {
  std::string_view p = arg_str(a, 0, "set_policy");
  if (p == "classic")
    t.interp.gil.set_policy(GilPolicy::Classic);
  else if (p == "responsive")
    t.interp.gil.set_policy(GilPolicy::Responsive);
  else
    raisef("ValueError", "unknown GIL policy '{}' (use \"classic\" or \"responsive\")", p);
  return Value();
}

Value stats(Thread& t, Args) {
  GilStats s = t.interp.gil.stats();
  ObjMap* m = new_map(t);
  auto num = [](std::uint64_t v) { return Value::integer(static_cast<std::int64_t>(v)); };
  auto secs = [](std::uint64_t ns) { return Value::number(static_cast<double>(ns) / 1e9); };
  map_put(t, m, "switches", num(s.switches));
  map_put(t, m, "forced", num(s.forced));
  map_put(t, m, "io_releases", num(s.io_releases));
  map_put(t, m, "acquisitions", num(s.acquisitions));
  map_put(t, m, "contended", num(s.contended));
  map_put(t, m, "wait_s", secs(s.wait_ns));
  map_put(t, m, "hold_s", secs(s.hold_ns));
  map_put(t, m, "interval", Value::number(s.interval_s));
  map_put(t, m, "policy", str_value(t, policy_name(s.policy)));
  map_put(t, m, "wake_p50_s", secs(s.wake_p50_ns));
  map_put(t, m, "wake_p99_s", secs(s.wake_p99_ns));
  map_put(t, m, "wake_max_s", secs(s.wake_max_ns));
  // Handoffs to another thread by cause (SPEC §8.7).
  auto causes_map = [&](const std::uint64_t* h) {
    ObjMap* cm = new_map(t);
    for (std::size_t c = 1; c < kGilCauses; ++c)
      map_put(t, cm, cause_name(static_cast<GilCause>(c)), num(h[c]));
    return Value::object(cm);
  };
  std::uint64_t gave[kGilCauses] = {};
  for (const GilThreadStats& ts : s.threads)
    for (std::size_t c = 0; c < kGilCauses; ++c) gave[c] += ts.handoffs[c];
  map_put(t, m, "handoffs", causes_map(gave));
  ObjList* threads = new_list(t);
  for (const GilThreadStats& ts : s.threads) {
    ObjMap* tm = new_map(t);
    map_put(t, tm, "id", Value::integer(ts.id));
    map_put(t, tm, "name", str_value(t, ts.name));
    map_put(t, tm, "acquisitions", num(ts.acquisitions));
    map_put(t, tm, "contended", num(ts.contended));
    map_put(t, tm, "wait_s", secs(ts.wait_ns));
    map_put(t, tm, "hold_s", secs(ts.hold_ns));
    map_put(t, tm, "forced", num(ts.forced));
    map_put(t, tm, "io_releases", num(ts.io_releases));
    map_put(t, tm, "max_wait_s", secs(ts.max_wait_ns));
    map_put(t, tm, "alive", Value::boolean(ts.alive));
    map_put(t, tm, "wake_p50_s", secs(ts.wake_p50_ns));
    map_put(t, tm, "wake_p99_s", secs(ts.wake_p99_ns));
    map_put(t, tm, "wake_max_s", secs(ts.wake_max_ns));
    map_put(t, tm, "wakes", num(ts.wake_count));
    map_put(t, tm, "handoffs", causes_map(ts.handoffs));
    threads->items.push_back(Value::object(tm));
  }
  map_put(t, m, "threads", Value::object(threads));
  return Value::object(m);
}

Value reset_stats(Thread& t, Args) {
  t.interp.gil.reset_stats();
  return Value();
}

Value timeline(Thread& t, Args a) {
  std::int64_t width = a.n > 0 && !a[0].is_nil() ? arg_int(a, 0, "timeline") : 0;
  if (width < 0 || width > 1000) raise("ValueError", "timeline() width must be between 0 and 1000");
  return str_value(t, t.interp.gil.timeline(static_cast<int>(width)));
}

Value stats_table(Thread& t, Args) { return str_value(t, t.interp.gil.stats_table()); }

Value mode(Thread& t, Args) { return str_value(t, "gil"); }

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// gil.measure(fn, ...args): calls fn(...args) and reports what the GIL did
// during exactly that call, for the calling thread and every thread the call
// started (directly or not). It compares two snapshots of the whole-run
// statistics, so it never resets gil.stats(), nests, and works from any
// thread. `switches` counts every ownership change in the interpreter during
// the call and `cpu_s` the whole process's CPU time: neither can be split by
// thread. wake_p50_s / wake_p99_s are nil: the GIL does not record
// wake-to-run latency per window.
Value measure(Thread& t, Args a) {
  Interp& in = t.interp;
  Value fn = a[0];
  if (!is_obj_type(fn, ObjType::Closure) && !is_obj_type(fn, ObjType::Native))
    raisef("TypeError", "measure() argument 1 must be a function, not {}", type_name(fn));
  // The clocks are read outside the two snapshots, so the wall time spans
  // every hold the snapshots count (hold_s <= wall_s holds exactly even
  // when the OS preempts this thread between the readings).
  double cpu0 = process_cpu_s();
  std::uint64_t w0 = now_ns();
  GilStats before = in.gil.total_stats();
  int first_new = in.next_thread_id.load();
  Value result = call_value(t, fn, a.v + 1, a.n - 1);
  GilStats after = in.gil.total_stats();
  std::uint64_t w1 = now_ns();
  double cpu1 = process_cpu_s();
  int me = t.id();
  GilWindow w = gil_window(before, after, [&](int id) {
    return id == me || (id >= first_new && thread_descends_from(in, id, me));
  });
  ObjMap* m = new_map(t);
  auto num = [](std::uint64_t v) { return Value::integer(static_cast<std::int64_t>(v)); };
  auto secs = [](std::uint64_t ns) { return Value::number(static_cast<double>(ns) / 1e9); };
  map_put(t, m, "result", result);
  map_put(t, m, "wall_s", secs(w1 - w0));
  map_put(t, m, "cpu_s", Value::number(cpu1 - cpu0));
  map_put(t, m, "switches", num(w.switches));
  map_put(t, m, "forced", num(w.forced));
  map_put(t, m, "io_releases", num(w.io_releases));
  map_put(t, m, "acquisitions", num(w.acquisitions));
  map_put(t, m, "contended", num(w.contended));
  map_put(t, m, "wait_s", secs(w.wait_ns));
  map_put(t, m, "hold_s", secs(w.hold_ns));
  // nil when no blocking call of the window's threads ended in it.
  auto wake = [&](std::uint64_t count, std::uint64_t ns) { return count ? secs(ns) : Value(); };
  map_put(t, m, "wake_count", num(w.wake_count));
  map_put(t, m, "wake_p50_s", wake(w.wake_count, w.wake_p50_ns));
  map_put(t, m, "wake_p99_s", wake(w.wake_count, w.wake_p99_ns));
  ObjList* threads = new_list(t);
  for (const GilThreadStats& ts : w.threads) {
    ObjMap* tm = new_map(t);
    map_put(t, tm, "id", Value::integer(ts.id));
    map_put(t, tm, "name", str_value(t, ts.name));
    map_put(t, tm, "acquisitions", num(ts.acquisitions));
    map_put(t, tm, "contended", num(ts.contended));
    map_put(t, tm, "wait_s", secs(ts.wait_ns));
    map_put(t, tm, "hold_s", secs(ts.hold_ns));
    map_put(t, tm, "forced", num(ts.forced));
    map_put(t, tm, "io_releases", num(ts.io_releases));
    map_put(t, tm, "wake_p50_s", wake(ts.wake_count, ts.wake_p50_ns));
    map_put(t, tm, "wake_p99_s", wake(ts.wake_count, ts.wake_p99_ns));
    threads->items.push_back(Value::object(tm));
  }
  map_put(t, m, "threads", Value::object(threads));
  return Value::object(m);
}

}  // namespace

void register_gil(Interp& in) {
  auto* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, NativeFn fn, int mn, int mx) {
    m->set(Value::object(in.heap.intern(name)), in.native(name, fn, mn, mx));
  };
  put("switch_interval", switch_interval, 0, 0);
  put("set_switch_interval", set_switch_interval, 1, 1);
  put("policy", policy, 0, 0);
  put("set_policy", set_policy, 1, 1);
  put("stats", stats, 0, 0);
  put("reset_stats", reset_stats, 0, 0);
  put("timeline", timeline, 0, 1);
  put("stats_table", stats_table, 0, 0);
  put("measure", measure, 1, -1);
  put("mode", mode, 0, 0);
  in.add_builtin("gil", Value::object(m));
}

}  // namespace weft
