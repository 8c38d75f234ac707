// The global interpreter lock.
//
// Exactly one Weft thread holds the GIL while it runs bytecode or touches a
// runtime object. The design follows CPython's Python/ceval_gil.c and Ruby's
// thread_pthread.c:
//
//  * A thread that waits longer than the switch interval sets the drop
//    request bit on the holder's eval breaker. The holder notices at its next
//    check (every backward jump and call), calls yield(), hands the lock to
//    the next waiter and cannot take it back before that waiter ran
//    (forced switching).
//  * Waiters are served in FIFO order, so nobody starves.
//  * The uncontended path is a mutex lock/unlock with no waiters: no system
//    call, and no thread ever wakes up on a timer while only one thread runs.
//  * Every acquire/release is recorded with monotonic nanosecond timestamps
//    (always on): per-thread statistics for gil.stats() and --gil-stats, and
//    state-change events for --gil-timeline and --gil-trace.
//
// Policies:
//  * classic    — CPython 3.2+: a thread coming back from a blocking call
//                 queues like everybody else and waits up to an interval
//                 before it may request a drop (this is the convoy effect).
//  * responsive — a thread coming back from a blocking call asks the holder
//                 to drop at once and goes to the front of the queue, so I/O
//                 latency stays low; CPU-bound threads keep their FIFO turns.
//                 Priority is bounded (a per-thread credit of one interval,
//                 refilled at half wall-clock speed): the exact anti-starvation
//                 rules are documented at the top of gil.cpp.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace weft {

// Bits of a thread's eval breaker. The VM tests the whole word with one
// relaxed load on every backward jump and call; only when it is non-zero
// does it look at the individual bits.
enum BreakerBits : std::uint32_t {
  kBreakDropRequest = 1u << 0,  // another thread wants the GIL: call Gil::yield
  kBreakInterrupt = 1u << 1,    // Ctrl-C: raise KeyboardInterrupt (main thread)
  kBreakTimeout = 1u << 2,      // a job attempt passed its deadline: TimeoutError
  kBreakGc = 1u << 3,           // reserved for the collector
};

// Monotonic clock in nanoseconds (vDSO, no system call).
std::uint64_t now_ns();

enum class GilPolicy { Classic, Responsive };
const char* policy_name(GilPolicy p);

// What a thread is doing, for the timeline and the trace.
enum class ThreadActivity : std::uint8_t { Running, Waiting, Blocked, Ended };

// Why the holder let the lock go (SPEC §8.7): `Forced` after another thread
// waited an interval (or a returning I/O thread asked), `Io` around a
// blocking call, `Wait` to wait on a lock, channel, join or job queue, `Exit`
// when the thread ended. `None` is "did not hold it".
enum class GilCause : std::uint8_t { None, Forced, Io, Wait, Exit };
constexpr std::size_t kGilCauses = 5;
const char* cause_name(GilCause c);
// The cause of a release around the blocking call `label`: waits on other
// threads (sync.*, thread.join, jobs.*, ...) are `Wait`, the rest `Io`.
GilCause cause_of_label(const char* label);

// Statistics of one thread (also kept after the thread ended).
struct GilThreadStats {
  int id = 0;
  std::string name;
  std::uint64_t acquisitions = 0;
  std::uint64_t contended = 0;    // acquisitions that had to wait
  std::uint64_t forced = 0;       // drops on request (yield)
  std::uint64_t io_releases = 0;  // releases around blocking calls
  std::uint64_t wait_ns = 0;
  std::uint64_t hold_ns = 0;
  std::uint64_t max_wait_ns = 0;
  // Handoffs this thread gave (the lock passed to another thread), by cause
  // (index: GilCause).
  std::uint64_t handoffs[kGilCauses] = {};
  // Wake-to-run latency: from the end of a blocking call to holding the lock
  // again. p50/p99 come from a log-linear histogram (within about 6 %).
  std::uint64_t wake_count = 0;
  std::uint64_t wake_p50_ns = 0;
  std::uint64_t wake_p99_ns = 0;
  std::uint64_t wake_max_ns = 0;
  // The histogram behind the wake percentiles (bucket counts; filled by
  // total_stats() only). Counts only grow, so two snapshots subtract to the
  // distribution of the time between them: gil.measure and `weft test`
  // report a window's wake-to-run percentiles that way
  // (wake_hist_percentile).
  std::shared_ptr<const std::vector<std::uint32_t>> wake_hist;
  bool alive = true;
};

