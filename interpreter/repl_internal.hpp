// Pieces of the REPL (repl.cpp) that live in their own files: the colon
// commands that show threads, the GIL and job queues (repl_commands.cpp), and
// Tab completion and auto-indent (repl_complete.cpp).
#pragma once

#include <cstdint>
#include <string>

namespace weft {

struct Interp;
struct Thread;
struct ObjModule;

// --- repl_commands.cpp (all require the GIL) ---

// The :help text. Teaches the GIL commands first.
extern const char* const kReplHelpText;

// :threads — one row per live thread: id, name, what it is doing (running,
// waiting for the GIL, blocked in which call) and for how long. `self_id` is
// the REPL's own thread, shown as "at the prompt".
std::string repl_threads_report(Interp& in, int self_id);

// :timeline — the GIL timeline chart from `since_ns` (now_ns() clock) to now.
std::string repl_timeline_since(Interp& in, std::uint64_t since_ns, int width);

// :jobs — every in-process job queue with its counts by state and how many
// of its workers are busy.
std::string repl_jobs_report(Interp& in);

// "1.2s", "340ms", "2m05s": a short human duration.
std::string repl_duration(std::uint64_t ns);

// --- repl_complete.cpp ---

// Installs Tab completion (keywords, globals of `mod`, builtins, module
// members, methods of the value a global holds).
// Completion takes the GIL briefly from inside readline (the prompt waits in
// a BlockingRegion labelled `wait_label`) and never runs user code.
void repl_install_completion(Interp& in, Thread& t, ObjModule* mod, const char* wait_label);

// Spaces to put at the start of the next line of an incomplete input:
// four per bracket or block still open in `text` (strings and comments are
// skipped).
int repl_indent_for(const std::string& text);

}  // namespace weft
