// The global interpreter lock: see gil.hpp for the design overview.
//
// Implementation notes
// --------------------
// * One std::mutex (`mu`) protects all of the lock's state. The GIL itself is
//   the `holder` pointer: nullptr when free. Each GilThread has its own
//   condition variable, so a release wakes exactly the next waiter.
// * Direct handoff: when the holder gives the lock up and somebody waits, the
//   lock is assigned to the first waiter (`granted = true`, `holder = it`)
//   before the mutex is released. Nobody can barge in, which gives both FIFO
//   fairness and forced switching (a thread that yielded is queued behind
//   the thread it handed the lock to).
// * Uncontended path: lock `mu` (an uncontended futex: no system call), see
//   `holder == nullptr`, take it, record one event, unlock. Waiters use
//   cv.wait_until(deadline); a single running thread never sets a timer.
//
// Switch requests ("turns")
// -------------------------
// A *turn* starts whenever a thread gets the lock in the normal way (it was
// free, or it was at the head of the normal FIFO queue). `turn_start` is its
// start time. A waiter sleeps until max(its wait start, turn_start, its last
// request) + interval; when that passes it sets kBreakDropRequest on the
// holder. This is CPython's rule ("no switch happened during a whole interval
// of waiting"), except that the priority handovers of the responsive policy
// below do not start a new turn, so they cannot postpone CPU-bound waiters.
//
// Policies
// --------
// classic: end_blocking() is acquire(): back of the queue, and a drop request
//   only after a full interval (the CPython 3.2+ convoy effect).
// responsive: a thread returning from a blocking call, if it still has
//   priority credit (below), is queued *before* every normal waiter (after
//   other priority waiters, which stay FIFO among themselves) and sets the
//   drop request on the holder at once. Anti-starvation rules:
//   1. A holder that yields to a priority waiter while its turn is still
//      shorter than one interval is not sent to the back: it is put at the
//      head of the normal queue marked `preempted`, and when it gets the lock
//      back its turn simply continues (turn_start unchanged). CPU-bound
//      threads thus keep their FIFO order and their share. If its turn had
//      already lasted an interval, it goes to the back as in a normal switch.
//      A resumed preempted thread whose turn is already over while others
//      wait gets a drop request immediately.
//   2. A thread holding the lock through a priority grant is an ordinary
//      holder for the other waiters: their turn timer keeps running (it was
//      not reset by the priority grant), so they ask it to drop once the
//      interrupted turn has lasted an interval, and it then yields to the
//      back of the queue like anybody.
//   3. Priority credit: each thread has a budget of at most one interval. It
//      is replenished at half the wall-clock rate and spent by the time the
//      thread holds the lock after a priority grant. Priority is given only
//      while the budget is positive. In the long run priority therefore
//      requires a thread to spend at least as much time blocked as running
//      (truly I/O-bound); a thread that blocks for a moment and then computes
//      (or re-blocks in a tight loop of short calls) exhausts its credit
//      after at most about one interval of held time and from then on queues
//      like a classic thread until its credit has grown back.
#include "runtime/gil.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>