// The p-th percentile (0..100) of a wake-to-run histogram given as bucket
// counts (GilThreadStats::wake_hist, or a difference of two), in ns; 0 when
// it is empty.
std::uint64_t wake_hist_percentile(const std::vector<std::uint64_t>& counts, double p);

// A snapshot for gil.stats(): totals plus one entry per thread that ran since
// the last reset (ended threads included), in thread-id order.
struct GilStats {
  std::uint64_t switches = 0;  // ownership passed to a different thread
  std::uint64_t forced = 0;
  std::uint64_t io_releases = 0;
  std::uint64_t acquisitions = 0;
  std::uint64_t contended = 0;
  std::uint64_t wait_ns = 0;
  std::uint64_t hold_ns = 0;
  // Wake-to-run latency over all threads (see GilThreadStats).
  std::uint64_t wake_count = 0;
  std::uint64_t wake_p50_ns = 0;
  std::uint64_t wake_p99_ns = 0;
  std::uint64_t wake_max_ns = 0;
  // Every thread's wake histogram merged, ended threads included
  // (total_stats() only; see GilThreadStats::wake_hist).
  std::shared_ptr<const std::vector<std::uint32_t>> wake_hist;
  double interval_s = 0.005;
  GilPolicy policy = GilPolicy::Responsive;
  std::vector<GilThreadStats> threads;
};

// The GIL's view of one interpreter thread. It is embedded in the VM's
// per-thread state; the GIL never owns it. Fields below `breaker` are the
// GIL's private bookkeeping.
struct GilThread {
  // Eval breaker: set by other threads (drop request, interrupt, timeout),
  // read by the owning thread on every check.
  std::atomic<std::uint32_t> breaker{0};
  int id = 0;
  std::string name;

  // --- private to Gil (protected by Gil's mutex or owned by the holder) ---
  std::condition_variable cv;       // this thread's own wake-up signal
  bool granted = false;             // the lock was handed to this thread
  std::uint64_t acquired_at = 0;    // when this thread took the lock
  std::uint64_t blocked_since = 0;
  std::string blocked_on;           // label of the current blocking call
  std::size_t stats_index = 0;      // index into Gil's stats table
  std::uint64_t wait_start = 0;     // when the current wait for the lock began
  std::uint64_t requested_at = 0;   // last drop request made by this waiter
  std::int64_t prio_credit = 0;     // responsive policy: priority budget (ns)
  std::uint64_t prio_credit_at = 0; // when prio_credit was last replenished
  std::uint64_t wake_at = 0;        // end of the current blocking call (0: none)
  bool prio_waiter = false;         // queued with I/O priority (responsive)
  bool prio_hold = false;           // holds the lock through a priority grant
  bool preempted = false;           // yielded to an I/O thread mid-turn
  bool registered = false;
  ThreadActivity state = ThreadActivity::Ended;  // last recorded state
};

// One recorded state change (for the timeline and the trace).
//
// A Running event that follows another thread's hold is a handoff: `peer` is
// that thread (index + 1), `cause` why it let go and, for a forced drop,
// `requester` the thread that asked (index + 1). On Waiting, Blocked and
// Ended events `cause` says why this thread let the lock go (None when it
// did not hold it).
struct GilEvent {
  std::uint64_t ts = 0;       // now_ns()
  std::uint32_t thread = 0;   // index into GilRecording::threads
  std::uint32_t label = 0;    // index into GilRecording::labels (Blocked only)
  ThreadActivity state = ThreadActivity::Running;
  GilCause cause = GilCause::None;
  std::uint32_t peer = 0;       // Running: previous holder + 1 (0: none)
  std::uint32_t requester = 0;  // Running after a forced drop: who asked + 1
};

// Everything the timeline and the trace are drawn from. Events are kept per
// thread in bounded rings, so this is the recent past: at most the last
// record-seconds (default 10 s) and at most the per-thread event cap.
struct GilRecording {
  std::uint64_t start_ns = 0;  // Gil creation
  std::uint64_t end_ns = 0;    // the moment the recording was taken
  std::vector<GilThreadStats> threads;  // registration order; `alive` flag set
  std::vector<GilEvent> events;         // in timestamp order
  std::vector<std::string> labels;
  // Older events were dropped (ring cap or time window); the events start
  // at `events.front().ts` with each live thread's state at that moment.
  bool truncated = false;
  GilStats totals;  // total_stats() at the same moment
};

