// Unit tests of the GIL (runtime/gil.cpp, runtime/gil_report.cpp).
//
// Interpreter threads are simulated by std::threads that "run bytecode" (a
// small busy loop) while holding the GIL and check their eval breaker every
// few hundred work units, like the VM does on backward jumps and calls.
// Every timing assertion uses generous ratios so that it holds on a loaded
// two-core machine and under sanitizers.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "runtime/gil.hpp"

using namespace weft;
using namespace std::chrono_literals;

namespace {

// About a microsecond of "bytecode" (more under sanitizers).
inline void work_units(int n) {
  static std::atomic<unsigned> sink{0};
  unsigned x = 0;
  for (int i = 0; i < n; ++i) x = x * 1664525u + 1013904223u;
  sink.fetch_add(x, std::memory_order_relaxed);
}

inline void check(Gil& gil, GilThread& t) {
  if (t.breaker.load(std::memory_order_relaxed) & kBreakDropRequest) gil.yield(t);
}

struct Sim {
  GilThread t;
  std::uint64_t progress = 0;  // written only while holding the GIL
  std::thread th;
  Sim(int id, std::string name) {
    t.id = id;
    t.name = std::move(name);
  }
};

// A CPU-bound simulated thread: holds the GIL and works until `stop`.
void cpu_bound(Gil& gil, Sim& s, const std::atomic<bool>& stop) {
  gil.register_thread(s.t);
  gil.acquire(s.t);
  while (!stop.load(std::memory_order_relaxed)) {
    work_units(500);
    ++s.progress;
    check(gil, s.t);
  }
  gil.release(s.t);
  gil.unregister_thread(s.t);
}

std::vector<std::unique_ptr<Sim>> start_cpu(Gil& gil, int n, const std::atomic<bool>& stop,
                                            int first_id = 2) {
  std::vector<std::unique_ptr<Sim>> v;
  for (int i = 0; i < n; ++i) {
    v.push_back(std::make_unique<Sim>(first_id + i, "cpu-" + std::to_string(i + 1)));
  }
  for (auto& s : v) {
    Sim* p = s.get();
    p->th = std::thread([&gil, p, &stop] { cpu_bound(gil, *p, stop); });
  }
  return v;
}

void join_all(std::vector<std::unique_ptr<Sim>>& v) {
  for (auto& s : v) s->th.join();
}

// Runs n CPU-bound threads for `d`; returns the Gil's total stats.
GilStats run_cpu_for(Gil& gil, int n, std::chrono::milliseconds d,
                     std::vector<std::uint64_t>* progress = nullptr) {
  std::atomic<bool> stop{false};
  auto sims = start_cpu(gil, n, stop);
  std::this_thread::sleep_for(d);
  stop = true;
  join_all(sims);
  if (progress != nullptr) {
    for (auto& s : sims) progress->push_back(s->progress);
  }
  return gil.total_stats();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// An I/O thread next to CPU-bound ones: blocks 1 ms, then measures the time
// from waking up to holding the GIL. Returns the latencies in ms.
std::vector<double> io_latencies(GilPolicy policy, int cpu_threads, int rounds) {
  Gil gil;
  gil.set_policy(policy);
  std::atomic<bool> stop{false};
  auto sims = start_cpu(gil, cpu_threads, stop);
  std::this_thread::sleep_for(20ms);
  GilThread io;
  io.id = 100;
  io.name = "io";
  gil.register_thread(io);
  gil.acquire(io);
  std::vector<double> lat;
  for (int i = 0; i < rounds; ++i) {
    gil.begin_blocking(io, "test.sleep");
    std::this_thread::sleep_for(1ms);
    auto woke = now_ns();
    gil.end_blocking(io);
    lat.push_back(static_cast<double>(now_ns() - woke) / 1e6);
    work_units(200);
    check(gil, io);
  }
  gil.release(io);
  gil.unregister_thread(io);
  stop = true;
  join_all(sims);
  return lat;
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("gil: uncontended acquire and release", "[gil]") {
  Gil gil;
  GilThread t;
  t.id = 1;
  t.name = "main";
  gil.register_thread(t);
  for (int i = 0; i < 1000; ++i) {
    gil.acquire(t);
    REQUIRE(gil.held_by(t));
    gil.release(t);
    REQUIRE_FALSE(gil.held_by(t));
  }
  GilStats s = gil.stats();
  REQUIRE(s.acquisitions == 1000);
  REQUIRE(s.contended == 0);
  REQUIRE(s.switches == 0);
  REQUIRE(s.threads.size() == 1);
  REQUIRE(s.threads[0].name == "main");
  REQUIRE(t.breaker.load() == 0);
  gil.unregister_thread(t);
}

TEST_CASE("gil: mutual exclusion and hold time bounded by wall time", "[gil]") {
  Gil gil;
  gil.set_interval_ns(1'000'000);
  constexpr int kThreads = 4;
  constexpr int kIters = 20000;
  std::uint64_t counter = 0;  // deliberately not atomic: protected by the GIL
  std::atomic<int> inside{0};
  std::atomic<bool> overlap{false};
  std::vector<std::unique_ptr<Sim>> sims;
  for (int i = 0; i < kThreads; ++i) sims.push_back(std::make_unique<Sim>(i + 2, "t" + std::to_string(i)));
  auto wall_start = now_ns();
  for (auto& sp : sims) {
    Sim* s = sp.get();
    s->th = std::thread([&, s] {
      gil.register_thread(s->t);
      gil.acquire(s->t);
      for (int i = 0; i < kIters; ++i) {
        if (inside.fetch_add(1) != 0) overlap = true;
        ++counter;
        work_units(20);
        inside.fetch_sub(1);
        if (i % 16 == 0) check(gil, s->t);
        if (i % 2000 == 1999) {
          gil.begin_blocking(s->t, "test.io");
          std::this_thread::yield();
          gil.end_blocking(s->t);
        }
      }
      gil.release(s->t);
      gil.unregister_thread(s->t);
    });
  }
  join_all(sims);
  auto wall = now_ns() - wall_start;
  REQUIRE_FALSE(overlap.load());
  REQUIRE(counter == std::uint64_t{kThreads} * kIters);
  GilStats s = gil.total_stats();
  std::uint64_t hold_sum = 0;
  for (const auto& t : s.threads) hold_sum += t.hold_ns;
  REQUIRE(hold_sum == s.hold_ns);
  REQUIRE(hold_sum <= wall);
  REQUIRE(s.threads.size() == kThreads);
  REQUIRE(s.io_releases == kThreads * (kIters / 2000));
}

TEST_CASE("gil: forced switching between CPU-bound threads", "[gil]") {
  Gil gil;
  std::vector<std::uint64_t> progress;
  GilStats s = run_cpu_for(gil, 2, 300ms, &progress);
  // On a heavily oversubscribed machine each switch costs a few scheduler
  // delays; give it more time rather than flake (normally ~60 in 0.3 s).
  for (int extra = 0; extra < 5 && s.forced <= 5; ++extra) s = run_cpu_for(gil, 2, 300ms, &progress);
  INFO("forced " << s.forced << " switches " << s.switches);
  REQUIRE(s.forced > 5);
  REQUIRE(s.switches >= s.forced / 2);
  REQUIRE(progress.size() >= 2);
  REQUIRE(progress[0] > 0);
  REQUIRE(progress[1] > 0);
  for (const auto& t : s.threads) {
    REQUIRE(t.forced > 0);
    REQUIRE(t.contended > 0);
    REQUIRE(t.max_wait_ns > 0);
    REQUIRE_FALSE(t.alive);
  }
}

TEST_CASE("gil: the switch interval changes the number of forced switches", "[gil]") {
  // Each switch also pays about three scheduler delays (waiter's timer
  // wake-up, holder back on a CPU, new holder's wake-up). On an idle machine
  // that is microseconds, but on an oversubscribed 2-core machine it reaches
  // 20-30 ms (measured at load 18: 1 ms interval -> ~10 switches in 0.3 s),
  // so compare 1 ms with 100 ms: (100 + D) / (1 + D) >= 3 for D up to ~48 ms.
  // Up to three attempts: one noisy-neighbour burst must not fail the test.
  std::uint64_t f = 0, s = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Gil fast, slow;
    fast.set_interval_ns(1'000'000);
    slow.set_interval_ns(100'000'000);
    REQUIRE(fast.interval_ns() == 1'000'000);
    REQUIRE(fast.total_stats().interval_s == Approx(0.001));
    f = run_cpu_for(fast, 2, 500ms).forced;
    s = run_cpu_for(slow, 2, 500ms).forced;
    if (f >= 3 * std::max<std::uint64_t>(s, 1)) break;
  }
  INFO("1 ms: " << f << " forced, 100 ms: " << s << " forced");
  REQUIRE(f >= 3 * std::max<std::uint64_t>(s, 1));
}

TEST_CASE("gil: blocking calls release the lock", "[gil]") {
  Gil gil;
  GilThread a, b;
  a.id = 1;
  a.name = "a";
  b.id = 2;
  b.name = "b";
  gil.register_thread(a);
  gil.register_thread(b);
  gil.acquire(a);
  std::promise<void> b_ran;
  std::atomic<bool> b_held{false};
  std::thread tb([&] {
    gil.acquire(b);  // waits until `a` blocks
    b_held = gil.held_by(b);
    b_ran.set_value();
    gil.release(b);
  });
  std::this_thread::sleep_for(10ms);
  {
    BlockingRegion region(gil, a, "test.wait");
    REQUIRE_FALSE(gil.held_by(a));
    REQUIRE(b_ran.get_future().wait_for(10s) == std::future_status::ready);
  }
  REQUIRE(gil.held_by(a));
  tb.join();
  REQUIRE(b_held.load());
  gil.release(a);
  gil.unregister_thread(a);
  gil.unregister_thread(b);
  GilStats s = gil.stats();
  REQUIRE(s.io_releases == 1);
  REQUIRE(s.threads[0].io_releases == 1);
  REQUIRE(s.threads[1].io_releases == 0);
  REQUIRE(s.threads[1].contended == 1);
  REQUIRE(s.switches == 2);  // a -> b -> a
}

TEST_CASE("gil: FIFO fairness between CPU-bound threads", "[gil]") {
  for (GilPolicy p : {GilPolicy::Classic, GilPolicy::Responsive}) {
    Gil gil;
    gil.set_policy(p);
    gil.set_interval_ns(2'000'000);
    std::vector<std::uint64_t> progress;
    GilStats s = run_cpu_for(gil, 3, 500ms, &progress);
    auto [mn, mx] = std::minmax_element(progress.begin(), progress.end());
    INFO(policy_name(p) << ": progress " << progress[0] << " " << progress[1] << " " << progress[2]);
    REQUIRE(*mn > 0);
    REQUIRE(*mx <= 3 * *mn);
    std::uint64_t hmin = UINT64_MAX, hmax = 0;
    for (const auto& t : s.threads) {
      hmin = std::min(hmin, t.hold_ns);
      hmax = std::max(hmax, t.hold_ns);
    }
    REQUIRE(hmax <= 3 * hmin);
  }
}

TEST_CASE("gil: responsive policy gives I/O threads low latency", "[gil]") {
  // Typically classic ~5 ms vs responsive ~0.02 ms. Scheduler delays on an
  // oversubscribed machine add to both; retry so a noisy burst cannot fail it.
  double mc = 0, mr = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    mc = median(io_latencies(GilPolicy::Classic, 1, 25));
    mr = median(io_latencies(GilPolicy::Responsive, 1, 25));
    if (mc > 1.0 && mr * 3 < mc) break;
  }
  INFO("median wake-to-run latency: classic " << mc << " ms, responsive " << mr << " ms");
  REQUIRE(mc > 1.0);  // waits for (most of) a 5 ms interval: the convoy effect
  REQUIRE(mr * 3 < mc);
}

TEST_CASE("gil: responsive policy does not starve CPU-bound threads", "[gil]") {
  Gil gil;
  gil.set_policy(GilPolicy::Responsive);
  gil.set_interval_ns(2'000'000);
  std::atomic<bool> stop{false};
  auto sims = start_cpu(gil, 2, stop);
  // A "greedy" I/O thread: blocks for no time at all, then computes.
  GilThread io;
  io.id = 50;
  io.name = "greedy-io";
  std::uint64_t io_progress = 0;
  std::thread tio([&] {
    gil.register_thread(io);
    gil.acquire(io);
    while (!stop.load()) {
      gil.begin_blocking(io, "test.nothing");
      gil.end_blocking(io);
      work_units(2000);
      ++io_progress;
      check(gil, io);
    }
    gil.release(io);
    gil.unregister_thread(io);
  });
  std::this_thread::sleep_for(500ms);
  stop = true;
  join_all(sims);
  tio.join();
  GilStats s = gil.total_stats();
  std::uint64_t total_hold = s.hold_ns;
  for (const auto& t : s.threads) {
    INFO(t.name << " hold " << t.hold_ns / 1e6 << " ms of " << total_hold / 1e6);
    // The CPU-bound threads are not starved by the thread that keeps coming
    // back from "blocking" calls (measured: ~44% each, the greedy one ~12%;
    // it pays for releasing the lock all the time, as in CPython).
    if (t.name != "greedy-io") REQUIRE(t.hold_ns * 5 >= total_hold);
    REQUIRE(t.hold_ns > 0);
  }
  REQUIRE(sims[0]->progress > 0);
  REQUIRE(sims[1]->progress > 0);
  REQUIRE(io_progress > 0);
}

TEST_CASE("gil: CPU-bound threads keep FIFO turns next to a priority I/O thread", "[gil]") {
  Gil gil;
  gil.set_interval_ns(2'000'000);
  std::atomic<bool> stop{false};
  auto sims = start_cpu(gil, 2, stop);
  GilThread io;
  io.id = 60;
  io.name = "io";
  std::thread tio([&] {
    gil.register_thread(io);
    gil.acquire(io);
    while (!stop.load()) {
      gil.begin_blocking(io, "test.sleep");
      std::this_thread::sleep_for(300us);
      gil.end_blocking(io);
      work_units(100);
      check(gil, io);
    }
    gil.release(io);
    gil.unregister_thread(io);
  });
  std::this_thread::sleep_for(500ms);
  stop = true;
  join_all(sims);
  tio.join();
  auto a = sims[0]->progress, b = sims[1]->progress;
  INFO("progress " << a << " " << b);
  REQUIRE(std::min(a, b) > 0);
  REQUIRE(std::max(a, b) <= 3 * std::min(a, b));
}

TEST_CASE("gil: set_policy and policy names", "[gil]") {
  Gil gil;
  REQUIRE(gil.policy() == GilPolicy::Responsive);
  REQUIRE(gil.interval_ns() == 5'000'000);
  gil.set_policy(GilPolicy::Classic);
  REQUIRE(gil.policy() == GilPolicy::Classic);
  REQUIRE(gil.stats().policy == GilPolicy::Classic);
  REQUIRE(std::string(policy_name(GilPolicy::Classic)) == "classic");
  REQUIRE(std::string(policy_name(GilPolicy::Responsive)) == "responsive");
}

TEST_CASE("gil: reset_stats and ended threads", "[gil]") {
  Gil gil;
  GilThread main_t;
  main_t.id = 1;
  main_t.name = "main";
  gil.register_thread(main_t);
  gil.acquire(main_t);
  // A short-lived thread that ends.
  {
    GilThread w;
    w.id = 2;
    w.name = "worker";
    std::thread th([&] {
      gil.register_thread(w);
      gil.acquire(w);
      work_units(100);
      gil.release(w);
      gil.unregister_thread(w);
    });
    gil.begin_blocking(main_t, "thread.join");
    th.join();
    gil.end_blocking(main_t);
  }
  GilStats s = gil.stats();
  REQUIRE(s.threads.size() == 2);
  REQUIRE(s.threads[1].name == "worker");
  REQUIRE_FALSE(s.threads[1].alive);
  REQUIRE(s.threads[1].acquisitions == 1);
  REQUIRE(s.threads[0].alive);
  REQUIRE(s.io_releases == 1);
  REQUIRE(s.hold_ns > 0);  // includes the hold in progress of main

  gil.reset_stats();
  GilStats r = gil.stats();
  REQUIRE(r.threads.size() == 1);  // ended threads go at a reset
  REQUIRE(r.threads[0].name == "main");
  REQUIRE(r.acquisitions == 0);
  REQUIRE(r.io_releases == 0);
  REQUIRE(r.switches == 0);
  REQUIRE(r.hold_ns < s.hold_ns + 1'000'000'000);

  gil.begin_blocking(main_t, "time.sleep");
  gil.end_blocking(main_t);
  r = gil.stats();
  REQUIRE(r.io_releases == 1);
  REQUIRE(r.acquisitions == 1);

  GilStats t = gil.total_stats();  // the whole run is still there
  REQUIRE(t.threads.size() == 2);
  REQUIRE(t.io_releases == 2);
  REQUIRE(t.acquisitions == 4);
  gil.release(main_t);
  gil.unregister_thread(main_t);
}

TEST_CASE("gil: timeline rendering is deterministic", "[gil][report]") {
  GilRecording rec;
  rec.start_ns = 0;
  rec.end_ns = 1000;
  GilThreadStats a, b;
  a.id = 1;
  a.name = "main";
  a.alive = false;
  b.id = 2;
  b.name = "worker";
  b.alive = false;
  rec.threads = {a, b};
  rec.labels = {"time.sleep"};
  auto ev = [](std::uint64_t ts, std::uint32_t th, ThreadActivity st) {
    GilEvent e;
    e.ts = ts;
    e.thread = th;
    e.state = st;
    return e;
  };
  rec.events = {
      ev(0, 0, ThreadActivity::Running),   ev(500, 1, ThreadActivity::Waiting),
      ev(500, 0, ThreadActivity::Blocked), ev(500, 1, ThreadActivity::Running),
      ev(750, 1, ThreadActivity::Ended),   ev(1000, 0, ThreadActivity::Ended),
  };
  // name column "worker" (6) + " │" + 10 cells + "│" = 19 columns.
  std::string out = render_timeline(rec, 19);
  INFO(out);
  auto lines = lines_of(out);
  REQUIRE(lines.size() >= 5);
  REQUIRE(lines[0].rfind("GIL timeline", 0) == 0);
  REQUIRE(lines[1] == "main   \u2502\u2588\u2588\u2588\u2588\u2588\u00b7\u00b7\u00b7\u00b7\u00b7\u2502");
  REQUIRE(lines[2] == "worker \u2502     \u2588\u2588\u2588  \u2502");
  REQUIRE(lines[3].find("running") != std::string::npos);
  REQUIRE(lines[3].find("waiting for the GIL") != std::string::npos);
  REQUIRE(lines[3].find("blocked") != std::string::npos);
  REQUIRE(lines[4].find("running  50.0%") != std::string::npos);
  REQUIRE(lines[4].find("blocked  50.0%") != std::string::npos);
  REQUIRE(render_timeline(rec, 19) == out);

  rec.truncated = true;
  REQUIRE(render_timeline(rec, 40).find("truncated") != std::string::npos);

  std::string json = render_trace_json(rec);
  REQUIRE(json.find("\"name\":\"blocked: time.sleep\"") != std::string::npos);
  REQUIRE(json.find("\"ts\":0.500,\"dur\":0.250") != std::string::npos);
}

TEST_CASE("gil: timeline, table and trace of real threads", "[gil][report]") {
  Gil gil;
  gil.set_interval_ns(1'000'000);
  GilThread main_t;
  main_t.id = 1;
  main_t.name = "main";
  gil.register_thread(main_t);
  gil.acquire(main_t);
  std::atomic<bool> stop{false};
  auto sims = start_cpu(gil, 2, stop);
  for (int i = 0; i < 5; ++i) {
    // ~3 ms of held time: several cells of the 100-column chart.
    std::uint64_t held_since = 0;
    while (held_since < 3'000'000) {
      auto t0 = now_ns();
      work_units(500);
      held_since += now_ns() - t0;
      check(gil, main_t);
    }
    BlockingRegion r(gil, main_t, "time.sleep");
    std::this_thread::sleep_for(5ms);
  }
  gil.begin_blocking(main_t, "thread.join");
  stop = true;
  join_all(sims);
  gil.end_blocking(main_t);

  std::string tl = gil.timeline(100);
  INFO(tl);
  auto lines = lines_of(tl);
  REQUIRE(lines.size() >= 1 + 3 + 1 + 3);
  REQUIRE(lines[0].rfind("GIL timeline", 0) == 0);
  REQUIRE(lines[1].rfind("main", 0) == 0);
  REQUIRE(lines[2].rfind("cpu-1", 0) == 0);
  for (int i = 1; i <= 3; ++i) REQUIRE(utf8_length(lines[i]) == 100);
  REQUIRE(lines[1].find("\u2588") != std::string::npos);  // ran
  REQUIRE(lines[1].find("\u00b7") != std::string::npos);  // slept
  REQUIRE(lines[2].find("\u2591") != std::string::npos);  // waited
  // The handoff row marks forced handoffs between the CPU-bound threads.
  REQUIRE(lines[4].rfind("handoffs", 0) == 0);
  REQUIRE(utf8_length(lines[4]) == 100);
  REQUIRE(lines[4].find('F') != std::string::npos);
  REQUIRE(lines[5].find("waiting for the GIL") != std::string::npos);
  REQUIRE(lines[6].find("handoffs: F forced") != std::string::npos);
  REQUIRE(lines[7].find("running") != std::string::npos);
  REQUIRE(lines[7].find("%") != std::string::npos);
  REQUIRE(gil.timeline(0).rfind("GIL timeline", 0) == 0);

  std::string table = gil.stats_table();
  INFO(table);
  REQUIRE(table.find("thread") != std::string::npos);
  REQUIRE(table.find("run (s)") != std::string::npos);
  REQUIRE(table.find("contention %") != std::string::npos);
  REQUIRE(table.find("main [1]") != std::string::npos);
  REQUIRE(table.find("cpu-1 [2]") != std::string::npos);
  REQUIRE(table.find("(ended)") != std::string::npos);
  REQUIRE(table.find("switches:") != std::string::npos);
  auto tlines = lines_of(table);
  // Aligned: every row of the table has the same length.
  REQUIRE(tlines.size() >= 7);
  for (std::size_t i = 2; i < 6; ++i) REQUIRE(tlines[i].size() == tlines[1].size());

  std::string path = "/tmp/weft_gil_test_trace_" + std::to_string(::getpid()) + ".json";
  std::string err;
  REQUIRE(gil.write_trace(path, err));
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string json = buf.str();
  REQUIRE(json.find("\"traceEvents\"") != std::string::npos);
  REQUIRE(json.find("\"displayTimeUnit\":\"ms\"") != std::string::npos);
  REQUIRE(json.find("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"main\"}}") !=
          std::string::npos);
  REQUIRE(json.find("\"name\":\"running\"") != std::string::npos);
  REQUIRE(json.find("\"name\":\"waiting\"") != std::string::npos);
  REQUIRE(json.find("\"name\":\"blocked: time.sleep\"") != std::string::npos);
  REQUIRE(json.find("\"ph\":\"X\"") != std::string::npos);
  std::string cmd = "python3 -m json.tool " + path + " > /dev/null 2>&1";
  if (std::system("python3 -c 1 > /dev/null 2>&1") == 0) {
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  std::remove(path.c_str());
  REQUIRE_FALSE(gil.write_trace("/nonexistent-dir/x.json", err));
  REQUIRE(err.find("/nonexistent-dir/x.json") != std::string::npos);

  gil.release(main_t);
  gil.unregister_thread(main_t);
}

TEST_CASE("gil: trace escapes user-provided thread names", "[gil][report]") {
  GilRecording rec;
  GilThreadStats a;
  a.id = 7;
  a.name = "q\"b\\n\nt\tc\x01 \xc3\xa9 \xff";
  rec.threads = {a};
  GilEvent e;
  e.ts = 10;
  e.state = ThreadActivity::Running;
  rec.events = {e};
  rec.end_ns = 20;
  std::string json = render_trace_json(rec);
  INFO(json);
  REQUIRE(json.find(R"("name":"q\"b\\n\nt\tc\u0001 )" "\xc3\xa9" R"( \ufffd")") != std::string::npos);
  std::string path = "/tmp/weft_gil_test_escape_" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream out(path);
    out << json;
  }
  if (std::system("python3 -c 1 > /dev/null 2>&1") == 0) {
    REQUIRE(std::system(("python3 -m json.tool " + path + " > /dev/null 2>&1").c_str()) == 0);
  }
  std::remove(path.c_str());
}

TEST_CASE("gil: event recording is capped", "[gil][report]") {
  Gil gil;
  gil.set_event_limit(10);
  GilThread t;
  t.id = 1;
  t.name = "main";
  gil.register_thread(t);
  gil.acquire(t);
  for (int i = 0; i < 100; ++i) {
    gil.begin_blocking(t, "time.sleep");
    gil.end_blocking(t);
  }
  GilRecording rec = gil.recording();
  // The ring keeps the newest 10 events (events at the same nanosecond as
  // the oldest kept one may fold into it).
  REQUIRE(rec.events.size() <= 10);
  REQUIRE(rec.events.size() >= 5);
  REQUIRE(rec.truncated);
  REQUIRE(gil.timeline(80).find("truncated") != std::string::npos);
  REQUIRE(gil.total_stats().io_releases == 100);  // statistics keep counting
  gil.release(t);
  gil.unregister_thread(t);
}

// Every change of owner carries its cause (SPEC §8.7): forced (with the
// thread that asked), io, wait and exit, in this order; the trace draws one
// flow arrow per handoff and the table counts them per cause.
TEST_CASE("gil: handoff causes, arrows and wake-to-run latency", "[gil][report]") {
  Gil gil;
  gil.set_interval_ns(1'000'000);
  GilThread a, b;
  a.id = 1;
  a.name = "alpha";
  b.id = 2;
  b.name = "beta";
  gil.register_thread(a);
  gil.register_thread(b);
  gil.acquire(a);
  std::thread tb([&] {
    gil.acquire(b);  // waits an interval, then asks alpha to drop: forced
    gil.begin_blocking(b, "time.sleep");  // io handoff to alpha
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    gil.end_blocking(b);
    gil.unregister_thread(b);  // still holding: exit handoff
  });
  while ((a.breaker.load() & kBreakDropRequest) == 0) std::this_thread::yield();
  gil.yield(a);
  gil.begin_blocking(a, "thread.join");  // wait handoff to beta
  tb.join();
  gil.end_blocking(a);
  gil.release(a);
  GilRecording rec = gil.recording();
  std::vector<std::string> causes;
  for (const GilEvent& e : rec.events) {
    if (e.state == ThreadActivity::Running && e.peer != 0) {
      causes.push_back(cause_name(e.cause));
      if (e.cause == GilCause::Forced) REQUIRE(e.requester == 2);  // beta asked (index 1 + 1)
    }
  }
  REQUIRE(causes == std::vector<std::string>{"forced", "io", "wait", "exit"});

  std::string json = render_trace_json(rec);
  auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (auto p = json.find(needle); p != std::string::npos; p = json.find(needle, p + 1)) ++n;
    return n;
  };
  REQUIRE(count("\"ph\":\"s\"") == 4);
  REQUIRE(count("\"ph\":\"f\"") == 4);
  REQUIRE(count("\"args\":{\"cause\":\"forced\",\"requested_by\":\"beta\"}") == 2);  // s + f
  REQUIRE(json.find("\"cause\":\"exit\"") != std::string::npos);

  GilStats st = gil.total_stats();
  REQUIRE(st.threads.size() == 2);
  REQUIRE(st.threads[0].handoffs[static_cast<int>(GilCause::Forced)] == 1);
  REQUIRE(st.threads[0].handoffs[static_cast<int>(GilCause::Wait)] == 1);
  REQUIRE(st.threads[1].handoffs[static_cast<int>(GilCause::Io)] == 1);
  REQUIRE(st.threads[1].handoffs[static_cast<int>(GilCause::Exit)] == 1);
  REQUIRE(st.threads[0].wake_count == 1);
  REQUIRE(st.threads[1].wake_count == 1);
  REQUIRE(st.wake_count == 2);
  REQUIRE(st.wake_max_ns >= st.wake_p99_ns);
  REQUIRE(st.wake_p99_ns >= st.wake_p50_ns);
  std::string table = render_stats_table(st);
  INFO(table);
  REQUIRE(table.find("1/0/1/0") != std::string::npos);  // alpha gave: forced, wait
  REQUIRE(table.find("0/1/0/1") != std::string::npos);  // beta gave: io, exit
  gil.unregister_thread(a);
}