namespace weft {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

const char* policy_name(GilPolicy p) {
  return p == GilPolicy::Classic ? "classic" : "responsive";
}

namespace {

// Default capacity of one thread's event ring: 128K events of 16 bytes
// (2 MB). A busy thread switching every interval fills it in minutes; the
// time window below usually trims first.
constexpr std::size_t kDefaultEventLimit = std::size_t{1} << 17;
constexpr std::uint64_t kDefaultWindowNs = 10'000'000'000ull;  // 10 s

std::chrono::steady_clock::time_point to_time_point(std::uint64_t ns) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

// One stored event: the thread is implicit (each thread has its own ring),
// so an event fits in 16 bytes. `packed` holds the state (bits 0-3), the
// cause (bits 4-7) and the peer (bits 8-31; a peer past 2^24 threads is
// recorded as unknown).
struct RingEvent {
  std::uint64_t ts;
  std::uint32_t aux;  // label (Blocked) or requester + 1 (Running)
  std::uint32_t packed;
};

// A thread's events: a ring that grows by doubling up to the cap and then
// overwrites its oldest entries. Only ever touched under Gil's mutex, by the
// thread it belongs to or by a reader taking a recording.
struct EventRing {
  std::vector<RingEvent> buf;
  std::uint64_t written = 0;  // events ever written
  void push(const RingEvent& e, std::size_t cap) {
    if (buf.size() < cap) {
      if (buf.size() == buf.capacity()) buf.reserve(std::min(cap, std::max<std::size_t>(64, buf.size() * 2)));
      buf.push_back(e);
    } else {
      buf[written % cap] = e;
    }
    ++written;
  }
  bool wrapped() const { return written > buf.size(); }
  // The i-th oldest retained event.
  const RingEvent& at(std::size_t i) const {
    if (!wrapped()) return buf[i];
    return buf[(written + i) % buf.size()];
  }
};

// Wake-to-run histogram: log-linear, 8 buckets per power of two (values
// below 8 ns exact), so a percentile is within about 6 %.
constexpr std::size_t kWakeBuckets = 496;
struct WakeHist {
  std::uint32_t count[kWakeBuckets] = {};
  std::uint64_t n = 0;
  std::uint64_t max = 0;
  static std::size_t bucket(std::uint64_t v) {
    if (v < 8) return static_cast<std::size_t>(v);
    int e = 63 - __builtin_clzll(v);
    return static_cast<std::size_t>((e - 2) * 8) + ((v >> (e - 3)) & 7);
  }
  static std::uint64_t value(std::size_t b) {  // middle of the bucket
    if (b < 8) return b;
    int e = static_cast<int>(b / 8) + 2;
    std::uint64_t lo = (std::uint64_t{8} + (b % 8)) << (e - 3);
    return lo + ((std::uint64_t{1} << (e - 3)) >> 1);
  }
  void add(std::uint64_t v) {
    ++count[bucket(v)];
    ++n;
    max = std::max(max, v);
  }
  void merge(const WakeHist& o) {
    for (std::size_t i = 0; i < kWakeBuckets; ++i) count[i] += o.count[i];
    n += o.n;
    max = std::max(max, o.max);
  }
  std::uint64_t percentile(double p) const {
    if (n == 0) return 0;
    auto rank = static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(n - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kWakeBuckets; ++i) {
      seen += count[i];
      if (seen >= rank) return std::min(value(i), max);
    }
    return max;
  }
};

void fill_wake(GilThreadStats& s, const WakeHist* h, bool with_hist = false) {
  if (h != nullptr && with_hist)
    s.wake_hist = std::make_shared<const std::vector<std::uint32_t>>(h->count, h->count + kWakeBuckets);
  if (h == nullptr) return;
  s.wake_count = h->n;
  s.wake_p50_ns = h->percentile(50);
  s.wake_p99_ns = h->percentile(99);
  s.wake_max_ns = h->max;
}

}  // namespace

std::uint64_t wake_hist_percentile(const std::vector<std::uint64_t>& counts, double p) {
  std::uint64_t n = 0;
  for (std::uint64_t c : counts) n += c;
  if (n == 0) return 0;
  auto rank = static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(n - 1)) + 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts.size() && i < kWakeBuckets; ++i) {
    seen += counts[i];
    if (seen >= rank) return WakeHist::value(i);
  }
  return WakeHist::value(std::min(counts.size(), kWakeBuckets) - 1);
}

const char* cause_name(GilCause c) {
  switch (c) {
    case GilCause::Forced: return "forced";
    case GilCause::Io: return "io";
    case GilCause::Wait: return "wait";
    case GilCause::Exit: return "exit";
    case GilCause::None: break;
  }
  return "none";
}

