// `weft worker TASKS.weft --store URL` (SPEC §7.10): runs durable jobs.
//
// One worker process = one interpreter (Session) that has run TASKS.weft's
// top level, plus:
//  * N worker threads (--concurrency): ordinary interpreter threads started
//    with spawn_thread, each running a native loop: record the outcomes of
//    its previous batch and claim the next batch in one store transaction
//    (GIL released), then run each job's function under the GIL. The batch
//    size adapts: 1 while jobs take a while, doubling up to 64 while a whole
//    batch takes under 2 ms (no-op jobs), so fast jobs cost a fraction of a
//    transaction each and slow jobs are never hoarded by one process.
//  * one monitor thread (plain OS thread, never takes the GIL): renews the
//    leases of every job this process holds (heartbeat every lease/3),
//    re-queues jobs whose lease expired (a worker died), interrupts attempts
//    past their per-job timeout (TimeoutError at the next bytecode check,
//    like the in-process queue's watchdog) and prints a status line.
//  * the main thread waits (GIL released) for SIGTERM/SIGINT: stop claiming,
//    let running jobs finish within --grace seconds, then interrupt them and
//    release their leases (back to queued) — nothing is lost.
// Idle workers poll the store (a read-only "anything ready?" query, backing
// off from 1 ms to 20 ms): the jobs are produced by other processes, so
// there is nobody in this process to notify them.
//
// --processes P forks P such processes before any thread exists; the parent
// stays single-threaded, supervises (restarts a child killed by a signal)
// and forwards SIGTERM/SIGINT.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <optional>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "durable.hpp"
#include "interpreter/cli.hpp"
#include "interpreter/loader.hpp"
#include "interpreter/vm.hpp"
#include "json_convert.hpp"
#include "runtime/cli_options.hpp"
#include "runtime/natives.hpp"
#include "sys_exit.hpp"
#include "thread.hpp"

namespace weft {

namespace {

using durable::Claimed;
using durable::Outcome;
using Clock = std::chrono::steady_clock;

struct WorkerOpts {
  std::string tasks, url, queue = "default";
  int concurrency = 1;
  int processes = 0;  // 0: no supervisor, run in this process
  double lease = 30;
  double grace = 10;
  double status_every = 5;
  bool quiet = false;
};

struct Ctx {
  WorkerOpts o;
  std::shared_ptr<durable::Store> store;
  durable::WorkerInfo info;
  ObjModule* module = nullptr;
  std::string tasks_display;

  std::atomic<int> stop{0};  // 1: stop claiming, finish; 2: interrupt and release
  double first_signal = 0;
  std::mutex mu;                       // live, threads, first_signal
  std::condition_variable_any cv;      // stop requests, worker exits
  int live = 0;
  std::vector<Thread*> threads;

  std::atomic<std::int64_t> done{0}, failed{0}, retried{0}, released{0}, discarded{0}, running{0};

  // Monitor: attempt deadlines, heartbeats, status lines.
  std::mutex mon_mu;
  std::condition_variable mon_cv;
  std::map<std::pair<std::uint64_t, std::uint64_t>, Thread*> deadlines;
  std::uint64_t next_token = 0;
  bool mon_stop = false;

