// The bytecode VM: the dispatch loop, calls, errors and upvalues.
//
// The public entry points (call_value, safe_point, run_module) are declared
// in runtime/interp.hpp, so native code needs only the runtime headers.
#pragma once

#include <string>
#include <vector>

#include "runtime/interp.hpp"

namespace weft {

// Converts a native error into a thrown error value: fills its traceback from
// t's frames and stores it in t.pending. Returns the error value.
Value make_thrown_error(Thread& t, const std::string& type, const std::string& message);

// Fills `trace`, `file`, `line`, `col` of an error value from the current
// frames of `t` if it has no trace yet (first throw).
void attach_trace(Thread& t, Value v);

// Where the innermost frame of `t` is executing: the module's display name,
// line and column (for errors raised by natives).
struct SourcePos {
  std::string file;
  int line = 0;
  int col = 0;
};
SourcePos current_position(Thread& t);

// Calls `fn` and catches what call_value can throw (ScriptThrow, NativeError,
// bad_alloc), turning it into an error value in `error`. SysExit passes
// through. Returns true if `fn` returned normally.
bool guarded_call(Thread& t, Value fn, const Value* args, int argc, Value& result, Value& error);

}  // namespace weft
