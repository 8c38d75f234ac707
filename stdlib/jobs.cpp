// jobs (SPEC §7.9): an in-process background job queue.
//
// A queue owns N worker threads. Workers are ordinary interpreter threads
// (spawn_thread), named "<queue>-worker-<n>", so they take the GIL to run
// script code, release it in every blocking call (http.*, time.sleep, io.*)
// and show up in gil.stats(). Each worker runs a native loop: take the next
// ready job (waiting without the GIL when there is none), run it with
// guarded_call under the GIL, record the outcome, notify waiters.
//
// Concurrency model
//  * One mutex per interpreter (JobsState::mu) protects every queue's
//    containers and every job's state. It is never held while taking the GIL
//    (BlockingRegion scopes always enclose the lock scopes) and never held
//    while running script code or allocating.
//  * Job Values (fn, args, result, error) are written only by the GIL holder;
//    the containers that hold jobs are also touched by workers waiting
//    without the GIL, so trace() takes the mutex.
//  * Waiting for results (result, wait, as_completed, map, shutdown) releases
//    the GIL and waits on one condition variable with the thread's stop token
//    (Ctrl-C and job timeouts wake it) — no polling.
//  * Per-attempt timeouts: the worker sets Thread::deadline_ns (blocking
//    calls shorten their own waits to it) and registers the deadline with one
//    watchdog thread per interpreter. The watchdog never takes the GIL; when
//    an attempt passes its deadline it calls Thread::interrupt(kBreakTimeout),
//    which makes CPU-bound script code raise TimeoutError at its next
//    bytecode check and wakes any interruptible wait.
//  * GC: a queue marks its queued, running and failed jobs; a job marks its
//    function, arguments, result, error and queue. Queues that have live
//    workers are in a per-interpreter registry marked by a root callback (and
//    each worker's native function carries its queue as bound data).
//  * At exit, a hook placed before wait_all_threads drains every queue
//    (follow-up jobs submitted by running jobs are allowed while draining),
//    then closes the queues so their workers return.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "interpreter/vm.hpp"
#include "modules.hpp"
#include "runtime/natives.hpp"
#include "stdlib/durable.hpp"
#include "stdlib/http_limits.hpp"
#include "sys_exit.hpp"
#include "jobs_view.hpp"
#include "thread.hpp"

namespace weft {

namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point steady_at(std::uint64_t ns) {
  std::uint64_t now = now_ns();
  auto left = std::chrono::nanoseconds(ns > now ? ns - now : 0);
  return Clock::now() + left;
}

std::uint64_t secs_to_ns(double s) {
  if (!(s > 0)) return 0;
  if (s > 1e9) s = 1e9;  // ~31 years: "forever"
  return static_cast<std::uint64_t>(s * 1e9);
}

struct QueueHandle;
struct JobsState;

enum class JobStatus : std::uint8_t { Queued, Running, Retrying, Done, Failed, Cancelled };

const char* status_name(JobStatus s) {
  switch (s) {
    case JobStatus::Queued: return "queued";
    case JobStatus::Running: return "running";
    case JobStatus::Retrying: return "retrying";
    case JobStatus::Done: return "done";
    case JobStatus::Failed: return "failed";
    case JobStatus::Cancelled: return "cancelled";
  }
  return "?";
}

bool is_final(JobStatus s) { return s == JobStatus::Done || s == JobStatus::Failed || s == JobStatus::Cancelled; }

// ----------------------------------------------------------------- job

struct JobHandle : ObjHandle {
  std::int64_t id = 0;
  QueueHandle* queue = nullptr;
  Value fn;
  std::vector<Value> args;
  Value result;
  Value error;  // the last error (kept while retrying)
  std::atomic<JobStatus> status{JobStatus::Queued};
  // Scheduling (under JobsState::mu).
  std::int64_t priority = 0;
  std::uint64_t seq = 0;       // FIFO within a priority
  std::uint64_t ready_at = 0;  // now_ns() before which it may not start
  std::int64_t retries = 0;
  double backoff = 0.1;
  double timeout = 0;          // per attempt, seconds (0: none)
  int attempts = 0;            // total attempts so far
  int round_attempts = 0;      // attempts since the last (re)queue by retry_failed
  std::uint64_t finish_seq = 0;
  int watchers = 0;            // threads waiting for this job to finish
  std::uint64_t deadline_at = 0;  // now_ns() by which the whole job must end (0: none)
  std::string unique;          // unique key (empty: none)

  const char* type_name() const override { return "job"; }
  const MethodTable& methods() const override;
  bool get_field(Thread& t, std::string_view f, Value& out) override {
    (void)t;
    if (f == "id") {
      out = Value::integer(id);
      return true;
    }
    return false;
  }
  void trace(Heap& heap) override;
  std::string repr() const override {
    return fmt::format("<job {} {}>", id, status_name(status.load(std::memory_order_relaxed)));
  }
};

struct ReadyCmp {  // higher priority first, then FIFO
  bool operator()(const JobHandle* a, const JobHandle* b) const {
    if (a->priority != b->priority) return a->priority > b->priority;
    return a->seq < b->seq;
  }
};
struct DelayCmp {  // earliest ready time first
  bool operator()(const JobHandle* a, const JobHandle* b) const {
    if (a->ready_at != b->ready_at) return a->ready_at < b->ready_at;
    return a->seq < b->seq;
  }
};

// ---------------------------------------------------------------- queue

struct QueueHandle : ObjHandle {
  JobsState* S = nullptr;
  std::string name;
  int workers = 4;
  std::int64_t retries = 0;
  double backoff = 0.1;
  double timeout = 0;
  double rate = 0;
  double max_retry_after = 300;
  double deadline = 0;  // default per-job deadline, seconds (0: none)

  // Under JobsState::mu.
  bool paused = false;
  std::map<std::string, JobHandle*> unique;  // keys of unfinished jobs
  std::vector<struct Ticker*> tickers;       // q.every()
  std::set<JobHandle*, ReadyCmp> ready;
  std::set<JobHandle*, DelayCmp> delayed;  // delay / retry backoff not over yet
  std::set<JobHandle*> running;
  std::vector<JobHandle*> dead;  // the failed jobs
  std::vector<Thread*> worker_threads;
  std::condition_variable work_cv;
  bool started = false;
  bool closed = false;    // shutdown: no new jobs
  bool hard = false;      // shutdown(false): no more retries either
  int live_workers = 0;   // started and not yet returned
  int idle_workers = 0;   // waiting for work
  std::uint64_t next_start = 0;  // rate limit: earliest next start (now_ns)
  std::uint64_t done = 0, failed = 0, cancelled = 0, retried = 0;

  const char* type_name() const override { return "queue"; }
  const MethodTable& methods() const override;
  bool get_field(Thread& t, std::string_view f, Value& out) override {
    if (f == "name") {
      out = str_value(t, name);
      return true;
    }
    if (f == "workers") {
      out = Value::integer(workers);
      return true;
    }
    return false;
  }
  void trace(Heap& heap) override;
  std::string repr() const override { return fmt::format("<queue \"{}\">", name); }

