// The built-in functions of SPEC §6 and the methods of the built-in types
// (SPEC §4 "Methods").
//
// Conventions:
// - Every native checks the types of its arguments and raises a TypeError
//   that names the function and the argument ("list.insert() argument 1 must
//   be an int, not str").
// - Growing a list goes through grow_to(), which tells the heap about the new
//   capacity before reserving it, so a memory limit raises MemoryError rather
//   than crashing; std::bad_alloc / std::length_error escaping a native are
//   turned into MemoryError by the guarded<> wrapper.
// - Strings are UTF-8; positions seen by scripts count code points. Invalid
//   bytes count as one code point each (see utf8_char_len).
#include "interpreter/builtins.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "interpreter/collections.hpp"
#include "interpreter/loader.hpp"
#include "runtime/natives.hpp"

namespace weft {

// ===================================================================== UTF-8

std::size_t utf8_char_len(const ObjString* s, std::size_t pos) {
  if (pos >= s->length) return 1;
  const auto* p = reinterpret_cast<const unsigned char*>(s->data);
  unsigned char c = p[pos];
  if (c < 0x80) return 1;
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;       // no overlong forms
    else if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return 1;  // a stray continuation byte or an invalid lead byte
  }
  if (pos + need > s->length) return 1;
  if (p[pos + 1] < lo || p[pos + 1] > hi) return 1;
  for (std::size_t k = 2; k < need; ++k)
    if ((p[pos + k] & 0xC0) != 0x80) return 1;
  return need;
}

std::size_t utf8_offset(const ObjString* s, std::int64_t index) {
  if (index <= 0) return 0;
  if (s->ascii) return std::min<std::size_t>(static_cast<std::size_t>(index), s->length);
  std::size_t pos = 0;
  for (std::int64_t k = 0; k < index && pos < s->length; ++k) pos += utf8_char_len(s, pos);
  return std::min<std::size_t>(pos, s->length);
}

// Substring search: memchr for one byte, glibc's memmem (two-way, vectorized)
// otherwise. std::string_view::find compares at every occurrence of the
// first byte, which is slow on repetitive text ("item-1,item-2,...").
std::size_t find_bytes(std::string_view hay, std::string_view needle, std::size_t from) {
  if (from > hay.size()) return std::string_view::npos;
  if (needle.empty()) return from;
  const char* base = hay.data();
  const void* p = needle.size() == 1 ? std::memchr(base + from, needle[0], hay.size() - from)
                                     : memmem(base + from, hay.size() - from, needle.data(), needle.size());
  return p ? static_cast<std::size_t>(static_cast<const char*>(p) - base) : std::string_view::npos;
}

namespace {

// Code points of s as scripts see them (len, slice bounds).
inline std::int64_t cp_len(const ObjString* s) { return s->ascii ? s->length : s->cp_count; }

// The code-point index of byte offset `byte` (a character boundary).
std::int64_t cp_index(const ObjString* s, std::size_t byte) {
  if (s->ascii) return static_cast<std::int64_t>(byte);
  std::int64_t n = 0;
  std::size_t pos = 0;
  while (pos < byte && pos < s->length) {
    pos += utf8_char_len(s, pos);
    ++n;
  }
  return n;
}

// ================================================================== helpers



constexpr std::size_t kMaxItems = std::size_t{1} << 40;

// Makes room for `n` items in `v`, accounting the capacity growth first.
void grow_to(Thread& t, ValueVec& v, std::size_t n) {
  if (n <= v.capacity()) return;
  if (n > kMaxItems) raise("MemoryError", "list too large");
  std::size_t cap = std::max(n, v.capacity() * 2);
  if (cap > kMaxItems) cap = n;
  t.interp.heap.account((cap - v.capacity()) * sizeof(Value));
  v.reserve(cap);
}

ObjList* make_list(Thread& t, std::size_t reserve) {
  ObjList* l = new_list(t);
  if (reserve) grow_to(t, l->items, reserve);
  return l;
}

inline bool is_str(Value v) { return is_obj_type(v, ObjType::String); }
inline bool is_list(Value v) { return is_obj_type(v, ObjType::List); }
inline bool is_map(Value v) { return is_obj_type(v, ObjType::Map); }
inline Value obj(Obj* o) { return Value::object(o); }

void check_key(Value k) {
  if (!hashable(k)) raisef("TypeError", "unhashable type: '{}'", type_name(k));
}

// Python-style index normalisation for item access: -1 is the last item.
// Returns -1 when out of range.
std::int64_t norm_index(std::int64_t i, std::int64_t n) {
  if (i < 0) {
    if (i < -n) return -1;
    i += n;
  }
  return i < n ? i : -1;
}

// Python slice bounds (no step): clamps into [0, n].
std::int64_t clamp_bound(std::int64_t i, std::int64_t n) {
  if (i < 0) {
    i = i < -n ? 0 : i + n;
  }
  return i > n ? n : i;
}

// Optional int argument that may be absent or nil.
bool opt_int(Args a, int i, const char* fn, std::int64_t& out) {
  if (i >= a.n || a.v[i].is_nil()) return false;
  out = arg_int(a, i, fn);
  return true;
}

inline bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim_view(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && is_space(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Number comparison that is exact for int vs float.
bool num_less(Value a, Value b) {
  if (a.is_int() && b.is_int()) return a.as.i < b.as.i;
  long double x = a.is_int() ? static_cast<long double>(a.as.i) : a.as.d;
  long double y = b.is_int() ? static_cast<long double>(b.as.i) : b.as.d;
  return x < y;
}

// a < b for min/max: numbers with numbers, strings with strings.
bool value_less(Value a, Value b, const char* fn) {
  if (a.is_number() && b.is_number()) return num_less(a, b);
  if (is_str(a) && is_str(b)) return as<ObjString>(a)->view() < as<ObjString>(b)->view();
  raisef("TypeError", "{}() cannot compare {} and {}", fn, type_name(a), type_name(b));
}

// Materialises an iterable (list, map keys, str chars, range) into a vector.
ValueVec iterate(Thread& t, Value v, const char* fn);

// ================================================================ builtins

Value b_print(Thread& t, Args a) {
  (void)t;
  std::string out;
  for (int i = 0; i < a.n; ++i) {
    if (i) out.push_back(' ');
    if (is_str(a.v[i]))
      out.append(as<ObjString>(a.v[i])->view());
    else
      out += to_str(a.v[i]);
  }
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stdout);
  static const bool tty = isatty(1) != 0;
  if (tty) std::fflush(stdout);
  return Value();
}

Value b_repr(Thread& t, Args a) { return str_value(t, to_repr(a.v[0])); }

Value b_str(Thread& t, Args a) {
  if (is_str(a.v[0])) return a.v[0];
  if (a.v[0].is_int()) {
    fmt::format_int f(a.v[0].as.i);
    return Value::object(t.interp.heap.new_string(std::string_view(f.data(), f.size()), /*ascii=*/true));
  }
  return str_value(t, to_str(a.v[0]));
}

[[noreturn]] void not_a_number(Value s) { raisef("ValueError", "not a number: {}", to_repr(s)); }

// Parses digits of `base` with single underscores allowed between digits.
// Returns false on bad syntax; sets `overflow` when the value exceeds `limit`.
bool parse_digits(std::string_view s, int base, std::uint64_t limit, std::uint64_t& out, bool& overflow) {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  bool prev_digit = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_') {
      if (!prev_digit || i + 1 == s.size()) return false;
      prev_digit = false;
      continue;
    }
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (d >= base) return false;
    prev_digit = true;
    if (!overflow) {
      if (v > (limit - static_cast<std::uint64_t>(d)) / static_cast<std::uint64_t>(base)) overflow = true;
      else v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
    }
  }
  out = v;
  return true;
}

