#include "thread.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "interpreter/loader.hpp"
#include "interpreter/vm.hpp"
#include "modules.hpp"
#include "runtime/natives.hpp"
#include "sys_exit.hpp"

namespace weft {

namespace {

struct ThreadHandle : ObjHandle {
  int id = 0;
  std::string name;
  std::mutex mu;
  std::condition_variable_any cv;
  enum class State { Running, Done, Failed } state = State::Running;
  Value result;  // return value, or the error that ended the thread
  bool joined = false;
  ThrowInfo where;  // for non-error thrown values
  // Where thread.spawn was called: the report of an error that ends the
  // thread names it, and errors raised before the function's first line ran
  // (wrong argument count) point at it.
  SourcePos spawned_at;
  // Threads waiting in join() right now, and whether thread.run owns the
  // thread (it joins every thread it starts). Either way the thread's error
  // goes to the joiner instead of being printed when the thread ends
  // (SPEC §7.2). Both are protected by `mu`.
  int waiters = 0;
  bool owned = false;

  const char* type_name() const override { return "thread"; }
  const MethodTable& methods() const override;
  bool get_field(Thread& t, std::string_view f, Value& out) override {
    if (f == "id") {
      out = Value::integer(id);
      return true;
    }
    if (f == "name") {
      out = str_value(t, name);
      return true;
    }
    return false;
  }
  void trace(Heap& heap) override { heap.mark_value(result); }
  std::string repr() const override {
    return fmt::format("<thread {} \"{}\"{}>", id, name, state == State::Running ? "" : " ended");
  }
};

// Per-interpreter bookkeeping: OS threads to join, how many are alive, the
// handle of the main thread, who started which thread.
struct Registry {
  std::mutex mu;
  std::condition_variable_any cv;
  int alive = 0;        // script-visible live threads (besides main)
  int running_os = 0;   // OS threads that have not finished tearing down
  std::vector<std::thread> os_threads;
  ThreadHandle* main_handle = nullptr;
  // Who started each thread (thread id -> parent id), so gil.measure can
  // count the threads a measured call started, and the threads those
  // started. Kept for the whole run: a few bytes per thread.
  std::unordered_map<int, int> parent;
};

Registry& registry(Interp& in) {
  auto& slot = in.module_state["thread"];
  if (!slot) {
    auto r = std::make_shared<Registry>();
    slot = r;
    Registry* raw = r.get();
    in.heap.add_root_callback([raw](Heap& h) {
      if (raw->main_handle) h.mark_obj(raw->main_handle);
    });
  }
  return *static_cast<Registry*>(slot.get());
}

ThreadHandle* self_handle(Args a) { return static_cast<ThreadHandle*>(a.self.as.o); }

void thread_body(Interp* in, Thread* vt, ThreadHandle* h) {
  in->gil.acquire(vt->gil);
  Value fn = vt->stack[1];
  int argc = static_cast<int>(vt->sp - vt->stack) - 2;
  Value result, error;
  bool ok;
  try {
    ok = guarded_call(*vt, fn, vt->stack + 2, argc, result, error);
  } catch (SysExit&) {
    ok = true;
    result = Value();
  }
  Registry& reg = registry(*in);
  if (!ok && is_obj_type(error, ObjType::Error) && as<ObjError>(error)->file.empty() && h->spawned_at.line > 0) {
    // The error came before any line of the function ran (a wrong argument
    // count, a bad argument to a native): the spawn call is the culprit.
    auto* e = as<ObjError>(error);
    e->file = h->spawned_at.file;
    e->line = h->spawned_at.line;
    e->col = h->spawned_at.col;
  }
  bool report = false;
  {
    std::lock_guard<std::mutex> lk(h->mu);
    h->state = ok ? ThreadHandle::State::Done : ThreadHandle::State::Failed;
    h->result = ok ? result : error;
    if (!ok) h->where = vt->last_throw;
    report = !ok && h->waiters == 0 && !h->owned;
  }
  if (report) {
    // Printed when the thread ends, as Python does; a later join() still
    // throws the error.
    std::string text = format_uncaught(*in, error, h->where);
    std::string where = h->spawned_at.line > 0 ? fmt::format(" (spawned at {}:{})", h->spawned_at.file, h->spawned_at.line) : "";
    // stdout is not flushed here: a report from a background thread must
    // not split what the main thread is printing into a pipe.
    std::fprintf(stderr, "Exception in thread \"%s\"%s:\n%s", h->name.c_str(), where.c_str(), text.c_str());
    std::fflush(stderr);
  }
  {
    std::lock_guard<std::mutex> lk(reg.mu);
    --reg.alive;
  }
  h->cv.notify_all();
  auto& threads = in->threads;
  threads.erase(std::remove(threads.begin(), threads.end(), vt), threads.end());
  in->gil.release(vt->gil, GilCause::Exit);
  in->gil.unregister_thread(vt->gil);
  delete vt;
  {
    std::lock_guard<std::mutex> lk(reg.mu);
    --reg.running_os;
  }
  reg.cv.notify_all();
}

Value thread_join(Thread& t, Args a) {
  ThreadHandle* h = self_handle(a);
  if (h->id == t.id()) raise("ThreadError", "a thread cannot join itself");
  std::optional<double> timeout = opt_number(a, 0, "join");
  if (timeout && *timeout < 0) raise("ValueError", "join() timeout must be >= 0");
  bool finished;
  {
    BlockingRegion br(t.interp.gil, t.gil, "thread.join");
    std::unique_lock<std::mutex> lk(h->mu);
    auto pred = [h] { return h->state != ThreadHandle::State::Running; };
    ++h->waiters;
    if (timeout) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(*timeout);
      finished = h->cv.wait_until(lk, t.wait_token(), deadline, pred);
    } else {
      finished = h->cv.wait(lk, t.wait_token(), pred);
    }
    --h->waiters;
  }
  t.check_interrupts();
  if (!finished) raisef("TimeoutError", "join timed out after {} s: thread {} \"{}\" is still running", *timeout, h->id, h->name);
  h->joined = true;
  if (h->state == ThreadHandle::State::Failed) {
    t.pending = h->result;
    throw ScriptThrow{};
  }
  return h->result;
}

Value thread_alive(Thread& t, Args a) {
  ThreadHandle* h = self_handle(a);
  std::lock_guard<std::mutex> lk(h->mu);
  return Value::boolean(h->state == ThreadHandle::State::Running);
}

const MethodTable kThreadMethods = {
    {"join", {thread_join, 0, 1}},
    {"alive", {thread_alive, 0, 0}},
};

Value spawn(Thread& t, Args a) {
  if (!is_obj_type(a[0], ObjType::Closure) && !is_obj_type(a[0], ObjType::Native))
    raisef("TypeError", "spawn() argument 1 must be a function, not {}", type_name(a[0]));
  return spawn_thread(t, "", a[0], a.v + 1, a.n - 1);
}

Value spawn_named(Thread& t, Args a) {
  std::string name(arg_str(a, 0, "spawn_named"));
  if (!is_obj_type(a[1], ObjType::Closure) && !is_obj_type(a[1], ObjType::Native))
    raisef("TypeError", "spawn_named() argument 2 must be a function, not {}", type_name(a[1]));
  return spawn_thread(t, name, a[1], a.v + 2, a.n - 2);
}

Value current(Thread& t, Args) {
  if (!t.frames.empty() && t.stack[0].is_obj() && t.stack[0].as.o->type == ObjType::Handle &&
      &t != t.interp.main_thread)
    return t.stack[0];
  Registry& reg = registry(t.interp);
  if (&t == t.interp.main_thread) {
    if (!reg.main_handle) {
      auto* h = t.interp.heap.make<ThreadHandle>();
      h->id = t.id();
      h->name = t.name();
      reg.main_handle = h;
    }
    return Value::object(reg.main_handle);
  }
  return t.stack[0];
}

// thread.run(n, fn, ...args): n threads running fn(i, ...args), all joined;
// their results in order, or the first error (by thread index) re-thrown
// after every thread has ended, with the others' errors named in its
// message. The usual shape of a contention test, without the loop of
// spawns and joins.
Value run(Thread& t, Args a) {
  std::int64_t n = arg_int(a, 0, "run");
  if (n < 0 || n > 10000) raisef("ValueError", "run() needs between 0 and 10000 threads, not {}", n);
  Value fn = a[1];
  if (!is_obj_type(fn, ObjType::Closure) && !is_obj_type(fn, ObjType::Native))
    raisef("TypeError", "run() argument 2 must be a function, not {}", type_name(fn));
  std::vector<Value> args(static_cast<std::size_t>(a.n - 1));
  for (int i = 2; i < a.n; ++i) args[static_cast<std::size_t>(i - 1)] = a[i];
  // The handles are rooted on this thread's stack: a thread's own stack
  // roots its handle only while it runs.
  ObjList* handles = new_list(t);
  Value* at = t.sp;
  *t.sp++ = Value::object(handles);
  struct Restore {
    Thread& t;
    Value* at;
    ~Restore() { t.sp = at; }
  } restore{t, at};
  for (std::int64_t i = 0; i < n; ++i) {
    args[0] = Value::integer(i);
    Value hv = spawn_thread(t, "", fn, args.data(), static_cast<int>(args.size()));
    auto* h = static_cast<ThreadHandle*>(hv.as.o);
    {
      // The new thread needs the GIL (held here) before it can end, so
      // this is set before it could decide to report its own error.
      std::lock_guard<std::mutex> lk(h->mu);
      h->owned = true;
    }
    handles->items.push_back(hv);
  }
  std::vector<ThreadHandle*> hs;
  for (Value v : handles->items) hs.push_back(static_cast<ThreadHandle*>(v.as.o));
  {
    BlockingRegion br(t.interp.gil, t.gil, "thread.run");
    for (ThreadHandle* h : hs) {
      std::unique_lock<std::mutex> lk(h->mu);
      if (!h->cv.wait(lk, t.wait_token(), [h] { return h->state != ThreadHandle::State::Running; })) break;
    }
  }
  t.check_interrupts();
  ObjList* results = new_list(t);
  ThreadHandle* first = nullptr;
  std::vector<std::string> others;
  for (ThreadHandle* h : hs) {
    h->joined = true;
    if (h->state == ThreadHandle::State::Failed) {
      if (!first)
        first = h;
      else
        others.push_back(fmt::format("{}: {}", h->name, to_str(h->result)));
      results->items.push_back(Value());
    } else {
      results->items.push_back(h->result);
    }
  }
  if (first) {
    if (!others.empty() && is_obj_type(first->result, ObjType::Error)) {
      auto* e = as<ObjError>(first->result);
      std::string msg(e->message->view());
      msg += fmt::format(" (in {}; {} other thread{} failed too: ", first->name, others.size(), others.size() == 1 ? "" : "s");
      for (std::size_t i = 0; i < others.size(); ++i) msg += (i ? "; " : "") + others[i];
      msg += ")";
      e->message = new_string(t, msg);
    }
    t.pending = first->result;
    throw ScriptThrow{};
  }
  return Value::object(results);
}

Value count(Thread& t, Args) {
  Registry& reg = registry(t.interp);
  std::lock_guard<std::mutex> lk(reg.mu);
  return Value::integer(reg.alive + 1);
}

}  // namespace