  bool idle() const { return ready.empty() && delayed.empty() && running.empty(); }
  bool has_pending() const { return !ready.empty() || !delayed.empty(); }
};

// q.every(seconds, fn, ...args): submits fn(args) every `seconds`; a tick is
// skipped while the previous run is unfinished. Fired by the queue's workers
// (which hold the GIL when they look for work).
struct Ticker : ObjHandle {
  QueueHandle* queue = nullptr;
  Value fn;
  std::vector<Value> args;
  double every = 1;
  std::uint64_t next_at = 0;  // under JobsState::mu
  bool cancelled = false;     // under JobsState::mu
  JobHandle* last = nullptr;  // the last job submitted (GIL holder only)
  std::int64_t runs = 0, skipped = 0;
  const char* type_name() const override { return "ticker"; }
  const MethodTable& methods() const override;
  void trace(Heap& heap) override {
    heap.mark_value(fn);
    for (Value v : args) heap.mark_value(v);
    if (last) heap.mark_obj(last);
    if (queue) heap.mark_obj(queue);
  }
  std::string repr() const override { return fmt::format("<ticker every {} s>", every); }
};

// ------------------------------------------------------------- watchdog

// One plain OS thread per interpreter that never takes the GIL: it sleeps
// until the earliest attempt deadline and interrupts the worker running that
// attempt.
class Watchdog {
 public:
  ~Watchdog() { stop(); }

  std::uint64_t add(Thread* t, std::uint64_t deadline) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!th_.joinable() && !stopping_) th_ = std::thread([this] { loop(); });
    std::uint64_t token = ++next_token_;
    bool earliest = entries_.empty() || deadline < entries_.begin()->first.first;
    entries_.emplace(std::make_pair(deadline, token), t);
    if (earliest) cv_.notify_one();
    return token;
  }

  void remove(std::uint64_t deadline, std::uint64_t token) {
    std::lock_guard<std::mutex> lk(mu_);
    entries_.erase(std::make_pair(deadline, token));
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
      cv_.notify_one();
    }
    if (th_.joinable()) th_.join();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stopping_) {
      if (entries_.empty()) {
        cv_.wait(lk);
        continue;
      }
      auto it = entries_.begin();
      std::uint64_t now = now_ns();
      if (it->first.first <= now) {
        // The worker removes its entry (under mu_) before it clears the
        // timeout bit, so this never hits a later attempt.
        it->second->interrupt(kBreakTimeout);
        entries_.erase(it);
        continue;
      }
      cv_.wait_until(lk, steady_at(it->first.first));
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, Thread*> entries_;
  std::uint64_t next_token_ = 0;
  bool stopping_ = false;
  std::thread th_;
};

// ------------------------------------------------- per-interpreter state

struct JobsState {
  std::mutex mu;
  std::condition_variable_any done_cv;  // job finished, worker exited
  int waiters = 0;  // threads waiting on done_cv for a general condition
  std::vector<QueueHandle*> queues;     // queues with live workers (rooted)
  std::int64_t next_job_id = 1;
  std::uint64_t next_seq = 1;
  std::uint64_t finish_seq = 0;
  int unnamed_queues = 0;
  std::mt19937_64 rng{std::random_device{}()};
  Watchdog watchdog;

  // A job finished (or was cancelled): wake whoever may care.
  void notify_done(JobHandle* j);
};

JobsState& state(Interp& in) {
  auto& slot = in.module_state["jobs"];
  if (!slot) {
    auto s = std::make_shared<JobsState>();
    slot = s;
    JobsState* raw = s.get();
    in.heap.add_root_callback([raw](Heap& h) {
      std::lock_guard<std::mutex> lk(raw->mu);
      for (QueueHandle* q : raw->queues) h.mark_obj(q);
    });
  }
  return *static_cast<JobsState*>(slot.get());
}

void JobsState::notify_done(JobHandle* j) {
  if (waiters > 0 || (j && j->watchers > 0)) done_cv.notify_all();
}

void JobHandle::trace(Heap& heap) {
  // Values are only written by the GIL holder (and trace runs under the GIL).
  heap.mark_value(fn);
  for (Value v : args) heap.mark_value(v);
  heap.mark_value(result);
  heap.mark_value(error);
  if (queue) heap.mark_obj(queue);
}

void QueueHandle::trace(Heap& heap) {
  std::lock_guard<std::mutex> lk(S->mu);
  for (JobHandle* j : ready) heap.mark_obj(j);
  for (JobHandle* j : delayed) heap.mark_obj(j);
  for (JobHandle* j : running) heap.mark_obj(j);
  for (JobHandle* j : dead) heap.mark_obj(j);
  for (Ticker* k : tickers) heap.mark_obj(k);
}

JobHandle* job_self(Args a) { return static_cast<JobHandle*>(a.self.as.o); }
QueueHandle* queue_self(Args a) { return static_cast<QueueHandle*>(a.self.as.o); }

// An in-process job. Durable jobs (stdlib/durable.cpp) are also of type
// "job" for scripts, so the name alone does not tell them apart.
bool is_job(Value v) {
  return is_obj_type(v, ObjType::Handle) && dynamic_cast<JobHandle*>(as<ObjHandle>(v)) != nullptr;
}
bool is_callable(Value v) { return is_obj_type(v, ObjType::Closure) || is_obj_type(v, ObjType::Native); }



// ---------------------------------------------------- timeouts on workers

// Clears a timeout interrupt that arrived after the attempt had ended (or
// was never consumed), so it cannot hit the next job.
void clear_timeout_bit(Thread& t) {
  std::lock_guard<std::mutex> lk(t.wait_mu);
  std::uint32_t bits = t.gil.breaker.fetch_and(~std::uint32_t{kBreakTimeout}, std::memory_order_acq_rel);
  if (!(bits & kBreakInterrupt) && t.stop_src.stop_requested()) t.stop_src = std::stop_source();
}

// ---------------------------------------------------------- waiting

// The deadline of a wait: the caller's timeout, cut at the current job
// attempt's deadline when called from inside a job.
struct WaitDeadline {
  bool has = false;
  std::uint64_t at = 0;
  bool job_cut = false;  // the attempt deadline is the earlier one
};

WaitDeadline wait_deadline(Thread& t, std::optional<double> timeout) {
  WaitDeadline d;
  if (timeout) {
    d.has = true;
    d.at = now_ns() + secs_to_ns(*timeout);
  }
  if (std::uint64_t jd = t.deadline_ns.load()) {
    if (!d.has || jd < d.at) {
      d.has = true;
      d.at = jd;
      d.job_cut = true;
    }
  }
  return d;
}