  std::mutex out_mu;
};

Ctx* g = nullptr;

template <class... A>
void say(fmt::format_string<A...> f, A&&... args) {
  std::string line = fmt::format(f, static_cast<A&&>(args)...);
  std::lock_guard<std::mutex> lk(g->out_mu);
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void request_stop(const char* why) {
  Ctx& c = *g;
  double now = durable::wall_now();
  std::lock_guard<std::mutex> lk(c.mu);
  if (c.stop.load() == 0) {
    c.stop.store(1);
    c.first_signal = now;
    say("worker {}: {}: no new jobs; finishing {} running job(s) (grace {} s)", c.info.pid, why, c.running.load(),
        float_repr(c.o.grace));
  } else if (c.stop.load() == 1 && now - c.first_signal > 1.0) {
    // (A Ctrl-C in a terminal reaches every process of the group and the
    // supervisor forwards it too: signals within 1 s count as one.)
    c.stop.store(2);
    say("worker {}: {} again: interrupting running jobs and releasing their leases", c.info.pid, why);
  }
  c.cv.notify_all();
}

// ------------------------------------------------------------ the monitor

std::uint64_t add_deadline(Thread* t, std::uint64_t at) {
  Ctx& c = *g;
  std::lock_guard<std::mutex> lk(c.mon_mu);
  std::uint64_t tok = ++c.next_token;
  bool earliest = c.deadlines.empty() || at < c.deadlines.begin()->first.first;
  c.deadlines.emplace(std::make_pair(at, tok), t);
  if (earliest) c.mon_cv.notify_one();
  return tok;
}

void remove_deadline(Thread& t, std::uint64_t at, std::uint64_t tok) {
  Ctx& c = *g;
  {
    std::lock_guard<std::mutex> lk(c.mon_mu);
    c.deadlines.erase(std::make_pair(at, tok));
  }
  // A timeout that fired after the attempt ended must not hit the next job.
  std::lock_guard<std::mutex> lk(t.wait_mu);
  std::uint32_t bits = t.gil.breaker.fetch_and(~std::uint32_t{kBreakTimeout}, std::memory_order_acq_rel);
  if (!(bits & kBreakInterrupt) && t.stop_src.stop_requested()) t.stop_src = std::stop_source();
}

void status_line() {
  Ctx& c = *g;
  std::string queue;
  try {
    auto st = c.store->stats(c.o.queue);
    queue = fmt::format(" | queue \"{}\": {} queued, {} running, {} retrying, {} done, {} failed, {} worker process(es)",
                        c.o.queue, st["queued"], st["running"], st["retrying"], st["done"], st["failed"],
                        st["workers"]);
  } catch (NativeError& e) {
    queue = " | store: " + e.message;
  }
  say("worker {}: status: {} done, {} failed, {} retried, {} running{}", c.info.pid, c.done.load(), c.failed.load(),
      c.retried.load(), c.running.load(), queue);
}

void monitor_loop() {
  Ctx& c = *g;
  double hb_every = std::clamp(c.o.lease / 3, 0.05, 10.0);
  auto next_hb = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(hb_every));
  auto next_status =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c.o.status_every));
  bool hb_failing = false;
  std::unique_lock<std::mutex> lk(c.mon_mu);
  while (!c.mon_stop) {
    auto wake = std::min(next_hb, c.o.status_every > 0 ? next_status : Clock::time_point::max());
    if (!c.deadlines.empty()) {
      std::uint64_t now = now_ns(), at = c.deadlines.begin()->first.first;
      if (at <= now) {
        c.deadlines.begin()->second->interrupt(kBreakTimeout);
        c.deadlines.erase(c.deadlines.begin());
        continue;
      }
      wake = std::min(wake, Clock::now() + std::chrono::nanoseconds(at - now));
    }
    c.mon_cv.wait_until(lk, wake);
    if (c.mon_stop) break;
    auto now = Clock::now();
    if (now >= next_hb) {
      lk.unlock();
      try {
        c.store->heartbeat(c.info, c.o.lease);
        if (hb_failing) say("worker {}: store reachable again", c.info.pid);
        hb_failing = false;
      } catch (NativeError& e) {
        if (!hb_failing) say("worker {}: heartbeat failed ({}); will keep trying", c.info.pid, e.message);
        hb_failing = true;
      }
      lk.lock();
      next_hb = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(hb_every));
    }
    if (c.o.status_every > 0 && now >= next_status) {
      lk.unlock();
      status_line();
      lk.lock();
      next_status = Clock::now() +
                    std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c.o.status_every));
    }
  }
}

// ------------------------------------------------------------ running jobs

