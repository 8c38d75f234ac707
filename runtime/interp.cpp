#include "interp.hpp"

#include <cstdlib>
#include <sys/mman.h>
#include <new>

#include "natives.hpp"

namespace weft {

Thread::Thread(Interp& in, int id, std::string name) : interp(in) {
  gil.id = id;
  gil.name = std::move(name);
  // calloc of a large block maps zero pages lazily: an untouched stack costs
  // nothing, and zero bytes are nil values.
  // mmap gives zero pages that cost nothing until touched (a big calloc can
  // come from the heap and be cleared byte by byte, which made every thread
  // spawn slow). Zero bytes are nil values.
  void* mem = mmap(nullptr, kStackValues * sizeof(Value), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  stack = static_cast<Value*>(mem);
  stack_limit = stack + kStackValues;
  sp = stack;
  // Frames never move: natives that call back into the VM (Lock.with,
  // assert_raises, jobs) return to a frame the outer loop still points at.
  frames.reserve(kMaxFrames + 2);
}

Thread::~Thread() { munmap(stack, kStackValues * sizeof(Value)); }

void Thread::interrupt(std::uint32_t bit) {
  std::lock_guard<std::mutex> lk(wait_mu);
  gil.breaker.fetch_or(bit, std::memory_order_seq_cst);
  stop_src.request_stop();
}

std::stop_token Thread::wait_token() {
  std::lock_guard<std::mutex> lk(wait_mu);
  return stop_src.get_token();
}

void Thread::check_interrupts() {
  std::uint32_t bits = gil.breaker.load(std::memory_order_acquire);
  if (!(bits & (kBreakInterrupt | kBreakTimeout))) return;
  {
    std::lock_guard<std::mutex> lk(wait_mu);
    bits = gil.breaker.fetch_and(~(kBreakInterrupt | kBreakTimeout), std::memory_order_acq_rel);
    // A stop source can only be used once: give later waits a fresh one.
    if (stop_src.stop_requested()) stop_src = std::stop_source();
  }
  if (bits & kBreakInterrupt) raise("KeyboardInterrupt", "");
  if (bits & kBreakTimeout) raise("TimeoutError", "job attempt timed out");
}

Interp::Interp() : heap(*this) {
  oom_error = Value::object(heap.make<ObjError>(heap.intern("MemoryError"), heap.intern("out of memory")));
  builtins["__oom_error"] = oom_error;  // keeps it alive
}

Interp::~Interp() = default;

Value Interp::native(const char* name, NativeFn fn, int min_args, int max_args, Value data) {
  return Value::object(heap.make<ObjNative>(fn, name, min_args, max_args, data));
}

}  // namespace weft