// Waits (GIL released, no polling) until pred() holds under S.mu, the
// timeout passes, or the thread is interrupted. For waits on conditions other
// than "these jobs finished" (shutdown, exit): such waiters are woken by
// every completion. Returns true when pred() held.
template <class Pred>
bool wait_jobs(Thread& t, JobsState& S, std::optional<double> timeout, const char* label, Pred pred) {
  {
    std::lock_guard<std::mutex> lk(S.mu);
    if (pred()) return true;
  }
  if (timeout && *timeout == 0) return false;
  WaitDeadline d = wait_deadline(t, timeout);
  bool ok;
  {
    BlockingRegion br(t.interp.gil, t.gil, label);
    std::unique_lock<std::mutex> lk(S.mu);
    ++S.waiters;
    if (d.has)
      ok = S.done_cv.wait_until(lk, t.wait_token(), steady_at(d.at), pred);
    else
      ok = S.done_cv.wait(lk, t.wait_token(), pred);
    --S.waiters;
  }
  t.check_interrupts();
  if (!ok && d.job_cut) raise("TimeoutError", "job attempt timed out while waiting for jobs");
  return ok;
}

// Waits until every job in `js` is finished. The waiter watches only the
// first unfinished job (JobHandle::watchers), so a completion wakes it only
// when it matters and the whole wait costs O(len(js)) checks, not O(n^2).
bool wait_for_jobs(Thread& t, JobsState& S, const std::vector<JobHandle*>& js, std::optional<double> timeout,
                   const char* label) {
  std::size_t idx = 0;
  auto advance = [&] {
    while (idx < js.size() && is_final(js[idx]->status.load())) ++idx;
    return idx == js.size();
  };
  {
    std::lock_guard<std::mutex> lk(S.mu);
    if (advance()) return true;
  }
  if (timeout && *timeout == 0) return false;
  WaitDeadline d = wait_deadline(t, timeout);
  bool ok;
  {
    BlockingRegion br(t.interp.gil, t.gil, label);
    std::unique_lock<std::mutex> lk(S.mu);
    std::stop_token token = t.wait_token();
    for (;;) {
      if (advance()) {
        ok = true;
        break;
      }
      JobHandle* j = js[idx];
      auto fin = [j] { return is_final(j->status.load()); };
      ++j->watchers;
      bool got = d.has ? S.done_cv.wait_until(lk, token, steady_at(d.at), fin) : S.done_cv.wait(lk, token, fin);
      --j->watchers;
      if (!got) {  // timed out or interrupted
        ok = advance();
        break;
      }
    }
  }
  t.check_interrupts();
  if (!ok && d.job_cut) raise("TimeoutError", "job attempt timed out while waiting for jobs");
  return ok;
}

std::string job_failure_message(JobHandle* j) {
  int n = j->attempts;
  return fmt::format("job {} failed after {} attempt{}: {}", j->id, n, n == 1 ? "" : "s", to_str(j->error));
}

// Returns the outcome of a finished job or raises JobError.
Value job_outcome(JobHandle* j) {
  switch (j->status.load()) {
    case JobStatus::Done: return j->result;
    case JobStatus::Failed: raise("JobError", job_failure_message(j));
    case JobStatus::Cancelled: raisef("JobError", "job {} was cancelled", j->id);
    default: raisef("JobError", "job {} has not finished", j->id);
  }
}

std::optional<double> timeout_arg(Args a, int i, const char* fn) {
  std::optional<double> timeout = opt_number(a, i, fn);
  if (timeout && (!(*timeout >= 0))) raisef("ValueError", "{}() timeout must be >= 0", fn);
  return timeout;
}

// ------------------------------------------------------------- workers

// Takes the next job that may start now (under S.mu). Otherwise returns
// nullptr and sets `wake` to when something may become ready (0: only a
// notification can help).
JobHandle* take_job(QueueHandle* q, std::uint64_t now, std::uint64_t& wake) {
  wake = 0;
  if (q->paused) return nullptr;  // resume() notifies
  while (!q->delayed.empty() && (*q->delayed.begin())->ready_at <= now) {
    JobHandle* j = *q->delayed.begin();
    q->delayed.erase(q->delayed.begin());
    q->ready.insert(j);
  }
  if (q->ready.empty()) {
    if (!q->delayed.empty()) wake = (*q->delayed.begin())->ready_at;
    return nullptr;
  }
  if (q->rate > 0 && now < q->next_start) {
    wake = q->next_start;
    return nullptr;
  }
  JobHandle* j = *q->ready.begin();
  q->ready.erase(q->ready.begin());
  q->running.insert(j);
  j->status.store(JobStatus::Running);
  ++j->attempts;
  ++j->round_attempts;
  if (q->rate > 0) q->next_start = std::max(now, q->next_start) + static_cast<std::uint64_t>(std::min(1e9 / q->rate, 1e18));
  return j;
}

// The job the calling worker thread is running (for jobs.remaining() and
// jobs.snooze()), and a snooze requested by it (seconds; < 0: none).
thread_local JobHandle* tl_job = nullptr;
thread_local double tl_snooze = -1;

// Removes a finished job's unique key (under S.mu).
void drop_unique(QueueHandle* q, JobHandle* j) {
  if (j->unique.empty()) return;
  auto it = q->unique.find(j->unique);
  if (it != q->unique.end() && it->second == j) q->unique.erase(it);
}

// True on a `weft worker` thread while it runs a durable job.
thread_local bool tl_durable_job = false;
thread_local std::uint64_t tl_durable_deadline = 0;  // now_ns(); 0: none

}  // namespace

void durable::enter_job(std::uint64_t deadline_ns) {
  tl_durable_job = true;
  tl_durable_deadline = deadline_ns;
  tl_snooze = -1;
}

double durable::leave_job() {
  tl_durable_job = false;
  tl_durable_deadline = 0;
  double s = tl_snooze;
  tl_snooze = -1;
  return s;
}

// The `retry_after` an error asks for (HTTPError from a 429/503 with
// Retry-After, CircuitOpenError), in seconds; < 0 when it has none.
double durable::error_retry_after(Thread& t, Value error, bool& circuit_open) {
  circuit_open = false;
  if (!is_obj_type(error, ObjType::Error)) return -1;
  auto* e = as<ObjError>(error);
  circuit_open = e->type_name->view() == "CircuitOpenError";
  if (!e->fields) return -1;
  Value* v = map_get(t, e->fields, "retry_after");
  if (!v) return -1;
  if (v->is_int()) return static_cast<double>(v->as.i);
  if (v->is_number()) return v->as.d;
  return -1;
}

