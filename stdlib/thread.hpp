// Interpreter threads (SPEC §7.2): real OS threads that run Weft functions
// under the GIL. Other modules (jobs) start their workers through
// spawn_thread so they are ordinary interpreter threads: named, joinable,
// visible in gil.stats() and waited for at exit.
#pragma once

#include <string>

#include "runtime/interp.hpp"

namespace weft {

// Starts an interpreter thread running fn(args...). Returns the thread
// handle. Requires the GIL.
Value spawn_thread(Thread& t, std::string name, Value fn, const Value* args, int argc);

// Waits (GIL released) until every thread started with spawn_thread has
// ended, then prints the errors of threads that were never joined. Run at
// exit by the CLI (an Interp::at_exit hook).
void wait_all_threads(Thread& t);

// True when thread `id` was started by `ancestor`, or by a thread that
// `ancestor` started, and so on (or is `ancestor`). For gil.measure.
bool thread_descends_from(Interp& in, int id, int ancestor);

}  // namespace weft
