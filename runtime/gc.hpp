// The garbage collector: a tracing mark-and-sweep collector over one heap
// shared by all interpreter threads.
//
// Allocation happens only while holding the GIL, so it needs no lock of its
// own. Allocation never collects by itself: when the heap has grown past its
// threshold it sets the kBreakGc bit on the allocating thread, and the VM
// collects at its next safe point (a backward jump or call), where every
// live value is on some thread's value stack, in a frame, a global, or a
// handle. Natives may therefore keep freshly allocated objects in C++ locals
// without rooting them, as long as they do not call back into script code
// (see Thread::call) in between.
//
// Roots: every registered thread's value stack, frames, open upvalues and
// pending error; every module's globals; the builtins; the interned-string
// table is weak (unmarked strings are removed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <functional>
#include <string_view>
#include <vector>

#include "object.hpp"

namespace weft {

struct Interp;

class Heap {
 public:
  explicit Heap(Interp& interp);
  ~Heap();

  // Allocates and constructs a T (any Obj subclass but ObjString).
  template <class T, class... A>
  T* make(A&&... args) {
    account(sizeof(T));
    T* o;
    if constexpr (std::is_base_of_v<ObjHandle, T>) {
      o = new T(static_cast<A&&>(args)...);
    } else {
      void* mem = alloc_bytes(sizeof(T));
      try {
        o = new (mem) T(static_cast<A&&>(args)...);
      } catch (...) {
        free_bytes(mem, sizeof(T));
        throw;
      }
    }
    o->next = objects_;
    objects_ = o;
    return o;
  }

  // Object memory. Blocks of at most kSmallMax bytes come from per-size-class
  // free lists carved out of big chunks (never returned to the system), so
  // the many small strings, lists and closures a program makes and drops
  // cost a pointer pop to allocate and a pointer push to free, and reuse
  // warm memory instead of touching fresh pages. Bigger blocks use malloc.
  // The size passed to free_bytes must be the size passed to alloc_bytes.
  static constexpr std::size_t kSmallMax = 256;
  void* alloc_bytes(std::size_t n) {
    if (n > kSmallMax) return malloc_or_throw(n);
    std::size_t c = (n + 15) >> 4;
    if (FreeBlock* b = free_[c]) {
      free_[c] = b->next;
      return b;
    }
    // Bump allocation from the current chunk; carve() starts a new one.
    if (static_cast<std::size_t>(bump_end_ - bump_) >= (c << 4)) {
      void* p = bump_;
      bump_ += c << 4;
      return p;
    }
    return carve(c);
  }
  void free_bytes(void* p, std::size_t n) {
    if (n > kSmallMax) {
      std::free(p);
      return;
    }
    std::size_t c = (n + 15) >> 4;
    auto* b = static_cast<FreeBlock*>(p);
    b->next = free_[c];
    free_[c] = b;
  }

  // Returns the interned string with these bytes (creating it if new).
  // Names, constants and map keys built by natives are interned.
  ObjString* intern(std::string_view s);
  // A new string that is not interned: strings computed at run time
  // (concatenation, str(), slices) skip the intern table, which keeps them
  // cheap to make and the table small. Strings of at most one byte are
  // interned anyway (characters are made all the time by iteration).
  // `ascii`: the caller knows every byte is ASCII (a piece of an ASCII
  // string, digits), which saves scanning for UTF-8.
  ObjString* new_string(std::string_view s, bool ascii = false);
  // The concatenation a + b as a new (not interned) string, built in place
  // without a temporary buffer.
  ObjString* concat_strings(const ObjString* a, const ObjString* b);
  // Building a string in place: alloc_string(n) returns a string of n
  // uninitialized bytes (accounted, NUL-terminated) that the caller fills,
  // then hands to finish_string, which counts its code points and links it
  // into the heap. Nothing may allocate in between: until finish_string the
  // collector does not know the string. Lengths of 0 and 1 must go through
  // new_string (they are interned).
  ObjString* alloc_string(std::size_t n);
  void finish_string(ObjString* s, bool ascii);

  // Collects now. Must be called at a safe point by the GIL holder.
  void collect();
  // True when the allocation threshold has been passed.
  bool wants_collect() const { return bytes_ >= next_gc_ || stress_; }