GilCause cause_of_label(const char* label) {
  if (label == nullptr) return GilCause::Io;
  static const char* const waits[] = {"sync.", "thread.join", "jobs.", "exit:", "worker: waiting",
                                      "(no GIL)"};
  for (const char* w : waits) {
    if (std::strncmp(label, w, std::strlen(w)) == 0) return GilCause::Wait;
  }
  return GilCause::Io;
}

struct Gil::Impl {
  mutable std::mutex mu;
  std::atomic<GilThread*> holder{nullptr};
  std::deque<GilThread*> waiters;  // priority waiters first, then normal FIFO
  std::atomic<std::uint64_t> interval{5'000'000};
  std::atomic<GilPolicy> policy{GilPolicy::Responsive};

  std::uint64_t turn_start = 0;
  int last_holder_id = 0;
  // The last holder (stats index + 1) and why it let go, for the handoff
  // recorded when another thread takes the lock.
  std::uint32_t last_holder_idx = 0;
  GilCause last_cause = GilCause::None;
  std::uint32_t last_requester = 0;
  // Who set the current holder's drop request (stats index + 1).
  std::uint32_t drop_requester = 0;

  // Statistics: `total` covers the run, `cur` is since reset_stats(). Both
  // are indexed by GilThread::stats_index; `cur_valid` says whether an entry
  // is part of the current period (ended threads are dropped at a reset).
  std::vector<GilThreadStats> total;
  std::vector<GilThreadStats> cur;
  std::vector<bool> cur_valid;
  // Wake-to-run histograms, allocated at a thread's first blocking call.
  // When a thread ends, its percentiles are frozen into its stats entry and
  // its histogram is folded into the `ended_*` aggregate and freed, so a
  // program that starts many short threads does not keep 2 KB per thread.
  std::vector<std::unique_ptr<WakeHist>> wake_total;
  std::vector<std::unique_ptr<WakeHist>> wake_cur;
  WakeHist ended_total;
  WakeHist ended_cur;
  std::size_t unregistered = 0;  // threads ended (for the periodic ring sweep)
  std::uint64_t total_switches = 0;
  std::uint64_t cur_switches = 0;
  std::uint64_t reset_at = 0;

  // Events: one ring per thread (index = stats index).
  std::uint64_t start_ns = now_ns();
  std::vector<EventRing> rings;
  std::vector<std::string> labels;
  std::vector<GilCause> label_cause;
  std::unordered_map<std::string, std::uint32_t> label_index;
  std::size_t event_limit = kDefaultEventLimit;
  std::uint64_t window_ns = kDefaultWindowNs;
  const char* last_label_ptr = nullptr;
  std::uint32_t last_label = 0;
  // Label 0 is interned up front: release() uses it on every call.
  static constexpr std::uint32_t kNoGilLabel = 0;
  Impl() { intern_label("(no GIL)"); }

  // ---- helpers; all called with `mu` held ----

  std::uint32_t intern_label(const char* label) {
    // Natives pass string literals: remember the last one by address.
    if (label == last_label_ptr && labels[last_label] == label) return last_label;
    std::string key(label);
    auto it = label_index.find(key);
    if (it == label_index.end()) {
      it = label_index.emplace(key, static_cast<std::uint32_t>(labels.size())).first;
      labels.push_back(std::move(key));
      label_cause.push_back(cause_of_label(label));
    }
    last_label_ptr = label;
    last_label = it->second;
    return it->second;
  }

  void record(GilThread& t, ThreadActivity st, std::uint64_t ts, GilCause cause = GilCause::None,
              std::uint32_t aux = 0, std::uint32_t peer = 0) {
    if (t.state == st && st != ThreadActivity::Blocked) return;
    t.state = st;
#ifdef WEFT_NO_GIL_INSTRUMENTATION
    // The measurement build (see CMakeLists.txt): no event recording.
    return;
#endif
    if (event_limit == 0) return;
    if (peer >= (1u << 24)) peer = 0;
    rings[t.stats_index].push(
        RingEvent{ts, aux,
                  static_cast<std::uint32_t>(st) | (static_cast<std::uint32_t>(cause) << 4) |
                      (peer << 8)},
        event_limit);
  }

