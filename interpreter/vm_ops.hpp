// Out-of-line pieces of the VM for the 0.2 language: the slow path of calls
// (defaults, rest parameters, arity errors), slices and `**`. None of them
// is on a hot path, so they live here rather than in the dispatch loop's
// file.
#pragma once

#include "runtime/interp.hpp"

namespace weft {

// Raises the TypeError for a call of `p` with `got` arguments:
// "f() takes 2 arguments (a, b) but 3 were given (defined at main.weft:3)".
[[noreturn]] void closure_arity_error(const ObjProto* p, int got);

// The slow path of a call to a closure whose argument count is not its
// arity: checks the count, then rewrites the arguments at `args` in place
// so the frame has exactly its parameters (omitted defaults as undef, which
// the callee's ARG_DEFAULT instructions fill in; the rest parameter as a
// list). Returns the new stack top. t.sp must cover the arguments (they
// stay rooted while the list is allocated).
Value* adapt_args(Thread& t, const ObjProto* p, Value* args, int argc);

// obj[lo:hi] for lists and strings (nil bounds are omitted ones).
Value slice_value(Thread& t, Value obj, Value lo, Value hi);

// a ** b (SPEC §4).
Value power(Value a, Value b);

// FORMAT_VALUE and BUILD_STRING. They build std::strings, so they live out
// of the dispatch loop: a computed goto leaves a block without running its
// destructors, and a string local to a CASE would leak.
Value format_value_op(Thread& t, Value v, char conv, const ObjString* spec);
Value build_string_op(Thread& t, const Value* parts, int n);

}  // namespace weft
