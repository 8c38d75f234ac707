// See pool_alloc.hpp.
#include "pool_alloc.hpp"

#include <mutex>

namespace weft {

thread_local PoolCache tl_pool;

namespace {

// The shared pool: free lists per size class, and every chunk ever carved
// (so nothing is lost to a leak checker).
struct SharedPool {
  std::mutex mu;
  PoolCache::Block* head[PoolCache::kClasses] = {};
  std::size_t count[PoolCache::kClasses] = {};
  std::vector<void*> chunks;
};

SharedPool& shared() {
  // Never destroyed: threads may return blocks during process exit.
  static SharedPool* p = new SharedPool;
  return *p;
}

constexpr std::size_t kChunk = 64 * 1024;

}  // namespace

// Blocks moved between a thread's cache and the shared pool at a time:
// walking a batch costs O(batch), paid once per batch of operations.
constexpr std::size_t kBatch = 1024;

void* pool_alloc_slow(std::size_t c) {
  PoolCache& pc = tl_pool;
  SharedPool& sp = shared();
  std::lock_guard<std::mutex> lk(sp.mu);
  if (sp.head[c]) {
    // Take up to a batch of the shared blocks of this class.
    PoolCache::Block* first = sp.head[c];
    PoolCache::Block* last = first;
    std::size_t n = 1;
    while (n < kBatch && last->next) {
      last = last->next;
      ++n;
    }
    sp.head[c] = last->next;
    sp.count[c] -= n;
    last->next = nullptr;
    pc.head[c] = first->next;
    pc.count[c] = n - 1;
    return first;
  }
  // Carve a new chunk into blocks of this class.
  std::size_t size = c << 4;
  char* chunk = static_cast<char*>(std::malloc(kChunk));
  if (!chunk) throw std::bad_alloc();
  sp.chunks.push_back(chunk);
  std::size_t n = kChunk / size;
  for (std::size_t i = 1; i < n; ++i) {
    auto* blk = reinterpret_cast<PoolCache::Block*>(chunk + i * size);
    blk->next = pc.head[c];
    pc.head[c] = blk;
  }
  pc.count[c] += n - 1;
  return chunk;
}

void pool_free_slow(void* p, std::size_t c) {
  // The cache is full: keep this block, move a batch to the shared pool.
  PoolCache& pc = tl_pool;
  PoolCache::Block* first = pc.head[c];
  PoolCache::Block* last = first;
  std::size_t n = 1;
  while (n < kBatch && last->next) {
    last = last->next;
    ++n;
  }
  pc.head[c] = last->next;
  pc.count[c] -= n;
  auto* b = static_cast<PoolCache::Block*>(p);
  b->next = pc.head[c];
  pc.head[c] = b;
  ++pc.count[c];
  SharedPool& sp = shared();
  std::lock_guard<std::mutex> lk(sp.mu);
  last->next = sp.head[c];
  sp.head[c] = first;
  sp.count[c] += n;
}

PoolCache::~PoolCache() {
  SharedPool& sp = shared();
  std::lock_guard<std::mutex> lk(sp.mu);
  for (std::size_t c = 0; c < kClasses; ++c) {
    if (!head[c]) continue;
    Block* tail = head[c];
    while (tail->next) tail = tail->next;
    tail->next = sp.head[c];
    sp.head[c] = head[c];
    sp.count[c] += count[c];
    head[c] = nullptr;
    count[c] = 0;
  }
}

}  // namespace weft