std::int64_t parse_int(Value sv) {
  std::string_view s = trim_view(as<ObjString>(sv)->view());
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  const std::uint64_t limit = neg ? (std::uint64_t{1} << 63) : (std::uint64_t{1} << 63) - 1;
  std::uint64_t mag = 0;
  bool overflow = false;
  if (!parse_digits(s, base, limit, mag, overflow)) not_a_number(sv);
  if (overflow) raisef("OverflowError", "int too large: {}", to_repr(sv));
  if (neg) return mag == (std::uint64_t{1} << 63) ? std::numeric_limits<std::int64_t>::min()
                                                   : -static_cast<std::int64_t>(mag);
  return static_cast<std::int64_t>(mag);
}

double parse_float(Value sv) {
  std::string_view s = trim_view(as<ObjString>(sv)->view());
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s[0] == '+' || s[0] == '-') not_a_number(sv);
  // Underscores are allowed between digits, as in literals.
  std::string clean;
  clean.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      bool ok = i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
                std::isdigit(static_cast<unsigned char>(s[i + 1]));
      if (!ok) not_a_number(sv);
      continue;
    }
    clean.push_back(s[i]);
  }
  double d = 0;
  const char* b = clean.data();
  const char* e = b + clean.size();
  auto [ptr, ec] = std::from_chars(b, e, d, std::chars_format::general);
  if (ptr != e) not_a_number(sv);
  if (ec == std::errc::result_out_of_range) {
    d = std::strtod(clean.c_str(), nullptr);  // inf or a tiny value, like Python
  } else if (ec != std::errc()) {
    not_a_number(sv);
  }
  return neg ? -d : d;
}

Value b_int(Thread& t, Args a) {
  (void)t;
  Value v = a.v[0];
  switch (v.tag) {
    case Tag::Int:
      return v;
    case Tag::Bool:
      return Value::integer(v.as.b ? 1 : 0);
    case Tag::Float: {
      double d = v.as.d;
      if (std::isnan(d) || std::isinf(d)) raisef("ValueError", "cannot convert float {} to int", float_repr(d));
      d = std::trunc(d);
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        raisef("OverflowError", "float {} out of range for int", float_repr(v.as.d));
      return Value::integer(static_cast<std::int64_t>(d));
    }
    default:
      if (is_str(v)) return Value::integer(parse_int(v));
      raisef("TypeError", "int() argument must be a str, int, float or bool, not {}", type_name(v));
  }
}

Value b_float(Thread& t, Args a) {
  (void)t;
  Value v = a.v[0];
  switch (v.tag) {
    case Tag::Int:
      return Value::number(static_cast<double>(v.as.i));
    case Tag::Float:
      return v;
    case Tag::Bool:
      return Value::number(v.as.b ? 1.0 : 0.0);
    default:
      if (is_str(v)) return Value::number(parse_float(v));
      raisef("TypeError", "float() argument must be a str, int, float or bool, not {}", type_name(v));
  }
}

Value b_bool(Thread& t, Args a) {
  (void)t;
  return Value::boolean(a.v[0].truthy());
}

Value b_type(Thread& t, Args a) { return str_value(t, type_name(a.v[0])); }

Value b_len(Thread& t, Args a) {
  (void)t;
  Value v = a.v[0];
  if (v.is_obj()) {
    switch (v.as.o->type) {
      case ObjType::String: return Value::integer(cp_len(as<ObjString>(v)));
      case ObjType::List: return Value::integer(static_cast<std::int64_t>(as<ObjList>(v)->items.size()));
      case ObjType::Map: return Value::integer(as<ObjMap>(v)->count);
      case ObjType::Range: {
        std::int64_t n = as<ObjRange>(v)->length();
        // -1: longer than INT64_MAX (see ObjRange::length).
        if (n < 0) raise("OverflowError", "range has more than 2**63-1 items");
        return Value::integer(n);
      }
      default: break;
    }
  }
  raisef("TypeError", "object of type '{}' has no len()", type_name(v));
}

