// Value: the 16-byte tagged union every Weft value lives in.
//
// We chose a tagged union over NaN-boxing because Weft integers are full
// 64-bit signed numbers (SPEC §2): NaN-boxing would leave 48-52 bits. A
// Value is trivially copyable, so pushing, popping and copying are plain
// 16-byte moves, and the hot arithmetic paths test one byte.
#pragma once

#include <cstdint>
#include <cstring>

namespace weft {

struct Obj;

enum class Tag : std::uint8_t {
  Nil = 0,  // must be 0: zero-filled memory is a run of nils
  Bool,
  Int,
  Float,
  Obj,
  // Internal marker: an unassigned global slot, an empty map slot. Never
  // visible to scripts.
  Undef,
};

struct Value {
  Tag tag;
  union {
    bool b;
    std::int64_t i;
    double d;
    Obj* o;
  } as;

  constexpr Value() : tag(Tag::Nil), as{.i = 0} {}

  static constexpr Value nil() { return Value(); }
  static constexpr Value undef() {
    Value v;
    v.tag = Tag::Undef;
    return v;
  }
  static constexpr Value boolean(bool b) {
    Value v;
    v.tag = Tag::Bool;
    v.as.i = 0;
    v.as.b = b;
    return v;
  }
  static constexpr Value integer(std::int64_t i) {
    Value v;
    v.tag = Tag::Int;
    v.as.i = i;
    return v;
  }
  static constexpr Value number(double d) {
    Value v;
    v.tag = Tag::Float;
    v.as.d = d;
    return v;
  }
  static Value object(Obj* o) {
    Value v;
    v.tag = Tag::Obj;
    v.as.o = o;
    return v;
  }

  bool is_nil() const { return tag == Tag::Nil; }
  bool is_bool() const { return tag == Tag::Bool; }
  bool is_int() const { return tag == Tag::Int; }
  bool is_float() const { return tag == Tag::Float; }
  bool is_number() const { return tag == Tag::Int || tag == Tag::Float; }
  bool is_obj() const { return tag == Tag::Obj; }
  bool is_undef() const { return tag == Tag::Undef; }
  // Only nil and false are falsy.
  bool truthy() const { return !(tag == Tag::Nil || (tag == Tag::Bool && !as.b)); }
  double to_double() const { return tag == Tag::Int ? static_cast<double>(as.i) : as.d; }
};

static_assert(sizeof(Value) == 16, "Value must stay 16 bytes");

// Orders an int against a float exactly: converting the int to double would
// round above 2^53 (9007199254740993 == 9007199254740992.0 would be true).
// Returns -1, 0 or 1 for i <, ==, > d, and 2 when d is nan (every
// comparison with nan is false).
inline int compare_int_double(std::int64_t i, double d) {
  if (d != d) return 2;
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  // |d| < 2^63: the truncation fits, and is exact as a double again.
  auto whole = static_cast<std::int64_t>(d);
  if (i < whole) return -1;
  if (i > whole) return 1;
  double frac = d - static_cast<double>(whole);
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

// The same for any two numbers (int or float): -1, 0, 1, or 2 for nan.
inline int compare_numbers(Value a, Value b) {
  if (a.tag == Tag::Int && b.tag == Tag::Int) return a.as.i < b.as.i ? -1 : a.as.i > b.as.i ? 1 : 0;
  if (a.tag == Tag::Int) return compare_int_double(a.as.i, b.as.d);
  if (b.tag == Tag::Int) {
    int c = compare_int_double(b.as.i, a.as.d);
    return c == 2 ? 2 : -c;
  }
  if (a.as.d != a.as.d || b.as.d != b.as.d) return 2;
  return a.as.d < b.as.d ? -1 : a.as.d > b.as.d ? 1 : 0;
}

}  // namespace weft
