// Durable job queues (SPEC §7.10): the SQLite store and the script API
// (jobs.open, durable queue and job handles, jobs.spawn_worker).
//
// The SQLite store
//  * One file in WAL mode (readers never block the writer), synchronous =
//    NORMAL (a commit is durable across a process crash; a power loss may
//    lose the last transactions), and a busy handler that retries with short
//    sleeps for up to 10 s (the same contract as PRAGMA busy_timeout, but
//    with 50 µs–1 ms steps instead of SQLite's coarse ones, which matters
//    when several worker processes commit thousands of times a second).
//  * Every write is one BEGIN IMMEDIATE transaction (it takes the write lock
//    up front, so two processes can never deadlock upgrading read locks).
//  * A claim is one statement:
//      UPDATE weft_jobs SET state='running', attempts=attempts+1, lease...
//      WHERE seq IN (SELECT seq FROM weft_jobs WHERE queue=? AND state IN
//                    ('queued','retrying') AND ready_at<=? ORDER BY
//                    priority DESC, seq LIMIT ?) RETURNING ...
//    served by a partial index on (queue, priority DESC, seq) over the ready
//    jobs. The same transaction first records the worker's finished jobs and
//    re-queues jobs whose lease expired, so a busy worker commits once per
//    batch of jobs.
//  * Leases: a claim stores the worker id, a claim token and lease_until; the
//    worker's heartbeat extends lease_until for every job it holds; an
//    outcome is recorded only if the token still matches (a worker that lost
//    its lease cannot record a second result).
//  * Every call happens with the GIL released: natives copy their arguments
//    into std::strings, open a BlockingRegion and only then touch SQLite.
//    A Store has its own mutex (one connection per store object).
#include "durable.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "interpreter/loader.hpp"
#include "json_convert.hpp"
#include "modules.hpp"
#include "runtime/natives.hpp"

extern char** environ;

namespace weft {
namespace durable {

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string lost_error_json() {
  return fmt::format(
      R"({{"type":"JobError","message":"the worker running this job stopped answering (its lease expired) {} times; giving up","trace":[]}})",
      kMaxLostLeases);
}

namespace {

bool is_final_state(const std::string& s) { return s == "done" || s == "failed" || s == "cancelled"; }

// ------------------------------------------------------------ SQLite store

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS weft_jobs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  fn TEXT NOT NULL,
  args TEXT NOT NULL,
  state TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  ready_at REAL NOT NULL,
  retries INTEGER NOT NULL DEFAULT 0,
  backoff REAL NOT NULL DEFAULT 1,
  timeout REAL NOT NULL DEFAULT 0,
  result_ttl REAL NOT NULL DEFAULT 0,
  deadline_at REAL NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  round_attempts INTEGER NOT NULL DEFAULT 0,
  lost INTEGER NOT NULL DEFAULT 0,
  worker TEXT,
  lease_token TEXT,
  lease_until REAL,
  result TEXT,
  error TEXT,
  created_at REAL NOT NULL,
  started_at REAL,
  finished_at REAL,
  expires_at REAL
);
CREATE INDEX IF NOT EXISTS weft_jobs_ready ON weft_jobs(queue, priority DESC, seq)
  WHERE state IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS weft_jobs_state ON weft_jobs(queue, state);
CREATE INDEX IF NOT EXISTS weft_jobs_lease ON weft_jobs(lease_until) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS weft_jobs_worker ON weft_jobs(worker) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS weft_jobs_expiry ON weft_jobs(expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS weft_unique (
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  job_id TEXT NOT NULL,
  PRIMARY KEY (queue, key)
);
CREATE TABLE IF NOT EXISTS weft_paused (
  queue TEXT PRIMARY KEY,
  paused_at REAL
);
CREATE TABLE IF NOT EXISTS weft_workers (
  id TEXT PRIMARY KEY,
  queue TEXT NOT NULL,
  host TEXT,
  pid INTEGER,
  concurrency INTEGER,
  lease REAL,
  started_at REAL,
  heartbeat_at REAL
);
)sql";

class SqliteStore : public Store {
 public:
  SqliteStore(std::string url, std::string path) : url_(std::move(url)), path_(std::move(path)) {
    std::random_device rd;
    rng_.seed((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ static_cast<std::uint64_t>(getpid()) ^
              static_cast<std::uint64_t>(wall_now() * 1e6));
    int rc = sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      close();
      raisef("IOError", "cannot open store '{}': {}", url_, msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_handler(db_, &SqliteStore::busy_cb, this);
    try {
      std::string mode = query_text("PRAGMA journal_mode=WAL");
      if (mode != "wal") raisef("IOError", "cannot open store '{}': WAL mode not available (journal_mode={})", url_, mode);
      exec("PRAGMA synchronous=NORMAL");
      exec("BEGIN IMMEDIATE");
      try {
        exec(kSchema);
        // Stores made before deadlines existed lack the column (the error
        // for one that has it is ignored).
        sqlite3_exec(db_, "ALTER TABLE weft_jobs ADD COLUMN deadline_at REAL NOT NULL DEFAULT 0", nullptr, nullptr,
                     nullptr);
        exec("COMMIT");
      } catch (...) {
        rollback();
        throw;
      }
    } catch (NativeError& e) {
      close();
      if (e.message.rfind("cannot open store", 0) != 0) e.message = fmt::format("cannot open store '{}': {}", url_, e.message);
      throw;
    }
  }
  ~SqliteStore() override { close(); }

  const std::string& url() const override { return url_; }

  std::vector<std::string> enqueue(const EnqueueOpts& o, const std::string& fn,
                                   const std::vector<std::string>& args_json) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<std::string> ids;
    ids.reserve(args_json.size());
    double now = wall_now();
    Txn tx(*this);
    if (!o.unique.empty() && args_json.size() == 1) {
      // The unfinished job holding this key, if any, is the answer.
      sqlite3_stmt* u = prep(
          "SELECT j.id FROM weft_unique u JOIN weft_jobs j ON j.id = u.job_id "
          "WHERE u.queue=? AND u.key=? AND j.state IN ('queued','running','retrying')");
      bind(u, 1, o.queue);
      bind(u, 2, o.unique);
      Reset r{u};
      int rc = sqlite3_step(u);
      if (rc == SQLITE_ROW) {
        ids.push_back(col_text(u, 0));
        return ids;  // (the transaction rolls back: nothing changed)
      }
      if (rc != SQLITE_DONE) fail("enqueue");
    }
    sqlite3_stmt* st = prep(
        "INSERT INTO weft_jobs(id, queue, fn, args, state, priority, ready_at, retries, backoff, timeout, "
        "result_ttl, created_at, deadline_at) VALUES(?,?,?,?,'queued',?,?,?,?,?,?,?,?)");
    for (const std::string& a : args_json) {
      for (int tries = 0;; ++tries) {
        std::string id = new_id();
        bind(st, 1, id);
        bind(st, 2, o.queue);
        bind(st, 3, fn);
        bind(st, 4, a);
        sqlite3_bind_int64(st, 5, o.priority);
        sqlite3_bind_double(st, 6, now + o.delay);
        sqlite3_bind_int64(st, 7, o.retries);
        sqlite3_bind_double(st, 8, o.backoff);
        sqlite3_bind_double(st, 9, o.timeout);
        sqlite3_bind_double(st, 10, o.result_ttl);
        sqlite3_bind_double(st, 11, now);
        sqlite3_bind_double(st, 12, o.deadline > 0 ? now + o.deadline : 0);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
          ids.push_back(std::move(id));
          break;
        }
        if (rc != SQLITE_CONSTRAINT_UNIQUE || tries > 3) fail("enqueue");
      }
    }
    if (!o.unique.empty() && ids.size() == 1) {
      sqlite3_stmt* u = prep("INSERT OR REPLACE INTO weft_unique(queue, key, job_id) VALUES(?, ?, ?)");
      bind(u, 1, o.queue);
      bind(u, 2, o.unique);
      bind(u, 3, ids[0]);
      step_done(u, "enqueue");
    }
    tx.commit();
    return ids;
  }