ValueVec str_chars(Thread& t, ObjString* s) {
  ValueVec out;
  out.reserve(static_cast<std::size_t>(cp_len(s)));
  std::size_t pos = 0;
  while (pos < s->length) {
    std::size_t n = utf8_char_len(s, pos);
    out.push_back(str_value(t, std::string_view(s->data + pos, n)));
    pos += n;
  }
  return out;
}

ValueVec iterate(Thread& t, Value v, const char* fn) {
  ValueVec out;
  if (v.is_obj()) {
    switch (v.as.o->type) {
      case ObjType::List:
        t.interp.heap.account(as<ObjList>(v)->items.size() * sizeof(Value));
        return as<ObjList>(v)->items;
      case ObjType::Map: {
        ObjMap* m = as<ObjMap>(v);
        t.interp.heap.account(m->count * sizeof(Value));
        out.reserve(m->count);
        for (const MapEntry& e : m->entries)
          if (!e.key.is_undef()) out.push_back(e.key);
        return out;
      }
      case ObjType::String: {
        ObjString* s = as<ObjString>(v);
        t.interp.heap.account(static_cast<std::size_t>(cp_len(s)) * sizeof(Value));
        return str_chars(t, s);
      }
      case ObjType::Range: {
        ObjRange* r = as<ObjRange>(v);
        std::int64_t n = r->length();
        if (static_cast<std::uint64_t>(n) > kMaxItems) raise("MemoryError", "range too large to make a list");
        t.interp.heap.account(static_cast<std::size_t>(n) * sizeof(Value));
        out.reserve(static_cast<std::size_t>(n));
        std::int64_t x = r->start;
        for (std::int64_t i = 0; i < n; ++i, x += r->step) out.push_back(Value::integer(x));
        return out;
      }
      default:
        break;
    }
  }
  raisef("TypeError", "{}() argument must be a list, map, str or range, not {}", fn, type_name(v));
}

// Moves `items` into a new list whose capacity was accounted by iterate().
Value list_of(Thread& t, ValueVec&& items) {
  ObjList* l = new_list(t);
  l->items = std::move(items);
  return obj(l);
}

Value b_list(Thread& t, Args a) {
  if (a.n == 0) return obj(new_list(t));
  return list_of(t, iterate(t, a.v[0], "list"));
}

Value b_range(Thread& t, Args a) {
  std::int64_t start = 0, stop, step = 1;
  if (a.n == 1) {
    stop = arg_int(a, 0, "range");
  } else {
    start = arg_int(a, 0, "range");
    stop = arg_int(a, 1, "range");
    if (a.n > 2) step = arg_int(a, 2, "range");
  }
  if (step == 0) raise("ValueError", "range() step must not be zero");
  return obj(t.interp.heap.make<ObjRange>(start, stop, step));
}

Value minmax(Args a, const char* fn, bool want_max) {
  const Value* items = a.v;
  std::size_t n = static_cast<std::size_t>(a.n);
  if (a.n == 1) {
    if (!is_list(a.v[0]))
      raisef("TypeError", "{}() with one argument needs a list, not {}", fn, type_name(a.v[0]));
    auto& v = as<ObjList>(a.v[0])->items;
    items = v.data();
    n = v.size();
  }
  if (n == 0) raisef("ValueError", "{}() arg is an empty sequence", fn);
  Value best = items[0];
  if (!best.is_number() && !is_str(best))
    raisef("TypeError", "{}() arguments must be numbers or strings, not {}", fn, type_name(best));
  for (std::size_t i = 1; i < n; ++i) {
    Value v = items[i];
    if (want_max ? value_less(best, v, fn) : value_less(v, best, fn)) best = v;
  }
  return best;
}

Value b_min(Thread& t, Args a) {
  (void)t;
  return minmax(a, "min", false);
}
Value b_max(Thread& t, Args a) {
  (void)t;
  return minmax(a, "max", true);
}

Value b_abs(Thread& t, Args a) {
  (void)t;
  Value v = a.v[0];
  if (v.is_int()) {
    if (v.as.i == std::numeric_limits<std::int64_t>::min()) raise("OverflowError", "integer overflow in abs()");
    return Value::integer(v.as.i < 0 ? -v.as.i : v.as.i);
  }
  if (v.is_float()) return Value::number(std::fabs(v.as.d));
  raisef("TypeError", "abs() argument must be a number, not {}", type_name(v));
}

// ------------------------------------------------------------------ format

constexpr std::int64_t kMaxFormatWidth = 10'000'000;

struct Spec {
  std::string fill;  // empty: default
  char align = 0;
  char sign = 0;
  bool alt = false;
  bool zero = false;
  std::int64_t width = -1;
  std::int64_t prec = -1;
  bool locale = false;
  char group = 0;  // ',' or '_': thousands separators (Python's grouping option)
  char type = 0;
  bool ok = false;  // parsed completely
};

Spec parse_spec(std::string_view s) {
  Spec sp;
  std::size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^'; };
  // fill: one code point followed by an align char.
  if (!s.empty()) {
    std::size_t cl = 1;
    unsigned char c0 = static_cast<unsigned char>(s[0]);
    if (c0 >= 0xF0) cl = 4;
    else if (c0 >= 0xE0) cl = 3;
    else if (c0 >= 0xC0) cl = 2;
    if (cl < s.size() && is_align(s[cl])) {
      sp.fill = std::string(s.substr(0, cl));
      sp.align = s[cl];
      i = cl + 1;
    } else if (is_align(s[0])) {
      sp.align = s[0];
      i = 1;
    }
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) sp.sign = s[i++];
  if (i < s.size() && s[i] == '#') sp.alt = true, ++i;
  if (i < s.size() && s[i] == '0') sp.zero = true, ++i;
  auto digits = [&](std::int64_t& out) {
    std::size_t b = i;
    std::int64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (v <= kMaxFormatWidth) v = v * 10 + (s[i] - '0');
      ++i;
    }
    if (i > b) out = v;
    return i > b;
  };
  digits(sp.width);
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) sp.group = s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits(sp.prec)) return sp;  // fmt reports the error
  }
  if (i < s.size() && s[i] == 'L') sp.locale = true, ++i;
  if (i < s.size()) sp.type = s[i++];
  sp.ok = i == s.size();
  return sp;
}