std::string error_json(Value err) {
  nlohmann::json j;
  if (is_obj_type(err, ObjType::Error)) {
    ObjError* e = as<ObjError>(err);
    j["type"] = std::string(e->type_name->view());
    j["message"] = std::string(e->message->view());
    nlohmann::json trace = nlohmann::json::array();
    if (e->trace)
      for (Value v : e->trace->items) trace.push_back(to_str(v));
    j["trace"] = trace;
    if (!e->file.empty()) j["where"] = fmt::format("{}:{}:{}", e->file, e->line, e->col);
  } else {
    j["type"] = "Error";
    j["message"] = "thrown value: " + to_repr(err);
    j["trace"] = nlohmann::json::array();
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string plain_error_json(const std::string& type, const std::string& message) {
  nlohmann::json j;
  j["type"] = type;
  j["message"] = message;
  j["trace"] = nlohmann::json::array();
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct StackRoot {
  Thread& t;
  Value* at;
  StackRoot(Thread& th, Value v) : t(th), at(th.sp) { *t.sp++ = v; }
  ~StackRoot() { t.sp = at; }
};

struct LogEntry {
  std::string id, fn, what;
};

// Runs one claimed job (GIL held) and returns its outcome.
Outcome run_job(Thread& t, const Claimed& cj, LogEntry& log) {
  Ctx& c = *g;
  Outcome o;
  o.id = cj.id;
  o.token = cj.token;
  log.id = cj.id;
  log.fn = cj.fn;
  auto fail_now = [&](const std::string& type, const std::string& msg) {
    o.kind = Outcome::Failed;
    o.retryable = false;
    o.json = plain_error_json(type, msg);
    log.what = fmt::format("failed (attempt {}, not retried): {}: {}", cj.attempts, type, msg);
    return o;
  };
  // The function: a top-level function of the tasks file.
  Value fn;
  auto it = c.module->slots.find(cj.fn);
  if (it != c.module->slots.end()) fn = c.module->values[static_cast<std::size_t>(it->second)];
  if (it == c.module->slots.end() || fn.is_undef())
    return fail_now("NameError", fmt::format("{} has no top-level function '{}'", c.tasks_display, cj.fn));
  if (!is_obj_type(fn, ObjType::Closure) && !is_obj_type(fn, ObjType::Native))
    return fail_now("TypeError", fmt::format("'{}' in {} is a {}, not a function", cj.fn, c.tasks_display, type_name(fn)));
  Value args;
  try {
    args = json_parse(t, cj.args);
  } catch (NativeError& e) {
    return fail_now("ValueError", "malformed job arguments: " + e.message);
  }
  if (!is_obj_type(args, ObjType::List))
    return fail_now("TypeError", fmt::format("job arguments must be a JSON list, not {}", type_name(args)));
  StackRoot root(t, args);
  ObjList* al = as<ObjList>(args);
  // The whole-job deadline (SPEC §7.9): a job claimed after it failed at
  // once; otherwise it bounds this attempt like `timeout` does.
  std::uint64_t job_deadline = 0;
  if (cj.deadline_at > 0) {
    double left = cj.deadline_at - durable::wall_now();
    if (left <= 0) return fail_now("TimeoutError", "deadline exceeded");
    job_deadline = now_ns() + static_cast<std::uint64_t>(std::min(left, 1e9) * 1e9);
  }
  std::uint64_t deadline = 0, tok = 0;
  if (cj.timeout > 0) deadline = now_ns() + static_cast<std::uint64_t>(std::min(cj.timeout, 1e9) * 1e9);
  if (job_deadline && (!deadline || job_deadline < deadline)) deadline = job_deadline;
  if (deadline) {
    t.deadline_ns.store(deadline);
    tok = add_deadline(&t, deadline);
  }
  ++c.running;
  auto t0 = Clock::now();
  Value result, error;
  bool ok;
  std::vector<Value> argv(al->items.begin(), al->items.end());
  durable::enter_job(job_deadline);
  try {
    ok = guarded_call(t, fn, argv.data(), static_cast<int>(argv.size()), result, error);
  } catch (SysExit&) {
    ok = false;
    error = Value::object(new_error(t, "JobError", "sys.exit() was called inside a job"));
  }
  double snooze = durable::leave_job();
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  --c.running;
  if (deadline) {
    t.deadline_ns.store(0);
    remove_deadline(t, deadline, tok);
  }
  if (snooze >= 0 && c.stop.load() < 2) {
    // jobs.snooze(): back to the queue after `snooze` seconds, not an attempt.
    o.kind = Outcome::Failed;
    o.snooze = true;
    o.refund = true;
    o.min_delay = snooze;
    o.json = error_json(error.is_nil() || error.is_undef() ? Value::object(new_error(t, "JobSnooze", "snoozed")) : error);
    log.what = fmt::format("snoozed for {} s after {:.1f} ms", float_repr(snooze), ms);
    return o;
  }
  if (ok) {
    try {
      o.kind = Outcome::Done;
      o.json = json_stringify(result);
      log.what = fmt::format("done in {:.1f} ms (attempt {})", ms, cj.attempts);
      return o;
    } catch (NativeError& e) {
      return fail_now("TypeError", fmt::format("the result of {}() is not a JSON value: {}", cj.fn, e.message));
    }
  }
  if (c.stop.load() >= 2) {  // interrupted by the shutdown: give the job back
    o.kind = Outcome::Release;
    log.what = fmt::format("interrupted by shutdown after {:.1f} ms: lease released, back to queued", ms);
    return o;
  }
  if (job_deadline && now_ns() + 2'000'000 >= job_deadline) {
    // Failed at (or a hair before) the deadline: the deadline's doing, not retried.
    o.kind = Outcome::Failed;
    o.retryable = false;
    o.json = plain_error_json("TimeoutError", "deadline exceeded");
    log.what = fmt::format("failed after {:.1f} ms (attempt {}, not retried): TimeoutError: deadline exceeded", ms,
                           cj.attempts);
    return o;
  }
  o.kind = Outcome::Failed;
  o.json = error_json(error);
  // Errors that say when to try again (SPEC §7.9, the same rules as the
  // in-process queue): wait at least retry_after; an open circuit is not an
  // attempt.
  bool circuit_open = false;
  double retry_after = durable::error_retry_after(t, error, circuit_open);
  if (retry_after >= 0) o.min_delay = std::min(retry_after, durable::kMaxRetryAfter);
  o.refund = circuit_open;
  bool retry = cj.round_attempts - (circuit_open ? 1 : 0) <= cj.retries;
  log.what = fmt::format("failed in {:.1f} ms (attempt {}{}): {}", ms, cj.attempts,
                         retry ? ", will retry" : ", giving up", to_str(error));
  return o;
}

// The body of every worker thread.
Value worker_thread(Thread& t, Args) {
  Ctx& c = *g;
  Gil& gil = t.interp.gil;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    c.threads.push_back(&t);
  }
  struct Leave {
    Thread& t;
    Ctx& c;
    ~Leave() {
      std::lock_guard<std::mutex> lk(c.mu);
      c.threads.erase(std::remove(c.threads.begin(), c.threads.end(), &t), c.threads.end());
      --c.live;
      c.cv.notify_all();
    }
  } leave{t, c};

  std::vector<Outcome> outcomes;
  std::vector<LogEntry> logs;
  int batch = 1;
  int idle_ms = 0;  // 0: claim right away
  double store_backoff = 0.05;
  bool store_down = false;
  for (;;) {
    int stop = c.stop.load();
    if (stop && outcomes.empty()) break;
    // Idle: a cheap read-only check before taking the write lock.
    if (!stop && idle_ms > 0) {
      gil.release(t.gil);
      {
        std::unique_lock<std::mutex> lk(c.mu);
        c.cv.wait_for(lk, std::chrono::milliseconds(idle_ms), [&] { return c.stop.load() != 0; });
      }
      bool ready = false;
      try {
        ready = c.store->has_ready(c.o.queue);
      } catch (NativeError&) {
        ready = true;  // let the claim report the error
      }
      gil.acquire(t.gil);
      if (!ready) {
        idle_ms = std::min(idle_ms * 2, 20);
        continue;
      }
    }
    std::vector<Claimed> claimed;
    std::vector<std::string> discarded;
    std::string err;
    {
      BlockingRegion br(gil, t.gil, "store.claim");
      try {
        claimed = c.store->finish_and_claim(outcomes, c.o.queue, c.info.id, c.o.lease, stop ? 0 : batch, discarded);
      } catch (NativeError& e) {
        err = e.message;
      }
    }
    if (!err.empty()) {
      if (c.stop.load() >= 2) break;  // the main thread releases what is left
      if (!store_down) say("worker {}: store error: {}; retrying", c.info.pid, err);
      store_down = true;
      gil.release(t.gil);
      {
        std::unique_lock<std::mutex> lk(c.mu);
        c.cv.wait_for(lk, std::chrono::duration<double>(store_backoff), [&] { return c.stop.load() >= 2; });
      }
      gil.acquire(t.gil);
      store_backoff = std::min(store_backoff * 2, 2.0);
      continue;
    }
    if (store_down) say("worker {}: store reachable again", c.info.pid);
    store_down = false;
    store_backoff = 0.05;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const Outcome& o = outcomes[i];
      bool lost = o.kind != Outcome::Release && std::find(discarded.begin(), discarded.end(), o.id) != discarded.end();
      if (lost) {
        ++c.discarded;
        say("worker {}: job {} {}: lease lost (the job was claimed again elsewhere): outcome discarded", c.info.pid,
            o.id, logs[i].fn);
        continue;
      }
      if (o.kind == Outcome::Done) ++c.done;
      else if (o.kind == Outcome::Release) ++c.released;
      else if (logs[i].what.find("will retry") != std::string::npos) ++c.retried;
      else ++c.failed;
      if (!c.o.quiet || o.kind == Outcome::Failed)
        say("worker {}: job {} {} {}", c.info.pid, o.id, logs[i].fn, logs[i].what);
    }
    outcomes.clear();
    logs.clear();
    if (stop) break;
    if (claimed.empty()) {
      idle_ms = std::max(1, idle_ms);
      continue;
    }
    idle_ms = 0;
    auto t0 = Clock::now();
    for (const Claimed& cj : claimed) {
      LogEntry log;
      if (c.stop.load()) {  // claimed but not started: give it back now
        Outcome o;
        o.kind = Outcome::Release;
        o.id = cj.id;
        o.token = cj.token;
        log.id = cj.id;
        log.fn = cj.fn;
        log.what = "not started before shutdown: lease released, back to queued";
        outcomes.push_back(std::move(o));
        logs.push_back(std::move(log));
        continue;
      }
      outcomes.push_back(run_job(t, cj, log));
      logs.push_back(std::move(log));
    }
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (ms < 2 && static_cast<int>(claimed.size()) == batch) batch = std::min(batch * 2, 64);
    else if (ms > 20) batch = std::max(1, batch / 2);
  }
  return Value();
}

// ------------------------------------------------------------ one process

void print_usage_error(const std::string& msg) {
  fmt::print(stderr,
             "weft worker: {}\n"
             "usage: weft worker TASKS.weft --store URL [--queue NAME] [--concurrency N] [--processes P]\n"
             "                   [--lease S] [--grace S] [--status-interval S] [--quiet]\n",
             msg);
}

int run_worker_process(const WorkerOpts& o) {
  // SIGTERM goes to one thread that turns it into a stop request; SIGINT is
  // routed by the interpreter's own watcher to the main thread.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);

  Ctx ctx;
  ctx.o = o;
  g = &ctx;
  std::string source, err;
  if (!read_file(o.tasks, source, err)) {
    fmt::print(stderr, "weft worker: cannot open '{}': {}\n", o.tasks, err);
    return 2;
  }
  RuntimeOptions rt;
  Session s(rt, {o.tasks});
  Thread& mt = s.main();
  ctx.tasks_display = o.tasks.substr(o.tasks.find_last_of('/') + 1);
  ObjModule* m = s.new_module(o.tasks, ctx.tasks_display, source);
  std::string report;
  ObjClosure* cl = load_source(mt, m, source, CompileOptions{}, report);
  if (!cl) {
    std::fputs(report.c_str(), stderr);
    return 1;
  }
  try {
    Value result, error;
    if (!guarded_call(mt, Value::object(cl), nullptr, 0, result, error)) {
      std::fputs("weft worker: the tasks file failed while loading:\n", stderr);
      return s.report_uncaught(error);
    }
  } catch (SysExit& e) {
    fmt::print(stderr, "weft worker: the tasks file called sys.exit({}) while loading\n", e.code);
    return e.code ? e.code : 1;
  }
  ctx.module = m;

  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  ctx.info.host = host;
  ctx.info.pid = getpid();
  ctx.info.queue = o.queue;
  ctx.info.concurrency = o.concurrency;
  ctx.info.id = fmt::format("{}:{}:{:06x}", host, getpid(), std::random_device{}() & 0xFFFFFF);
  try {
    BlockingRegion br(s.interp().gil, mt.gil, "worker: open store");
    ctx.store = durable::open_store(o.url);
    ctx.store->heartbeat(ctx.info, o.lease);
  } catch (NativeError& e) {
    fmt::print(stderr, "weft worker: {}\n", e.message);
    return 1;
  }

  std::thread sig_thread([term] {
    for (;;) {
      int sig = 0;
      if (sigwait(&term, &sig) == 0 && sig == SIGTERM) request_stop("SIGTERM");
    }
  });
  sig_thread.detach();

  say("worker {}: tasks {}, store {}, queue \"{}\", {} thread(s), lease {} s", ctx.info.pid, o.tasks, o.url, o.queue,
      o.concurrency, float_repr(o.lease));
  std::thread monitor(monitor_loop);

  Value body = s.interp().native("durable-worker", worker_thread, 0, 1);
  {
    StackRoot root(mt, body);
    for (int i = 1; i <= o.concurrency; ++i) {
      {
        std::lock_guard<std::mutex> lk(ctx.mu);
        ++ctx.live;
      }
      Value idx = Value::integer(i);
      try {
        spawn_thread(mt, fmt::format("worker-{}", i), body, &idx, 1);
      } catch (NativeError& e) {
        std::lock_guard<std::mutex> lk(ctx.mu);
        --ctx.live;
        say("worker {}: cannot start thread {}: {}", ctx.info.pid, i, e.message);
        break;
      }
    }
  }

  // Wait for a stop request (GIL released), then for the running jobs.
  auto wait_main = [&](std::optional<Clock::time_point> until, auto pred) {
    bool interrupted = false;
    {
      BlockingRegion br(s.interp().gil, mt.gil, "worker: waiting for a signal");
      std::unique_lock<std::mutex> lk(ctx.mu);
      std::stop_token tok = mt.wait_token();
      if (until)
        ctx.cv.wait_until(lk, tok, *until, pred);
      else
        ctx.cv.wait(lk, tok, pred);
      interrupted = tok.stop_requested();
    }
    if (interrupted) {
      try {
        mt.check_interrupts();
      } catch (NativeError&) {
      }
      request_stop("SIGINT");
    }
  };
  while (ctx.stop.load() == 0) {
    wait_main(std::nullopt, [&] { return ctx.stop.load() != 0 || ctx.live == 0; });
    std::lock_guard<std::mutex> lk(ctx.mu);
    if (ctx.live == 0) break;
  }
  auto grace_end =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.grace));
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(ctx.mu);
      if (ctx.live == 0) break;
    }
    if (ctx.stop.load() < 2 && Clock::now() >= grace_end) {
      ctx.stop.store(2);
      say("worker {}: grace period over: interrupting running jobs and releasing their leases", ctx.info.pid);
    }
    if (ctx.stop.load() >= 2) break;
    wait_main(grace_end, [&] { return ctx.live == 0 || ctx.stop.load() >= 2; });
  }
  if (ctx.stop.load() >= 2) {
    {
      std::lock_guard<std::mutex> lk(ctx.mu);
      for (Thread* t : ctx.threads) t->interrupt(kBreakTimeout);
    }
    wait_main(Clock::now() + std::chrono::seconds(3), [&] { return ctx.live == 0; });
  }
  bool stuck;
  {
    std::lock_guard<std::mutex> lk(ctx.mu);
    stuck = ctx.live > 0;
  }
  std::int64_t released = 0;
  try {
    BlockingRegion br(s.interp().gil, mt.gil, "worker: release leases");
    released = ctx.store->release_all(ctx.info.id);
    ctx.store->unregister_worker(ctx.info.id);
  } catch (NativeError& e) {
    say("worker {}: could not release leases ({}); they expire in {} s", ctx.info.pid, e.message, float_repr(o.lease));
  }
  {
    std::lock_guard<std::mutex> lk(ctx.mon_mu);
    ctx.mon_stop = true;
    ctx.mon_cv.notify_all();
  }
  monitor.join();
  say("worker {}: stopped: {} done, {} failed, {} retried, {} released{}", ctx.info.pid, ctx.done.load(),
      ctx.failed.load(), ctx.retried.load(), ctx.released.load() + released,
      ctx.discarded.load() ? fmt::format(", {} outcomes discarded (lease lost)", ctx.discarded.load()) : "");
  std::fflush(stdout);
  std::fflush(stderr);
  if (stuck) std::_Exit(1);  // a job ignores interrupts: its lease is released already
  try {
    s.finish();
  } catch (SysExit&) {
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(0);
}