  template <class F>
  void update(const GilThread& t, F&& f) {
    f(total[t.stats_index]);
    f(cur[t.stats_index]);
  }

  // `t` becomes the holder at `now` (stats + event). `waited`: it had queued.
  void on_acquired(GilThread& t, std::uint64_t now, bool waited) {
    holder.store(&t, std::memory_order_relaxed);
    t.acquired_at = now;
    if (last_holder_id != 0 && last_holder_id != t.id) {
      ++total_switches;
      ++cur_switches;
    }
    last_holder_id = t.id;
    std::uint64_t w = waited ? now - t.wait_start : 0;
    std::uint64_t w_cur = waited ? now - std::max(t.wait_start, reset_at) : 0;
    if (now < reset_at) w_cur = 0;
    auto& a = total[t.stats_index];
    auto& b = cur[t.stats_index];
    ++a.acquisitions;
    ++b.acquisitions;
    if (waited) {
      ++a.contended;
      ++b.contended;
      a.wait_ns += w;
      b.wait_ns += w_cur;
      a.max_wait_ns = std::max(a.max_wait_ns, w);
      b.max_wait_ns = std::max(b.max_wait_ns, w_cur);
    }
    if (t.wake_at != 0) {  // back from a blocking call: wake-to-run latency
      std::uint64_t lat = now - t.wake_at;
      wake_total[t.stats_index]->add(lat);
      if (t.wake_at >= reset_at) wake_cur[t.stats_index]->add(lat);
      t.wake_at = 0;
    }
    // A change of owner: count it for the thread that let go and record the
    // handoff on the new holder's Running event.
    auto me = static_cast<std::uint32_t>(t.stats_index + 1);
    if (last_holder_idx != 0 && last_holder_idx != me) {
      auto c = static_cast<std::size_t>(last_cause);
      ++total[last_holder_idx - 1].handoffs[c];
      ++cur[last_holder_idx - 1].handoffs[c];
      record(t, ThreadActivity::Running, now, last_cause,
             last_cause == GilCause::Forced ? last_requester : 0, last_holder_idx);
    } else {
      record(t, ThreadActivity::Running, now);
    }
    last_holder_idx = me;
  }

  // Replenishes the responsive-policy priority credit of `t` up to `now`.
  void replenish(GilThread& t, std::uint64_t now) {
    auto cap = static_cast<std::int64_t>(interval.load(std::memory_order_relaxed));
    if (now > t.prio_credit_at) {
      t.prio_credit += static_cast<std::int64_t>((now - t.prio_credit_at) / 2);
    }
    t.prio_credit = std::min(t.prio_credit, cap);
    t.prio_credit_at = now;
  }

  // `t` stops holding at `now` for `cause` (hold statistics, priority
  // credit, the handoff's cause).
  void end_hold(GilThread& t, std::uint64_t now, GilCause cause) {
    last_cause = cause;
    last_requester = cause == GilCause::Forced ? drop_requester : 0;
    drop_requester = 0;
    std::uint64_t h = now - t.acquired_at;
    std::uint64_t from = std::max(t.acquired_at, reset_at);
    total[t.stats_index].hold_ns += h;
    cur[t.stats_index].hold_ns += now > from ? now - from : 0;
    if (t.prio_hold) {
      replenish(t, now);
      t.prio_credit -= static_cast<std::int64_t>(h);
      t.prio_hold = false;
    }
    // A drop request is only ever set on the current holder under `mu`, so
    // any request still pending is stale now.
    t.breaker.fetch_and(~std::uint32_t{kBreakDropRequest}, std::memory_order_relaxed);
    holder.store(nullptr, std::memory_order_relaxed);
  }