  std::optional<JobRecord> get(const std::string& id) override {
    std::lock_guard<std::mutex> lk(mu_);
    sqlite3_stmt* st = prep(
        "SELECT id, queue, fn, args, state, result, error, priority, retries, attempts, lost, timeout, "
        "created_at, finished_at FROM weft_jobs WHERE id=?");
    bind(st, 1, id);
    Reset r{st};
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) fail("read job");
    JobRecord j;
    j.id = col_text(st, 0);
    j.queue = col_text(st, 1);
    j.fn = col_text(st, 2);
    j.args = col_text(st, 3);
    j.state = col_text(st, 4);
    j.result = col_text(st, 5);
    j.error = col_text(st, 6);
    j.priority = sqlite3_column_int64(st, 7);
    j.retries = sqlite3_column_int64(st, 8);
    j.attempts = sqlite3_column_int64(st, 9);
    j.lost = sqlite3_column_int64(st, 10);
    j.timeout = sqlite3_column_double(st, 11);
    j.created_at = sqlite3_column_double(st, 12);
    j.finished_at = sqlite3_column_double(st, 13);
    return j;
  }

  bool cancel(const std::string& id) override {
    std::lock_guard<std::mutex> lk(mu_);
    Txn tx(*this);
    sqlite3_stmt* st = prep(
        "UPDATE weft_jobs SET state='cancelled', finished_at=? WHERE id=? AND state IN ('queued','retrying')");
    sqlite3_bind_double(st, 1, wall_now());
    bind(st, 2, id);
    step_done(st, "cancel");
    bool changed = sqlite3_changes(db_) > 0;
    tx.commit();
    return changed;
  }

