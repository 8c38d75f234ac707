// See pool_alloc.hpp.
#include "pool_alloc.hpp"

#include <cstdint>
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

// Blocks moved between a thread's cache and the shared pool at a time:
// walking a batch costs O(batch), paid once per batch of operations.
constexpr std::size_t kBatch = 1024;

// Moves up to `max` blocks from the front of one free list to the front of
// another (walking them: O(blocks moved)).
void move_blocks(PoolCache::Block*& from, std::size_t& from_count, PoolCache::Block*& to, std::size_t& to_count,
                 std::size_t max) {
  if (!from) return;
  PoolCache::Block* first = from;
  PoolCache::Block* last = first;
  std::size_t n = 1;
  while (n < max && last->next) {
    last = last->next;
    ++n;
  }
  from = last->next;
  from_count -= n;
  last->next = to;
  to = first;
  to_count += n;
}

}  // namespace

void* pool_alloc_slow(std::size_t c) {
  PoolCache& pc = tl_pool;
  SharedPool& sp = shared();
  std::lock_guard<std::mutex> lk(sp.mu);
  if (sp.head[c]) {
    // Take up to a batch of the shared blocks of this class.
    move_blocks(sp.head[c], sp.count[c], pc.head[c], pc.count[c], kBatch);
    PoolCache::Block* b = pc.head[c];
    pc.head[c] = b->next;
    --pc.count[c];
    return b;
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
  // The cache is full: move a batch to the shared pool, keep this block.
  PoolCache& pc = tl_pool;
  {
    SharedPool& sp = shared();
    std::lock_guard<std::mutex> lk(sp.mu);
    move_blocks(pc.head[c], pc.count[c], sp.head[c], sp.count[c], kBatch);
  }
  auto* b = static_cast<PoolCache::Block*>(p);
  b->next = pc.head[c];
  pc.head[c] = b;
  ++pc.count[c];
}

PoolCache::~PoolCache() {
  SharedPool& sp = shared();
  std::lock_guard<std::mutex> lk(sp.mu);
  for (std::size_t c = 0; c < kClasses; ++c) move_blocks(head[c], count[c], sp.head[c], sp.count[c], SIZE_MAX);
}

}  // namespace weft
