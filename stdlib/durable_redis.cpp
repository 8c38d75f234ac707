// Durable job queues (SPEC §7.10): the Redis store, for workers on several
// machines. Same semantics as the SQLite store in durable.cpp (states,
// retries with doubling backoff, leases and tokens, lost-lease counting,
// result TTL, priority then FIFO, the worker registry); only the storage
// differs.
//
// Key layout (every key starts with "weft:"; Q is a queue name, W a worker
// id, ID a job id):
//   weft:seq              INCRBY counter: the enqueue order (FIFO).
//   weft:job:ID           hash: queue fn args state attempts round_attempts
//                         lost worker token result error created_at
//                         finished_at expires_at, and priority retries
//                         backoff timeout result_ttl when not the default.
//   weft:q:Q:ready        zset of the queued/retrying jobs that may run now,
//                         score -priority. Equal scores sort by member, and
//                         an id starts with its zero-padded enqueue number,
//                         so ZPOPMIN yields priority, then FIFO.
//   weft:q:Q:delayed      zset of queued/retrying jobs by the time they are
//                         due (delay, retry backoff); moved to ready then.
//   weft:q:Q:done, weft:q:Q:cancelled
//                         sets of finished jobs (purge).
//   weft:q:Q:failed       zset: the dead set, by finish time (failed()).
//   weft:q:Q:counts       hash state -> number of jobs (stats()).
//   weft:q:Q:workers      zset of worker ids by "alive until" (stats()).
//   weft:leases           zset of workers by lease expiry. The lease is the
//                         worker's: the SQLite store's heartbeat renews all
//                         of a worker's jobs at once anyway, so one deadline
//                         per worker has the same meaning and costs one
//                         write per batch instead of two per job.
//   weft:wj:W             set of the jobs W is running.
//   weft:w:W              hash: W's queue, host, pid, ...; expires when W
//                         stays silent for 10 leases (at least 60 s).
//   weft:expiry           zset of finished jobs by expires_at (result_ttl).
//
// Every operation that touches more than one key is one Lua script (EVALSHA,
// falling back to EVAL when the server has forgotten the script), so it is
// atomic like a SQLite transaction, and every timestamp comes from the
// server's clock (TIME), so workers on machines with skewed clocks agree on
// when a lease expires. A worker records its finished batch and claims the
// next one in a single script call: one round trip per batch.
//
// The connection: one per Store object, guarded by a mutex (the worker's
// threads and its monitor share it). After an I/O error the connection is
// dropped and the next call reconnects, so a worker survives a Redis restart
// (its "store error; retrying" loop keeps calling). A reply lost with the
// connection (the script ran, the worker never heard back) is handled on
// both sides:
//  * outcomes are idempotent: a claim token stays on the job after its
//    outcome is recorded (release and lease expiry clear it), so recording
//    the same outcome again is a no-op, not a "lease lost";
//  * a claim whose reply was lost leased jobs to this worker that it never
//    saw: the claim's token is remembered and the next finish_and_claim
//    first puts that token's jobs back to queued, unrun.
// Redis Cluster is not supported (the scripts build their key names).
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string_view>

#include "durable.hpp"
#include "runtime/natives.hpp"

namespace weft {
namespace durable {

namespace {

const char* kUrlHelp = "use redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0";

// Parses a decimal number made of digits only (no sign, no spaces) in [lo, hi].
bool parse_uint(std::string_view s, long long lo, long long hi, long long& out) {
  if (s.empty() || s.size() > 18) return false;
  for (char ch : s)
    if (ch < '0' || ch > '9') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= lo && out <= hi;
}

}  // namespace

RedisUrl parse_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0) raisef("ValueError", "store URL '{}' is not a redis:// URL ({})", url, kUrlHelp);
  std::string_view rest(url);
  rest.remove_prefix(scheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos)
    raisef("ValueError", "store URL '{}': query strings and fragments are not supported ({})", url, kUrlHelp);
  RedisUrl u;
  // [[USER]:PASSWORD@]HOST[:PORT][/DB]
  std::string_view auth, hostport, path;
  bool has_path = false;
  std::size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    auth = rest.substr(0, at);
    rest.remove_prefix(at + 1);
  }
  if (std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    path = rest.substr(slash + 1);
    has_path = true;
  } else {
    hostport = rest;
  }
  if (at != std::string_view::npos) {
    std::size_t colon = auth.find(':');
    if (colon == std::string_view::npos)
      raisef("ValueError", "store URL '{}': credentials must be PASSWORD or USER:PASSWORD before '@' (redis://:PASSWORD@HOST:PORT/DB)", url);
    u.user = std::string(auth.substr(0, colon));
    u.password = std::string(auth.substr(colon + 1));
    if (u.password.empty()) raisef("ValueError", "store URL '{}': empty password", url);
  }
  std::string_view host, port;
  bool has_port = false;
  if (!hostport.empty() && hostport.front() == '[') {  // [IPv6]:PORT
    std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) raisef("ValueError", "store URL '{}': unterminated '[' in the host ({})", url, kUrlHelp);
    host = hostport.substr(1, close - 1);
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') raisef("ValueError", "store URL '{}': unexpected '{}' after the host ({})", url, after, kUrlHelp);
      port = after.substr(1);
      has_port = true;
    }
  } else {
    std::size_t colon = hostport.find(':');
    host = hostport.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) raisef("ValueError", "store URL '{}' has no host ({})", url, kUrlHelp);
  for (char ch : host)
    if (static_cast<unsigned char>(ch) <= ' ' || ch == '@' || ch == '/' || ch == '[' || ch == ']')
      raisef("ValueError", "store URL '{}': bad host '{}' ({})", url, host, kUrlHelp);
  u.host = std::string(host);
  long long v = 0;
  if (has_port) {
    if (!parse_uint(port, 1, 65535, v))
      raisef("ValueError", "store URL '{}': bad port '{}' (a number from 1 to 65535; {})", url, port, kUrlHelp);
    u.port = static_cast<int>(v);
  }
  if (has_path && !path.empty()) {
    if (!parse_uint(path, 0, 2147483647, v))
      raisef("ValueError", "store URL '{}': bad database number '{}' (a number from 0, e.g. /0; {})", url, path, kUrlHelp);
    u.db = static_cast<int>(v);
  }
  return u;
}