namespace {

using durable::error_retry_after;

void fail_job(JobsState& S, QueueHandle* q, JobHandle* j) {
  j->status.store(JobStatus::Failed);
  j->finish_seq = ++S.finish_seq;
  q->dead.push_back(j);
  ++q->failed;
  drop_unique(q, j);
  S.notify_done(j);
}

// Runs one attempt of `j` on worker `t` (GIL held) and records the outcome.
void run_attempt(Thread& t, QueueHandle* q, JobHandle* j) {
  JobsState& S = *q->S;
  std::uint64_t deadline = 0, token = 0;
  if (j->timeout > 0) deadline = now_ns() + secs_to_ns(j->timeout);
  // The whole-job deadline bounds the attempt like its own timeout does:
  // the watchdog interrupts CPU-bound code and every blocking call shortens
  // its wait to Thread::deadline_ns.
  if (j->deadline_at && (!deadline || j->deadline_at < deadline)) deadline = j->deadline_at;
  Value result, error;
  bool ok = false;
  bool expired = j->deadline_at && now_ns() >= j->deadline_at;
  tl_snooze = -1;
  if (!expired) {
    if (deadline) {
      t.deadline_ns.store(deadline);
      token = S.watchdog.add(&t, deadline);
    }
    tl_job = j;
    try {
      ok = guarded_call(t, j->fn, j->args.data(), static_cast<int>(j->args.size()), result, error);
    } catch (SysExit&) {
      ok = false;
      error = Value::object(new_error(t, "JobError", "sys.exit() was called inside a job"));
    }
    tl_job = nullptr;
    if (deadline) {
      S.watchdog.remove(deadline, token);
      t.deadline_ns.store(0);
      clear_timeout_bit(t);
    }
  }
  double snooze = tl_snooze;
  tl_snooze = -1;
  std::uint64_t now = now_ns();
  // A failure at (or within a hair of) the job's deadline is the deadline's
  // doing: the job fails for good with that reason.
  bool past_deadline = j->deadline_at && (expired || (!ok && snooze < 0 && now + 2000000 >= j->deadline_at));
  bool circuit_open = false;
  double retry_after = ok || past_deadline ? -1 : error_retry_after(t, error, circuit_open);
  // Values are made before taking the lock (allocation needs the GIL and no lock).
  Value deadline_error;
  if (j->deadline_at) {
    // The last error is worth showing unless it is the deadline's own timeout.
    bool own_timeout = is_obj_type(error, ObjType::Error) && as<ObjError>(error)->type_name->view() == "TimeoutError";
    std::string last = error.is_nil() || error.is_undef() || own_timeout ? std::string() : to_str(error);
    deadline_error = Value::object(new_error(
        t, "TimeoutError", last.empty() || expired ? "deadline exceeded" : fmt::format("deadline exceeded (last error: {})", last)));
  }
  std::lock_guard<std::mutex> lk(S.mu);
  q->running.erase(j);
  if (snooze >= 0 && !past_deadline && !q->hard) {
    // jobs.snooze(): not an attempt (neither in attempts() nor against `retries`).
    --j->round_attempts;
    --j->attempts;
    j->ready_at = now + secs_to_ns(snooze);
    if (!j->deadline_at || j->ready_at < j->deadline_at) {
      j->status.store(JobStatus::Retrying);
      q->delayed.insert(j);
      if (q->idle_workers > 0) q->work_cv.notify_one();
      return;
    }
    error = deadline_error;
    past_deadline = true;
  }
  if (ok && snooze < 0) {
    j->result = result;
    j->status.store(JobStatus::Done);
    j->finish_seq = ++S.finish_seq;
    ++q->done;
    drop_unique(q, j);
    S.notify_done(j);
    return;
  }
  j->error = past_deadline ? deadline_error : error;
  if (past_deadline) {
    fail_job(S, q, j);
    return;
  }
  // A circuit that is open says nothing about the job: try again when it
  // half-opens, without using up an attempt.
  if (circuit_open) {
    --j->round_attempts;
    --j->attempts;
  }
  if (j->round_attempts <= j->retries && !q->hard) {
    double wait = j->backoff * std::ldexp(1.0, std::max(0, j->round_attempts - 1));
    std::uniform_real_distribution<double> jitter(0.0, 0.1);
    wait *= 1.0 + jitter(S.rng);
    // The server said when to come back: not before (capped, so a silly
    // header cannot park a job for a day).
    if (retry_after >= 0) wait = std::max(wait, std::min(retry_after, q->max_retry_after));
    j->ready_at = now + secs_to_ns(wait);
    if (j->deadline_at && j->ready_at >= j->deadline_at) {
      // The next attempt could not start before the deadline: fail now.
      j->error = deadline_error;
      fail_job(S, q, j);
      return;
    }
    j->status.store(JobStatus::Retrying);
    q->delayed.insert(j);
    ++q->retried;
    if (q->idle_workers > 0) q->work_cv.notify_one();
    return;
  }
  fail_job(S, q, j);
}

struct SubmitOpts {
  std::int64_t retries;
  std::int64_t priority = 0;
  double delay = 0;
  double timeout;
  double backoff;
  double deadline = 0;  // seconds from submission (0: none)
  std::string unique;   // empty: none
};
JobHandle* submit_job(Thread& t, QueueHandle* q, const SubmitOpts& o, Value fn, const Value* args, int argc);
SubmitOpts default_opts(QueueHandle* q);


bool tickers_due(QueueHandle* q, std::uint64_t now, std::uint64_t& wake) {
  bool due = false;
  if (q->closed) return false;
  for (Ticker* k : q->tickers) {
    if (k->cancelled) continue;
    if (k->next_at <= now) due = true;
    else if (!wake || k->next_at < wake) wake = k->next_at;
  }
  return due;
}

void fire_tickers(Thread& t, QueueHandle* q) {
  JobsState& S = *q->S;
  std::vector<Ticker*> due;
  {
    std::lock_guard<std::mutex> lk(S.mu);
    if (q->tickers.empty() || q->closed) return;
    std::uint64_t now = now_ns();
    for (Ticker* k : q->tickers) {
      if (k->cancelled || k->next_at > now) continue;
      due.push_back(k);
      std::uint64_t step = secs_to_ns(k->every);
      k->next_at += step;
      if (k->next_at <= now) k->next_at = now + step;  // fell behind: no burst of catch-up ticks
    }
    q->tickers.erase(std::remove_if(q->tickers.begin(), q->tickers.end(), [](Ticker* k) { return k->cancelled; }),
                     q->tickers.end());
  }
  for (Ticker* k : due) {
    if (k->last && !is_final(k->last->status.load())) {
      ++k->skipped;
      continue;
    }
    try {
      k->last = submit_job(t, q, default_opts(q), k->fn, k->args.data(), static_cast<int>(k->args.size()));
      ++k->runs;
    } catch (NativeError&) {
      // The queue was shut down meanwhile: the ticker ends with it.
    }
  }
}

// The worker loop: returns when the queue is closed and has nothing left.
void worker_loop(Thread& t, QueueHandle* q) {
  JobsState& S = *q->S;
  Gil& gil = t.interp.gil;
  for (;;) {
    JobHandle* j = nullptr;
    bool exit = false;
    std::uint64_t wake = 0;
    fire_tickers(t, q);
    {
      std::lock_guard<std::mutex> lk(S.mu);
      j = take_job(q, now_ns(), wake);
      if (!j && q->closed && !q->has_pending()) exit = true;
    }
    if (!j && !exit) {
      // Nothing ready: give the GIL up (an idle wait, not a blocking call)
      // and sleep until a submit, a delayed job's time or a rate slot.
      gil.release(t.gil);
      {
        std::unique_lock<std::mutex> lk(S.mu);
        for (;;) {
          std::uint64_t now = now_ns();
          j = take_job(q, now, wake);
          if (j) break;
          if (q->closed && !q->has_pending()) {
            exit = true;
            break;
          }
          if (tickers_due(q, now, wake)) break;  // fired at the top, with the GIL
          ++q->idle_workers;
          if (wake)
            q->work_cv.wait_until(lk, steady_at(wake));
          else
            q->work_cv.wait(lk);
          --q->idle_workers;
        }
      }
      gil.acquire(t.gil);
    }
    if (exit) return;
    if (!j) continue;  // a q.every() tick is due: fired at the top
    run_attempt(t, q, j);
  }
}

// The body of every worker thread (a native bound to its queue).
Value worker_main(Thread& t, Args a) {
  QueueHandle* q = queue_self(a);
  JobsState& S = *q->S;
  {
    std::lock_guard<std::mutex> lk(S.mu);
    q->worker_threads.push_back(&t);
  }
  struct Leave {
    Thread& t;
    QueueHandle* q;
    JobsState& S;
    ~Leave() {
      // Runs with the GIL held: whoever waits in shutdown() resumes only
      // after this thread has ended and released the GIL, so thread.count()
      // is exact by then.
      std::lock_guard<std::mutex> lk(S.mu);
      q->worker_threads.erase(std::remove(q->worker_threads.begin(), q->worker_threads.end(), &t),
                              q->worker_threads.end());
      if (--q->live_workers == 0) S.queues.erase(std::remove(S.queues.begin(), S.queues.end(), q), S.queues.end());
      q->work_cv.notify_all();
      S.done_cv.notify_all();
    }
  } leave{t, q, S};
  worker_loop(t, q);
  return Value();
}

void start_workers(Thread& t, QueueHandle* q) {
  JobsState& S = *q->S;
  Value fn = t.interp.native("worker", worker_main, 0, 0, Value::object(q));
  {
    std::lock_guard<std::mutex> lk(S.mu);
    q->started = true;
    S.queues.push_back(q);
  }
  for (int i = 1; i <= q->workers; ++i) {
    {
      std::lock_guard<std::mutex> lk(S.mu);
      ++q->live_workers;
    }
    try {
      spawn_thread(t, fmt::format("{}-worker-{}", q->name, i), fn, nullptr, 0);
    } catch (...) {
      std::lock_guard<std::mutex> lk(S.mu);
      if (--q->live_workers == 0 && i == 1) {
        q->started = false;
        S.queues.erase(std::remove(S.queues.begin(), S.queues.end(), q), S.queues.end());
      }
      if (i == 1) throw;
      break;  // run with the workers we got
    }
  }
}

// -------------------------------------------------------------- submit

JobHandle* submit_job(Thread& t, QueueHandle* q, const SubmitOpts& o, Value fn, const Value* args, int argc) {
  if (!is_callable(fn)) raisef("TypeError", "submit() needs a function, not {}", type_name(fn));
  JobsState& S = *q->S;
  {
    std::lock_guard<std::mutex> lk(S.mu);
    if (q->closed) raisef("JobError", "queue \"{}\" is shut down: it takes no new jobs", q->name);
    // unique: while a job with this key is unfinished, it is the answer.
    if (!o.unique.empty()) {
      auto it = q->unique.find(o.unique);
      if (it != q->unique.end()) return it->second;
    }
  }
  auto* j = t.interp.heap.make<JobHandle>();
  j->queue = q;
  j->fn = fn;
  j->args.assign(args, args + argc);
  j->priority = o.priority;
  j->retries = o.retries;
  j->timeout = o.timeout;
  j->backoff = o.backoff;
  if (o.deadline > 0) j->deadline_at = now_ns() + secs_to_ns(o.deadline);
  bool need_start;
  {
    std::lock_guard<std::mutex> lk(S.mu);
    if (!o.unique.empty()) {
      // Another thread may have submitted the same key while we allocated.
      auto it = q->unique.find(o.unique);
      if (it != q->unique.end()) return it->second;
      j->unique = o.unique;
      q->unique.emplace(o.unique, j);
    }
    j->id = S.next_job_id++;
    j->seq = S.next_seq++;
    std::uint64_t now = now_ns();
    if (o.delay > 0) {
      j->ready_at = now + secs_to_ns(o.delay);
      q->delayed.insert(j);
    } else {
      j->ready_at = now;
      q->ready.insert(j);
    }
    need_start = !q->started;
    if (q->idle_workers > 0) q->work_cv.notify_one();
  }
  if (need_start) start_workers(t, q);  // the new job is rooted by the queue now
  return j;
}

SubmitOpts default_opts(QueueHandle* q) {
  SubmitOpts o;
  o.retries = q->retries;
  o.timeout = q->timeout;
  o.backoff = q->backoff;
  o.deadline = q->deadline;
  return o;
}

// ------------------------------------------------------------ job methods

Value Job_status(Thread& t, Args a) { return str_value(t, status_name(job_self(a)->status.load())); }

Value Job_done(Thread&, Args a) { return Value::boolean(is_final(job_self(a)->status.load())); }

Value Job_error(Thread&, Args a) {
  JobHandle* j = job_self(a);
  return j->error;  // written only under the GIL, which we hold
}

Value Job_attempts(Thread&, Args a) {
  JobHandle* j = job_self(a);
  std::lock_guard<std::mutex> lk(j->queue->S->mu);
  return Value::integer(j->attempts);
}

Value Job_result(Thread& t, Args a) {
  JobHandle* j = job_self(a);
  std::optional<double> timeout = timeout_arg(a, 0, "result");
  JobsState& S = *j->queue->S;
  bool ok = wait_for_jobs(t, S, {j}, timeout, "job.result");
  if (!ok)
    raisef("TimeoutError", "job {} did not finish within {} s (status: {})", j->id, float_repr(*timeout),
           status_name(j->status.load()));
  return job_outcome(j);
}

Value Job_cancel(Thread&, Args a) {
  JobHandle* j = job_self(a);
  QueueHandle* q = j->queue;
  JobsState& S = *q->S;
  std::lock_guard<std::mutex> lk(S.mu);
  JobStatus s = j->status.load();
  if (s != JobStatus::Queued && s != JobStatus::Retrying) return Value::boolean(false);
  if (q->ready.erase(j) == 0 && q->delayed.erase(j) == 0) return Value::boolean(false);
  j->status.store(JobStatus::Cancelled);
  j->finish_seq = ++S.finish_seq;
  ++q->cancelled;
  drop_unique(q, j);
  S.notify_done(j);
  return Value::boolean(true);
}

const MethodTable kJobMethods = {
    {"status", {Job_status, 0, 0}},   {"result", {Job_result, 0, 1}},     {"done", {Job_done, 0, 0}},
    {"error", {Job_error, 0, 0}},     {"attempts", {Job_attempts, 0, 0}}, {"cancel", {Job_cancel, 0, 0}},
};

// ---------------------------------------------------------- queue methods

Value Queue_submit(Thread& t, Args a) {
  QueueHandle* q = queue_self(a);
  if (a.n < 1) raise("TypeError", "submit() needs a function");
  return Value::object(submit_job(t, q, default_opts(q), a[0], a.v + 1, a.n - 1));
}

Value Queue_submit_with(Thread& t, Args a) {
  QueueHandle* q = queue_self(a);
  ObjMap* m = a[0].is_nil() ? nullptr : arg_map(a, 0, "submit_with");
  check_option_keys(m, {"retries", "priority", "delay", "timeout", "backoff", "deadline", "unique"}, "submit_with()");
  SubmitOpts o = default_opts(q);
  o.retries = opt_field_int(t, m, "retries", o.retries);
  if (o.retries < 0 || o.retries > 1000) raisef("ValueError", "retries must be between 0 and 1000, got {}", o.retries);
  o.priority = opt_field_int(t, m, "priority", 0);
  o.delay = opt_field_nonneg(t, m, "delay", 0, "submit_with()");
  o.timeout = opt_field_nonneg(t, m, "timeout", o.timeout, "submit_with()");
  o.backoff = opt_field_nonneg(t, m, "backoff", o.backoff, "submit_with()");
  o.deadline = opt_field_nonneg(t, m, "deadline", o.deadline, "submit_with()");
  if (m) {
    if (Value* u = map_get(t, m, "unique"); u && !u->is_nil())
      o.unique = is_obj_type(*u, ObjType::String) ? std::string(as<ObjString>(*u)->view()) : to_repr(*u);
  }
  return Value::object(submit_job(t, q, o, a[1], a.v + 2, a.n - 2));
}

// Keeps `v` rooted on t's value stack for the rest of the native call.
struct StackRoot {
  Thread& t;
  Value* at;
  StackRoot(Thread& th, Value v) : t(th), at(th.sp) { *t.sp++ = v; }
  ~StackRoot() { t.sp = at; }
};

Value Queue_map(Thread& t, Args a) {
  QueueHandle* q = queue_self(a);
  Value fn = a[0];
  if (!is_callable(fn)) raisef("TypeError", "map() argument 1 must be a function, not {}", type_name(fn));
  ObjList* items = arg_list(a, 1, "map");
  ObjList* jobs = new_list(t);
  StackRoot root(t, Value::object(jobs));
  SubmitOpts o = default_opts(q);
  for (std::size_t i = 0; i < items->items.size(); ++i) {
    Value item = items->items[i];
    jobs->items.push_back(Value::object(submit_job(t, q, o, fn, &item, 1)));
  }
  std::vector<JobHandle*> js;
  for (Value v : jobs->items) js.push_back(as<JobHandle>(v));
  wait_for_jobs(t, *q->S, js, std::nullopt, "queue.map");
  ObjList* out = new_list(t);
  StackRoot root2(t, Value::object(out));
  for (JobHandle* j : js) out->items.push_back(job_outcome(j));
  return Value::object(out);
}

Value Queue_stats(Thread& t, Args a) {
  QueueHandle* q = queue_self(a);
  std::int64_t queued = 0, retrying = 0, running, done, failed, cancelled, retried, live;
  {
    std::lock_guard<std::mutex> lk(q->S->mu);
    for (JobHandle* j : q->ready) (j->status.load() == JobStatus::Retrying ? retrying : queued)++;
    for (JobHandle* j : q->delayed) (j->status.load() == JobStatus::Retrying ? retrying : queued)++;
    running = static_cast<std::int64_t>(q->running.size());
    done = static_cast<std::int64_t>(q->done);
    failed = static_cast<std::int64_t>(q->dead.size());
    cancelled = static_cast<std::int64_t>(q->cancelled);
    retried = static_cast<std::int64_t>(q->retried);
    live = q->live_workers;
  }
  ObjMap* m = new_map(t);
  map_put(t, m, "queued", Value::integer(queued));
  map_put(t, m, "running", Value::integer(running));
  map_put(t, m, "retrying", Value::integer(retrying));
  map_put(t, m, "done", Value::integer(done));
  map_put(t, m, "failed", Value::integer(failed));
  map_put(t, m, "cancelled", Value::integer(cancelled));
  map_put(t, m, "retried", Value::integer(retried));
  map_put(t, m, "workers", Value::integer(q->workers));
  map_put(t, m, "live_workers", Value::integer(live));
  {
    std::lock_guard<std::mutex> lk(q->S->mu);
    map_put(t, m, "paused", Value::boolean(q->paused));
  }
  // Why jobs may be waiting: per host with an http.limit or http.breaker,
  // calls in flight, calls waiting for the limit, the Retry-After pause
  // left, and the breaker's state (process-wide figures).
  ObjMap* hosts = new_map(t);
  map_put(t, m, "hosts", Value::object(hosts));
  for (auto& [host, lim] : all_host_limits()) {
    HostLimit::Stats ls = lim->stats();
    ObjMap* h = new_map(t);
    map_put(t, hosts, host, Value::object(h));
    map_put(t, h, "in_flight", Value::integer(ls.in_flight));
    map_put(t, h, "waiting", Value::integer(ls.waiting));
    map_put(t, h, "paused_for", Value::number(ls.paused_for));
  }
  for (auto& [host, br] : all_host_breakers()) {
    HostBreaker::Stats bs = br->stats();
    ObjMap* h;
    if (Value* v = map_get(t, hosts, host)) {
      h = as<ObjMap>(*v);
    } else {
      h = new_map(t);
      map_put(t, hosts, host, Value::object(h));
    }
    map_put(t, h, "breaker", str_value(t, breaker_state_name(bs.state)));
  }
  return Value::object(m);
}

Value Queue_failed(Thread& t, Args a) {
  QueueHandle* q = queue_self(a);
  std::vector<Value> items;
  {
    std::lock_guard<std::mutex> lk(q->S->mu);
    for (JobHandle* j : q->dead) items.push_back(Value::object(j));
  }
  return list_value(t, std::move(items));
}

Value Queue_retry_failed(Thread& t, Args a) {
  QueueHandle* q = queue_self(a);
  JobsState& S = *q->S;
  std::lock_guard<std::mutex> lk(S.mu);
  if (q->closed) raisef("JobError", "queue \"{}\" is shut down: cannot retry its failed jobs", q->name);
  std::int64_t n = 0;
  std::uint64_t now = now_ns();
  for (JobHandle* j : q->dead) {
    j->status.store(JobStatus::Queued);
    j->round_attempts = 0;
    j->ready_at = now;
    j->seq = S.next_seq++;
    q->ready.insert(j);
    ++n;
  }
  q->dead.clear();
  q->work_cv.notify_all();
  return Value::integer(n);
}

bool is_worker_of(QueueHandle* q, Thread& t) {
  return std::find(q->worker_threads.begin(), q->worker_threads.end(), &t) != q->worker_threads.end();
}

// Closes `q`; with `wait`, drains it and waits until its workers returned.
void shutdown_queue(Thread& t, QueueHandle* q, bool wait) {
  JobsState& S = *q->S;
  bool self_worker;
  {
    std::lock_guard<std::mutex> lk(S.mu);
    q->closed = true;
    // Draining a paused queue would wait forever: shutting down resumes it.
    q->paused = false;
    for (Ticker* k : q->tickers) k->cancelled = true;
    q->tickers.clear();
    if (!wait) {
      q->hard = true;
      auto cancel = [&](JobHandle* j) {
        j->status.store(JobStatus::Cancelled);
        j->finish_seq = ++S.finish_seq;
        ++q->cancelled;
        drop_unique(q, j);
      };
      for (JobHandle* j : q->ready) cancel(j);
      for (JobHandle* j : q->delayed) cancel(j);
      q->ready.clear();
      q->delayed.clear();
      S.done_cv.notify_all();
    }
    q->work_cv.notify_all();
    self_worker = is_worker_of(q, t);
  }
  if (!wait || self_worker) return;  // a worker cannot wait for itself
  wait_jobs(t, S, std::nullopt, "queue.shutdown", [q] { return q->live_workers == 0; });
}

Value Queue_shutdown(Thread& t, Args a) {
  bool wait = a.n < 1 || a[0].truthy();
  shutdown_queue(t, queue_self(a), wait);
  return Value();
}

Value Queue_pause(Thread&, Args a) {
  QueueHandle* q = queue_self(a);
  std::lock_guard<std::mutex> lk(q->S->mu);
  q->paused = true;
  return Value();
}

Value Queue_resume(Thread&, Args a) {
  QueueHandle* q = queue_self(a);
  std::lock_guard<std::mutex> lk(q->S->mu);
  q->paused = false;
  q->work_cv.notify_all();
  return Value();
}

Value Queue_paused(Thread&, Args a) {
  QueueHandle* q = queue_self(a);
  std::lock_guard<std::mutex> lk(q->S->mu);
  return Value::boolean(q->paused);
}

// q.every(seconds, fn, ...args): the first run is one period from now.
Value Queue_every(Thread& t, Args a) {
  QueueHandle* q = queue_self(a);
  double every = arg_number(a, 0, "every");
  if (!(every >= 0.001) || std::isinf(every)) raise("ValueError", "every() needs a period of at least 0.001 seconds");
  Value fn = a[1];
  if (!is_callable(fn)) raisef("TypeError", "every() argument 2 must be a function, not {}", type_name(fn));
  auto* k = t.interp.heap.make<Ticker>();
  k->queue = q;
  k->fn = fn;
  k->args.assign(a.v + 2, a.v + a.n);
  k->every = every;
  JobsState& S = *q->S;
  bool need_start;
  {
    std::lock_guard<std::mutex> lk(S.mu);
    if (q->closed) raisef("JobError", "queue \"{}\" is shut down: it takes no new jobs", q->name);
    k->next_at = now_ns() + secs_to_ns(every);
    q->tickers.push_back(k);
    need_start = !q->started;
    q->work_cv.notify_all();  // an idle worker recomputes its wake-up time
  }
  if (need_start) start_workers(t, q);
  return Value::object(k);
}

const MethodTable kQueueMethods = {
    {"pause", {Queue_pause, 0, 0}},
    {"resume", {Queue_resume, 0, 0}},
    {"paused", {Queue_paused, 0, 0}},
    {"every", {Queue_every, 2, -1}},
    {"submit", {Queue_submit, 1, -1}},
    {"submit_with", {Queue_submit_with, 2, -1}},
    {"map", {Queue_map, 2, 2}},
    {"stats", {Queue_stats, 0, 0}},
    {"failed", {Queue_failed, 0, 0}},
    {"retry_failed", {Queue_retry_failed, 0, 0}},
    {"shutdown", {Queue_shutdown, 0, 1}},
};

// ------------------------------------------------------------ module fns

Value jobs_queue(Thread& t, Args a) {
  ObjMap* m = (a.n < 1 || a[0].is_nil()) ? nullptr : arg_map(a, 0, "queue");
  check_option_keys(m, {"workers", "retries", "backoff", "timeout", "rate", "name", "max_retry_after", "deadline"},
                    "jobs.queue()");
  JobsState& S = state(t.interp);
  std::int64_t workers = opt_field_int(t, m, "workers", 4);
  if (workers < 1 || workers > 256) raisef("ValueError", "workers must be between 1 and 256, got {}", workers);
  std::int64_t retries = opt_field_int(t, m, "retries", 0);
  if (retries < 0 || retries > 1000) raisef("ValueError", "retries must be between 0 and 1000, got {}", retries);
  double backoff = opt_field_nonneg(t, m, "backoff", 0.1, "jobs.queue()");
  double timeout = opt_field_nonneg(t, m, "timeout", 0, "jobs.queue()");
  double rate = opt_field_nonneg(t, m, "rate", 0, "jobs.queue()");
  // The gap between starts is 1/rate in nanoseconds, kept in 64 bits: a rate
  // below one job in ~11 days is refused rather than overflowing it.
  if (rate > 0 && rate < 1e-6)
    raisef("ValueError", "jobs.queue() option 'rate' must be 0 (no limit) or at least 1e-06 jobs per second, not {}", rate);
  double max_retry_after = opt_field_nonneg(t, m, "max_retry_after", 300, "jobs.queue()");
  double deadline = opt_field_nonneg(t, m, "deadline", 0, "jobs.queue()");
  std::string name = opt_field_str(t, m, "name", "");
  if (name.empty()) {
    int n = ++S.unnamed_queues;
    name = n == 1 ? "queue" : fmt::format("queue-{}", n);
  }
  auto* q = t.interp.heap.make<QueueHandle>();
  q->S = &S;
  q->name = std::move(name);
  q->workers = static_cast<int>(workers);
  q->retries = retries;
  q->backoff = backoff;
  q->timeout = timeout;
  q->rate = rate;
  q->max_retry_after = max_retry_after;
  q->deadline = deadline;
  return Value::object(q);
}

std::vector<JobHandle*> job_list_arg(Args a, int i, const char* fn, ObjList*& list) {
  list = arg_list(a, i, fn);
  std::vector<JobHandle*> js;
  for (Value v : list->items) {
    if (!is_job(v)) {
      if (std::string_view(type_name(v)) == "job")
        raisef("TypeError", "{}() waits for jobs of jobs.queue(); a durable job is waited for with its result(timeout)", fn);
      raisef("TypeError", "{}() expects a list of jobs, found {}", fn, type_name(v));
    }
    js.push_back(as<JobHandle>(v));
  }
  return js;
}

Value jobs_wait(Thread& t, Args a) {
  ObjList* list;
  std::vector<JobHandle*> js = job_list_arg(a, 0, "wait", list);
  std::optional<double> timeout = timeout_arg(a, 1, "wait");
  // A copy of the list keeps the jobs rooted even if the caller's list changes.
  ObjList* copy = new_list(t);
  for (JobHandle* j : js) copy->items.push_back(Value::object(j));
  StackRoot root(t, Value::object(copy));
  if (js.empty()) return Value::object(copy);
  JobsState& S = *js[0]->queue->S;
  bool ok = wait_for_jobs(t, S, js, timeout, "jobs.wait");
  if (!ok) {
    std::size_t left = 0;
    for (JobHandle* j : js) left += !is_final(j->status.load());
    raisef("TimeoutError", "jobs.wait timed out after {} s: {} of {} jobs not finished", float_repr(*timeout), left,
           js.size());
  }
  return Value::object(copy);
}

Value jobs_as_completed(Thread& t, Args a) {
  ObjList* list;
  std::vector<JobHandle*> js = job_list_arg(a, 0, "as_completed", list);
  std::optional<double> timeout = timeout_arg(a, 1, "as_completed");
  ObjList* out = new_list(t);
  for (JobHandle* j : js) out->items.push_back(Value::object(j));
  StackRoot root(t, Value::object(out));
  if (js.empty()) return Value::object(out);
  JobsState& S = *js[0]->queue->S;
  bool ok = wait_for_jobs(t, S, js, timeout, "jobs.as_completed");
  if (!ok) raisef("TimeoutError", "jobs.as_completed timed out after {} s", float_repr(*timeout));
  std::stable_sort(out->items.begin(), out->items.end(),
                   [](Value x, Value y) { return as<JobHandle>(x)->finish_seq < as<JobHandle>(y)->finish_seq; });
  return Value::object(out);
}

// At exit: let every queue finish all its work (jobs may still submit
// follow-up jobs meanwhile), then close the queues and wait for their
// workers to return. Runs before wait_all_threads.
void drain_at_exit(Thread& t) {
  auto it = t.interp.module_state.find("jobs");
  if (it == t.interp.module_state.end() || !it->second) return;
  JobsState& S = *static_cast<JobsState*>(it->second.get());
  wait_jobs(t, S, std::nullopt, "exit: draining job queues", [&] {
    for (QueueHandle* q : S.queues)
      if (!q->idle()) return false;
    return true;
  });
  std::vector<QueueHandle*> qs;
  {
    std::lock_guard<std::mutex> lk(S.mu);
    qs = S.queues;
  }
  // The queues stay rooted: they leave S.queues only when their last worker
  // has returned, and we hold the GIL between these steps.
  for (QueueHandle* q : qs) shutdown_queue(t, q, false);
  wait_jobs(t, S, std::nullopt, "exit: stopping job workers", [&] { return S.queues.empty(); });
  S.watchdog.stop();
}

}  // namespace