// Renderers used by Gil::timeline / stats_table / write_trace. They are pure
// functions of their input (deterministic), exposed for tests and tools.
std::string render_timeline(const GilRecording& rec, int width);
std::string render_stats_table(const GilStats& stats);
std::string render_trace_json(const GilRecording& rec);
// The self-contained interactive page of --gil-html (runtime/gil_html.cpp).
std::string render_html(const GilRecording& rec);
// Width of the terminal on stderr, else $COLUMNS, else 80.
int terminal_width();

class Gil {
 public:
  Gil();
  ~Gil();
  Gil(const Gil&) = delete;
  Gil& operator=(const Gil&) = delete;

  // A new thread introduces itself before its first acquire (id and name must
  // be set). Its statistics outlive it.
  void register_thread(GilThread& t);
  // The thread is ending. It must not hold the GIL.
  void unregister_thread(GilThread& t);

  // Blocks until `t` holds the GIL.
  void acquire(GilThread& t);
  // Gives the GIL up (thread exit, or before a wait that is not a "blocking
  // call" in the statistics sense).
  void release(GilThread& t, GilCause cause = GilCause::Wait);
  // Called by the holder when it sees kBreakDropRequest: clears the bit, hands
  // the GIL to the next waiter, and re-acquires it only after that waiter
  // took it (forced switching). Counts as a forced drop.
  void yield(GilThread& t);

  // Release around a blocking call (sleep, join, I/O, ...). `label` names the
  // call in the timeline and trace ("time.sleep", "http.get", ...). Counts as
  // an I/O release. Must be paired with end_blocking by the same thread.
  void begin_blocking(GilThread& t, const char* label);
  void end_blocking(GilThread& t);

  // True when `t` currently holds the lock (for assertions).
  bool held_by(const GilThread& t) const;

  void set_interval_ns(std::uint64_t ns);
  std::uint64_t interval_ns() const;
  void set_policy(GilPolicy p);
  GilPolicy policy() const;

  // Statistics since the last reset_stats().
  GilStats stats() const;
  void reset_stats();
  // Statistics for the whole run (ignores reset_stats), for the exit reports.
  GilStats total_stats() const;
  // A copy of the recorded events (the recent window) and per-thread data.
  GilRecording recording() const;
  // Capacity of each thread's event ring (default 131072 events, 16 bytes
  // each); when a ring is full its oldest events are overwritten and the
  // timeline says so. 0 turns recording off.
  void set_event_limit(std::size_t n);
  // How much of the past the timeline keeps (default 10 s; the
  // --gil-record-seconds option and WEFT_GIL_RECORD_SECONDS set it).
  void set_record_window_ns(std::uint64_t ns);

  // The text chart of --gil-timeline and gil.timeline(): one row per thread,
  // glyphs for running / waiting for the GIL / blocked in a call, a legend,
  // `width` columns wide (0: the terminal width, or 80).
  std::string timeline(int width = 0) const;
  // The per-thread table of --gil-stats.
  std::string stats_table() const;
  // Writes Chrome trace-event JSON (opens in ui.perfetto.dev and
  // chrome://tracing). Returns false and fills `error` when it cannot write.
  bool write_trace(const std::string& path, std::string& error) const;
  // Writes the --gil-html page. Same contract as write_trace.
  bool write_html(const std::string& path, std::string& error) const;

 private:
  struct Impl;
  Impl* impl_;
};

// RAII helper for natives: releases the GIL for a blocking call and takes it
// back when the scope ends (like Py_BEGIN_ALLOW_THREADS). Copy everything the
// call needs out of runtime objects *before* creating it.
class BlockingRegion {
 public:
  BlockingRegion(Gil& gil, GilThread& t, const char* label) : gil_(gil), t_(t) {
    gil_.begin_blocking(t_, label);
  }
  ~BlockingRegion() { gil_.end_blocking(t_); }
  BlockingRegion(const BlockingRegion&) = delete;
  BlockingRegion& operator=(const BlockingRegion&) = delete;

 private:
  Gil& gil_;
  GilThread& t_;
};

}  // namespace weft