  // The lock is free; give it to the first waiter, if any.
  void pass_on(std::uint64_t now) {
    if (waiters.empty()) return;
    GilThread* n = waiters.front();
    waiters.pop_front();
    n->granted = true;
    if (n->prio_waiter) {
      // Priority grant: the interrupted turn goes on.
      n->prio_waiter = false;
      n->prio_hold = true;
    } else if (n->preempted) {
      n->preempted = false;
      if (now - turn_start >= interval.load(std::memory_order_relaxed) &&
          !waiters.empty()) {
        n->breaker.fetch_or(kBreakDropRequest, std::memory_order_relaxed);
        drop_requester = static_cast<std::uint32_t>(waiters.front()->stats_index + 1);
      }
    } else {
      turn_start = now;
    }
    on_acquired(*n, now, true);
    n->cv.notify_one();
  }

  // Position just after the priority waiters (head of the normal queue).
  std::deque<GilThread*>::iterator after_priority() {
    auto it = waiters.begin();
    while (it != waiters.end() && (*it)->prio_waiter) ++it;
    return it;
  }

  void start_wait(GilThread& t, std::uint64_t now, GilCause cause = GilCause::None) {
    t.granted = false;
    t.wait_start = now;
    t.requested_at = 0;
    record(t, ThreadActivity::Waiting, now, cause);
  }

  // Sets the drop request on the holder `h` on behalf of `t`.
  void request_drop(GilThread* h, const GilThread& t) {
    h->breaker.fetch_or(kBreakDropRequest, std::memory_order_relaxed);
    if (drop_requester == 0) drop_requester = static_cast<std::uint32_t>(t.stats_index + 1);
  }

  // Sleeps until `t` is granted the lock, asking the holder to drop it when
  // the current turn has lasted an interval while `t` waited.
  void wait_for_grant(GilThread& t, std::unique_lock<std::mutex>& lk) {
    while (!t.granted) {
      std::uint64_t iv = interval.load(std::memory_order_relaxed);
      std::uint64_t base = std::max({t.wait_start, turn_start, t.requested_at});
      std::uint64_t deadline = base + iv;
      std::uint64_t now = now_ns();
      if (now >= deadline) {
        GilThread* h = holder.load(std::memory_order_relaxed);
        if (h != nullptr) request_drop(h, t);
        t.requested_at = now;
        continue;
      }
      t.cv.wait_until(lk, to_time_point(deadline));
    }
  }

  GilStats snapshot(bool whole_run) const {
    GilStats s;
    const auto& table = whole_run ? total : cur;
    s.switches = whole_run ? total_switches : cur_switches;
    s.interval_s = static_cast<double>(interval.load()) / 1e9;
    s.policy = policy.load();
    std::uint64_t now = now_ns();
    GilThread* h = holder.load(std::memory_order_relaxed);
    const auto& hists = whole_run ? wake_total : wake_cur;
    WakeHist all;
    for (std::size_t i = 0; i < table.size(); ++i) {
      if (!whole_run && !cur_valid[i]) continue;
      GilThreadStats ts = table[i];
      if (hists[i]) {
        fill_wake(ts, hists[i].get(), whole_run);
        all.merge(*hists[i]);
      }
      if (h != nullptr && h->stats_index == i) {  // hold in progress
        std::uint64_t from = whole_run ? h->acquired_at : std::max(h->acquired_at, reset_at);
        if (now > from) ts.hold_ns += now - from;
      }
      s.forced += ts.forced;
      s.io_releases += ts.io_releases;
      s.acquisitions += ts.acquisitions;
      s.contended += ts.contended;
      s.wait_ns += ts.wait_ns;
      s.hold_ns += ts.hold_ns;
      s.threads.push_back(std::move(ts));
    }
    std::stable_sort(s.threads.begin(), s.threads.end(),
                     [](const GilThreadStats& a, const GilThreadStats& b) { return a.id < b.id; });
    all.merge(whole_run ? ended_total : ended_cur);
    GilThreadStats w;
    fill_wake(w, &all, whole_run);
    s.wake_hist = w.wake_hist;
    s.wake_count = w.wake_count;
    s.wake_p50_ns = w.wake_p50_ns;
    s.wake_p99_ns = w.wake_p99_ns;
    s.wake_max_ns = w.wake_max_ns;
    return s;
  }
};

