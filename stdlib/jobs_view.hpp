// A read-only view of the in-process job queues (stdlib/jobs.cpp) for tools
// such as the REPL's :jobs command. It reads the queues' counters under the
// jobs mutex only, never runs script code and never allocates runtime
// objects, so it is safe to call from anywhere that holds the GIL.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace weft {

struct Interp;

// Counts of one queue at the moment of the snapshot (the same numbers as
// queue.stats(), plus how many workers are running a job right now).
struct QueueSnapshot {
  std::string name;
  std::int64_t queued = 0, retrying = 0, running = 0, done = 0, failed = 0, cancelled = 0;
  int workers = 0;       // configured
  int live_workers = 0;  // started and not yet returned
  int busy_workers = 0;  // running a job now
};

// Every queue that has started its workers and not yet shut down, in
// creation order. Empty when the jobs module was never used. Requires the
// GIL (the queue objects stay alive while it is held).
std::vector<QueueSnapshot> jobs_snapshot(Interp& in);

}  // namespace weft