bool float_type(char c) {
  return c == 'e' || c == 'E' || c == 'f' || c == 'F' || c == 'g' || c == 'G' || c == 'a' || c == 'A';
}

// A float with no presentation type prints like str(): 1.0, 1e+16.
std::string format_float_plain(double d, const Spec& sp) {
  bool neg = std::signbit(d) && !std::isnan(d);
  std::string body = float_repr(std::fabs(d));
  std::string sign = neg ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
  std::size_t width = sp.width > 0 ? static_cast<std::size_t>(sp.width) : 0;
  std::size_t len = sign.size() + body.size();
  if (len >= width) return sign + body;
  std::size_t pad = width - len;
  if (sp.zero && !sp.align && std::isfinite(d)) return sign + std::string(pad, '0') + body;
  std::string fill = sp.fill.empty() ? std::string(" ") : sp.fill;
  auto rep = [&](std::size_t k) {
    std::string r;
    for (std::size_t j = 0; j < k; ++j) r += fill;
    return r;
  };
  char align = sp.align ? sp.align : '>';
  if (align == '<') return sign + body + rep(pad);
  if (align == '^') return rep(pad / 2) + sign + body + rep(pad - pad / 2);
  return rep(pad) + sign + body;
}

template <class T>
void fmt_one(std::string& out, const std::string& spec, const T& v) {
  std::string f = "{:" + spec + "}";
  fmt::vformat_to(std::back_inserter(out), f, fmt::make_format_args(v));
}

// Appends `body` (`n` code points, after `sign`) padded to the spec's
// width. `numeric`: right-aligned by default, and the 0 flag pads with
// zeros between the sign and the digits.
void append_padded(std::string& out, const Spec& sp, std::string_view sign, std::string_view body,
                   std::size_t n, bool numeric) {
  std::size_t len = sign.size() + n;
  std::size_t width = sp.width > 0 ? static_cast<std::size_t>(sp.width) : 0;
  if (len >= width) {
    out.append(sign);
    out.append(body);
    return;
  }
  std::size_t pad = width - len;
  if (numeric && sp.zero && !sp.align) {
    out.append(sign);
    out.append(pad, '0');
    out.append(body);
    return;
  }
  std::string_view fill = !sp.fill.empty() ? std::string_view(sp.fill) : sp.zero ? "0" : " ";
  char align = sp.align ? sp.align : numeric ? '>' : '<';
  std::size_t before = align == '<' ? 0 : align == '^' ? pad / 2 : pad;
  auto rep = [&](std::size_t k) {
    if (fill.size() == 1) {
      out.append(k, fill[0]);
    } else {
      for (std::size_t j = 0; j < k; ++j) out.append(fill);
    }
  };
  rep(before);
  out.append(sign);
  out.append(body);
  rep(pad - before);
}

// The common fields without going through fmt's run-time spec parser:
// {}, {:>8} on strings, {:05} / {:,}-free ints, {:.2f} floats. Returns false
// when the spec needs the general path.
bool format_fast(std::string& out, Value v, const Spec& sp) {
  if (!sp.ok || sp.group || sp.type == '%' || sp.locale || sp.alt || (sp.sign && sp.sign != '-')) return false;
  if (is_str(v)) {
    auto* s = as<ObjString>(v);
    if ((sp.type && sp.type != 's') || sp.prec >= 0 || sp.zero || !s->ascii) return false;
    append_padded(out, sp, {}, s->view(), s->length, false);
    return true;
  }
  if (v.is_int()) {
    if ((sp.type && sp.type != 'd') || sp.prec >= 0) return false;
    std::int64_t i = v.as.i;
    fmt::format_int f(i);
    std::string_view digits(f.data(), f.size());
    std::string_view sign;
    if (i < 0) sign = "-", digits.remove_prefix(1);
    append_padded(out, sp, sign, digits, digits.size(), true);
    return true;
  }
  if (v.is_float()) {
    if ((sp.type != 'f' && sp.type != 'F') || sp.prec < 0 || sp.prec > 100 || !std::isfinite(v.as.d)) return false;
    char buf[512];
    double d = v.as.d;
    bool neg = std::signbit(d);
    auto r = std::to_chars(buf, buf + sizeof buf, std::fabs(d), std::chars_format::fixed, static_cast<int>(sp.prec));
    if (r.ec != std::errc()) return false;
    std::string_view digits(buf, static_cast<std::size_t>(r.ptr - buf));
    append_padded(out, sp, neg ? "-" : "", digits, digits.size(), true);
    return true;
  }
  return false;
}

// Inserts `sep` every three digits in the leading run of digits of `body`
// ("1234567.5" -> "1,234,567.5").
std::string group_digits(std::string_view body, char sep) {
  std::size_t n = 0;
  while (n < body.size() && body[n] >= '0' && body[n] <= '9') ++n;
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out.push_back(sep);
    out.push_back(body[i]);
  }
  out.append(body.substr(n));
  return out;
}