const MethodTable& ThreadHandle::methods() const { return kThreadMethods; }

Value spawn_thread(Thread& t, std::string name, Value fn, const Value* args, int argc) {
  Interp& in = t.interp;
  Registry& reg = registry(in);
  int id = in.next_thread_id++;
  if (name.empty()) name = fmt::format("thread-{}", id);
  auto* h = in.heap.make<ThreadHandle>();
  h->id = id;
  h->name = name;
  if (!t.frames.empty()) h->spawned_at = current_position(t);
  auto* vt = new Thread(in, id, name);
  // The new thread's stack roots its handle, function and arguments from
  // the start: slot 0 handle, 1 function, 2.. arguments.
  vt->stack[0] = Value::object(h);
  vt->stack[1] = fn;
  for (int i = 0; i < argc; ++i) vt->stack[2 + i] = args[i];
  vt->sp = vt->stack + 2 + argc;
  in.gil.register_thread(vt->gil);
  in.threads.push_back(vt);
  {
    std::lock_guard<std::mutex> lk(reg.mu);
    ++reg.alive;
    ++reg.running_os;
    reg.parent[id] = t.id();
  }
  try {
    reg.os_threads.emplace_back(thread_body, &in, vt, h);
  } catch (const std::system_error& e) {
    in.threads.pop_back();
    in.gil.unregister_thread(vt->gil);
    delete vt;
    {
      std::lock_guard<std::mutex> lk(reg.mu);
      --reg.alive;
      --reg.running_os;
    }
    raisef("ThreadError", "cannot start thread: {}", e.what());
  }
  // Join OS threads that have finished, so thousands of short-lived
  // threads don't pile up.
  if (reg.os_threads.size() > 64) {
    std::lock_guard<std::mutex> lk(reg.mu);
    if (reg.running_os == 0) {
      for (auto& th : reg.os_threads)
        if (th.joinable()) th.join();
      reg.os_threads.clear();
    }
  }
  return Value::object(h);
}

