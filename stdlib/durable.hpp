// Durable job queues (SPEC §7.10): jobs and their outcomes live in a store
// that several processes share. The front end enqueues and polls
// (jobs.open(URL) -> queue handle), separate `weft worker` processes claim
// jobs, run the named top-level function of a tasks file and persist the
// outcome.
//
// The Store interface below is plain C++: it never touches runtime objects,
// so every call can (and must) be made with the GIL released. Arguments,
// results and errors cross it as JSON text. Errors are reported by throwing
// NativeError (IOError for an unreachable/invalid store, JobError, ...).
//
// Backends: "sqlite:PATH" (SqliteStore in durable.cpp: one machine) and
// "redis://HOST:PORT/DB" (RedisStore in durable_redis.cpp: workers on many
// machines; reconnects after the server went away). Both implement the same
// semantics; open_store() picks one by the URL's scheme.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace weft {

struct Interp;
struct Thread;
struct Value;

// Adds jobs.open and jobs.spawn_worker to the `jobs` module map. Call after
// register_jobs.
void register_durable(Interp& in);

// `weft worker TASKS.weft --store URL [...]` (stdlib/worker.cpp). Like
// mock_api_main: argv[0] is the subcommand ("worker"), its arguments follow.
int worker_main(int argc, char** argv);

namespace durable {

// Shared with the in-process queue (stdlib/jobs.cpp), so both apply the
// same rules: marks the calling worker thread as running a durable job (for
// jobs.snooze), returns the snooze the job asked for (seconds, < 0: none)
// and clears it.
void enter_job(std::uint64_t deadline_ns = 0);
double leave_job();
// The retry_after an error value carries (HTTPError, CircuitOpenError), or
// < 0; `circuit_open` tells whether it is a CircuitOpenError.
double error_retry_after(Thread& t, Value error, bool& circuit_open);
// The cap on an error's retry_after for durable jobs (seconds).
inline constexpr double kMaxRetryAfter = 300;

// Wall-clock seconds (the store is shared between processes and machines).
double wall_now();

struct EnqueueOpts {
  std::string queue = "default";
  std::int64_t retries = 0;
  std::int64_t priority = 0;
  double delay = 0;
  double timeout = 0;        // per attempt, seconds (0: none)
  double backoff = 1.0;      // seconds before the first retry (doubles)
  double result_ttl = 0;     // keep done/failed rows this long (0: forever)
  // While a job of this queue with the same key is queued, running or
  // retrying, enqueue returns its id instead of adding a job (one job only).
  std::string unique;
  double deadline = 0;       // seconds from enqueue for the whole job (0: none)
};

struct JobRecord {
  std::string id, queue, fn, args, state;
  std::string result;  // JSON text when state == "done"
  std::string error;   // JSON {"type","message","trace"} of the last error, or ""
  std::int64_t priority = 0, retries = 0, attempts = 0, lost = 0;
  double timeout = 0, created_at = 0, finished_at = 0;
};

// A job handed to a worker by claim().
struct Claimed {
  std::string id, fn, args, token;
  std::int64_t attempts = 0, priority = 0, seq = 0, retries = 0, round_attempts = 0;
  double timeout = 0;
  double deadline_at = 0;  // wall-clock time the whole job must end by (0: none)
};

// The order finish_and_claim returns jobs in: priority, then FIFO.
inline bool claim_order(const Claimed& a, const Claimed& b) {
  return a.priority != b.priority ? a.priority > b.priority : a.seq < b.seq;
}

// What a worker reports back for a claimed job.
struct Outcome {
  enum Kind { Done, Failed, Release } kind = Done;
  std::string id, token;
  std::string json;        // result (Done) or error JSON (Failed)
  bool retryable = true;   // Failed: false for a missing function / bad JSON
  // Failed and retryable: the next attempt waits at least this long (an
  // error's retry_after, capped), or exactly this long when `snooze`.
  double min_delay = 0;
  // Failed: this run does not count as an attempt (CircuitOpenError,
  // jobs.snooze); `snooze` also keeps the job's last error.
  bool refund = false;
  bool snooze = false;
};

struct WorkerInfo {
  std::string id, queue, host;
  std::int64_t pid = 0;
  std::int64_t concurrency = 1;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual const std::string& url() const = 0;

  // Inserts one job per element of args_json (one transaction); returns the ids.
  virtual std::vector<std::string> enqueue(const EnqueueOpts& o, const std::string& fn,
                                           const std::vector<std::string>& args_json) = 0;
  virtual std::optional<JobRecord> get(const std::string& id) = 0;
  // queued/retrying -> cancelled; true if it changed.
  virtual bool cancel(const std::string& id) = 0;
  // Jobs per state for `queue` plus "workers" (live worker processes).
  virtual std::map<std::string, std::int64_t> stats(const std::string& queue) = 0;
  virtual std::vector<std::string> failed_ids(const std::string& queue, std::int64_t limit) = 0;
  virtual std::int64_t retry_failed(const std::string& queue) = 0;
  virtual std::int64_t purge(const std::string& queue, const std::vector<std::string>& states) = 0;
  // Pause state of a queue, kept in the store so every worker process obeys
  // it: a paused queue's jobs are not claimed (running ones finish).
  // set_paused returns the new state.
  virtual bool set_paused(const std::string& queue, bool paused) = 0;
  virtual bool is_paused(const std::string& queue) = 0;

  // ---- worker side ----
  // Read-only: is a job of `queue` ready to be claimed now? (Idle workers ask
  // this before taking the write lock.)
  virtual bool has_ready(const std::string& queue) = 0;
  // One transaction: records `outcomes` (a Done/Failed outcome whose token no
  // longer matches — the lease was lost and the job re-claimed — is dropped
  // and its id added to `discarded`), re-queues jobs whose lease expired,
  // then claims up to `max_claim` ready jobs of `queue` for `worker` with a
  // lease of `lease_s` seconds. Returns them by priority, then FIFO.
  virtual std::vector<Claimed> finish_and_claim(const std::vector<Outcome>& outcomes, const std::string& queue,
                                                const std::string& worker, double lease_s, int max_claim,
                                                std::vector<std::string>& discarded) = 0;
  // Heartbeat: extends the lease of every job `worker` holds and marks the
  // worker alive.
  virtual void heartbeat(const WorkerInfo& w, double lease_s) = 0;
  virtual void unregister_worker(const std::string& worker) = 0;
  // Releases every lease `worker` still holds (back to queued). Returns how many.
  virtual std::int64_t release_all(const std::string& worker) = 0;
};

// Opens (and creates) a store. Throws NativeError: ValueError for a URL it
// doesn't understand, IOError when the store is unreachable or invalid.
std::shared_ptr<Store> open_store(const std::string& url);

// The parts of redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (port 6379 and
// database 0 when left out; HOST may be [IPv6]).
struct RedisUrl {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user, password;
};

// Strict: a bad port or database number, a missing host, a query string ...
// raise ValueError naming the URL and the expected form.
RedisUrl parse_redis_url(const std::string& url);

// The Redis backend (durable_redis.cpp). Connects at once, so an unreachable
// server is an IOError here ("cannot connect to redis store '...': ...").
std::shared_ptr<Store> open_redis_store(const std::string& url);

// Lost leases before a job goes to the dead set (a job that kills its worker
// every time must not loop forever).
inline constexpr int kMaxLostLeases = 5;

// The error JSON stored for a job sent to the dead set after kMaxLostLeases
// lost leases (the same text for every backend).
std::string lost_error_json();

}  // namespace durable
}  // namespace weft