  std::map<std::string, std::int64_t> stats(const std::string& queue) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::map<std::string, std::int64_t> out{{"queued", 0}, {"running", 0}, {"retrying", 0},
                                            {"done", 0},   {"failed", 0},  {"cancelled", 0}};
    sqlite3_stmt* st = prep("SELECT state, count(*) FROM weft_jobs WHERE queue=? GROUP BY state");
    bind(st, 1, queue);
    {
      Reset r{st};
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) out[col_text(st, 0)] = sqlite3_column_int64(st, 1);
      if (rc != SQLITE_DONE) fail("stats");
    }
    sqlite3_stmt* w = prep("SELECT count(*) FROM weft_workers WHERE queue=? AND heartbeat_at + max(2 * lease, 3) > ?");
    bind(w, 1, queue);
    sqlite3_bind_double(w, 2, wall_now());
    Reset r{w};
    if (sqlite3_step(w) != SQLITE_ROW) fail("stats");
    out["workers"] = sqlite3_column_int64(w, 0);
    return out;
  }

  std::vector<std::string> failed_ids(const std::string& queue, std::int64_t limit) override {
    std::lock_guard<std::mutex> lk(mu_);
    sqlite3_stmt* st = prep("SELECT id FROM weft_jobs WHERE queue=? AND state='failed' ORDER BY finished_at, seq LIMIT ?");
    bind(st, 1, queue);
    sqlite3_bind_int64(st, 2, limit);
    Reset r{st};
    std::vector<std::string> ids;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) ids.push_back(col_text(st, 0));
    if (rc != SQLITE_DONE) fail("failed()");
    return ids;
  }

  std::int64_t retry_failed(const std::string& queue) override {
    std::lock_guard<std::mutex> lk(mu_);
    Txn tx(*this);
    sqlite3_stmt* st = prep(
        "UPDATE weft_jobs SET state='queued', round_attempts=0, lost=0, ready_at=?, finished_at=NULL, "
        "expires_at=NULL WHERE queue=? AND state='failed'");
    sqlite3_bind_double(st, 1, wall_now());
    bind(st, 2, queue);
    step_done(st, "retry_failed");
    std::int64_t n = sqlite3_changes(db_);
    tx.commit();
    return n;
  }

  std::int64_t purge(const std::string& queue, const std::vector<std::string>& states) override {
    std::lock_guard<std::mutex> lk(mu_);
    Txn tx(*this);
    std::int64_t n = 0;
    sqlite3_stmt* st = prep("DELETE FROM weft_jobs WHERE queue=? AND state=?");
    for (const std::string& s : states) {
      bind(st, 1, queue);
      bind(st, 2, s);
      step_done(st, "purge");
      n += sqlite3_changes(db_);
    }
    tx.commit();
    return n;
  }

  bool set_paused(const std::string& queue, bool paused) override {
    std::lock_guard<std::mutex> lk(mu_);
    sqlite3_stmt* st = prep(paused ? "INSERT OR IGNORE INTO weft_paused(queue, paused_at) VALUES(?, ?)"
                                   : "DELETE FROM weft_paused WHERE queue=?");
    bind(st, 1, queue);
    if (paused) sqlite3_bind_double(st, 2, wall_now());
    step_done(st, paused ? "pause" : "resume");
    return paused;
  }

  bool is_paused(const std::string& queue) override {
    std::lock_guard<std::mutex> lk(mu_);
    sqlite3_stmt* st = prep("SELECT 1 FROM weft_paused WHERE queue=?");
    bind(st, 1, queue);
    Reset r{st};
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail("paused");
    return rc == SQLITE_ROW;
  }

  bool has_ready(const std::string& queue) override {
    std::lock_guard<std::mutex> lk(mu_);
    sqlite3_stmt* st = prep(
        "SELECT 1 FROM weft_jobs WHERE queue=?1 AND state IN ('queued','retrying') AND ready_at <= ?2 "
        "AND NOT EXISTS (SELECT 1 FROM weft_paused WHERE queue=?1) LIMIT 1");
    bind(st, 1, queue);
    sqlite3_bind_double(st, 2, wall_now());
    Reset r{st};
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail("poll");
    return rc == SQLITE_ROW;
  }

  std::vector<Claimed> finish_and_claim(const std::vector<Outcome>& outcomes, const std::string& queue,
                                        const std::string& worker, double lease_s, int max_claim,
                                        std::vector<std::string>& discarded) override {
    std::lock_guard<std::mutex> lk(mu_);
    double now = wall_now();
    std::vector<Claimed> out;
    Txn tx(*this);
    for (const Outcome& o : outcomes) {
      sqlite3_stmt* st;
      if (o.kind == Outcome::Done) {
        st = prep(
            "UPDATE weft_jobs SET state='done', result=?1, finished_at=?2, worker=NULL, lease_until=NULL, "
            "expires_at=CASE WHEN result_ttl > 0 THEN ?2 + result_ttl END "
            "WHERE id=?3 AND lease_token=?4 AND state='running'");
        bind(st, 1, o.json);
      } else if (o.kind == Outcome::Failed) {
        // ?7: the least wait (an error's retry_after) or, with ?9 (snooze),
        // the exact wait; ?8: 1 when this run is not an attempt.
        st = prep(
            "UPDATE weft_jobs SET error=CASE WHEN ?9 THEN error ELSE ?1 END, worker=NULL, lease_until=NULL, "
            "round_attempts=round_attempts - ?8, attempts=attempts - ?8, "
            "state=CASE WHEN ?5 AND round_attempts - ?8 <= retries THEN 'retrying' ELSE 'failed' END, "
            "ready_at=CASE WHEN ?5 AND round_attempts - ?8 <= retries "
            "  THEN ?2 + CASE WHEN ?9 THEN ?7 ELSE "
            "    max(backoff * (1 << min(max(round_attempts - ?8 - 1, 0), 30)) * ?6, ?7) END ELSE ready_at END, "
            "finished_at=CASE WHEN ?5 AND round_attempts - ?8 <= retries THEN NULL ELSE ?2 END, "
            "expires_at=CASE WHEN NOT (?5 AND round_attempts - ?8 <= retries) AND result_ttl > 0 THEN ?2 + result_ttl END "
            "WHERE id=?3 AND lease_token=?4 AND state='running'");
        bind(st, 1, o.json);
        sqlite3_bind_int(st, 5, o.retryable ? 1 : 0);
        std::uniform_real_distribution<double> jitter(1.0, 1.1);
        sqlite3_bind_double(st, 6, jitter(rng_));
        sqlite3_bind_double(st, 7, o.min_delay);
        sqlite3_bind_int(st, 8, o.refund ? 1 : 0);
        sqlite3_bind_int(st, 9, o.snooze ? 1 : 0);
      } else {
        st = prep(
            "UPDATE weft_jobs SET state='queued', round_attempts=max(round_attempts - 1, 0), worker=NULL, "
            "lease_until=NULL, ready_at=?2 WHERE id=?3 AND lease_token=?4 AND state='running'");
      }
      sqlite3_bind_double(st, 2, now);
      bind(st, 3, o.id);
      bind(st, 4, o.token);
      step_done(st, "record outcome");
      if (sqlite3_changes(db_) == 0 && o.kind != Outcome::Release) discarded.push_back(o.id);
    }
    if (now - last_reap_ >= 1.0) {
      last_reap_ = now;
      reap(now);
    }
    if (max_claim > 0) {
      std::string token = fmt::format("{}#{}", worker, ++claims_);
      sqlite3_stmt* st = prep(
          "UPDATE weft_jobs SET state='running', attempts=attempts+1, round_attempts=round_attempts+1, "
          "worker=?1, lease_token=?2, lease_until=?3 + ?4, started_at=?3 "
          "WHERE seq IN (SELECT seq FROM weft_jobs WHERE queue=?5 AND state IN ('queued','retrying') "
          "  AND ready_at <= ?3 AND NOT EXISTS (SELECT 1 FROM weft_paused WHERE queue=?5) "
          "  ORDER BY priority DESC, seq LIMIT ?6) "
          "RETURNING id, fn, args, attempts, timeout, priority, seq, retries, round_attempts, deadline_at");
      bind(st, 1, worker);
      bind(st, 2, token);
      sqlite3_bind_double(st, 3, now);
      sqlite3_bind_double(st, 4, lease_s);
      bind(st, 5, queue);
      sqlite3_bind_int(st, 6, max_claim);
      Reset r{st};
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        Claimed c;
        c.id = col_text(st, 0);
        c.fn = col_text(st, 1);
        c.args = col_text(st, 2);
        c.attempts = sqlite3_column_int64(st, 3);
        c.timeout = sqlite3_column_double(st, 4);
        c.priority = sqlite3_column_int64(st, 5);
        c.seq = sqlite3_column_int64(st, 6);
        c.retries = sqlite3_column_int64(st, 7);
        c.round_attempts = sqlite3_column_int64(st, 8);
        c.deadline_at = sqlite3_column_double(st, 9);
        c.token = token;
        out.push_back(std::move(c));
      }
      if (rc != SQLITE_DONE) fail("claim");
    }
    tx.commit();
    std::sort(out.begin(), out.end(), claim_order);
    return out;
  }

  void heartbeat(const WorkerInfo& w, double lease_s) override {
    std::lock_guard<std::mutex> lk(mu_);
    double now = wall_now();
    Txn tx(*this);
    sqlite3_stmt* st = prep("UPDATE weft_jobs SET lease_until=? WHERE worker=? AND state='running'");
    sqlite3_bind_double(st, 1, now + lease_s);
    bind(st, 2, w.id);
    step_done(st, "renew leases");
    st = prep(
        "INSERT INTO weft_workers(id, queue, host, pid, concurrency, lease, started_at, heartbeat_at) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?7) ON CONFLICT(id) DO UPDATE SET heartbeat_at=?7");
    bind(st, 1, w.id);
    bind(st, 2, w.queue);
    bind(st, 3, w.host);
    sqlite3_bind_int64(st, 4, w.pid);
    sqlite3_bind_int64(st, 5, w.concurrency);
    sqlite3_bind_double(st, 6, lease_s);
    sqlite3_bind_double(st, 7, now);
    step_done(st, "heartbeat");
    // Forget workers that have been silent for a long time.
    st = prep("DELETE FROM weft_workers WHERE heartbeat_at + max(10 * lease, 60) < ?");
    sqlite3_bind_double(st, 1, now);
    step_done(st, "heartbeat");
    last_reap_ = now;
    reap(now);
    tx.commit();
  }

  void unregister_worker(const std::string& worker) override {
    std::lock_guard<std::mutex> lk(mu_);
    Txn tx(*this);
    sqlite3_stmt* st = prep("DELETE FROM weft_workers WHERE id=?");
    bind(st, 1, worker);
    step_done(st, "unregister worker");
    tx.commit();
  }

  std::int64_t release_all(const std::string& worker) override {
    std::lock_guard<std::mutex> lk(mu_);
    Txn tx(*this);
    sqlite3_stmt* st = prep(
        "UPDATE weft_jobs SET state='queued', round_attempts=max(round_attempts - 1, 0), worker=NULL, "
        "lease_until=NULL, ready_at=? WHERE worker=? AND state='running'");
    sqlite3_bind_double(st, 1, wall_now());
    bind(st, 2, worker);
    step_done(st, "release leases");
    std::int64_t n = sqlite3_changes(db_);
    tx.commit();
    return n;
  }

 private:
  struct Reset {
    sqlite3_stmt* st;
    ~Reset() {
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
    }
  };

  // BEGIN IMMEDIATE ... COMMIT, rolled back if anything throws.
  struct Txn {
    SqliteStore& s;
    bool done = false;
    explicit Txn(SqliteStore& st) : s(st) { s.exec("BEGIN IMMEDIATE"); }
    void commit() {
      s.exec("COMMIT");
      done = true;
    }
    ~Txn() {
      if (!done) s.rollback();
    }
  };

  // Expired leases: back to the queue (the lost attempt does not use up a
  // retry), or to the dead set after kMaxLostLeases; expired results go.
  void reap(double now) {
    sqlite3_stmt* st = prep(
        "UPDATE weft_jobs SET state='failed', error=?1, worker=NULL, lease_until=NULL, finished_at=?2, "
        "lost=lost+1 WHERE state='running' AND lease_until < ?2 AND lost + 1 >= ?3");
    std::string err = lost_error_json();
    bind(st, 1, err);
    sqlite3_bind_double(st, 2, now);
    sqlite3_bind_int(st, 3, kMaxLostLeases);
    step_done(st, "reap leases");
    st = prep(
        "UPDATE weft_jobs SET state='queued', round_attempts=max(round_attempts - 1, 0), lost=lost+1, "
        "worker=NULL, lease_until=NULL WHERE state='running' AND lease_until < ?");
    sqlite3_bind_double(st, 1, now);
    step_done(st, "reap leases");
    st = prep("DELETE FROM weft_jobs WHERE expires_at IS NOT NULL AND expires_at < ?");
    sqlite3_bind_double(st, 1, now);
    step_done(st, "expire results");
  }

  static int busy_cb(void* p, int n) {
    auto* s = static_cast<SqliteStore*>(p);
    std::uint64_t now = now_ns();
    if (n == 0) s->busy_since_ = now;
    if (now - s->busy_since_ > 10'000'000'000ull) return 0;  // 10 s: give up (SQLITE_BUSY)
    if (n < 20)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    else
      std::this_thread::sleep_for(std::chrono::microseconds(std::min(1000, 50 * n)));
    return 1;
  }

  std::string new_id() {
    return fmt::format("{:016x}", rng_());
  }

  void close() {
    for (auto& [sql, st] : stmts_) sqlite3_finalize(st);
    stmts_.clear();
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  [[noreturn]] void fail(const char* what) {
    raisef("IOError", "store '{}': {} failed: {}", url_, what, sqlite3_errmsg(db_));
  }

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      raisef("IOError", "store '{}': {}", url_, msg);
    }
  }
  void rollback() { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

  std::string query_text(const char* sql) {
    sqlite3_stmt* st = prep(sql);
    Reset r{st};
    if (sqlite3_step(st) != SQLITE_ROW) fail(sql);
    return col_text(st, 0);
  }

  sqlite3_stmt* prep(const char* sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) return it->second;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK) fail("prepare");
    stmts_[sql] = st;
    return st;
  }

  void step_done(sqlite3_stmt* st, const char* what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail(what);
  }

  static void bind(sqlite3_stmt* st, int i, const std::string& s) {
    sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  static std::string col_text(sqlite3_stmt* st, int i) {
    const unsigned char* p = sqlite3_column_text(st, i);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st, i)) : std::string();
  }

  std::string url_, path_;
  sqlite3* db_ = nullptr;
  std::mutex mu_;
  std::unordered_map<const char*, sqlite3_stmt*> stmts_;  // by SQL text address (literals)
  std::mt19937_64 rng_;
  std::uint64_t busy_since_ = 0;
  std::uint64_t claims_ = 0;
  double last_reap_ = 0;
};

}  // namespace