namespace {

// ------------------------------------------------------------ Lua scripts

// Shared by every script: ARGV[1] is the key prefix.
//
// Each redis.call costs a few microseconds of argument conversion and
// dispatch, which dominates these scripts; so the hot paths (enqueue, claim,
// finish) touch each job's hash once or twice and defer their index updates
// and state counters: defer() groups them per (command, key), flush() sends
// each group as one multi-member call (ZADD key s1 m1 s2 m2 ..., HINCRBY
// per state). A script flushes before it reads a key it has deferred writes
// to, and always at its end.
const char* kPrelude = R"lua(
local P = ARGV[1]
local LEASES = P .. 'leases'
local EXPIRY = P .. 'expiry'
local function jk(id) return P .. 'job:' .. id end
local function qk(q, s) return P .. 'q:' .. q .. ':' .. s end
local function wk(w) return P .. 'w:' .. w end
local function wjk(w) return P .. 'wj:' .. w end
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local groups, group_of, counts = {}, {}, {}
local function defer(cmd, key, a, b)
  local name = cmd .. ' ' .. key
  local g = group_of[name]
  if not g then
    g = {cmd, key}
    group_of[name] = g
    groups[#groups + 1] = g
  end
  g[#g + 1] = a
  if b ~= nil then g[#g + 1] = b end
end
local function count(q, from, to)
  local c = counts[q]
  if not c then
    c = {}
    counts[q] = c
  end
  if from then c[from] = (c[from] or 0) - 1 end
  if to then c[to] = (c[to] or 0) + 1 end
end
local function flush()
  for _, g in ipairs(groups) do
    local i = 3
    while i <= #g do
      local j = math.min(i + 999, #g)  -- (an even number of arguments: ZADD pairs stay whole)
      redis.call(g[1], g[2], unpack(g, i, j))
      i = j + 1
    end
  end
  groups, group_of = {}, {}
  for q, c in pairs(counts) do
    for state, d in pairs(c) do
      if d ~= 0 then redis.call('HINCRBY', qk(q, 'counts'), state, d) end
    end
  end
  counts = {}
end
-- A queued/retrying job goes to the ready set, or to the delayed set until
-- ready_at.
local function schedule(id, q, prio, ready_at, now)
  if ready_at <= now then
    defer('ZADD', qk(q, 'ready'), 0 - prio, id)
  else
    defer('ZADD', qk(q, 'delayed'), ready_at, id)
  end
end
local function unlease(id, worker)
  if worker then defer('SREM', wjk(worker), id) end
end
-- The job's hash as a table (nil if there is no such job). Fields that
-- hold their default (priority 0, retries 0, backoff 1, timeout 0,
-- result_ttl 0, counters 0) are not stored.
local FIELDS = {'queue', 'state', 'priority', 'round_attempts', 'retries', 'backoff', 'result_ttl', 'lost',
                'worker', 'token'}
-- A running job reaches `state` (done or failed) with `json` in `field`
-- (result or error); it expires after its result TTL, if it has one.
local function finish(id, k, j, state, field, json, now)
  unlease(id, j.worker)
  if j.result_ttl > 0 then
    redis.call('HSET', k, 'state', state, field, json, 'finished_at', now, 'expires_at', now + j.result_ttl)
    defer('ZADD', EXPIRY, now + j.result_ttl, id)
  else
    redis.call('HSET', k, 'state', state, field, json, 'finished_at', now)
  end
  count(j.queue, 'running', state)
end

local function load(id)
  local v = redis.call('HMGET', jk(id), unpack(FIELDS))
  if not v[2] then return nil end
  return {queue = v[1], state = v[2], priority = tonumber(v[3]) or 0, round_attempts = tonumber(v[4]) or 0,
          retries = tonumber(v[5]) or 0, backoff = tonumber(v[6]) or 1, result_ttl = tonumber(v[7]) or 0,
          lost = tonumber(v[8]) or 0, worker = v[9], token = v[10]}
end
-- A running job back to queued (released by its worker): the interrupted
-- attempt does not use up a retry. An unrun job (its claim's reply was
-- lost: the worker never saw it) does not count as an attempt either.
local function release(id, j, now, unrun)
  local k = jk(id)
  unlease(id, j.worker)
  redis.call('HSET', k, 'state', 'queued', 'round_attempts', math.max(j.round_attempts - 1, 0))
  redis.call('HDEL', k, 'worker', 'token')
  if unrun then redis.call('HINCRBY', k, 'attempts', -1) end
  count(j.queue, 'running', 'queued')
  schedule(id, j.queue, j.priority, now, now)
end
local function drop(id, j)
  if j.state == 'queued' or j.state == 'retrying' then
    defer('ZREM', qk(j.queue, 'ready'), id)
    defer('ZREM', qk(j.queue, 'delayed'), id)
  elseif j.state == 'running' then
    unlease(id, j.worker)
  elseif j.state == 'failed' then
    defer('ZREM', qk(j.queue, 'failed'), id)
  else
    defer('SREM', qk(j.queue, j.state), id)
  end
  defer('ZREM', EXPIRY, id)
  redis.call('DEL', jk(id))
  count(j.queue, j.state, nil)
end
-- Expired leases (a worker that stopped claiming and heartbeating): its
-- jobs go back to the queue (the lost attempt does not use up a retry), or
-- to the dead set after max_lost lost leases; expired results go.
local function reap(now, max_lost, lost_error)
  flush()
  for _, w in ipairs(redis.call('ZRANGEBYSCORE', LEASES, '-inf', now)) do
    for _, id in ipairs(redis.call('SMEMBERS', wjk(w))) do
      local j = load(id)
      if j and j.state == 'running' and j.worker == w then
        local k = jk(id)
        redis.call('HDEL', k, 'worker', 'token')
        if j.lost + 1 >= max_lost then
          redis.call('HSET', k, 'state', 'failed', 'error', lost_error, 'finished_at', now, 'lost', j.lost + 1)
          count(j.queue, 'running', 'failed')
          defer('ZADD', qk(j.queue, 'failed'), now, id)
        else
          redis.call('HSET', k, 'state', 'queued', 'round_attempts', math.max(j.round_attempts - 1, 0),
                     'lost', j.lost + 1)
          count(j.queue, 'running', 'queued')
          schedule(id, j.queue, j.priority, now, now)
        end
      end
    end
    redis.call('DEL', wjk(w))
    redis.call('ZREM', LEASES, w)
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', now, 'LIMIT', 0, 10000)) do
    local j = load(id)
    if j then drop(id, j) else defer('ZREM', EXPIRY, id) end
  end
  flush()
end
)lua";

// ARGV: P queue fn priority delay suffix n_opts (field value)*n_opts args...
// -> the new ids. (The options that differ from their defaults are stored.)
const char* kEnqueue = R"lua(
local q, prio = ARGV[2], tonumber(ARGV[4])
local now = now_s()
local ready_at = now + tonumber(ARGV[5])
local suffix = ARGV[6]
local first = 8 + 2 * tonumber(ARGV[7])
local fields = {'queue', q, 'fn', ARGV[3], 'state', 'queued', 'created_at', now}
for i = 8, first - 1 do fields[#fields + 1] = ARGV[i] end
local n = #ARGV - first + 1
-- A unique key (one job only): the unfinished job holding it is the answer.
local ukey
for i = 8, first - 1, 2 do
  if ARGV[i] == 'unique' and n == 1 then ukey = qk(q, 'u:' .. ARGV[i + 1]) end
end
if ukey then
  local old = redis.call('GET', ukey)
  if old then
    local st = redis.call('HGET', jk(old), 'state')
    if st == 'queued' or st == 'running' or st == 'retrying' then return {old} end
  end
end
local last = redis.call('INCRBY', P .. 'seq', n)
local ids = {}
for i = 1, n do
  local id = string.format('%010x', last - n + i) .. suffix
  redis.call('HSET', jk(id), 'args', ARGV[first + i - 1], unpack(fields))
  schedule(id, q, prio, ready_at, now)
  ids[i] = id
end
if ukey then redis.call('SET', ukey, ids[1]) end
counts[q] = {queued = n}
flush()
return ids
)lua";

// ARGV: P id -> 1 if it was queued/retrying and is now cancelled.
const char* kCancel = R"lua(
local id = ARGV[2]
local j = load(id)
if not j or (j.state ~= 'queued' and j.state ~= 'retrying') then return 0 end
local now = now_s()
redis.call('ZREM', qk(j.queue, 'ready'), id)
redis.call('ZREM', qk(j.queue, 'delayed'), id)
redis.call('HSET', jk(id), 'state', 'cancelled', 'finished_at', now)
count(j.queue, j.state, 'cancelled')
redis.call('SADD', qk(j.queue, 'cancelled'), id)
flush()
return 1
)lua";

// ARGV: P queue -> [state, count, ..., 'workers', live workers]
const char* kStats = R"lua(
local q = ARGV[2]
local out = redis.call('HGETALL', qk(q, 'counts'))
out[#out + 1] = 'workers'
out[#out + 1] = redis.call('ZCOUNT', qk(q, 'workers'), now_s(), '+inf')
return out
)lua";

// ARGV: P queue -> how many failed jobs went back to queued.
const char* kRetryFailed = R"lua(
local q = ARGV[2]
local now = now_s()
local n = 0
for _, id in ipairs(redis.call('ZRANGE', qk(q, 'failed'), 0, -1)) do
  local j = load(id)
  if j and j.state == 'failed' then
    local k = jk(id)
    redis.call('HSET', k, 'state', 'queued')
    redis.call('HDEL', k, 'round_attempts', 'lost', 'finished_at', 'expires_at', 'token')
    defer('ZREM', EXPIRY, id)
    count(q, 'failed', 'queued')
    schedule(id, q, j.priority, now, now)
    n = n + 1
  end
end
redis.call('DEL', qk(q, 'failed'))
flush()
return n
)lua";

// ARGV: P queue state... -> how many jobs were deleted.
const char* kPurge = R"lua(
local q = ARGV[2]
local n = 0
for i = 3, #ARGV do
  local s = ARGV[i]
  local lists
  if s == 'queued' or s == 'retrying' then
    lists = {redis.call('ZRANGE', qk(q, 'ready'), 0, -1), redis.call('ZRANGE', qk(q, 'delayed'), 0, -1)}
  elseif s == 'running' then
    lists = {}
    for _, w in ipairs(redis.call('ZRANGE', LEASES, 0, -1)) do lists[#lists + 1] = redis.call('SMEMBERS', wjk(w)) end
  elseif s == 'failed' then
    lists = {redis.call('ZRANGE', qk(q, s), 0, -1)}
  else
    lists = {redis.call('SMEMBERS', qk(q, s))}
  end
  for _, ids in ipairs(lists) do
    for _, id in ipairs(ids) do
      local j = load(id)
      if j and j.queue == q and j.state == s then
        drop(id, j)
        n = n + 1
      end
    end
  end
  flush()
end
return n
)lua";

// ARGV: P queue -> 1 if a job of the queue may be claimed now.
const char* kHasReady = R"lua(
local q = ARGV[2]
if redis.call('EXISTS', qk(q, 'paused')) == 1 then return 0 end
if redis.call('ZCARD', qk(q, 'ready')) > 0 then return 1 end
if #redis.call('ZRANGEBYSCORE', qk(q, 'delayed'), '-inf', now_s(), 'LIMIT', 0, 1) > 0 then return 1 end
return 0
)lua";

// ARGV: P queue paused(1|0|?) -> 1 when the queue is paused (after the change)
const char* kSetPaused = R"lua(
local k = qk(ARGV[2], 'paused')
if ARGV[3] == '1' then redis.call('SET', k, tostring(now_s())) elseif ARGV[3] == '0' then redis.call('DEL', k) end
return redis.call('EXISTS', k)
)lua";

// ARGV: P queue worker lease max_claim token reap max_lost lost_error
//       n_lost (worker token)*n_lost (kind id token retryable jitter json)*
// -> {discarded ids, claimed: (id fn args attempts timeout priority seq
//     retries round_attempts)*}
const char* kFinishAndClaim = R"lua(
local q, worker, token = ARGV[2], ARGV[3], ARGV[6]
local now = now_s()
local i = 11
-- Claims whose reply was lost with the connection: their jobs go back.
for _ = 1, tonumber(ARGV[10]) do
  local w, t = ARGV[i], ARGV[i + 1]
  i = i + 2
  for _, id in ipairs(redis.call('SMEMBERS', wjk(w))) do
    local j = load(id)
    if j and j.state == 'running' and j.token == t then release(id, j, now, true) end
  end
end
local discarded = {}
local function refund_of(r)
  local f = {}
  for w in string.gmatch(r, '%S+') do f[#f + 1] = w end
  return f[3] == '1' and 1 or 0
end
while i + 5 <= #ARGV do
  local kind, id, tok, retryable, jitter, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
                                                  tonumber(ARGV[i + 4]), ARGV[i + 5]
  i = i + 6
  local k = jk(id)
  local j
  if kind == 'D' then  -- (the common case: read only what it needs)
    local v = redis.call('HMGET', k, 'state', 'token', 'queue', 'worker', 'result_ttl')
    if v[1] then j = {state = v[1], token = v[2], queue = v[3], worker = v[4], result_ttl = tonumber(v[5]) or 0} end
  else
    j = load(id)
  end
  if j and j.state == 'running' and j.token == tok then
    -- (worker stays on a finished job: only a running job's is looked at.)
    if kind == 'R' then
      release(id, j, now)
    elseif kind == 'D' then
      finish(id, k, j, 'done', 'result', json, now)
      defer('SADD', qk(j.queue, 'done'), id)
    elseif string.sub(retryable, 1, 1) == '1' and j.round_attempts - refund_of(retryable) <= j.retries then
      -- retryable is "1 MIN_DELAY REFUND SNOOZE" (see Outcome): the same
      -- rules as the SQLite store's UPDATE.
      local f = {}
      for w in string.gmatch(retryable, '%S+') do f[#f + 1] = w end
      local min_delay, refund, snooze = tonumber(f[2]) or 0, f[3] == '1', f[4] == '1'
      unlease(id, j.worker)
      local round = j.round_attempts - (refund and 1 or 0)
      local wait = j.backoff * 2 ^ math.min(math.max(round - 1, 0), 30) * jitter
      if snooze then wait = min_delay elseif min_delay > wait then wait = min_delay end
      local at = now + wait
      if refund then
        redis.call('HINCRBY', k, 'round_attempts', -1)
        redis.call('HINCRBY', k, 'attempts', -1)
      end
      if snooze then
        redis.call('HSET', k, 'state', 'retrying')
      else
        redis.call('HSET', k, 'state', 'retrying', 'error', json)
      end
      redis.call('HDEL', k, 'finished_at')
      count(j.queue, 'running', 'retrying')
      schedule(id, j.queue, j.priority, at, now)
    else
      finish(id, k, j, 'failed', 'error', json, now)
      defer('ZADD', qk(j.queue, 'failed'), now, id)
    end
  elseif kind ~= 'R' and not (j and j.token == tok) then
    -- (The token still on the job: this very outcome was recorded by a call
    -- whose reply was lost; recording it again changes nothing.)
    discarded[#discarded + 1] = id
  end
end
flush()
if ARGV[7] == '1' then reap(now, tonumber(ARGV[8]), ARGV[9]) end
local claimed = {}
local max_claim = tonumber(ARGV[5])
-- A paused queue (q.pause(), stored so every worker obeys): claim nothing.
if redis.call('EXISTS', qk(q, 'paused')) == 1 then max_claim = 0 end
if max_claim > 0 then
  local delayed, ready = qk(q, 'delayed'), qk(q, 'ready')
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 1000)
  if #due > 0 then
    for _, id in ipairs(due) do
      local v = redis.call('HMGET', jk(id), 'state', 'priority')
      if v[1] == 'queued' or v[1] == 'retrying' then defer('ZADD', ready, 0 - (tonumber(v[2]) or 0), id) end
    end
    redis.call('ZREM', delayed, unpack(due))
    flush()
  end
  local popped = redis.call('ZPOPMIN', ready, max_claim)
  local lease_until = now + tonumber(ARGV[4])
  local wj = wjk(worker)
  for n = 1, #popped, 2 do
    local id = popped[n]
    local k = jk(id)
    local v = redis.call('HMGET', k, 'state', 'fn', 'args', 'attempts', 'timeout', 'retries', 'round_attempts',
                         'deadline_at')
    local st = v[1]
    if st == 'queued' or st == 'retrying' then
      local attempts, round = (tonumber(v[4]) or 0) + 1, (tonumber(v[7]) or 0) + 1
      redis.call('HSET', k, 'state', 'running', 'worker', worker, 'token', token, 'attempts', attempts,
                 'round_attempts', round)
      defer('SADD', wj, id)
      count(q, st, 'running')
      -- (The priority is minus the score; the sequence number is the id's
      -- hexadecimal prefix.)
      local c = #claimed
      claimed[c + 1], claimed[c + 2], claimed[c + 3], claimed[c + 4] = id, v[2], v[3], attempts
      claimed[c + 5], claimed[c + 6], claimed[c + 7], claimed[c + 8] = v[5] or '0', 0 - tonumber(popped[n + 1]),
                                                                       tonumber(string.sub(id, 1, 10), 16), v[6] or '0'
      claimed[c + 9], claimed[c + 10] = round, v[8] or '0'
    end
  end
  -- The lease is the worker's: claiming (like a heartbeat) renews it for
  -- every job the worker holds.
  if #claimed > 0 then redis.call('ZADD', LEASES, lease_until, worker) end
  flush()
end
return {discarded, claimed}
)lua";

// ARGV: P worker queue host pid concurrency lease max_lost lost_error
const char* kHeartbeat = R"lua(
local w, q, lease = ARGV[2], ARGV[3], tonumber(ARGV[7])
local now = now_s()
redis.call('ZADD', LEASES, now + lease, w)
local wkey = wk(w)
redis.call('HSET', wkey, 'queue', q, 'host', ARGV[4], 'pid', ARGV[5], 'concurrency', ARGV[6], 'lease', ARGV[7],
           'heartbeat_at', now)
redis.call('HSETNX', wkey, 'started_at', now)
-- Forget workers that have been silent for a long time.
redis.call('EXPIRE', wkey, math.ceil(math.max(10 * lease, 60)))
local workers = qk(q, 'workers')
redis.call('ZADD', workers, now + math.max(2 * lease, 3), w)
redis.call('ZREMRANGEBYSCORE', workers, '-inf', now)
reap(now, tonumber(ARGV[8]), ARGV[9])
return 1
)lua";

// ARGV: P worker
const char* kUnregister = R"lua(
local w = ARGV[2]
local q = redis.call('HGET', wk(w), 'queue')
if q then redis.call('ZREM', qk(q, 'workers'), w) end
redis.call('DEL', wk(w))
return 1
)lua";

// ARGV: P worker -> how many leases went back to queued.
const char* kReleaseAll = R"lua(
local w = ARGV[2]
local now = now_s()
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', wjk(w))) do
  local j = load(id)
  if j and j.state == 'running' and j.worker == w then
    release(id, j, now)
    n = n + 1
  end
end
flush()
redis.call('DEL', wjk(w))
redis.call('ZREM', LEASES, w)
return n
)lua";

