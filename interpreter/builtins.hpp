// The built-in functions of SPEC §6 (print, len, range, format, assert, ...)
// and the methods of the built-in types (list, map, str, error).
#pragma once

#include <new>
#include <stdexcept>

#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"

namespace weft {

// Wraps a native so that running out of memory inside it (std::bad_alloc,
// or std::length_error from a container asked for too much) raises
// MemoryError instead of escaping as a C++ exception. Every built-in and
// method is registered through it.
template <NativeFn F>
Value guarded(Thread& t, Args a) {
  try {
    return F(t, a);
  } catch (const std::bad_alloc&) {
    raise("MemoryError", "out of memory");
  } catch (const std::length_error&) {
    raise("MemoryError", "out of memory");
  }
}

// Adds print, repr, str, int, float, bool, type, len, list, range, min, max,
// abs, sorted, format, error, assert, assert_eq, assert_raises and import to
// Interp::builtins.
void register_builtins(Interp& in);

// assert_between and assert_close (interpreter/assertions.cpp), called by
// register_builtins.
void register_assertions(Interp& in);

// The items of a list, the keys of a map, the characters of a str or the
// numbers of a range, as list() sees them (TypeError naming `fn` otherwise).
ValueVec iterable_items(Thread& t, Value v, const char* fn);

// Method tables of the built-in types, used by the VM's INVOKE.
const MethodTable& list_methods();
const MethodTable& map_methods();
const MethodTable& str_methods();

// Code points of a string: how len/index/slice/iteration see it.
// Returns the byte offset of code point `index` (0 <= index <= cp_count).
std::size_t utf8_offset(const ObjString* s, std::int64_t index);
// Length in bytes of the code point starting at byte `pos` (1 for invalid bytes).
std::size_t utf8_char_len(const ObjString* s, std::size_t pos);

// Byte offset of the first `needle` in `hay` at or after `from`, or npos
// (memchr / glibc memmem: fast on repetitive text).
// The native behind the builtin len(): the VM answers len(x) of a string,
// list or map itself when the callee is this function.
extern const NativeFn kBuiltinLen;

// Appends `v` formatted like one replacement field of format(): `conv` is 0,
// 'r' or 's' (a `!r`/`!s` conversion), `spec` the text after the field's ':'
// ("" for `{}`). Raises ValueError for a bad spec. F-strings compile to
// calls of this (through the FORMAT_VALUE instruction), so they format
// exactly as format() does without parsing a template at run time.
void format_value_into(std::string& out, Value v, char conv, std::string_view spec);

std::size_t find_bytes(std::string_view hay, std::string_view needle, std::size_t from = 0);

}  // namespace weft