std::shared_ptr<Store> open_store(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0) {
    std::string path = url.substr(7);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // sqlite://PATH
    if (path.empty()) raisef("ValueError", "store URL '{}' has no file name (use sqlite:PATH, e.g. sqlite:jobs.db)", url);
    return std::make_shared<SqliteStore>(url, path);
  }
  if (url.rfind("redis://", 0) == 0) return open_redis_store(url);
  raisef("ValueError", "unsupported store URL '{}' (use sqlite:PATH, e.g. sqlite:jobs.db, or redis://HOST:PORT/DB)", url);
}

}  // namespace durable

// ======================================================= the script API

namespace {

using durable::JobRecord;
using durable::Store;

struct StackRoot {
  Thread& t;
  Value* at;
  StackRoot(Thread& th, Value v) : t(th), at(th.sp) { *t.sp++ = v; }
  ~StackRoot() { t.sp = at; }
};

// Every store call from a script goes through here: GIL released.
template <class F>
auto with_store(Thread& t, const char* label, F&& f) {
  BlockingRegion br(t.interp.gil, t.gil, label);
  return f();
}

struct DurableQueue : ObjHandle {
  std::shared_ptr<Store> store;
  std::string queue;
  const char* type_name() const override { return "queue"; }
  const MethodTable& methods() const override;
  bool get_field(Thread& t, std::string_view f, Value& out) override {
    if (f == "name") return out = str_value(t, queue), true;
    if (f == "url") return out = str_value(t, store->url()), true;
    return false;
  }
  std::string repr() const override { return fmt::format("<queue \"{}\" {}>", queue, store->url()); }
};

struct DurableJob : ObjHandle {
  std::shared_ptr<Store> store;
  std::string id;
  std::string last_state = "queued";  // last state read (for repr only)
  const char* type_name() const override { return "job"; }
  const MethodTable& methods() const override;
  bool get_field(Thread& t, std::string_view f, Value& out) override {
    if (f == "id") return out = str_value(t, id), true;
    return false;
  }
  std::string repr() const override { return fmt::format("<job {} {}>", id, last_state); }
};

DurableQueue* dq_self(Args a) { return static_cast<DurableQueue*>(a.self.as.o); }
DurableJob* dj_self(Args a) { return static_cast<DurableJob*>(a.self.as.o); }

Value make_job(Thread& t, const std::shared_ptr<Store>& s, std::string id, std::string state = "queued") {
  auto* j = t.interp.heap.make<DurableJob>();
  j->store = s;
  j->id = std::move(id);
  j->last_state = std::move(state);
  return Value::object(j);
}



durable::EnqueueOpts enqueue_opts(Thread& t, DurableQueue* q, Value opts, const char* what) {
  ObjMap* m = nullptr;
  if (!opts.is_nil()) {
    if (!is_obj_type(opts, ObjType::Map)) raisef("TypeError", "{}() options must be a map, not {}", what, type_name(opts));
    m = as<ObjMap>(opts);
  }
  check_option_keys(m, {"queue", "retries", "priority", "delay", "timeout", "backoff", "result_ttl", "unique", "deadline"},
                    what);
  durable::EnqueueOpts o;
  o.queue = opt_field_str(t, m, "queue", q->queue);
  if (o.queue.empty()) raise("ValueError", "queue name must not be empty");
  o.retries = opt_field_int(t, m, "retries", 0);
  if (o.retries < 0 || o.retries > 1000) raisef("ValueError", "retries must be between 0 and 1000, got {}", o.retries);
  o.priority = opt_field_int(t, m, "priority", 0);
  o.delay = opt_field_nonneg(t, m, "delay", 0, what);
  o.timeout = opt_field_nonneg(t, m, "timeout", 0, what);
  o.backoff = opt_field_nonneg(t, m, "backoff", 1.0, what);
  o.result_ttl = opt_field_nonneg(t, m, "result_ttl", 0, what);
  o.deadline = opt_field_nonneg(t, m, "deadline", 0, what);
  if (m) {
    if (Value* u = map_get(t, m, "unique"); u && !u->is_nil()) {
      o.unique = is_obj_type(*u, ObjType::String) ? std::string(as<ObjString>(*u)->view()) : to_repr(*u);
      if (std::string_view(what) == "enqueue_many") raise("ValueError", "enqueue_many() cannot take a unique key (it makes many jobs)");
    }
  }
  return o;
}

std::string args_json(Value args, const std::string& fn, const char* what) {
  if (args.is_nil()) return "[]";
  if (!is_obj_type(args, ObjType::List))
    raisef("TypeError", "{}() arguments must be a list, not {}", what, type_name(args));
  if (!json_compatible(args))
    raisef("TypeError", "{}(\"{}\"): arguments must be JSON values (nil, bool, numbers, str, lists, maps with str keys): {}",
           what, fn, to_repr(args).substr(0, 200));
  return json_stringify(args);
}

std::string fn_name_arg(Args a, const char* what) {
  std::string fn(arg_str(a, 0, what));
  if (fn.empty()) raisef("ValueError", "{}() needs a function name", what);
  return fn;
}

// q.enqueue(fn_name, args?, opts?)
Value DQ_enqueue(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  std::string fn = fn_name_arg(a, "enqueue");
  std::string args = args_json(a.n > 1 ? a[1] : Value(), fn, "enqueue");
  durable::EnqueueOpts o = enqueue_opts(t, q, a.n > 2 ? a[2] : Value(), "enqueue");
  auto s = q->store;
  std::vector<std::string> ids =
      with_store(t, "jobs.enqueue", [&] { return s->enqueue(o, fn, std::vector<std::string>{args}); });
  return make_job(t, s, ids.at(0));
}

// q.enqueue_many(fn_name, list_of_arg_lists, opts?): one transaction.
Value DQ_enqueue_many(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  std::string fn = fn_name_arg(a, "enqueue_many");
  ObjList* items = arg_list(a, 1, "enqueue_many");
  durable::EnqueueOpts o = enqueue_opts(t, q, a.n > 2 ? a[2] : Value(), "enqueue_many");
  std::vector<std::string> args;
  args.reserve(items->items.size());
  for (Value v : items->items) args.push_back(args_json(v, fn, "enqueue_many"));
  auto s = q->store;
  std::vector<std::string> ids = with_store(t, "jobs.enqueue", [&] { return s->enqueue(o, fn, args); });
  ObjList* out = new_list(t);
  StackRoot root(t, Value::object(out));
  out->items.reserve(ids.size());
  for (auto& id : ids) out->items.push_back(make_job(t, s, std::move(id)));
  return Value::object(out);
}

Value DQ_job(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  std::string id(arg_str(a, 0, "job"));
  auto s = q->store;
  auto rec = with_store(t, "jobs.job", [&] { return s->get(id); });
  if (!rec) raisef("JobError", "no job '{}' in {} (never enqueued, or purged)", id, s->url());
  return make_job(t, s, id, rec->state);
}

Value DQ_stats(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  auto s = q->store;
  std::string queue = q->queue;
  auto st = with_store(t, "jobs.stats", [&] { return s->stats(queue); });
  ObjMap* m = new_map(t);
  StackRoot root(t, Value::object(m));
  for (const char* k : {"queued", "running", "retrying", "done", "failed", "cancelled", "workers"})
    map_put(t, m, k, Value::integer(st[k]));
  return Value::object(m);
}

// q.pause(queue?), q.resume(queue?), q.paused(queue?): stored, so every
// worker process of the queue obeys.
std::string queue_arg(DurableQueue* q, Args a, const char* fn) {
  if (a.n < 1 || a[0].is_nil()) return q->queue;
  std::string name(arg_str(a, 0, fn));
  if (name.empty()) raisef("ValueError", "{}() queue name is empty", fn);
  return name;
}

Value DQ_pause(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  auto s = q->store;
  std::string queue = queue_arg(q, a, "pause");
  with_store(t, "jobs.pause", [&] { return s->set_paused(queue, true); });
  return Value();
}

Value DQ_resume(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  auto s = q->store;
  std::string queue = queue_arg(q, a, "resume");
  with_store(t, "jobs.resume", [&] { return s->set_paused(queue, false); });
  return Value();
}

Value DQ_paused(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  auto s = q->store;
  std::string queue = queue_arg(q, a, "paused");
  return Value::boolean(with_store(t, "jobs.paused", [&] { return s->is_paused(queue); }));
}

Value DQ_failed(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  auto s = q->store;
  std::string queue = q->queue;
  auto ids = with_store(t, "jobs.failed", [&] { return s->failed_ids(queue, 1'000'000); });
  ObjList* out = new_list(t);
  StackRoot root(t, Value::object(out));
  for (auto& id : ids) out->items.push_back(make_job(t, s, std::move(id), "failed"));
  return Value::object(out);
}

Value DQ_retry_failed(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  auto s = q->store;
  std::string queue = q->queue;
  return Value::integer(with_store(t, "jobs.retry_failed", [&] { return s->retry_failed(queue); }));
}

Value DQ_purge(Thread& t, Args a) {
  DurableQueue* q = dq_self(a);
  std::vector<std::string> states{"done", "failed", "cancelled"};
  if (a.n > 0 && !a[0].is_nil()) {
    ObjList* l = arg_list(a, 0, "purge");
    states.clear();
    for (Value v : l->items) {
      if (!is_obj_type(v, ObjType::String)) raisef("TypeError", "purge() states must be strings, not {}", type_name(v));
      std::string s(as<ObjString>(v)->view());
      static const char* known[] = {"queued", "running", "retrying", "done", "failed", "cancelled"};
      if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return s == k; }))
        raisef("ValueError", "purge(): unknown state '{}' (queued, running, retrying, done, failed, cancelled)", s);
      states.push_back(s);
    }
  }
  auto s = q->store;
  std::string queue = q->queue;
  return Value::integer(with_store(t, "jobs.purge", [&] { return s->purge(queue, states); }));
}

