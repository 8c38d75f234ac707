#include "thread.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

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
// handle of the main thread, errors nobody joined.
struct Registry {
  std::mutex mu;
  std::condition_variable_any cv;
  int alive = 0;        // script-visible live threads (besides main)
  int running_os = 0;   // OS threads that have not finished tearing down
  std::vector<std::thread> os_threads;
  std::vector<ThreadHandle*> failed;  // rooted until reported
  ThreadHandle* main_handle = nullptr;
};

Registry& registry(Interp& in) {
  auto& slot = in.module_state["thread"];
  if (!slot) {
    auto r = std::make_shared<Registry>();
    slot = r;
    Registry* raw = r.get();
    in.heap.add_root_callback([raw](Heap& h) {
      for (ThreadHandle* th : raw->failed) h.mark_obj(th);
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
  {
    std::lock_guard<std::mutex> lk(h->mu);
    h->state = ok ? ThreadHandle::State::Done : ThreadHandle::State::Failed;
    h->result = ok ? result : error;
    if (!ok) h->where = vt->last_throw;
  }
  {
    std::lock_guard<std::mutex> lk(reg.mu);
    --reg.alive;
    if (!ok) reg.failed.push_back(h);
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
    if (timeout) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(*timeout);
      finished = h->cv.wait_until(lk, t.wait_token(), deadline, pred);
    } else {
      finished = h->cv.wait(lk, t.wait_token(), pred);
    }
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
  std::vector<ThreadHandle*> failed;
  {
    std::lock_guard<std::mutex> lk(reg.mu);
    failed.swap(reg.failed);
  }
  for (ThreadHandle* h : failed) {
    if (h->joined) continue;
    std::fflush(stdout);
    std::string report = format_uncaught(t.interp, h->result, h->where);
    std::fprintf(stderr, "Exception in thread \"%s\":\n%s", h->name.c_str(), report.c_str());
  }
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
  in.add_builtin("thread", Value::object(m));
  in.at_exit.push_back(wait_all_threads);
}

}  // namespace weft