// The specs fmt does not know, on numbers: grouping ({:,} {:_}) and
// percentages ({:%} {:.1%}: times 100, fixed point, then '%').
void format_grouped_or_percent(std::string& out, Value v, const Spec& sp) {
  bool percent = sp.type == '%';
  bool neg;
  std::string body;
  if (v.is_int() && !percent && (sp.type == 0 || sp.type == 'd')) {
    if (sp.prec >= 0) throw fmt::format_error("precision not allowed for an int");
    std::int64_t i = v.as.i;
    neg = i < 0;
    std::uint64_t mag = neg ? 0 - static_cast<std::uint64_t>(i) : static_cast<std::uint64_t>(i);
    body = fmt::format_int(mag).str();
  } else {
    double d = v.to_double();
    if (percent) d *= 100;
    neg = std::signbit(d) && !std::isnan(d);
    double m = std::fabs(d);
    char type = percent ? 'f' : sp.type;
    if (type == 0) {
      body = float_repr(m);
    } else {
      if (!float_type(type)) throw fmt::format_error("invalid type for grouping");
      std::string core = sp.prec >= 0 ? fmt::format(".{}{}", sp.prec, type) : std::string(1, type);
      if (percent && sp.prec < 0) core = ".6f";
      fmt_one(body, core, m);
    }
    if (percent) body.push_back('%');
  }
  if (sp.group) body = group_digits(body, sp.group);
  std::string_view sign = neg ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
  append_padded(out, sp, sign, body, body.size(), true);
}

// Formats one replacement field's value with its (nested-resolved) spec.
// `placeholder` numbers the field in a format() string for error messages
// (0 for an f-string field).
void format_field_spec(std::string& out, Value v, char conv, const std::string& spec);

void format_field(std::string& out, Value v, char conv, const std::string& spec, int placeholder = 0) {
  try {
    format_field_spec(out, v, conv, spec);
  } catch (const fmt::format_error&) {
    std::string shown = conv ? fmt::format("!{}{}{}", conv, spec.empty() ? "" : ":", spec) : ":" + spec;
    if (placeholder > 0)
      raisef("ValueError", "bad format spec '{}' for placeholder {} ({})", shown, placeholder, type_name(v));
    raisef("ValueError", "bad format spec '{}' for a value of type {}", shown, type_name(v));
  }
}

void format_field_spec(std::string& out, Value v, char conv, const std::string& spec) {
  // A nan's sign bit means nothing: Python prints every nan as "nan", while
  // printf-style formatting would print "-nan".
  if (v.is_float() && std::isnan(v.as.d)) v = Value::number(std::numeric_limits<double>::quiet_NaN());
  if (conv == 0 && spec.empty()) {
    // {}: str() of the value.
    if (is_str(v)) {
      out.append(as<ObjString>(v)->view());
    } else if (v.is_int()) {
      fmt::format_int f(v.as.i);
      out.append(f.data(), f.size());
    } else {
      out += to_str(v);
    }
    return;
  }
  Spec sp = parse_spec(spec);
  if (sp.width > kMaxFormatWidth || sp.prec > kMaxFormatWidth)
    raise("ValueError", "format width or precision too large");
  if (conv == 0 && format_fast(out, v, sp)) return;
  if (sp.ok && (sp.group || sp.type == '%')) {
    if (conv != 0 || !v.is_number()) throw fmt::format_error("grouping or % needs a number");
    format_grouped_or_percent(out, v, sp);
    return;
  }
  if (conv == 'r') {
    fmt_one(out, spec, to_repr(v));
    return;
  }
  if (conv == 's') {
    fmt_one(out, spec, to_str(v));
    return;
  }
  switch (v.tag) {
    case Tag::Int:
      if (sp.ok && float_type(sp.type))
        fmt_one(out, spec, static_cast<double>(v.as.i));
      else
        fmt_one(out, spec, static_cast<long long>(v.as.i));
      return;
    case Tag::Float:
      if (sp.ok && sp.type == 0 && sp.prec < 0 && !sp.locale && !sp.alt)
        out += format_float_plain(v.as.d, sp);
      else
        fmt_one(out, spec, v.as.d);
      return;
    case Tag::Bool:
      fmt_one(out, spec, v.as.b);
      return;
    default:
      if (is_str(v)) {
        fmt_one(out, spec, as<ObjString>(v)->view());
      } else {
        fmt_one(out, spec, to_str(v));
      }
      return;
  }
}

}  // namespace

// See builtins.hpp: one f-string field, formatted exactly as format() does.
void format_value_into(std::string& out, Value v, char conv, std::string_view spec) {
  format_field(out, v, conv, std::string(spec));
}