// ------------------------------------------------------------ job methods

JobRecord read_job(Thread& t, DurableJob* j, const char* label) {
  auto s = j->store;
  std::string id = j->id;
  auto rec = with_store(t, label, [&] { return s->get(id); });
  if (!rec) raisef("JobError", "job {} is no longer in {} (purged or expired)", id, s->url());
  j->last_state = rec->state;
  return *rec;
}

// The stored error as an error value (type, message, trace).
Value error_value(Thread& t, const std::string& json) {
  if (json.empty()) return Value();
  std::string type = "Error", message = json;
  std::vector<std::string> trace;
  try {
    auto doc = nlohmann::json::parse(json);
    if (doc.contains("type") && doc["type"].is_string()) type = doc["type"].get<std::string>();
    if (doc.contains("message") && doc["message"].is_string()) message = doc["message"].get<std::string>();
    if (doc.contains("trace") && doc["trace"].is_array())
      for (auto& x : doc["trace"])
        if (x.is_string()) trace.push_back(x.get<std::string>());
  } catch (...) {
  }
  ObjError* e = new_error(t, type, message);
  StackRoot root(t, Value::object(e));
  ObjList* l = new_list(t);
  e->trace = l;
  for (auto& s : trace) l->items.push_back(str_value(t, s));
  return Value::object(e);
}