// ------------------------------------------------------------ supervisor

int supervise(const WorkerOpts& o) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, &old);
  std::map<pid_t, int> kids;
  std::map<int, double> last_start;
  auto start = [&](int slot) {
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t p = fork();
    if (p == 0) {
      sigprocmask(SIG_SETMASK, &old, nullptr);
      std::_Exit(run_worker_process(o));
    }
    if (p < 0) {
      fmt::print(stderr, "weft worker: fork failed: {}\n", std::strerror(errno));
      return false;
    }
    kids[p] = slot;
    last_start[slot] = durable::wall_now();
    return true;
  };
  for (int i = 0; i < o.processes; ++i) start(i);
  fmt::print("weft worker supervisor {}: {} worker processes\n", getpid(), kids.size());
  std::fflush(stdout);
  bool stopping = false;
  int code = 0;
  while (!kids.empty()) {
    siginfo_t si;
    timespec ts{0, 200'000'000};
    int sig = sigtimedwait(&set, &si, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      if (!stopping) fmt::print("weft worker supervisor {}: {}: stopping the workers\n", getpid(), sig == SIGINT ? "SIGINT" : "SIGTERM");
      std::fflush(stdout);
      stopping = true;
      for (auto& [pid, slot] : kids) kill(pid, SIGTERM);
    }
    int st = 0;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      auto it = kids.find(p);
      if (it == kids.end()) continue;
      int slot = it->second;
      kids.erase(it);
      if (stopping) continue;
      if (WIFSIGNALED(st)) {
        fmt::print("weft worker supervisor {}: worker process {} was killed by signal {}; starting a new one\n",
                   getpid(), p, WTERMSIG(st));
        std::fflush(stdout);
        if (durable::wall_now() - last_start[slot] < 1.0) sleep(1);
        start(slot);
      } else if (WEXITSTATUS(st) != 0) {
        fmt::print(stderr, "weft worker supervisor {}: worker process {} exited with status {}; stopping\n", getpid(),
                   p, WEXITSTATUS(st));
        code = WEXITSTATUS(st);
        stopping = true;
        for (auto& [pid, s2] : kids) kill(pid, SIGTERM);
      }
    }
  }
  return code;
}

}  // namespace

