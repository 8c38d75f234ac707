// sync (SPEC §7.3): Lock and Channel. Every blocking wait releases the GIL
// (BlockingRegion) and waits on a condition variable with a deadline and the
// thread's stop token, so Ctrl-C and job timeouts wake it at once. Queue
// contents are only changed while holding the GIL; the handle's own mutex
// orders them against threads that wait without the GIL.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "modules.hpp"
#include "interpreter/vm.hpp"
#include "runtime/natives.hpp"

namespace weft {

namespace {

using Clock = std::chrono::steady_clock;

// A deadline from an optional timeout in seconds, shortened to the job
// attempt's deadline (so a job timeout cuts blocking waits short).
struct Deadline {
  bool has = false;
  Clock::time_point at;
  bool job_cut = false;  // the job deadline is the earlier one
};

Deadline make_deadline(Thread& t, std::optional<double> timeout) {
  Deadline d;
  if (timeout) {
    d.has = true;
    d.at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*timeout));
  }
  std::uint64_t job = t.deadline_ns.load();
  if (job) {
    std::uint64_t now = now_ns();
    auto left = std::chrono::nanoseconds(job > now ? job - now : 0);
    Clock::time_point at = Clock::now() + left;
    if (!d.has || at < d.at) {
      d.has = true;
      d.at = at;
      d.job_cut = true;
    }
  }
  return d;
}

template <class Pred>
bool wait_for(Thread& t, std::condition_variable_any& cv, std::unique_lock<std::mutex>& lk, const Deadline& d,
              Pred pred) {
  if (d.has) return cv.wait_until(lk, t.wait_token(), d.at, pred);
  return cv.wait(lk, t.wait_token(), pred);
}

void check_timeout_arg(std::optional<double> timeout, const char* fn) {
  if (timeout && (*timeout < 0 || *timeout != *timeout)) raisef("ValueError", "{}() timeout must be >= 0", fn);
}

// ------------------------------------------------------------------- Lock

struct LockHandle : ObjHandle {
  std::mutex mu;
  std::condition_variable_any cv;
  int owner = 0;  // thread id, 0 when free
  const char* type_name() const override { return "lock"; }
  const MethodTable& methods() const override;
  std::string repr() const override { return owner ? fmt::format("<lock held by thread {}>", owner) : "<lock>"; }
};

LockHandle* lock_self(Args a) { return static_cast<LockHandle*>(a.self.as.o); }

bool lock_acquire(Thread& t, LockHandle* l, std::optional<double> timeout) {
  {
    std::lock_guard<std::mutex> lk(l->mu);
    // Locks are not re-entrant. Waiting forever for ourselves is never what
    // the script meant, so without a timeout that is an error; with one,
    // the wait simply times out like any other.
    if (l->owner == t.id() && !timeout)
      raise("ThreadError", "deadlock: this thread already holds the lock (locks are not re-entrant)");
    if (l->owner == 0) {
      l->owner = t.id();
      return true;
    }
  }
  if (timeout && *timeout == 0) return false;
  Deadline d = make_deadline(t, timeout);
  bool got;
  {
    BlockingRegion br(t.interp.gil, t.gil, "sync.Lock.acquire");
    std::unique_lock<std::mutex> lk(l->mu);
    got = wait_for(t, l->cv, lk, d, [l] { return l->owner == 0; });
    if (got) l->owner = t.id();
  }
  if (!got) {
    t.check_interrupts();
    if (d.job_cut) raise("TimeoutError", "job attempt timed out while waiting for a lock");
    return false;
  }
  // An interrupt that arrived together with the lock: give it back first.
  try {
    t.check_interrupts();
  } catch (...) {
    std::lock_guard<std::mutex> lk(l->mu);
    l->owner = 0;
    l->cv.notify_one();
    throw;
  }
  return true;
}

void lock_release(Thread& t, LockHandle* l) {
  std::lock_guard<std::mutex> lk(l->mu);
  if (l->owner != t.id()) {
    if (l->owner == 0) raise("ThreadError", "release of an unlocked lock");
    raise("ThreadError", "release of a lock held by another thread");
  }
  l->owner = 0;
  l->cv.notify_one();
}

Value Lock_acquire(Thread& t, Args a) {
  std::optional<double> timeout = opt_number(a, 0, "acquire");
  check_timeout_arg(timeout, "acquire");
  return Value::boolean(lock_acquire(t, lock_self(a), timeout));
}

Value Lock_release(Thread& t, Args a) {
  lock_release(t, lock_self(a));
  return Value();
}

Value Lock_locked(Thread&, Args a) {
  LockHandle* l = lock_self(a);
  std::lock_guard<std::mutex> lk(l->mu);
  return Value::boolean(l->owner != 0);
}

Value Lock_with(Thread& t, Args a) {
  LockHandle* l = lock_self(a);
  lock_acquire(t, l, std::nullopt);
  Value r;
  try {
    r = call_value(t, a[0], nullptr, 0);
  } catch (...) {
    std::lock_guard<std::mutex> lk(l->mu);
    if (l->owner == t.id()) {
      l->owner = 0;
      l->cv.notify_one();
    }
    throw;
  }
  lock_release(t, l);
  return r;
}

const MethodTable kLockMethods = {
    {"acquire", {Lock_acquire, 0, 1}},
    {"release", {Lock_release, 0, 0}},
    {"locked", {Lock_locked, 0, 0}},
    {"with", {Lock_with, 1, 1}},
};