  // Marking, for trace() implementations and root enumeration.
  void mark_value(Value v) {
    if (v.tag == Tag::Obj) mark_obj(v.as.o);
  }
  void mark_obj(Obj* o);

  // Extra roots registered by native code (e.g. the jobs module's queues).
  // Each callback marks what it keeps alive.
  void add_root_callback(std::function<void(Heap&)> cb);

  // Debug switch: collect at every safe point.
  void set_stress(bool on) {
    stress_ = on;
    update_fast_until();
  }
  // Limit on heap bytes; past it allocation raises MemoryError.
  void set_limit(std::size_t bytes) {
    limit_ = bytes;
    update_fast_until();
  }
  std::size_t limit() const { return limit_; }
  // While set, the limit is not enforced: building the MemoryError value
  // itself (and its traceback) must not raise another MemoryError.
  bool limit_suspended_ = false;

  std::size_t bytes_allocated() const { return bytes_; }
  std::size_t collections() const { return collections_; }
  // For sys.memory(): the bytes that survived the last collection (all of
  // bytes_allocated() before the first), and the time spent collecting.
  std::size_t live_bytes() const { return collections_ ? live_bytes_ : bytes_; }
  std::uint64_t pause_ns() const { return pause_ns_; }

  // Called for big native buffers (list growth, string bytes) so the
  // threshold and the limit see them. Throws MemoryError past the limit.
  // Inline: every allocation passes here, and almost always only adds.
  void account(std::size_t bytes) {
    bytes_ += bytes;
    if (__builtin_expect(bytes_ >= fast_until_, 0)) account_slow(bytes);
  }

 private:
  // The rest of account(): asks for a collection, enforces the limit.
  void account_slow(std::size_t bytes);
  // Below fast_until_ bytes, account() has nothing to do: the smaller of the
  // collection threshold and the limit (0 under GC stress).
  std::size_t fast_until_ = 0;
  // The one-byte strings (iterating over a string makes one per character),
  // made once and kept for good: a root of the collector.
  ObjString* single_[256] = {};
  void update_fast_until() {
    std::size_t f = next_gc_;
    if (limit_ && limit_ < f) f = limit_ + 1;
    fast_until_ = stress_ ? 0 : f;
  }
  void trace_references(Obj* o);
  void sweep();
  void free_object(Obj* o);
  template <class T>
  void destroy(T* o);

  struct FreeBlock {
    FreeBlock* next;
  };
  FreeBlock* free_[kSmallMax / 16 + 1] = {};
  char* bump_ = nullptr;
  char* bump_end_ = nullptr;
  std::vector<void*> chunks_;
  static void* malloc_or_throw(std::size_t n);
  void* carve(std::size_t size_class);

  Interp& interp_;
  Obj* objects_ = nullptr;
  std::vector<Obj*> gray_;
  std::size_t bytes_ = 0;
  // The accounting is an estimate (containers grow without telling us), so
  // subtracting clamps at zero instead of wrapping around.
  void release_bytes(std::size_t n) { bytes_ -= n < bytes_ ? n : bytes_; }
  // The first collection happens after kMinThreshold bytes; after each
  // collection the threshold is the live size times kGrowth (but never below
  // kMinThreshold). Marking touches every live object, so a big live set
  // must not be marked often (kGrowth); sweeping touches every dead one, and
  // freed blocks are reused by the next allocations, so a small threshold
  // keeps programs that make and drop many temporaries inside the CPU's
  // caches (6 MB measured best on the benchmark programs; 16 MB cost
  // string-heavy programs 7-15 %).
  static constexpr std::size_t kMinThreshold = 6u << 20;
  static constexpr double kGrowth = 2.5;
  std::size_t next_gc_ = kMinThreshold;
  std::size_t limit_ = 0;
  std::size_t collections_ = 0;
  std::size_t live_bytes_ = 0;
  std::uint64_t pause_ns_ = 0;
  bool stress_ = false;
  std::vector<std::function<void(Heap&)>> root_callbacks_;

  // The interned-string table (open addressing on ObjString::hash).
  std::vector<ObjString*> strings_;
  std::size_t string_count_ = 0;
  std::size_t string_tombs_ = 0;
  void strings_grow();
  void strings_remove_unmarked();
};

}  // namespace weft