int worker_main(int argc, char** argv) {
  WorkerOpts o;
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);  // argv[0] is "worker"
  // The one option parser of every sub-command (runtime/cli_options.hpp).
  OptionParser p("weft worker",
                 "usage: weft worker TASKS.weft --store URL [--queue NAME] [--concurrency N] [--processes P]\n"
                 "                   [--lease S] [--grace S] [--status-interval S] [--quiet]",
                 "Runs the durable jobs of TASKS.weft from a store (SPEC §7.10, docs/jobs.md).");
  auto num = [](const std::string& name, const std::string& v, double lo, double hi) {
    return parse_number_option(name, v, lo, hi, fmt::format("a number from {} to {}", lo, hi));
  };
  p.option("--store", "URL", "the durable store: sqlite:FILE or redis://HOST:PORT", [&](const std::string& v) { o.url = v; });
  p.option("--queue", "NAME", "the queue to work on (default: default)", [&](const std::string& v) { o.queue = v; });
  p.option("--concurrency", "N", "worker threads per process (default 1)",
           [&](const std::string& v) { o.concurrency = static_cast<int>(num("--concurrency", v, 1, 256)); });
  p.option("--processes", "P", "run P worker processes under a supervisor",
           [&](const std::string& v) { o.processes = static_cast<int>(num("--processes", v, 1, 256)); });
  p.option("--lease", "S", "seconds a claimed job stays leased (default 30)",
           [&](const std::string& v) { o.lease = num("--lease", v, 0.1, 86400); });
  p.option("--grace", "S", "seconds to finish running jobs on SIGTERM (default 10)",
           [&](const std::string& v) { o.grace = num("--grace", v, 0, 86400); });
  p.option("--status-interval", "S", "seconds between status lines (default 5)",
           [&](const std::string& v) { o.status_every = num("--status-interval", v, 0, 86400); });
  p.flag("--quiet", "no status lines", [&] { o.quiet = true; });
  try {
    std::vector<std::string> rest = p.parse(args, 0, false);
    if (p.help_requested()) return 0;
    if (rest.size() > 1) throw UsageError{fmt::format("unexpected argument '{}'", rest[1])};
    if (!rest.empty()) o.tasks = rest[0];
  } catch (const UsageError& e) {
    return p.report(e);
  }
  if (o.tasks.empty()) {
    print_usage_error("missing the tasks file");
    return 2;
  }
  if (o.url.empty()) {
    print_usage_error("missing --store URL (e.g. --store sqlite:jobs.db)");
    return 2;
  }
  if (o.queue.empty()) {
    print_usage_error("--queue must not be empty");
    return 2;
  }
  if (o.processes >= 1) return supervise(o);
  return run_worker_process(o);
}

}  // namespace weft