void wait_all_threads(Thread& t) {
  Registry& reg = registry(t.interp);
  {
    BlockingRegion br(t.interp.gil, t.gil, "exit: waiting for threads");
    std::unique_lock<std::mutex> lk(reg.mu);
    reg.cv.wait(lk, t.wait_token(), [&] { return reg.running_os == 0; });
  }
  t.check_interrupts();
  for (auto& th : reg.os_threads)
    if (th.joinable()) th.join();
  reg.os_threads.clear();
}

bool thread_descends_from(Interp& in, int id, int ancestor) {
  Registry& reg = registry(in);
  std::lock_guard<std::mutex> lk(reg.mu);
  for (int hops = 0; hops < 100000 && id != ancestor; ++hops) {
    auto it = reg.parent.find(id);
    if (it == reg.parent.end()) return false;
    id = it->second;
  }
  return id == ancestor;
}

void register_thread(Interp& in) {
  registry(in);
  auto* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, NativeFn fn, int mn, int mx) {
    m->set(Value::object(in.heap.intern(name)), in.native(name, fn, mn, mx));
  };
  put("spawn", spawn, 1, -1);
  put("spawn_named", spawn_named, 2, -1);
  put("current", current, 0, 0);
  put("count", count, 0, 0);
  put("run", run, 2, -1);
  in.add_builtin("thread", Value::object(m));
  in.at_exit.push_back(wait_all_threads);
}

}  // namespace weft