struct Script {
  const char* name;
  std::string text;  // the prelude + the body
  std::string sha;   // from SCRIPT LOAD ("" until loaded)
};

enum ScriptId { kSEnqueue, kSCancel, kSStats, kSRetryFailed, kSPurge, kSHasReady, kSFinishAndClaim, kSHeartbeat,
                kSUnregister, kSReleaseAll, kSSetPaused, kNumScripts };

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// The arguments of one command, binary safe. Views point into the caller's
// strings (which outlive the call); numbers are formatted into owned strings.
struct Cmd {
  std::vector<const char*> ptr;
  std::vector<std::size_t> len;
  std::deque<std::string> owned;
  Cmd& add(std::string_view s) {
    ptr.push_back(s.data());
    len.push_back(s.size());
    return *this;
  }
  Cmd& own(std::string s) {
    owned.push_back(std::move(s));
    return add(owned.back());
  }
  Cmd& num(double d) { return own(fmt::format("{}", d)); }
  Cmd& num(std::int64_t i) { return own(std::to_string(i)); }
  // Appends another command's arguments (which must outlive this one).
  Cmd& append(const Cmd& o) {
    ptr.insert(ptr.end(), o.ptr.begin(), o.ptr.end());
    len.insert(len.end(), o.len.begin(), o.len.end());
    return *this;
  }
};

