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

}  // namespace weft