Gil::Gil() : impl_(new Impl) {
  // WEFT_GIL_RECORD_SECONDS sets how much of the past the timeline keeps.
  if (const char* env = std::getenv("WEFT_GIL_RECORD_SECONDS")) {
    char* end = nullptr;
    double sec = std::strtod(env, &end);
    if (end != env && sec > 0 && sec < 1e6) impl_->window_ns = static_cast<std::uint64_t>(sec * 1e9);
  }
}
Gil::~Gil() { delete impl_; }

void Gil::register_thread(GilThread& t) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  t.stats_index = m.total.size();
  GilThreadStats s;
  s.id = t.id;
  s.name = t.name;
  m.total.push_back(s);
  m.cur.push_back(s);
  m.cur_valid.push_back(true);
  m.wake_total.emplace_back();
  m.wake_cur.emplace_back();
  m.rings.emplace_back();
  t.registered = true;
  t.granted = false;
  t.wake_at = 0;
  t.state = ThreadActivity::Ended;  // nothing recorded yet
  t.prio_credit = static_cast<std::int64_t>(m.interval.load());
  t.prio_credit_at = now_ns();
  t.prio_waiter = t.prio_hold = t.preempted = false;
}

void Gil::unregister_thread(GilThread& t) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  if (!t.registered) return;
  std::uint64_t now = now_ns();
  GilCause cause = GilCause::None;
  if (m.holder.load(std::memory_order_relaxed) == &t) {  // be forgiving
    m.end_hold(t, now, GilCause::Exit);
    cause = GilCause::Exit;
    m.pass_on(now);
  }
  m.record(t, ThreadActivity::Ended, now, cause);
  m.total[t.stats_index].alive = false;
  m.cur[t.stats_index].alive = false;
  // An ended thread's ring keeps only what the time window still shows.
  EventRing& r = m.rings[t.stats_index];
  if (!r.wrapped() && !r.buf.empty() && r.buf.front().ts + m.window_ns < now) {
    std::vector<RingEvent> keep;
    for (const RingEvent& e : r.buf) {
      if (e.ts + m.window_ns >= now) keep.push_back(e);
    }
    r.written -= r.buf.size() - keep.size();
    r.buf = std::move(keep);
  }
  if (!r.wrapped()) r.buf.shrink_to_fit();
  std::size_t i = t.stats_index;
  if (m.wake_total[i]) {
    fill_wake(m.total[i], m.wake_total[i].get());
    m.ended_total.merge(*m.wake_total[i]);
    m.wake_total[i].reset();
  }
  if (m.wake_cur[i]) {
    fill_wake(m.cur[i], m.wake_cur[i].get());
    m.ended_cur.merge(*m.wake_cur[i]);
    m.wake_cur[i].reset();
  }
  // Every 1024 thread ends, free the rings of ended threads whose events
  // all fell out of the time window (amortised O(1) per thread).
  if (++m.unregistered % 1024 == 0) {
    for (std::size_t k = 0; k < m.rings.size(); ++k) {
      EventRing& old = m.rings[k];
      if (m.total[k].alive || old.buf.empty()) continue;
      if (old.at(old.buf.size() - 1).ts + m.window_ns < now) old = EventRing{};
    }
  }
  t.registered = false;
}