namespace {

Value b_format(Thread& t, Args a) {
  std::string_view f = arg_str(a, 0, "format");
  const Value* args = a.v + 1;
  const int nargs = a.n - 1;
  std::string out;
  int next_auto = 0;
  int placeholder = 0;  // counts the fields, for error messages
  bool used_auto = false, used_manual = false;

  auto take_arg = [&](std::string_view id) -> Value {
    int index;
    if (id.empty()) {
      if (used_manual) raise("ValueError", "cannot switch from manual to automatic argument indexing");
      used_auto = true;
      index = next_auto++;
    } else {
      if (used_auto) raise("ValueError", "cannot switch from automatic to manual argument indexing");
      used_manual = true;
      index = 0;
      for (char c : id) {
        if (c < '0' || c > '9')
          raisef("ValueError", "invalid argument reference '{}' in format string (use {{}} or {{0}})", id);
        if (index > 1'000'000) break;
        index = index * 10 + (c - '0');
      }
    }
    if (index >= nargs)
      raisef("ValueError", "format string refers to argument {} but only {} given", index, nargs);
    return args[index];
  };

  try {
    std::size_t i = 0;
    while (i < f.size()) {
      char c = f[i];
      if (c == '}') {
        if (i + 1 < f.size() && f[i + 1] == '}') {
          out.push_back('}');
          i += 2;
          continue;
        }
        raise("ValueError", "unmatched '}' in format string");
      }
      if (c != '{') {
        std::size_t j = f.find_first_of("{}", i);
        if (j == std::string_view::npos) j = f.size();
        out.append(f.substr(i, j - i));
        i = j;
        continue;
      }
      if (i + 1 < f.size() && f[i + 1] == '{') {
        out.push_back('{');
        i += 2;
        continue;
      }
      // A replacement field: {id!conv:spec}
      ++i;
      std::size_t j = i;
      while (j < f.size() && f[j] != ':' && f[j] != '}' && f[j] != '!' && f[j] != '{') ++j;
      if (j >= f.size()) raise("ValueError", "unmatched '{' in format string");
      if (f[j] == '{') raise("ValueError", "invalid format string: unexpected '{' in field name");
      std::string_view id = f.substr(i, j - i);
      Value v = take_arg(id);
      char conv = 0;
      if (f[j] == '!') {
        if (j + 1 >= f.size() || (f[j + 1] != 'r' && f[j + 1] != 's'))
          raise("ValueError", "invalid conversion in format string (use !r or !s)");
        conv = f[j + 1];
        j += 2;
        if (j >= f.size()) raise("ValueError", "unmatched '{' in format string");
        if (f[j] != ':' && f[j] != '}') raise("ValueError", "expected ':' or '}' after conversion");
      }
      std::string spec;
      if (f[j] == ':') {
        ++j;
        // Copy the spec, substituting nested {} / {n} with int arguments.
        while (true) {
          if (j >= f.size()) raise("ValueError", "unmatched '{' in format string");
          char d = f[j];
          if (d == '}') break;
          if (d == '{') {
            std::size_t k = f.find('}', j + 1);
            if (k == std::string_view::npos) raise("ValueError", "unmatched '{' in format string");
            Value w = take_arg(f.substr(j + 1, k - j - 1));
            if (!w.is_int() || w.as.i < 0)
              raisef("ValueError", "nested width/precision argument must be a non-negative int, not {}",
                     to_repr(w));
            spec += std::to_string(w.as.i);
            j = k + 1;
            continue;
          }
          spec.push_back(d);
          ++j;
        }
      }
      i = j + 1;  // past '}'
      format_field(out, v, conv, spec, ++placeholder);
    }
  } catch (const fmt::format_error& e) {
    raisef("ValueError", "bad format: {}", e.what());
  }
  return str_value(t, out);
}

// ------------------------------------------------------------------ errors

Value b_error(Thread& t, Args a) {
  std::string_view type = arg_str(a, 0, "error");
  std::string_view msg = "";
  if (a.n > 1) msg = arg_str(a, 1, "error");
  return obj(new_error(t, type, msg));
}

Value b_assert(Thread& t, Args a) {
  (void)t;
  if (a.v[0].truthy()) return Value();
  if (a.n > 1 && !a.v[1].is_nil()) raise("AssertionError", to_str(a.v[1]));
  raise("AssertionError", "assertion failed");
}

Value b_assert_eq(Thread& t, Args a) {
  (void)t;
  if (values_equal(a.v[0], a.v[1])) return Value();
  std::string msg = fmt::format("expected {}, got {}", to_repr(a.v[1]), to_repr(a.v[0]));
  if (a.n > 2 && !a.v[2].is_nil()) msg = to_str(a.v[2]) + ": " + msg;
  raise("AssertionError", std::move(msg));
}

Value b_assert_raises(Thread& t, Args a) {
  ObjString* want = arg_string(a, 0, "assert_raises");
  Value fn = a.v[1];
  if (!is_obj_type(fn, ObjType::Closure) && !is_obj_type(fn, ObjType::Native))
    raisef("TypeError", "assert_raises() argument 2 must be a fn, not {}", type_name(fn));
  Value thrown;
  try {
    call_value(t, fn, nullptr, 0);
  } catch (const NativeError& e) {
    // A Ctrl-C while the function runs is not what the test expected.
    if (e.type == "KeyboardInterrupt" && want->view() != "KeyboardInterrupt") throw;
    thrown = obj(new_error(t, e.type, e.message));
  } catch (const ScriptThrow&) {
    thrown = t.pending;
    t.pending = Value();
  }
  if (is_obj_type(thrown, ObjType::Error)) {
    ObjError* e = as<ObjError>(thrown);
    if (e->type_name == want) return thrown;
    raisef("AssertionError", "expected {}, got {}", want->view(), to_str(thrown));
  }
  // Nothing thrown is indistinguishable from `throw nil`; report both as not raised.
  if (thrown.is_nil()) raisef("AssertionError", "expected {} to be raised", want->view());
  raisef("AssertionError", "expected {}, got {}", want->view(), to_repr(thrown));
}

Value b_import(Thread& t, Args a) { return import_module(t, std::string(arg_str(a, 0, "import"))); }

// ============================================================ list methods

ObjList* self_list(Args a) { return as<ObjList>(a.self); }

Value l_push(Thread& t, Args a) {
  ObjList* l = self_list(a);
  grow_to(t, l->items, l->items.size() + 1);
  l->items.push_back(a.v[0]);
  return Value();
}

Value l_pop(Thread& t, Args a) {
  (void)t;
  ObjList* l = self_list(a);
  if (l->items.empty()) raise("IndexError", "pop from empty list");
  Value v = l->items.back();
  l->items.pop_back();
  return v;
}

Value l_insert(Thread& t, Args a) {
  ObjList* l = self_list(a);
  std::int64_t i = arg_int(a, 0, "list.insert");
  auto n = static_cast<std::int64_t>(l->items.size());
  i = clamp_bound(i, n);
  grow_to(t, l->items, l->items.size() + 1);
  l->items.insert(l->items.begin() + i, a.v[1]);
  return Value();
}

Value l_remove_at(Thread& t, Args a) {
  (void)t;
  ObjList* l = self_list(a);
  std::int64_t i = arg_int(a, 0, "list.remove_at");
  std::int64_t k = norm_index(i, static_cast<std::int64_t>(l->items.size()));
  if (k < 0) raisef("IndexError", "list index {} out of range (length {})", i, l->items.size());
  Value v = l->items[static_cast<std::size_t>(k)];
  l->items.erase(l->items.begin() + k);
  return v;
}

Value l_slice(Thread& t, Args a) {
  ObjList* l = self_list(a);
  auto n = static_cast<std::int64_t>(l->items.size());
  std::int64_t b = 0, e = n;
  if (opt_int(a, 0, "list.slice", b)) b = clamp_bound(b, n);
  if (opt_int(a, 1, "list.slice", e)) e = clamp_bound(e, n);
  ObjList* out = make_list(t, e > b ? static_cast<std::size_t>(e - b) : 0);
  if (e > b) out->items.assign(l->items.begin() + b, l->items.begin() + e);
  return obj(out);
}

Value l_index(Thread& t, Args a) {
  (void)t;
  ObjList* l = self_list(a);
  for (std::size_t i = 0; i < l->items.size(); ++i)
    if (values_equal(l->items[i], a.v[0])) return Value::integer(static_cast<std::int64_t>(i));
  return Value::integer(-1);
}

Value l_contains(Thread& t, Args a) {
  (void)t;
  for (Value v : self_list(a)->items)
    if (values_equal(v, a.v[0])) return Value::boolean(true);
  return Value::boolean(false);
}

Value l_reverse(Thread& t, Args a) {
  (void)t;
  auto& v = self_list(a)->items;
  std::reverse(v.begin(), v.end());
  return Value();
}

Value l_join(Thread& t, Args a) {
  ObjString* sep_str = arg_string(a, 0, "list.join");
  std::string_view sep = sep_str->view();
  const auto& items = self_list(a)->items;
  // When every item is a string (the usual case), the result is built in
  // place: one allocation of the exact size, no temporary buffer.
  std::size_t total = items.empty() ? 0 : sep.size() * (items.size() - 1);
  bool ascii = sep_str->ascii;
  bool all_str = true;
  for (Value v : items) {
    if (!is_str(v)) {
      all_str = false;
      break;
    }
    total += as<ObjString>(v)->length;
    ascii = ascii && as<ObjString>(v)->ascii;
  }
  Heap& heap = t.interp.heap;
  if (all_str && total > 1) {
    ObjString* out = heap.alloc_string(total);
    char* p = out->chars;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i && !sep.empty()) {
        std::memcpy(p, sep.data(), sep.size());
        p += sep.size();
      }
      auto* piece = as<ObjString>(items[i]);
      std::memcpy(p, piece->data, piece->length);
      p += piece->length;
    }
    heap.finish_string(out, ascii);
    return obj(out);
  }
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out.append(sep);
    Value v = items[i];
    if (is_str(v))
      out.append(as<ObjString>(v)->view());
    else
      out += to_str(v);
  }
  return str_value(t, out);
}