Value Ticker_cancel(Thread&, Args a) {
  auto* k = static_cast<Ticker*>(a.self.as.o);
  std::lock_guard<std::mutex> lk(k->queue->S->mu);
  bool was = !k->cancelled;
  k->cancelled = true;
  return Value::boolean(was);
}

Value Ticker_runs(Thread&, Args a) { return Value::integer(static_cast<Ticker*>(a.self.as.o)->runs); }
Value Ticker_skipped(Thread&, Args a) { return Value::integer(static_cast<Ticker*>(a.self.as.o)->skipped); }

const MethodTable kTickerMethods = {
    {"cancel", {Ticker_cancel, 0, 0}}, {"runs", {Ticker_runs, 0, 0}}, {"skipped", {Ticker_skipped, 0, 0}}};

// jobs.remaining(): seconds left of the current job's deadline, or nil.
Value jobs_remaining(Thread&, Args) {
  JobHandle* j = tl_job;
  std::uint64_t at = j ? j->deadline_at : tl_durable_deadline;
  if (!at) return Value();
  std::uint64_t now = now_ns();
  return Value::number(at > now ? static_cast<double>(at - now) / 1e9 : 0.0);
}

// jobs.snooze(seconds): ends the attempt; the job runs again after `seconds`
// without using up an attempt.
Value jobs_snooze(Thread&, Args a) {
  double s = arg_number(a, 0, "snooze");
  if (!(s >= 0) || std::isinf(s)) raise("ValueError", "snooze() needs a number of seconds >= 0");
  if (!tl_job && !tl_durable_job) raise("RuntimeError", "jobs.snooze() can only be called inside a job");
  tl_snooze = s;
  raisef("JobSnooze", "job snoozed for {} s", float_repr(s));
}