void Gil::acquire(GilThread& t) {
  std::unique_lock<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  std::uint64_t now = now_ns();
  if (m.holder.load(std::memory_order_relaxed) == nullptr) {
    // Direct handoff never leaves the lock free while somebody waits.
    m.turn_start = now;
    m.on_acquired(t, now, false);
    return;
  }
  m.start_wait(t, now);
  m.waiters.push_back(&t);
  m.wait_for_grant(t, lk);
}

void Gil::release(GilThread& t, GilCause cause) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  if (m.holder.load(std::memory_order_relaxed) != &t) return;
  std::uint64_t now = now_ns();
  m.end_hold(t, now, cause);
  m.record(t, ThreadActivity::Blocked, now, cause, Impl::kNoGilLabel);
  m.pass_on(now);
}

void Gil::yield(GilThread& t) {
  std::unique_lock<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  t.breaker.fetch_and(~std::uint32_t{kBreakDropRequest}, std::memory_order_relaxed);
  if (m.holder.load(std::memory_order_relaxed) != &t || m.waiters.empty()) return;
  std::uint64_t now = now_ns();
  bool was_prio_hold = t.prio_hold;
  m.end_hold(t, now, GilCause::Forced);
  m.update(t, [](GilThreadStats& s) { ++s.forced; });
  m.start_wait(t, now, GilCause::Forced);
  bool turn_fresh = now - m.turn_start < m.interval.load(std::memory_order_relaxed);
  if (m.waiters.front()->prio_waiter && turn_fresh && !was_prio_hold) {
    // Interrupted by an I/O thread mid-turn: keep our place (rule 1).
    t.preempted = true;
    m.waiters.insert(m.after_priority(), &t);
  } else {
    m.waiters.push_back(&t);
  }
  m.pass_on(now);
  m.wait_for_grant(t, lk);
}

void Gil::begin_blocking(GilThread& t, const char* label) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  std::uint64_t now = now_ns();
  if (label == nullptr) label = "blocking call";
  t.blocked_since = now;
  t.blocked_on = label;
  t.wake_at = 0;
  std::uint32_t li = m.intern_label(label);
  if (m.holder.load(std::memory_order_relaxed) != &t) {  // not holding: only record
    m.record(t, ThreadActivity::Blocked, now, GilCause::None, li);
    return;
  }
  GilCause cause = m.label_cause[li];
  m.end_hold(t, now, cause);
  m.update(t, [](GilThreadStats& s) { ++s.io_releases; });
  m.record(t, ThreadActivity::Blocked, now, cause, li);
  m.pass_on(now);
}

void Gil::end_blocking(GilThread& t) {
  std::unique_lock<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  std::uint64_t now = now_ns();
  GilThread* h = m.holder.load(std::memory_order_relaxed);
  if (h == &t) return;  // unpaired call while holding
  // Wake-to-run latency is measured from here to the grant.
  t.wake_at = now;
  if (!m.wake_total[t.stats_index]) {
    m.wake_total[t.stats_index] = std::make_unique<WakeHist>();
    m.wake_cur[t.stats_index] = std::make_unique<WakeHist>();
  }
  if (h == nullptr) {
    m.turn_start = now;
    m.on_acquired(t, now, false);
    return;
  }
  m.start_wait(t, now);
  bool prio = false;
  if (m.policy.load(std::memory_order_relaxed) == GilPolicy::Responsive) {
    m.replenish(t, now);
    prio = t.prio_credit > 0;  // rule 3
  }
  if (prio) {
    m.waiters.insert(m.after_priority(), &t);
    t.prio_waiter = true;
    m.request_drop(h, t);
  } else {
    m.waiters.push_back(&t);
  }
  m.wait_for_grant(t, lk);
}

bool Gil::held_by(const GilThread& t) const {
  return impl_->holder.load(std::memory_order_relaxed) == &t;
}

void Gil::set_interval_ns(std::uint64_t ns) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->interval.store(ns == 0 ? 1 : ns);
  // Waiters recompute their deadline with the new interval.
  for (GilThread* w : impl_->waiters) w->cv.notify_one();
}

