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
#include <cstring>
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

constexpr std::size_t kDefaultEventLimit = std::size_t{4} << 20;  // 4M events

std::chrono::steady_clock::time_point to_time_point(std::uint64_t ns) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

}  // namespace

struct Gil::Impl {
  mutable std::mutex mu;
  std::atomic<GilThread*> holder{nullptr};
  std::deque<GilThread*> waiters;  // priority waiters first, then normal FIFO
  std::atomic<std::uint64_t> interval{5'000'000};
  std::atomic<GilPolicy> policy{GilPolicy::Responsive};

  std::uint64_t turn_start = 0;
  int last_holder_id = 0;

  // Statistics: `total` covers the run, `cur` is since reset_stats(). Both
  // are indexed by GilThread::stats_index; `cur_valid` says whether an entry
  // is part of the current period (ended threads are dropped at a reset).
  std::vector<GilThreadStats> total;
  std::vector<GilThreadStats> cur;
  std::vector<bool> cur_valid;
  std::uint64_t total_switches = 0;
  std::uint64_t cur_switches = 0;
  std::uint64_t reset_at = 0;

  // Events.
  std::uint64_t start_ns = now_ns();
  // A deque grows in fixed chunks and never copies what it holds, so
  // recording stays cheap however long the program runs.
  std::deque<GilEvent> events;
  std::vector<std::string> labels;
  std::unordered_map<std::string, std::uint32_t> label_index;
  std::size_t event_limit = kDefaultEventLimit;
  bool truncated = false;
  const char* last_label_ptr = nullptr;
  std::uint32_t last_label = 0;

  // ---- helpers; all called with `mu` held ----

  void record(GilThread& t, ThreadActivity st, std::uint64_t ts,
              const char* label = nullptr) {
    if (t.state == st && st != ThreadActivity::Blocked) return;
    t.state = st;
#ifdef WEFT_NO_GIL_INSTRUMENTATION
    // The measurement build (see CMakeLists.txt): no event recording.
    return;
#endif
    if (truncated) return;
    if (events.size() >= event_limit) {
      truncated = true;
      return;
    }
    GilEvent e;
    e.ts = ts;
    e.thread = static_cast<std::uint32_t>(t.stats_index);
    e.state = st;
    if (label != nullptr) {
      // Natives pass string literals: remember the last one by address.
      if (label == last_label_ptr && labels[last_label] == label) {
        e.label = last_label;
        events.push_back(e);
        return;
      }
      std::string key(label);
      auto it = label_index.find(key);
      if (it == label_index.end()) {
        it = label_index.emplace(key, static_cast<std::uint32_t>(labels.size())).first;
        labels.push_back(std::move(key));
      }
      e.label = it->second;
      last_label_ptr = label;
      last_label = it->second;
    }
    events.push_back(e);
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
    record(t, ThreadActivity::Running, now);
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

  // `t` stops holding at `now` (hold statistics, priority credit).
  void end_hold(GilThread& t, std::uint64_t now) {
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

  void start_wait(GilThread& t, std::uint64_t now) {
    t.granted = false;
    t.wait_start = now;
    t.requested_at = 0;
    record(t, ThreadActivity::Waiting, now);
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
        if (h != nullptr) h->breaker.fetch_or(kBreakDropRequest, std::memory_order_relaxed);
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
    for (std::size_t i = 0; i < table.size(); ++i) {
      if (!whole_run && !cur_valid[i]) continue;
      GilThreadStats ts = table[i];
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
    return s;
  }
};

Gil::Gil() : impl_(new Impl) {}
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
  t.registered = true;
  t.granted = false;
  t.state = ThreadActivity::Ended;  // nothing recorded yet
  t.prio_credit = static_cast<std::int64_t>(m.interval.load());
  t.prio_credit_at = now_ns();
  t.prio_waiter = t.prio_hold = t.preempted = false;
}

void Gil::unregister_thread(GilThread& t) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  if (!t.registered) return;
  if (m.holder.load(std::memory_order_relaxed) == &t) {  // be forgiving
    std::uint64_t now = now_ns();
    m.end_hold(t, now);
    m.pass_on(now);
  }
  m.record(t, ThreadActivity::Ended, now_ns());
  m.total[t.stats_index].alive = false;
  m.cur[t.stats_index].alive = false;
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

void Gil::release(GilThread& t) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  if (m.holder.load(std::memory_order_relaxed) != &t) return;
  std::uint64_t now = now_ns();
  m.end_hold(t, now);
  m.record(t, ThreadActivity::Blocked, now, "(no GIL)");
  m.pass_on(now);
}

void Gil::yield(GilThread& t) {
  std::unique_lock<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  t.breaker.fetch_and(~std::uint32_t{kBreakDropRequest}, std::memory_order_relaxed);
  if (m.holder.load(std::memory_order_relaxed) != &t || m.waiters.empty()) return;
  std::uint64_t now = now_ns();
  bool was_prio_hold = t.prio_hold;
  m.end_hold(t, now);
  m.update(t, [](GilThreadStats& s) { ++s.forced; });
  m.start_wait(t, now);
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
  if (m.holder.load(std::memory_order_relaxed) != &t) {  // not holding: only record
    m.record(t, ThreadActivity::Blocked, now, label);
    return;
  }
  m.end_hold(t, now);
  m.update(t, [](GilThreadStats& s) { ++s.io_releases; });
  m.record(t, ThreadActivity::Blocked, now, label);
  m.pass_on(now);
}

void Gil::end_blocking(GilThread& t) {
  std::unique_lock<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  std::uint64_t now = now_ns();
  GilThread* h = m.holder.load(std::memory_order_relaxed);
  if (h == &t) return;  // unpaired call while holding
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
    h->breaker.fetch_or(kBreakDropRequest, std::memory_order_relaxed);
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
  }
}

GilRecording Gil::recording() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto& m = *impl_;
  GilRecording r;
  r.start_ns = m.start_ns;
  r.end_ns = now_ns();
  r.threads = m.total;
  r.events.assign(m.events.begin(), m.events.end());
  r.labels = m.labels;
  r.truncated = m.truncated;
  r.totals = m.snapshot(true);
  return r;
}

void Gil::set_event_limit(std::size_t n) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->event_limit = n;
}

}  // namespace weft