std::string error_summary(const std::string& json) {
  try {
    auto doc = nlohmann::json::parse(json);
    return fmt::format("{}: {}", doc.value("type", "Error"), doc.value("message", ""));
  } catch (...) {
    return json;
  }
}

Value outcome(Thread& t, const JobRecord& r) {
  if (r.state == "done") return json_parse(t, r.result);
  if (r.state == "failed")
    raisef("JobError", "job {} failed after {} attempt{}: {}", r.id, r.attempts, r.attempts == 1 ? "" : "s",
           error_summary(r.error));
  if (r.state == "cancelled") raisef("JobError", "job {} was cancelled", r.id);
  raisef("JobError", "job {} has not finished", r.id);
}

Value DJ_status(Thread& t, Args a) { return str_value(t, read_job(t, dj_self(a), "job.status").state); }
Value DJ_done(Thread& t, Args a) { return Value::boolean(durable::is_final_state(read_job(t, dj_self(a), "job.done").state)); }
Value DJ_attempts(Thread& t, Args a) { return Value::integer(read_job(t, dj_self(a), "job.attempts").attempts); }
Value DJ_error(Thread& t, Args a) { return error_value(t, read_job(t, dj_self(a), "job.error").error); }

Value DJ_cancel(Thread& t, Args a) {
  DurableJob* j = dj_self(a);
  auto s = j->store;
  std::string id = j->id;
  bool ok = with_store(t, "job.cancel", [&] { return s->cancel(id); });
  if (ok) j->last_state = "cancelled";
  return Value::boolean(ok);
}