std::uint64_t Gil::interval_ns() const { return impl_->interval.load(); }

void Gil::set_policy(GilPolicy p) { impl_->policy.store(p); }
GilPolicy Gil::policy() const { return impl_->policy.load(); }

GilStats Gil::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->snapshot(false);
}

GilStats Gil::total_stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->snapshot(true);
}

void Gil::reset_stats() {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  m.reset_at = now_ns();
  m.cur_switches = 0;
  for (std::size_t i = 0; i < m.cur.size(); ++i) {
    GilThreadStats fresh;
    fresh.id = m.cur[i].id;
    fresh.name = m.cur[i].name;
    fresh.alive = m.total[i].alive;
    m.cur[i] = std::move(fresh);
    m.cur_valid[i] = m.total[i].alive;
    if (m.wake_cur[i]) *m.wake_cur[i] = WakeHist{};
  }
  m.ended_cur = WakeHist{};
}

GilRecording Gil::recording() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  GilRecording r;
  r.start_ns = m.start_ns;
  r.end_ns = now_ns();
  r.threads = m.total;
  r.labels = m.labels;
  r.totals = m.snapshot(true);
  // The shown range starts where every thread's history is complete: not
  // before the time window, nor before the oldest event of a ring that
  // overwrote older ones.
  std::uint64_t cut = r.end_ns > m.window_ns ? r.end_ns - m.window_ns : 0;
  bool dropped = false;
  for (const EventRing& ring : m.rings) {
    if (ring.wrapped()) {
      cut = std::max(cut, ring.at(0).ts);
      dropped = true;
    }
  }
  for (std::size_t ti = 0; ti < m.rings.size(); ++ti) {
    const EventRing& ring = m.rings[ti];
    std::size_t n = ring.buf.size();
    // First event to keep: the last one at or before `cut` (the state the
    // thread was in at that moment), then everything after it.
    std::size_t first = 0;
    while (first + 1 < n && ring.at(first + 1).ts <= cut) ++first;
    if (first > 0 || (n > 0 && ring.at(0).ts < cut)) dropped = true;
    for (std::size_t i = first; i < n; ++i) {
      const RingEvent& re = ring.at(i);
      GilEvent e;
      e.ts = re.ts;
      e.thread = static_cast<std::uint32_t>(ti);
      e.state = static_cast<ThreadActivity>(re.packed & 0xf);
      e.cause = static_cast<GilCause>((re.packed >> 4) & 0xf);
      e.peer = re.packed >> 8;
      if (e.state == ThreadActivity::Running)
        e.requester = re.aux;
      else
        e.label = re.aux;
      if (e.ts < cut) {
        if (e.state == ThreadActivity::Ended) continue;  // ended before the range
        e.ts = cut;  // the state in effect when the range starts
        e.peer = 0;
        e.requester = 0;
      }
      r.events.push_back(e);
    }
  }
  std::stable_sort(r.events.begin(), r.events.end(),
                   [](const GilEvent& a, const GilEvent& b) { return a.ts < b.ts; });
  r.truncated = dropped;
  return r;
}

void Gil::set_event_limit(std::size_t n) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->event_limit = n;
  for (EventRing& r : impl_->rings) {
    if (r.buf.size() > n) {  // keep the newest n, oldest first
      std::vector<RingEvent> keep;
      for (std::size_t i = r.buf.size() - n; i < r.buf.size(); ++i) keep.push_back(r.at(i));
      r.buf = std::move(keep);
      // Marked as wrapped (older events are gone), oldest at buf[0].
      r.written = 2 * n;
    }
    if (n == 0) {
      r.buf.clear();
      r.written = 0;
    }
  }
}

void Gil::set_record_window_ns(std::uint64_t ns) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->window_ns = ns == 0 ? 1 : ns;
}

}  // namespace weft
