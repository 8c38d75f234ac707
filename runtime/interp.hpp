// The interpreter: one shared heap, one GIL, the builtins, loaded modules, and
// the per-thread VM state (Thread) of every interpreter thread.
//
// Per-thread state (value stack, call frames, handlers, open upvalues) is
// separate from the shared heap and globals from day one: the main thread,
// thread.spawn threads and job-queue workers are all Threads, each running
// the same VM loop over the same heap, one at a time under the GIL.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "gc.hpp"
#include "gil.hpp"
#include "object.hpp"
#include "value.hpp"

namespace weft {

struct Interp;

// Debug switches, all in one place (set from the command line or tests).
struct DebugOptions {
  bool trace_execution = false;  // print every instruction as it runs
  bool print_code = false;       // disassemble each function after compiling
  bool gc_stress = false;        // collect at every safe point
};

// One active call of a closure.
struct Frame {
  ObjClosure* closure;
  const std::uint8_t* ip;  // saved instruction pointer (next instruction)
  Value* base;             // slot 0 = the callee, 1.. = arguments, then locals
  bool reentry;            // a native called into the VM here: return to it
};

// An active `try` block.
struct Handler {
  std::size_t frame_depth;  // frames.size() when the try began
  Value* sp;                // stack height to restore
  const std::uint8_t* catch_ip;
};

// A script-level throw crossing a native boundary (e.g. an error thrown by the
// function that assert_raises or Lock.with called). The value itself is kept
// in Thread::pending so the collector sees it.
struct ScriptThrow {};

// Kept in Thread::frames; RecursionError past this many frames.
inline constexpr std::size_t kMaxFrames = 10000;
// Value-stack size of a thread, in values (zero pages cost nothing until used).
inline constexpr std::size_t kStackValues = 1u << 20;

// Where a throw started: the traceback lines ("file:line in fn", innermost
// last) and the innermost position. Kept for thrown values that are not error
// values (errors carry their own).
struct ThrowInfo {
  std::vector<std::string> trace;
  std::string file;
  int line = 0;
  int col = 0;
};

struct Thread {
  Thread(Interp& interp, int id, std::string name);
  ~Thread();
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;

  Interp& interp;
  GilThread gil;  // id, name, eval breaker, GIL bookkeeping

  Value* stack;
  Value* stack_limit;
  Value* sp;  // next free slot (valid whenever a native runs or GC happens)
  std::vector<Frame> frames;
  std::vector<Handler> handlers;
  ObjUpvalue* open_upvalues = nullptr;
  Value pending;  // the value being thrown (a root)
  int native_depth = 0;  // nested native -> VM calls (bounded)
  ThrowInfo last_throw;

  int id() const { return gil.id; }
  const std::string& name() const { return gil.name; }

  // ---- interruption (Ctrl-C, job timeouts) --------------------------------
  // Another thread (or the signal watcher) sets `bit` on this thread's eval
  // breaker and wakes it from any interruptible wait.
  void interrupt(std::uint32_t bit);
  // The stop token that blocking waits pass to condition_variable_any, so an
  // interrupt wakes them at once.
  std::stop_token wait_token();
  // Raises KeyboardInterrupt / TimeoutError if such a bit is set (consuming
  // it). Natives call it after every blocking wait; the VM calls it from its
  // breaker check. Requires the GIL.
  void check_interrupts();
  // Deadline (now_ns) of the current job attempt, 0 if none: blocking calls
  // shorten their own timeouts to it.
  std::atomic<std::uint64_t> deadline_ns{0};

  std::mutex wait_mu;
  std::stop_source stop_src;
};

struct Interp {
  Interp();
  ~Interp();

  Heap heap;
  Gil gil;
  DebugOptions debug;

  // Builtin functions and modules, visible in every module (a module's own
  // global of the same name shadows it).
  std::unordered_map<std::string, Value> builtins;
  // Loaded modules by canonical path (import runs a file once).
  std::unordered_map<std::string, ObjModule*> modules;
  // Every live interpreter thread (changed only under the GIL).
  std::vector<Thread*> threads;
  Thread* main_thread = nullptr;
  std::atomic<int> next_thread_id{1};

  std::vector<std::string> argv;  // sys.args
  // A MemoryError made at start-up, thrown when even making an error value
  // fails (a root of the collector).
  Value oom_error;
  // Set by sys.exit in the main thread.
  int exit_code = 0;

  // Run by the CLI when the main script ends, in order: wait for threads,
  // drain job queues, ... (each with the GIL held by the main thread).
  std::vector<void (*)(Thread&)> at_exit;
  // The VM's method cache: (method name, method table) -> method, direct
  // mapped. Method names are interned constants, so the pair of pointers
  // identifies a lookup; the collector clears the cache after every sweep,
  // because a freed name's address can be reused by another string. Only
  // the GIL holder uses it.
  struct MethodCacheEntry {
    const ObjString* name;
    const MethodTable* table;
    const Method* method;
  };
  static constexpr std::size_t kMethodCacheSize = 512;
  MethodCacheEntry method_cache[kMethodCacheSize] = {};
  // The VM's field cache: for a GET_FIELD/SET_FIELD/INVOKE instruction
  // (hashed by its address), the position in ObjMap::entries where its key
  // was last found. Maps used as objects are mostly built the same way, so
  // the position is usually right; a hit is checked by comparing the entry's
  // key with the (interned) field name, so a wrong or stale guess only costs
  // a normal lookup.
  static constexpr std::size_t kFieldCacheSize = 1024;
  std::uint32_t field_cache[kFieldCacheSize] = {};

  // Per-interpreter state of native modules (thread registry, job queues),
  // by module name.
  std::unordered_map<std::string, std::shared_ptr<void>> module_state;

  void add_builtin(const std::string& name, Value v) { builtins[name] = v; }
  // Creates a native function object.
  Value native(const char* name, NativeFn fn, int min_args, int max_args, Value data = Value());
};

// ---------------------------------------------------------------- the VM API

// Calls a Weft callable (closure, native, ...) from native code, with the
// GIL held; returns its result. A script error thrown inside propagates as a
// C++ ScriptThrow (with the value in t.pending) or NativeError, so the
// caller's own frame handles it like any other error.
Value call_value(Thread& t, Value callee, const Value* args, int argc);

// What the VM does when a thread's eval breaker is non-zero: yield the GIL on
// a drop request, collect garbage when asked, raise KeyboardInterrupt or
// TimeoutError. Long-running natives that hold the GIL (time.spin) call it
// too: `if (t.gil.breaker.load(std::memory_order_relaxed)) safe_point(t);`
void safe_point(Thread& t);

// Compiles and runs a module's top-level code in `t`; returns the module.
// Throws NativeError/ScriptThrow like call_value.
ObjModule* run_module(Thread& t, ObjModule* module);

}  // namespace weft
