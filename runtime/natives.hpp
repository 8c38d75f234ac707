// What native code (builtins, methods, stdlib modules) uses to talk to the
// runtime: raising errors, checking arguments, building values, printing.
//
// Errors from natives are C++ exceptions of type NativeError that carry only
// plain strings, never heap objects, so they can be thrown from anywhere —
// including inside a BlockingRegion where the GIL is not held. The VM turns
// them into error values once it holds the GIL again.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "interp.hpp"
#include "object.hpp"
#include "value.hpp"

namespace weft {

struct NativeError {
  std::string type;     // "TypeError", "IOError", ...
  std::string message;
};

[[noreturn]] void raise(std::string_view type, std::string message);

template <class... A>
[[noreturn]] void raisef(std::string_view type, fmt::format_string<A...> f, A&&... args) {
  raise(type, fmt::format(f, static_cast<A&&>(args)...));
}

// ---------------------------------------------------------------- printing

// type(x): "nil", "int", "str", "list", "thread", ...
const char* type_name(Value v);
// str(x) and repr(x) exactly as SPEC §6.
std::string to_str(Value v);
std::string to_repr(Value v);
// Python's float repr ("1.0", "0.1", "1e+16", "inf").
std::string float_repr(double d);
// == semantics (structural for lists and maps).
bool values_equal(Value a, Value b);
// The order of `<` (SPEC §4): numbers (int vs float exactly), strings
// bytewise, lists item by item like Python (the first unequal items decide,
// else the shorter list is smaller). Returns -1, 0 or 1, or 2 when the
// values are unordered (a nan is involved: every comparison is false).
// Raises TypeError naming `op` for other types.
int order_values(Value a, Value b, const char* op);

// --------------------------------------------------------------- building

ObjString* new_string(Thread& t, std::string_view s);
Value str_value(Thread& t, std::string_view s);
ObjList* new_list(Thread& t);
Value list_value(Thread& t, std::vector<Value> items);
ObjMap* new_map(Thread& t);
// m[key] = v with a string key.
void map_put(Thread& t, ObjMap* m, std::string_view key, Value v);
// m[key] for a string key, or nullptr.
Value* map_get(Thread& t, ObjMap* m, std::string_view key);
// error(type, message) as a value.
ObjError* new_error(Thread& t, std::string_view type, std::string_view message);

// ------------------------------------------------------------ arguments
// Each raises TypeError naming the function and the argument when the value
// has the wrong type ("sleep() argument 1 must be a number, not str").

std::int64_t arg_int(Args a, int i, const char* fn);
double arg_number(Args a, int i, const char* fn);
std::string_view arg_str(Args a, int i, const char* fn);
ObjString* arg_string(Args a, int i, const char* fn);
ObjList* arg_list(Args a, int i, const char* fn);
ObjMap* arg_map(Args a, int i, const char* fn);
// Absent or nil gives nullopt.
std::optional<double> opt_number(Args a, int i, const char* fn);

// Options maps ({timeout: 2, retries: 3}): a missing or nil field gives the
// default; a present field of the wrong type raises TypeError.
double opt_field_number(Thread& t, ObjMap* m, std::string_view key, double dflt);
std::int64_t opt_field_int(Thread& t, ObjMap* m, std::string_view key, std::int64_t dflt);
std::string opt_field_str(Thread& t, ObjMap* m, std::string_view key, std::string_view dflt);
// A number option that must be finite and >= 0 (ValueError otherwise);
// `what` names the options in the message ("submit_with").
double opt_field_nonneg(Thread& t, ObjMap* m, std::string_view key, double dflt, const char* what);
// Rejects option keys nobody reads, so a typo like `retires` does not pass
// silently (ValueError listing the known keys).
void check_option_keys(ObjMap* m, std::initializer_list<std::string_view> known, const char* what);

}  // namespace weft