Value new_lock(Thread& t, Args) { return Value::object(t.interp.heap.make<LockHandle>()); }

// ---------------------------------------------------------------- Channel

struct ChannelHandle : ObjHandle {
  std::mutex mu;
  std::condition_variable_any not_empty, not_full;
  std::deque<Value> items;
  std::size_t capacity = 0;  // 0: unbounded
  bool closed = false;
  const char* type_name() const override { return "channel"; }
  const MethodTable& methods() const override;
  void trace(Heap& heap) override {
    std::lock_guard<std::mutex> lk(mu);
    for (Value v : items) heap.mark_value(v);
  }
  std::string repr() const override {
    return fmt::format("<channel {}{}>", capacity ? fmt::format("capacity {}", capacity) : "unbounded",
                       closed ? " closed" : "");
  }
};

ChannelHandle* chan_self(Args a) { return static_cast<ChannelHandle*>(a.self.as.o); }

Value Channel_send(Thread& t, Args a) {
  ChannelHandle* c = chan_self(a);
  // nil is what recv() returns once a closed channel is empty, so a nil in
  // the channel would end a receiver's `for v in ch` loop early (SPEC §7.3).
  if (a[0].is_nil()) raise("ValueError", "cannot send nil on a channel: nil marks the end of a closed channel");
  Deadline d = make_deadline(t, std::nullopt);
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(c->mu);
      if (c->closed) raise("ThreadError", "send on a closed channel");
      if (c->capacity == 0 || c->items.size() < c->capacity) {
        c->items.push_back(a[0]);
        c->not_empty.notify_one();
        return Value();
      }
    }
    bool ready;
    {
      BlockingRegion br(t.interp.gil, t.gil, "sync.Channel.send");
      std::unique_lock<std::mutex> lk(c->mu);
      ready = wait_for(t, c->not_full, lk, d, [c] { return c->closed || c->items.size() < c->capacity; });
    }
    t.check_interrupts();
    if (!ready) raise("TimeoutError", "job attempt timed out in Channel.send");
  }
}

Value Channel_recv(Thread& t, Args a) {
  ChannelHandle* c = chan_self(a);
  std::optional<double> timeout = opt_number(a, 0, "recv");
  check_timeout_arg(timeout, "recv");
  Deadline d = make_deadline(t, timeout);
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(c->mu);
      if (!c->items.empty()) {
        Value v = c->items.front();
        c->items.pop_front();
        c->not_full.notify_one();
        return v;
      }
      if (c->closed) return Value();
      if (timeout && *timeout == 0) raise("TimeoutError", "recv timed out: the channel is empty");
    }
    bool ready;
    {
      BlockingRegion br(t.interp.gil, t.gil, "sync.Channel.recv");
      std::unique_lock<std::mutex> lk(c->mu);
      ready = wait_for(t, c->not_empty, lk, d, [c] { return c->closed || !c->items.empty(); });
    }
    t.check_interrupts();
    if (!ready) {
      if (d.job_cut) raise("TimeoutError", "job attempt timed out in Channel.recv");
      raisef("TimeoutError", "recv timed out after {} s", *timeout);
    }
  }
}

Value Channel_try_recv(Thread&, Args a) {
  ChannelHandle* c = chan_self(a);
  std::lock_guard<std::mutex> lk(c->mu);
  if (c->items.empty()) return Value();
  Value v = c->items.front();
  c->items.pop_front();
  c->not_full.notify_one();
  return v;
}

Value Channel_close(Thread&, Args a) {
  ChannelHandle* c = chan_self(a);
  std::lock_guard<std::mutex> lk(c->mu);
  c->closed = true;
  c->not_empty.notify_all();
  c->not_full.notify_all();
  return Value();
}

Value Channel_len(Thread&, Args a) {
  ChannelHandle* c = chan_self(a);
  std::lock_guard<std::mutex> lk(c->mu);
  return Value::integer(static_cast<std::int64_t>(c->items.size()));
}

const MethodTable kChannelMethods = {
    {"send", {Channel_send, 1, 1}},       {"recv", {Channel_recv, 0, 1}}, {"try_recv", {Channel_try_recv, 0, 0}},
    {"close", {Channel_close, 0, 0}},     {"len", {Channel_len, 0, 0}},
};

Value new_channel(Thread& t, Args a) {
  std::int64_t cap = 0;
  if (a.n > 0 && !a[0].is_nil()) cap = arg_int(a, 0, "Channel");
  if (cap < 0) raise("ValueError", "Channel() capacity must be >= 0");
  auto* c = t.interp.heap.make<ChannelHandle>();
  c->capacity = static_cast<std::size_t>(cap);
  return Value::object(c);
}

}  // namespace

const MethodTable& LockHandle::methods() const { return kLockMethods; }
const MethodTable& ChannelHandle::methods() const { return kChannelMethods; }

void register_sync(Interp& in) {
  auto* m = in.heap.make<ObjMap>();
  m->set(Value::object(in.heap.intern("Lock")), in.native("Lock", new_lock, 0, 0));
  m->set(Value::object(in.heap.intern("Channel")), in.native("Channel", new_channel, 0, 1));
  in.add_builtin("sync", Value::object(m));
}

}  // namespace weft
