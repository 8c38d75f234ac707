// A pool allocator for the item buffers of lists.
//
// Programs make and drop small lists all the time (`cols + [c]`,
// `items.slice(0, i)`, a pair per tree node), and each list's items live in a
// buffer of their own. glibc malloc costs about a hundred instructions per
// allocation and per free for these, more than the rest of the work; the
// collector's own size-class allocator (gc.hpp) cannot be used because a
// std::vector's allocator has no way to reach the heap. So buffers of up to
// kPoolMax bytes come from per-size-class free lists here: a per-thread cache
// (no locking on the fast path), backed by a process-wide pool that threads
// return their surplus to (when a cache grows past a bound, and when the
// thread ends), so memory freed by one thread is reused by others. Blocks
// are carved from 64 KiB chunks that live until the process ends, like the
// collector's chunks. Larger buffers go to malloc.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace weft {

inline constexpr std::size_t kPoolMax = 512;
// Blocks of one size class a thread keeps before handing a batch to the
// shared pool. Large, because the collector frees a whole generation of
// lists at once and the program then allocates them again.
inline constexpr std::size_t kPoolCacheMax = 1 << 16;

void* pool_alloc_slow(std::size_t size_class);
void pool_free_slow(void* p, std::size_t size_class);

struct PoolCache {
  struct Block {
    Block* next;
  };
  static constexpr std::size_t kClasses = kPoolMax / 16 + 1;
  Block* head[kClasses] = {};
  std::size_t count[kClasses] = {};
  ~PoolCache();  // hands every cached block to the shared pool
};

extern thread_local PoolCache tl_pool;

inline void* pool_alloc(std::size_t bytes) {
  if (bytes > kPoolMax) {
    void* p = std::malloc(bytes);
    if (!p) throw std::bad_alloc();
    return p;
  }
  std::size_t c = (bytes + 15) >> 4;
  PoolCache& pc = tl_pool;
  if (PoolCache::Block* b = pc.head[c]) {
    pc.head[c] = b->next;
    --pc.count[c];
    return b;
  }
  return pool_alloc_slow(c);
}

inline void pool_free(void* p, std::size_t bytes) {
  if (bytes > kPoolMax) {
    std::free(p);
    return;
  }
  std::size_t c = (bytes + 15) >> 4;
  PoolCache& pc = tl_pool;
  if (pc.count[c] >= kPoolCacheMax) return pool_free_slow(p, c);
  auto* b = static_cast<PoolCache::Block*>(p);
  b->next = pc.head[c];
  pc.head[c] = b;
  ++pc.count[c];
}

template <class T>
struct PoolAlloc {
  using value_type = T;
  PoolAlloc() = default;
  template <class U>
  PoolAlloc(const PoolAlloc<U>&) {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(pool_alloc(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) { pool_free(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAlloc<U>&) const {
    return true;
  }
};

}  // namespace weft