const MethodTable& Ticker::methods() const { return kTickerMethods; }
const MethodTable& JobHandle::methods() const { return kJobMethods; }
const MethodTable& QueueHandle::methods() const { return kQueueMethods; }

void register_jobs(Interp& in) {
  state(in);
  auto* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, NativeFn fn, int mn, int mx) {
    m->set(Value::object(in.heap.intern(name)), in.native(name, fn, mn, mx));
  };
  put("queue", jobs_queue, 0, 1);
  put("wait", jobs_wait, 1, 2);
  put("as_completed", jobs_as_completed, 1, 2);
  put("remaining", jobs_remaining, 0, 0);
  put("snooze", jobs_snooze, 1, 1);
  in.add_builtin("jobs", Value::object(m));
  // Drain before wait_all_threads (which would otherwise wait for idle
  // workers forever).
  in.at_exit.insert(in.at_exit.begin(), drain_at_exit);
}

std::vector<QueueSnapshot> jobs_snapshot(Interp& in) {
  std::vector<QueueSnapshot> out;
  auto it = in.module_state.find("jobs");
  if (it == in.module_state.end() || !it->second) return out;
  JobsState& S = *static_cast<JobsState*>(it->second.get());
  std::lock_guard<std::mutex> lk(S.mu);
  for (QueueHandle* q : S.queues) {
    QueueSnapshot s;
    s.name = q->name;
    for (JobHandle* j : q->ready) (j->status.load() == JobStatus::Retrying ? s.retrying : s.queued)++;
    for (JobHandle* j : q->delayed) (j->status.load() == JobStatus::Retrying ? s.retrying : s.queued)++;
    s.running = static_cast<std::int64_t>(q->running.size());
    s.done = static_cast<std::int64_t>(q->done);
    s.failed = static_cast<std::int64_t>(q->dead.size());
    s.cancelled = static_cast<std::int64_t>(q->cancelled);
    s.workers = q->workers;
    s.live_workers = q->live_workers;
    s.busy_workers = static_cast<int>(q->running.size());
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace weft