// j.info(): everything the store knows, as a map.
Value DJ_info(Thread& t, Args a) {
  JobRecord r = read_job(t, dj_self(a), "job.info");
  ObjMap* m = new_map(t);
  StackRoot root(t, Value::object(m));
  map_put(t, m, "id", str_value(t, r.id));
  map_put(t, m, "queue", str_value(t, r.queue));
  map_put(t, m, "function", str_value(t, r.fn));
  map_put(t, m, "args", json_parse(t, r.args));
  map_put(t, m, "status", str_value(t, r.state));
  map_put(t, m, "attempts", Value::integer(r.attempts));
  map_put(t, m, "lost_leases", Value::integer(r.lost));
  map_put(t, m, "priority", Value::integer(r.priority));
  map_put(t, m, "retries", Value::integer(r.retries));
  map_put(t, m, "created_at", Value::number(r.created_at));
  map_put(t, m, "finished_at", r.finished_at > 0 ? Value::number(r.finished_at) : Value());
  return Value::object(m);
}

// Waits until the job `id` is final, polling the store (GIL released).
// The outcome is produced by another process, so there is nothing in this
// process to be notified by: we re-read the row with a condition-variable
// wait in between (2 ms, doubling up to 50 ms), which Ctrl-C interrupts.
bool poll_until_final(Thread& t, const std::shared_ptr<Store>& s, const std::string& id,
                      std::optional<double> timeout, const char* label, JobRecord& out) {
  using Clock = std::chrono::steady_clock;
  auto deadline = timeout ? Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*timeout))
                          : Clock::time_point::max();
  static std::mutex mu;
  static std::condition_variable_any cv;
  bool found = true, final = false;
  {
    BlockingRegion br(t.interp.gil, t.gil, label);
    std::stop_token token = t.wait_token();
    auto interval = std::chrono::milliseconds(2);
    for (;;) {
      auto rec = s->get(id);
      if (!rec) {
        found = false;
        break;
      }
      out = std::move(*rec);
      if (durable::is_final_state(out.state)) {
        final = true;
        break;
      }
      auto now = Clock::now();
      if (now >= deadline || token.stop_requested()) break;
      auto until = std::min(deadline, now + interval);
      std::unique_lock<std::mutex> lk(mu);
      cv.wait_until(lk, token, until, [] { return false; });
      interval = std::min(interval * 2, std::chrono::milliseconds(50));
    }
  }
  t.check_interrupts();
  if (!found) raisef("JobError", "job {} is no longer in {} (purged or expired)", id, s->url());
  return final;
}

Value DJ_result(Thread& t, Args a) {
  DurableJob* j = dj_self(a);
  std::optional<double> timeout = opt_number(a, 0, "result");
  if (timeout && !(*timeout >= 0)) raise("ValueError", "result() timeout must be >= 0");
  JobRecord r;
  bool final = poll_until_final(t, j->store, j->id, timeout, "job.result", r);
  j->last_state = r.state;
  if (!final) raisef("TimeoutError", "job {} did not finish within {} s (status: {})", j->id, float_repr(*timeout), r.state);
  return outcome(t, r);
}

// q.wait(list_of_jobs, timeout?): waits until every job is finished.
Value DQ_wait(Thread& t, Args a) {
  ObjList* l = arg_list(a, 0, "wait");
  std::optional<double> timeout = opt_number(a, 1, "wait");
  if (timeout && !(*timeout >= 0)) raise("ValueError", "wait() timeout must be >= 0");
  std::vector<std::pair<std::shared_ptr<Store>, std::string>> js;
  for (Value v : l->items) {
    if (!is_obj_type(v, ObjType::Handle) || !dynamic_cast<DurableJob*>(as<ObjHandle>(v)))
      raisef("TypeError", "wait() expects a list of durable jobs, found {}", type_name(v));
    js.emplace_back(as<DurableJob>(v)->store, as<DurableJob>(v)->id);
  }
  auto start = std::chrono::steady_clock::now();
  std::size_t left = js.size();
  for (auto& [s, id] : js) {
    std::optional<double> rest;
    if (timeout) rest = std::max(0.0, *timeout - std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    JobRecord r;
    if (!poll_until_final(t, s, id, rest, "queue.wait", r))
      raisef("TimeoutError", "wait() timed out after {} s: {} of {} jobs not finished", float_repr(*timeout), left, js.size());
    --left;
  }
  return a[0];
}

const MethodTable kDJMethods = {
    {"status", {DJ_status, 0, 0}},     {"result", {DJ_result, 0, 1}}, {"done", {DJ_done, 0, 0}},
    {"attempts", {DJ_attempts, 0, 0}}, {"error", {DJ_error, 0, 0}},   {"cancel", {DJ_cancel, 0, 0}},
    {"info", {DJ_info, 0, 0}},
};

const MethodTable kDQMethods = {
    {"enqueue", {DQ_enqueue, 1, 3}},   {"enqueue_many", {DQ_enqueue_many, 2, 3}},
    {"job", {DQ_job, 1, 1}},           {"stats", {DQ_stats, 0, 0}},
    {"failed", {DQ_failed, 0, 0}},     {"retry_failed", {DQ_retry_failed, 0, 0}},
    {"purge", {DQ_purge, 0, 1}},       {"wait", {DQ_wait, 1, 2}},
    {"pause", {DQ_pause, 0, 1}},       {"resume", {DQ_resume, 0, 1}},
    {"paused", {DQ_paused, 0, 1}},
};

// jobs.open(URL, opts?) -> durable queue
Value jobs_open(Thread& t, Args a) {
  std::string url(arg_str(a, 0, "open"));
  ObjMap* m = (a.n < 2 || a[1].is_nil()) ? nullptr : arg_map(a, 1, "open");
  check_option_keys(m, {"queue"}, "jobs.open()");
  std::string queue = opt_field_str(t, m, "queue", "default");
  if (queue.empty()) raise("ValueError", "queue name must not be empty");
  auto s = with_store(t, "jobs.open", [&] { return durable::open_store(url); });
  auto* q = t.interp.heap.make<DurableQueue>();
  q->store = std::move(s);
  q->queue = std::move(queue);
  return Value::object(q);
}

// ----------------------------------------------------- worker processes

// jobs.spawn_worker(tasks, store_url, opts?) starts `weft worker` as a child
// process (posix_spawn of this very binary) and returns a handle with
// pid, wait(timeout?), kill(signal?), alive(). Scripts have no subprocess
// API otherwise; demos and benchmarks use this to be self-contained.
struct ProcessHandle : ObjHandle {
  pid_t pid = -1;
  bool reaped = false;
  int status = 0;  // exit code, or -signal
  const char* type_name() const override { return "process"; }
  const MethodTable& methods() const override;
  bool get_field(Thread&, std::string_view f, Value& out) override {
    if (f == "pid") return out = Value::integer(pid), true;
    return false;
  }
  std::string repr() const override { return fmt::format("<process {}{}>", pid, reaped ? " ended" : ""); }
  bool try_reap() {
    if (reaped) return true;
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      reaped = true;
      status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1;
    } else if (r < 0) {
      reaped = true;
      status = -1;
    }
    return reaped;
  }
  ~ProcessHandle() override {
    if (!reaped && pid > 0) {  // never leave a worker running behind a forgotten handle
      ::kill(pid, SIGTERM);
      int st;
      waitpid(pid, &st, 0);
    }
  }
};