Value l_copy(Thread& t, Args a) {
  ObjList* l = self_list(a);
  ObjList* out = make_list(t, l->items.size());
  out->items = l->items;
  return obj(out);
}

Value l_len(Thread& t, Args a) {
  (void)t;
  return Value::integer(static_cast<std::int64_t>(self_list(a)->items.size()));
}

// ============================================================= map methods

ObjMap* self_map(Args a) { return as<ObjMap>(a.self); }

Value m_keys(Thread& t, Args a) {
  ObjMap* m = self_map(a);
  ObjList* out = make_list(t, m->count);
  for (const MapEntry& e : m->entries)
    if (!e.key.is_undef()) out->items.push_back(e.key);
  return obj(out);
}

Value m_values(Thread& t, Args a) {
  ObjMap* m = self_map(a);
  ObjList* out = make_list(t, m->count);
  for (const MapEntry& e : m->entries)
    if (!e.key.is_undef()) out->items.push_back(e.value);
  return obj(out);
}

Value m_items(Thread& t, Args a) {
  ObjMap* m = self_map(a);
  ObjList* out = make_list(t, m->count);
  for (const MapEntry& e : m->entries) {
    if (e.key.is_undef()) continue;
    ObjList* pair = make_list(t, 2);
    pair->items.push_back(e.key);
    pair->items.push_back(e.value);
    out->items.push_back(obj(pair));
  }
  return obj(out);
}

Value m_get(Thread& t, Args a) {
  (void)t;
  check_key(a.v[0]);
  Value* v = self_map(a)->find(a.v[0]);
  if (v) return *v;
  return a.n > 1 ? a.v[1] : Value();
}

Value m_has(Thread& t, Args a) {
  (void)t;
  check_key(a.v[0]);
  return Value::boolean(self_map(a)->find(a.v[0]) != nullptr);
}

Value m_remove(Thread& t, Args a) {
  (void)t;
  check_key(a.v[0]);
  Value old;
  if (self_map(a)->remove(a.v[0], &old)) return old;
  return Value();
}

Value m_copy(Thread& t, Args a) {
  ObjMap* m = self_map(a);
  ObjMap* out = new_map(t);
  t.interp.heap.account(m->count * (sizeof(MapEntry) + 8));
  for (const MapEntry& e : m->entries)
    if (!e.key.is_undef()) out->set(e.key, e.value);
  return obj(out);
}

Value m_len(Thread& t, Args a) {
  (void)t;
  return Value::integer(self_map(a)->count);
}

// ============================================================= str methods

ObjString* self_str(Args a) { return as<ObjString>(a.self); }

Value s_case(Thread& t, Args a, bool upper) {
  std::string v(self_str(a)->view());
  for (char& c : v) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return str_value(t, v);
}
Value s_upper(Thread& t, Args a) { return s_case(t, a, true); }
Value s_lower(Thread& t, Args a) { return s_case(t, a, false); }

Value s_starts_with(Thread& t, Args a) {
  (void)t;
  return Value::boolean(self_str(a)->view().starts_with(arg_str(a, 0, "str.starts_with")));
}

Value s_ends_with(Thread& t, Args a) {
  (void)t;
  return Value::boolean(self_str(a)->view().ends_with(arg_str(a, 0, "str.ends_with")));
}

Value s_contains(Thread& t, Args a) {
  (void)t;
  return Value::boolean(find_bytes(self_str(a)->view(), arg_str(a, 0, "str.contains")) != std::string_view::npos);
}