std::string reply_str(const redisReply* r) {
  if (!r) return {};
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    default:
      return {};
  }
}

std::int64_t reply_int(const redisReply* r) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  std::string s = reply_str(r);
  return s.empty() ? 0 : std::strtoll(s.c_str(), nullptr, 10);
}

// hiredis writes with write(2): on a connection the server has reset (it
// restarted), the write of a long command raises SIGPIPE, whose default
// action kills the process. The signal goes to the writing thread, so the
// guard blocks it in this thread around the I/O and then discards one that
// became pending (the failed write reports EPIPE anyway).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

double reply_num(const redisReply* r) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return static_cast<double>(r->integer);
  std::string s = reply_str(r);
  return s.empty() ? 0 : std::strtod(s.c_str(), nullptr);
}

class RedisStore : public Store {
 public:
  RedisStore(std::string url, RedisUrl u) : url_(std::move(url)), u_(std::move(u)) {
    std::random_device rd;
    rng_.seed((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ static_cast<std::uint64_t>(getpid()) ^
              static_cast<std::uint64_t>(wall_now() * 1e6));
    const std::pair<ScriptId, const char*> bodies[] = {
        {kSEnqueue, kEnqueue},       {kSCancel, kCancel},       {kSStats, kStats},
        {kSRetryFailed, kRetryFailed}, {kSPurge, kPurge},       {kSHasReady, kHasReady},
        {kSFinishAndClaim, kFinishAndClaim}, {kSHeartbeat, kHeartbeat}, {kSUnregister, kUnregister},
        {kSReleaseAll, kReleaseAll}, {kSSetPaused, kSetPaused}};
    const char* names[] = {"enqueue", "cancel", "stats", "retry_failed", "purge", "poll", "claim", "heartbeat",
                           "unregister worker", "release leases", "pause"};
    for (auto& [id, body] : bodies) scripts_[id] = Script{names[id], std::string(kPrelude) + body, ""};
    lost_error_ = lost_error_json();
    std::lock_guard<std::mutex> lk(mu_);
    connect();  // fails now, with a clear IOError, if the server is unreachable
  }
  ~RedisStore() override { disconnect(); }

  const std::string& url() const override { return url_; }

  std::vector<std::string> enqueue(const EnqueueOpts& o, const std::string& fn,
                                   const std::vector<std::string>& args_json) override {
    if (args_json.empty()) return {};
    std::lock_guard<std::mutex> lk(mu_);
    Cmd c;
    c.add(kPrefix).add(o.queue).add(fn).num(o.priority).num(o.delay).own(fmt::format("{:06x}", rng_() & 0xFFFFFF));
    Cmd opts;
    if (o.priority != 0) opts.add("priority").num(o.priority);
    if (o.retries != 0) opts.add("retries").num(o.retries);
    if (o.backoff != 1.0) opts.add("backoff").num(o.backoff);
    if (o.timeout != 0) opts.add("timeout").num(o.timeout);
    if (o.result_ttl != 0) opts.add("result_ttl").num(o.result_ttl);
    if (!o.unique.empty()) opts.add("unique").add(o.unique);
    if (o.deadline > 0) opts.add("deadline_at").num(wall_now() + o.deadline);
    c.num(static_cast<std::int64_t>(opts.ptr.size() / 2)).append(opts);
    for (const std::string& a : args_json) c.add(a);
    Reply r = eval(kSEnqueue, c);
    std::vector<std::string> ids;
    if (r->type == REDIS_REPLY_ARRAY)
      for (std::size_t i = 0; i < r->elements; ++i) ids.push_back(reply_str(r->element[i]));
    if (ids.size() != args_json.size()) raisef("IOError", "store '{}': enqueue failed: unexpected reply", url_);
    return ids;
  }

  std::optional<JobRecord> get(const std::string& id) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::string key = std::string(kPrefix) + "job:" + id;
    Cmd c;
    c.add("HMGET").add(key);
    for (const char* f : {"queue", "fn", "args", "state", "result", "error", "priority", "retries", "attempts", "lost",
                          "timeout", "created_at", "finished_at"})
      c.add(f);
    Reply r = command(c, "read job");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 13) raisef("IOError", "store '{}': read job failed: unexpected reply", url_);
    redisReply** e = r->element;
    if (e[3]->type == REDIS_REPLY_NIL) return std::nullopt;
    JobRecord j;
    j.id = id;
    j.queue = reply_str(e[0]);
    j.fn = reply_str(e[1]);
    j.args = reply_str(e[2]);
    j.state = reply_str(e[3]);
    j.result = reply_str(e[4]);
    j.error = reply_str(e[5]);
    j.priority = reply_int(e[6]);
    j.retries = reply_int(e[7]);
    j.attempts = reply_int(e[8]);
    j.lost = reply_int(e[9]);
    j.timeout = reply_num(e[10]);
    j.created_at = reply_num(e[11]);
    j.finished_at = reply_num(e[12]);
    return j;
  }

  bool cancel(const std::string& id) override {
    std::lock_guard<std::mutex> lk(mu_);
    Cmd c;
    c.add(kPrefix).add(id);
    return reply_int(eval(kSCancel, c).get()) == 1;
  }

  std::map<std::string, std::int64_t> stats(const std::string& queue) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::map<std::string, std::int64_t> out{{"queued", 0}, {"running", 0}, {"retrying", 0}, {"done", 0},
                                            {"failed", 0}, {"cancelled", 0}, {"workers", 0}};
    Cmd c;
    c.add(kPrefix).add(queue);
    Reply r = eval(kSStats, c);
    if (r->type == REDIS_REPLY_ARRAY)
      for (std::size_t i = 0; i + 1 < r->elements; i += 2) out[reply_str(r->element[i])] = reply_int(r->element[i + 1]);
    return out;
  }

  std::vector<std::string> failed_ids(const std::string& queue, std::int64_t limit) override {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<std::string> ids;
    if (limit <= 0) return ids;
    Cmd c;
    c.add("ZRANGE").own(queue_key(queue, "failed")).num(std::int64_t{0}).num(limit - 1);
    Reply r = command(c, "failed()");
    if (r->type == REDIS_REPLY_ARRAY)
      for (std::size_t i = 0; i < r->elements; ++i) ids.push_back(reply_str(r->element[i]));
    return ids;
  }

  std::int64_t retry_failed(const std::string& queue) override {
    std::lock_guard<std::mutex> lk(mu_);
    Cmd c;
    c.add(kPrefix).add(queue);
    return reply_int(eval(kSRetryFailed, c).get());
  }

  std::int64_t purge(const std::string& queue, const std::vector<std::string>& states) override {
    std::lock_guard<std::mutex> lk(mu_);
    Cmd c;
    c.add(kPrefix).add(queue);
    for (const std::string& s : states) c.add(s);
    return reply_int(eval(kSPurge, c).get());
  }

  bool set_paused(const std::string& queue, bool paused) override {
    std::lock_guard<std::mutex> lk(mu_);
    Cmd c;
    c.add(kPrefix).add(queue).add(paused ? "1" : "0");
    return reply_int(eval(kSSetPaused, c).get()) == 1;
  }

  bool is_paused(const std::string& queue) override {
    std::lock_guard<std::mutex> lk(mu_);
    Cmd c;
    c.add(kPrefix).add(queue).add("?");
    return reply_int(eval(kSSetPaused, c).get()) == 1;
  }

  bool has_ready(const std::string& queue) override {
    std::lock_guard<std::mutex> lk(mu_);
    Cmd c;
    c.add(kPrefix).add(queue);
    return reply_int(eval(kSHasReady, c).get()) == 1;
  }

  std::vector<Claimed> finish_and_claim(const std::vector<Outcome>& outcomes, const std::string& queue,
                                        const std::string& worker, double lease_s, int max_claim,
                                        std::vector<std::string>& discarded) override {
    std::lock_guard<std::mutex> lk(mu_);
    double now = wall_now();  // only to space out the reaping
    bool reap = now - last_reap_ >= 1.0;
    std::string token = max_claim > 0 ? fmt::format("{}#{}", worker, ++claims_) : std::string();
    Cmd c;
    c.add(kPrefix).add(queue).add(worker).num(lease_s).num(std::int64_t{std::max(max_claim, 0)}).add(token)
        .add(reap ? "1" : "0").num(std::int64_t{kMaxLostLeases}).add(lost_error_)
        .num(static_cast<std::int64_t>(lost_claims_.size()));
    for (auto& [w, t] : lost_claims_) c.add(w).add(t);
    std::uniform_real_distribution<double> jitter(1.0, 1.1);
    for (const Outcome& o : outcomes) {
      c.add(o.kind == Outcome::Done ? "D" : o.kind == Outcome::Failed ? "F" : "R").add(o.id).add(o.token)
          .own(!o.retryable ? std::string("0")
                            : o.kind == Outcome::Failed && (o.min_delay > 0 || o.refund || o.snooze)
                                ? fmt::format("1 {} {} {}", o.min_delay, o.refund ? 1 : 0, o.snooze ? 1 : 0)
                                : std::string("1"))
          .num(o.kind == Outcome::Failed ? jitter(rng_) : 1.0).add(o.json);
    }
    Reply r;
    try {
      r = eval(kSFinishAndClaim, c);
    } catch (NativeError&) {
      // The script may have run (and leased jobs to us) with its reply lost.
      if (max_claim > 0) lost_claims_.emplace_back(worker, token);
      throw;
    }
    lost_claims_.clear();
    if (reap) last_reap_ = now;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) raisef("IOError", "store '{}': claim failed: unexpected reply", url_);
    const redisReply* d = r->element[0];
    for (std::size_t i = 0; d->type == REDIS_REPLY_ARRAY && i < d->elements; ++i) discarded.push_back(reply_str(d->element[i]));
    const redisReply* cl = r->element[1];
    std::vector<Claimed> out;
    constexpr std::size_t kFields = 10;
    for (std::size_t i = 0; cl->type == REDIS_REPLY_ARRAY && i + kFields <= cl->elements; i += kFields) {
      redisReply** e = cl->element + i;
      Claimed cj;
      cj.id = reply_str(e[0]);
      cj.fn = reply_str(e[1]);
      cj.args = reply_str(e[2]);
      cj.attempts = reply_int(e[3]);
      cj.timeout = reply_num(e[4]);
      cj.priority = reply_int(e[5]);
      cj.seq = reply_int(e[6]);
      cj.retries = reply_int(e[7]);
      cj.round_attempts = reply_int(e[8]);
      cj.deadline_at = reply_num(e[9]);
      cj.token = token;
      out.push_back(std::move(cj));
    }
    std::sort(out.begin(), out.end(), claim_order);
    return out;
  }

  void heartbeat(const WorkerInfo& w, double lease_s) override {
    std::lock_guard<std::mutex> lk(mu_);
    double now = wall_now();
    Cmd c;
    c.add(kPrefix).add(w.id).add(w.queue).add(w.host).num(w.pid).num(w.concurrency).num(lease_s)
        .num(std::int64_t{kMaxLostLeases}).add(lost_error_);
    eval(kSHeartbeat, c);
    last_reap_ = now;
  }

  void unregister_worker(const std::string& worker) override {
    std::lock_guard<std::mutex> lk(mu_);
    Cmd c;
    c.add(kPrefix).add(worker);
    eval(kSUnregister, c);
  }

  std::int64_t release_all(const std::string& worker) override {
    std::lock_guard<std::mutex> lk(mu_);
    Cmd c;
    c.add(kPrefix).add(worker);
    return reply_int(eval(kSReleaseAll, c).get());
  }

 private:
  static constexpr const char* kPrefix = "weft:";
  // A server that does not answer within this long counts as gone (the
  // connection is dropped and the next call reconnects).
  static constexpr int kConnectTimeoutS = 2;
  static constexpr int kCommandTimeoutS = 10;

  static std::string queue_key(const std::string& q, const char* what) { return fmt::format("{}q:{}:{}", kPrefix, q, what); }

  void disconnect() {
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
  }

  // Opens the connection: AUTH, SELECT, and (once) a server version check.
  void connect() {
    timeval ctv{kConnectTimeoutS, 0};
    redisContext* c = redisConnectWithTimeout(u_.host.c_str(), u_.port, ctv);
    if (!c) raisef("IOError", "cannot connect to redis store '{}': out of memory", url_);
    if (c->err) {
      std::string e = c->errstr;
      redisFree(c);
      raisef("IOError", "cannot connect to redis store '{}': {}", url_, e);
    }
    timeval tv{kCommandTimeoutS, 0};
    redisSetTimeout(c, tv);
    redisEnableKeepAlive(c);
    // (Worker processes started by jobs.spawn_worker must not inherit it.)
    fcntl(c->fd, F_SETFD, fcntl(c->fd, F_GETFD) | FD_CLOEXEC);
    ctx_ = c;
    try {
      if (!u_.password.empty()) {
        Cmd a;
        a.add("AUTH");
        if (!u_.user.empty()) a.add(u_.user);
        a.add(u_.password);
        command(a, "AUTH", true);
      }
      if (u_.db != 0) {
        Cmd s;
        s.add("SELECT").num(std::int64_t{u_.db});
        command(s, "SELECT", true);
      }
      if (!version_checked_) {
        Cmd i;
        i.add("INFO").add("server");
        std::string info = reply_str(command(i, "INFO", true).get());
        std::size_t at = info.find("redis_version:");
        if (at != std::string::npos) {
          std::string v = info.substr(at + 14, info.find_first_of("\r\n", at) - at - 14);
          if (std::atoi(v.c_str()) < 5) raisef("IOError", "cannot use redis store '{}': Redis {} is too old (5.0 or later needed)", url_, v);
        }
        version_checked_ = true;
      }
    } catch (NativeError& e) {
      disconnect();
      if (e.message.rfind("cannot ", 0) != 0) e.message = fmt::format("cannot connect to redis store '{}': {}", url_, e.message);
      throw;
    }
  }

  // Runs one command; reconnects first if the last call lost the connection.
  // An I/O error drops the connection; an error reply raises IOError.
  Reply command(Cmd& c, const char* what, bool connecting = false) {
    if (!ctx_) connect();
    SigpipeGuard nopipe;
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(c.ptr.size()), c.ptr.data(), c.len.data()));
    if (!raw) {
      std::string e = ctx_->errstr[0] ? ctx_->errstr : "connection lost";
      disconnect();
      if (connecting) raise("IOError", e);
      raisef("IOError", "store '{}': {} failed: {}", url_, what, e);
    }
    Reply r(raw);
    if (r->type == REDIS_REPLY_ERROR) {
      std::string e(r->str, r->len);
      if (connecting) raisef("IOError", "{} failed: {}", what, e);
      raisef("IOError", "store '{}': {} failed: {}", url_, what, e);
    }
    return r;
  }

  // EVALSHA (after one SCRIPT LOAD per process), or EVAL when the server no
  // longer has the script (restarted, SCRIPT FLUSH).
  Reply eval(ScriptId id, Cmd& args) {
    Script& s = scripts_[id];
    if (!ctx_) connect();
    if (s.sha.empty()) {
      Cmd l;
      l.add("SCRIPT").add("LOAD").add(s.text);
      s.sha = reply_str(command(l, s.name).get());
    }
    Cmd c;
    c.add("EVALSHA").add(s.sha).add("0").append(args);
    redisReply* raw;
    {
      SigpipeGuard nopipe;
      raw = static_cast<redisReply*>(
          redisCommandArgv(ctx_, static_cast<int>(c.ptr.size()), c.ptr.data(), c.len.data()));
    }
    if (raw && raw->type == REDIS_REPLY_ERROR && std::string_view(raw->str, raw->len).rfind("NOSCRIPT", 0) == 0) {
      freeReplyObject(raw);
      c.ptr[0] = "EVAL";
      c.len[0] = 4;
      c.ptr[1] = s.text.data();
      c.len[1] = s.text.size();
      return command(c, s.name);
    }
    if (!raw) {
      std::string e = ctx_->errstr[0] ? ctx_->errstr : "connection lost";
      disconnect();
      raisef("IOError", "store '{}': {} failed: {}", url_, s.name, e);
    }
    Reply r(raw);
    if (r->type == REDIS_REPLY_ERROR) raisef("IOError", "store '{}': {} failed: {}", url_, s.name, std::string(r->str, r->len));
    return r;
  }

  std::string url_;
  RedisUrl u_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;
  bool version_checked_ = false;
  Script scripts_[kNumScripts];
  std::string lost_error_;
  // (worker, token) of claims that failed: their jobs, if the script ran,
  // are released by the next finish_and_claim.
  std::vector<std::pair<std::string, std::string>> lost_claims_;
  std::mt19937_64 rng_;
  std::uint64_t claims_ = 0;
  double last_reap_ = 0;
};

}  // namespace

std::shared_ptr<Store> open_redis_store(const std::string& url) {
  return std::make_shared<RedisStore>(url, parse_redis_url(url));
}

}  // namespace durable
}  // namespace weft