ProcessHandle* ph_self(Args a) { return static_cast<ProcessHandle*>(a.self.as.o); }

Value PH_wait(Thread& t, Args a) {
  ProcessHandle* p = ph_self(a);
  std::optional<double> timeout = opt_number(a, 0, "wait");
  using Clock = std::chrono::steady_clock;
  auto deadline = timeout ? Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*timeout))
                          : Clock::time_point::max();
  bool done;
  {
    BlockingRegion br(t.interp.gil, t.gil, "process.wait");
    std::stop_token token = t.wait_token();
    static std::mutex mu;
    static std::condition_variable_any cv;
    for (;;) {
      if ((done = p->try_reap())) break;
      if (Clock::now() >= deadline || token.stop_requested()) break;
      std::unique_lock<std::mutex> lk(mu);
      cv.wait_until(lk, token, std::min(deadline, Clock::now() + std::chrono::milliseconds(10)), [] { return false; });
    }
  }
  t.check_interrupts();
  if (!done) raisef("TimeoutError", "process {} still running after {} s", p->pid, float_repr(*timeout));
  return Value::integer(p->status);
}

Value PH_kill(Thread& t, Args a) {
  ProcessHandle* p = ph_self(a);
  int sig = SIGTERM;
  if (a.n > 0 && !a[0].is_nil()) {
    if (a[0].is_int()) sig = static_cast<int>(a[0].as.i);
    else {
      std::string s(arg_str(a, 0, "kill"));
      if (s == "TERM") sig = SIGTERM;
      else if (s == "INT") sig = SIGINT;
      else if (s == "KILL") sig = SIGKILL;
      else raisef("ValueError", "kill(): unknown signal '{}' (TERM, INT, KILL or a number)", s);
    }
  }
  if (p->try_reap()) return Value::boolean(false);
  return Value::boolean(::kill(p->pid, sig) == 0);
}

Value PH_alive(Thread&, Args a) { return Value::boolean(!ph_self(a)->try_reap()); }

const MethodTable kPHMethods = {
    {"wait", {PH_wait, 0, 1}}, {"kill", {PH_kill, 0, 1}}, {"alive", {PH_alive, 0, 0}}};

Value jobs_spawn_worker(Thread& t, Args a) {
  std::string tasks(arg_str(a, 0, "spawn_worker"));
  std::string url(arg_str(a, 1, "spawn_worker"));
  ObjMap* m = (a.n < 3 || a[2].is_nil()) ? nullptr : arg_map(a, 2, "spawn_worker");
  check_option_keys(m, {"queue", "concurrency", "processes", "lease", "grace", "log", "quiet"}, "jobs.spawn_worker()");
  std::vector<std::string> argv{"weft", "worker", tasks, "--store", url};
  if (m) {
    std::string queue = opt_field_str(t, m, "queue", "");
    if (!queue.empty()) argv.insert(argv.end(), {"--queue", queue});
    for (const char* k : {"concurrency", "processes"}) {
      std::int64_t n = opt_field_int(t, m, k, 0);
      if (n) argv.insert(argv.end(), {std::string("--") + k, std::to_string(n)});
    }
    for (const char* k : {"lease", "grace"}) {
      double d = opt_field_number(t, m, k, 0);
      if (d > 0) argv.insert(argv.end(), {std::string("--") + k, float_repr(d)});
    }
    Value* q = map_get(t, m, "quiet");
    if (q && q->truthy()) argv.push_back("--quiet");
  }
  std::string log = opt_field_str(t, m, "log", "");  // "" : /dev/null, "inherit", or a file
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) raise("IOError", "spawn_worker(): cannot find the weft executable (/proc/self/exe)");
  exe[n] = 0;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (log != "inherit") {
    const char* out = log.empty() ? "/dev/null" : log.c_str();
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGINT);
  sigaddset(&dfl, SIGTERM);
  posix_spawnattr_setsigmask(&at, &none);   // the interpreter blocks SIGINT in its threads
  posix_spawnattr_setsigdefault(&at, &dfl);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> cargv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe, &fa, &at, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) raisef("IOError", "spawn_worker(): cannot start '{}': {}", exe, std::strerror(rc));
  auto* p = t.interp.heap.make<ProcessHandle>();
  p->pid = pid;
  return Value::object(p);
}

}  // namespace

const MethodTable& DurableQueue::methods() const { return kDQMethods; }
const MethodTable& DurableJob::methods() const { return kDJMethods; }
const MethodTable& ProcessHandle::methods() const { return kPHMethods; }

void register_durable(Interp& in) {
  auto it = in.builtins.find("jobs");
  if (it == in.builtins.end() || !is_obj_type(it->second, ObjType::Map)) return;  // register_jobs first
  ObjMap* m = as<ObjMap>(it->second);
  auto put = [&](const char* name, NativeFn fn, int mn, int mx) {
    m->set(Value::object(in.heap.intern(name)), in.native(name, fn, mn, mx));
  };
  put("open", jobs_open, 1, 2);
  put("spawn_worker", jobs_spawn_worker, 2, 3);
}

}  // namespace weft