Value s_find(Thread& t, Args a) {
  (void)t;
  ObjString* s = self_str(a);
  std::size_t pos = find_bytes(s->view(), arg_str(a, 0, "str.find"));
  if (pos == std::string_view::npos) return Value::integer(-1);
  return Value::integer(cp_index(s, pos));
}

Value s_replace(Thread& t, Args a) {
  ObjString* s = self_str(a);
  std::string_view from = arg_str(a, 0, "str.replace");
  std::string_view to = arg_str(a, 1, "str.replace");
  if (from.empty()) raise("ValueError", "str.replace() old string must not be empty");
  std::string_view v = s->view();
  std::string out;
  std::size_t i = 0;
  bool any = false;
  while (true) {
    std::size_t j = find_bytes(v, from, i);
    if (j == std::string_view::npos) break;
    any = true;
    out.append(v.substr(i, j - i));
    out.append(to);
    i = j + from.size();
  }
  if (!any) return a.self;
  out.append(v.substr(i));
  return str_value(t, out);
}

Value s_slice(Thread& t, Args a) {
  ObjString* s = self_str(a);
  std::int64_t n = cp_len(s);
  std::int64_t b = 0, e = n;
  if (opt_int(a, 0, "str.slice", b)) b = clamp_bound(b, n);
  if (opt_int(a, 1, "str.slice", e)) e = clamp_bound(e, n);
  if (e <= b) return str_value(t, "");
  std::size_t bb = utf8_offset(s, b);
  std::size_t eb = utf8_offset(s, e);
  if (bb == 0 && eb == s->length) return a.self;
  return str_value(t, s->view().substr(bb, eb - bb));
}

Value s_chars(Thread& t, Args a) {
  ObjString* s = self_str(a);
  t.interp.heap.account(static_cast<std::size_t>(cp_len(s)) * sizeof(Value));
  return list_of(t, str_chars(t, s));
}

Value s_bytes(Thread& t, Args a) {
  ObjString* s = self_str(a);
  ObjList* out = make_list(t, s->length);
  for (std::size_t i = 0; i < s->length; ++i)
    out->items.push_back(Value::integer(static_cast<unsigned char>(s->data[i])));
  return obj(out);
}

Value s_len(Thread& t, Args a) {
  (void)t;
  return Value::integer(cp_len(self_str(a)));
}

}  // namespace

ValueVec iterable_items(Thread& t, Value v, const char* fn) { return iterate(t, v, fn); }

const NativeFn kBuiltinLen = &guarded<b_len>;

// ============================================================ registration

#define G(f) &guarded<f>

const MethodTable& list_methods() {
  static const MethodTable table = [] {
    MethodTable m = {
      {"push", {G(l_push), 1, 1}},       {"pop", {G(l_pop), 0, 0}},
      {"insert", {G(l_insert), 2, 2}},   {"remove_at", {G(l_remove_at), 1, 1}},
      {"slice", {G(l_slice), 1, 2}},     {"index", {G(l_index), 1, 1}},
      {"contains", {G(l_contains), 1, 1}},
      {"reverse", {G(l_reverse), 0, 0}}, {"join", {G(l_join), 1, 1}},
      {"copy", {G(l_copy), 0, 0}},       {"len", {G(l_len), 0, 0}},
    };
    add_list_methods(m);
    return m;
  }();
  return table;
}

const MethodTable& map_methods() {
  static const MethodTable table = [] {
    MethodTable m = {
      {"keys", {G(m_keys), 0, 0}},     {"values", {G(m_values), 0, 0}}, {"items", {G(m_items), 0, 0}},
      {"get", {G(m_get), 1, 2}},       {"has", {G(m_has), 1, 1}},       {"remove", {G(m_remove), 1, 1}},
      {"copy", {G(m_copy), 0, 0}},     {"len", {G(m_len), 0, 0}},
    };
    add_map_methods(m);
    return m;
  }();
  return table;
}

const MethodTable& str_methods() {
  static const MethodTable table = [] {
    MethodTable m = {
      {"upper", {G(s_upper), 0, 0}},         {"lower", {G(s_lower), 0, 0}},
      {"starts_with", {G(s_starts_with), 1, 1}}, {"ends_with", {G(s_ends_with), 1, 1}},
      {"contains", {G(s_contains), 1, 1}},   {"find", {G(s_find), 1, 1}},
      {"replace", {G(s_replace), 2, 2}},     {"slice", {G(s_slice), 1, 2}},
      {"chars", {G(s_chars), 0, 0}},         {"bytes", {G(s_bytes), 0, 0}},
      {"len", {G(s_len), 0, 0}},
    };
    add_str_methods(m);
    return m;
  }();
  return table;
}

void register_builtins(Interp& in) {
  auto add = [&](const char* name, NativeFn fn, int mn, int mx) { in.add_builtin(name, in.native(name, fn, mn, mx)); };
  add("print", G(b_print), 0, -1);
  add("repr", G(b_repr), 1, 1);
  add("str", G(b_str), 1, 1);
  add("int", G(b_int), 1, 1);
  add("float", G(b_float), 1, 1);
  add("bool", G(b_bool), 1, 1);
  add("type", G(b_type), 1, 1);
  add("len", G(b_len), 1, 1);
  add("list", G(b_list), 0, 1);
  add("range", G(b_range), 1, 3);
  add("min", G(b_min), 1, -1);
  add("max", G(b_max), 1, -1);
  add("abs", G(b_abs), 1, 1);
  add("format", G(b_format), 1, -1);
  add("error", G(b_error), 1, 2);
  add("assert", G(b_assert), 1, 2);
  add("assert_eq", G(b_assert_eq), 2, 3);
  add("assert_raises", G(b_assert_raises), 2, 2);
  add("import", G(b_import), 1, 1);
  register_collection_builtins(in);
  register_assertions(in);
}

#undef G

}  // namespace weft
