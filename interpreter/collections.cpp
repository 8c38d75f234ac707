// The 0.2 additions to the built-in types' methods (SPEC §4 "Methods") and
// the built-ins that work on collections and characters (SPEC §6): sort with
// a key, map/filter/reduce/any/all, str.split with a limit, sum, zip,
// enumerate, round, chr, ord, hex.
//
// Callbacks run script code, and the collector may run inside them, so
// everything a native keeps across a call_value lives in a list that is
// pushed on the thread's value stack (StackRoot) for the duration.
#include "collections.hpp"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <numeric>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "builtins.hpp"
#include "runtime/natives.hpp"

namespace weft {

namespace {


inline Value obj(Obj* o) { return Value::object(o); }
inline bool is_str(Value v) { return is_obj_type(v, ObjType::String); }

// Keeps `v` on the thread's value stack (a root of the collector) for the
// scope, so a callback that triggers a collection cannot free it.
struct StackRoot {
  Thread& t;
  Value* at;
  StackRoot(Thread& th, Value v) : t(th), at(th.sp) {
    if (t.sp + 1 >= t.stack_limit) raise("RecursionError", "value stack exhausted");
    *t.sp++ = v;
  }
  ~StackRoot() { t.sp = at; }
  StackRoot(const StackRoot&) = delete;
  StackRoot& operator=(const StackRoot&) = delete;
};

// A new list with room for `n` items, its capacity accounted to the heap.
ObjList* make_list(Thread& t, std::size_t n) {
  ObjList* l = new_list(t);
  if (n) {
    t.interp.heap.account(n * sizeof(Value));
    l->items.reserve(n);
  }
  return l;
}

void push(Thread& t, ObjList* l, Value v) {
  if (l->items.size() == l->items.capacity()) t.interp.heap.account((l->items.capacity() + 1) * sizeof(Value));
  l->items.push_back(v);
}

void check_callable(Value f, const char* fn) {
  if (!is_obj_type(f, ObjType::Closure) && !is_obj_type(f, ObjType::Native))
    raisef("TypeError", "{}() argument must be a fn, not {}", fn, type_name(f));
}

Value call1(Thread& t, Value f, Value x) { return call_value(t, f, &x, 1); }

inline bool is_nan(Value v) { return v.is_float() && std::isnan(v.as.d); }

// Sort order: `<` (order_values); nan sorts after everything, which keeps
// the order strict and weak.
bool sort_less(Value a, Value b) {
  bool na = is_nan(a), nb = is_nan(b);
  if (na || nb) return !na && nb;
  return order_values(a, b, "<") == -1;
}

// Items of different kinds (number, str, list) never compare: say so before
// sorting, naming the two types, so the list is left as it was.
void check_sortable(const ValueVec& v, bool keys) {
  if (v.empty()) return;
  auto kind = [](Value x) {
    if (x.is_number()) return 1;
    if (is_str(x)) return 2;
    if (is_obj_type(x, ObjType::List)) return 3;
    return 0;
  };
  const char* what = keys ? "sort keys" : "a list";
  int k0 = kind(v[0]);
  if (k0 == 0) raisef("TypeError", "cannot sort {} of {} (only numbers, strings or lists)", what, type_name(v[0]));
  for (Value x : v)
    if (kind(x) != k0) raisef("TypeError", "cannot sort {} of {} and {}", what, type_name(v[0]), type_name(x));
}

// Sorts `l` in place, stably, by `key(item)` (computed once per item) or by
// the items. An error (unorderable items, a throwing key) leaves the list
// as it was.
void sort_list(Thread& t, ObjList* l, Value key) {
  std::size_t n = l->items.size();
  if (n < 2 && key.is_nil()) return;
  if (key.is_nil()) {
    ValueVec tmp = l->items;
    check_sortable(tmp, false);
    std::stable_sort(tmp.begin(), tmp.end(), sort_less);
    l->items = std::move(tmp);
    return;
  }
  check_callable(key, "sort");
  // Snapshot of the items and their keys, both rooted while `key` runs.
  ObjList* work = make_list(t, n);
  StackRoot rw(t, obj(work));
  work->items = l->items;
  ObjList* keys = make_list(t, n);
  StackRoot rk(t, obj(keys));
  for (std::size_t i = 0; i < n; ++i) push(t, keys, call1(t, key, work->items[i]));
  check_sortable(keys->items, true);
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](std::size_t x, std::size_t y) { return sort_less(keys->items[x], keys->items[y]); });
  ValueVec out;
  out.reserve(n);
  for (std::size_t i : idx) out.push_back(work->items[i]);
  l->items = std::move(out);
}

// ============================================================ list methods

ObjList* self_list(Args a) { return as<ObjList>(a.self); }

Value l_sort(Thread& t, Args a) {
  sort_list(t, self_list(a), a.n > 0 ? a.v[0] : Value());
  return Value();
}

Value l_count(Thread& t, Args a) {
  (void)t;
  std::int64_t n = 0;
  for (Value v : self_list(a)->items)
    if (values_equal(v, a.v[0])) ++n;
  return Value::integer(n);
}

Value l_extend(Thread& t, Args a) {
  ObjList* l = self_list(a);
  ObjList* other = arg_list(a, 0, "list.extend");
  ValueVec add = other->items;  // a copy: l.extend(l) doubles l
  t.interp.heap.account(add.size() * sizeof(Value));
  l->items.insert(l->items.end(), add.begin(), add.end());
  return Value();
}

Value l_clear(Thread& t, Args a) {
  (void)t;
  self_list(a)->items.clear();
  return Value();
}

// The list is read by index at every step, so a callback that changes it
// sees (and changes) what the loop does next, as in a `for` loop.
Value l_map(Thread& t, Args a) {
  ObjList* l = self_list(a);
  check_callable(a.v[0], "list.map");
  ObjList* out = make_list(t, l->items.size());
  StackRoot r(t, obj(out));
  for (std::size_t i = 0; i < l->items.size(); ++i) {
    Value v = call1(t, a.v[0], l->items[i]);
    push(t, out, v);
  }
  return obj(out);
}

Value l_filter(Thread& t, Args a) {
  ObjList* l = self_list(a);
  check_callable(a.v[0], "list.filter");
  ObjList* out = make_list(t, 0);
  StackRoot r(t, obj(out));
  for (std::size_t i = 0; i < l->items.size(); ++i) {
    Value item = l->items[i];
    if (call1(t, a.v[0], item).truthy()) push(t, out, item);
  }
  return obj(out);
}

Value l_reduce(Thread& t, Args a) {
  ObjList* l = self_list(a);
  check_callable(a.v[0], "list.reduce");
  std::size_t i = 0;
  // The accumulator lives in a rooted one-item list.
  ObjList* acc = make_list(t, 1);
  StackRoot r(t, obj(acc));
  if (a.n > 1) {
    acc->items.push_back(a.v[1]);
  } else {
    if (l->items.empty()) raise("TypeError", "reduce() of an empty list with no initial value");
    acc->items.push_back(l->items[0]);
    i = 1;
  }
  for (; i < l->items.size(); ++i) {
    Value args[2] = {acc->items[0], l->items[i]};
    acc->items[0] = call_value(t, a.v[0], args, 2);
  }
  return acc->items[0];
}

Value any_all(Thread& t, Args a, bool want_any, const char* fn) {
  ObjList* l = self_list(a);
  bool has_f = a.n > 0 && !a.v[0].is_nil();
  if (has_f) check_callable(a.v[0], fn);
  for (std::size_t i = 0; i < l->items.size(); ++i) {
    Value item = l->items[i];
    bool b = has_f ? call1(t, a.v[0], item).truthy() : item.truthy();
    if (b == want_any) return Value::boolean(want_any);
  }
  return Value::boolean(!want_any);
}
Value l_any(Thread& t, Args a) { return any_all(t, a, true, "list.any"); }
Value l_all(Thread& t, Args a) { return any_all(t, a, false, "list.all"); }

// ============================================================= map methods

Value m_clear(Thread& t, Args a) {
  (void)t;
  // ObjMap::clear bumps the map's version, so a loop iterating it stops
  // with "map changed size during iteration".
  as<ObjMap>(a.self)->clear();
  return Value();
}

Value m_update(Thread& t, Args a) {
  ObjMap* m = as<ObjMap>(a.self);
  ObjMap* other = arg_map(a, 0, "map.update");
  if (other == m) return Value();
  t.interp.heap.account(other->count * (sizeof(MapEntry) + 8));
  for (std::size_t i = 0; i < other->entries.size(); ++i) {
    MapEntry e = other->entries[i];
    if (!e.key.is_undef()) m->set(e.key, e.value);
  }
  return Value();
}

// ============================================================= str methods

ObjString* self_str(Args a) { return as<ObjString>(a.self); }

inline bool ws(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

Value s_split(Thread& t, Args a) {
  ObjString* s = self_str(a);
  std::string_view v = s->view();
  std::int64_t max = -1;
  if (a.n > 1 && !a.v[1].is_nil()) max = arg_int(a, 1, "str.split");
  ObjList* out = make_list(t, 0);
  Heap& heap = t.interp.heap;
  auto piece = [&](std::string_view p) { push(t, out, obj(heap.new_string(p, s->ascii))); };
  std::int64_t splits = 0;
  if (a.n == 0 || a.v[0].is_nil()) {
    // Runs of whitespace separate; leading and trailing whitespace is
    // dropped, and after `max` splits the rest is one piece (Python).
    std::size_t i = 0;
    while (true) {
      while (i < v.size() && ws(static_cast<unsigned char>(v[i]))) ++i;
      if (i >= v.size()) break;
      if (max >= 0 && splits >= max) {
        std::size_t e = v.size();
        while (e > i && ws(static_cast<unsigned char>(v[e - 1]))) --e;
        piece(v.substr(i, e - i));
        break;
      }
      std::size_t j = i;
      while (j < v.size() && !ws(static_cast<unsigned char>(v[j]))) ++j;
      piece(v.substr(i, j - i));
      ++splits;
      i = j;
    }
  } else {
    std::string_view sep = arg_str(a, 0, "str.split");
    if (sep.empty()) raise("ValueError", "str.split() separator must not be empty");
    std::size_t i = 0;
    while (true) {
      std::size_t j = (max >= 0 && splits >= max) ? std::string_view::npos : find_bytes(v, sep, i);
      if (j == std::string_view::npos) {
        piece(v.substr(i));
        break;
      }
      piece(v.substr(i, j - i));
      ++splits;
      i = j + sep.size();
    }
  }
  return obj(out);
}

Value strip_impl(Thread& t, Args a, bool left, bool right) {
  ObjString* s = self_str(a);
  std::string_view v = s->view();
  std::size_t b = 0, e = v.size();
  if (left)
    while (b < e && ws(static_cast<unsigned char>(v[b]))) ++b;
  if (right)
    while (e > b && ws(static_cast<unsigned char>(v[e - 1]))) --e;
  if (b == 0 && e == v.size()) return a.self;
  return str_value(t, v.substr(b, e - b));
}
Value s_strip(Thread& t, Args a) { return strip_impl(t, a, true, true); }
Value s_lstrip(Thread& t, Args a) { return strip_impl(t, a, true, false); }
Value s_rstrip(Thread& t, Args a) { return strip_impl(t, a, false, true); }

Value s_count(Thread& t, Args a) {
  (void)t;
  ObjString* s = self_str(a);
  std::string_view needle = arg_str(a, 0, "str.count");
  // Like Python: the empty string occurs between every two characters.
  if (needle.empty()) return Value::integer((s->ascii ? s->length : s->cp_count) + 1);
  std::int64_t n = 0;
  std::size_t i = 0;
  std::string_view v = s->view();
  while ((i = find_bytes(v, needle, i)) != std::string_view::npos) {
    ++n;
    i += needle.size();
  }
  return Value::integer(n);
}

Value s_join(Thread& t, Args a) {
  std::string_view sep = self_str(a)->view();
  ObjList* l = arg_list(a, 0, "str.join");
  std::string out;
  for (std::size_t i = 0; i < l->items.size(); ++i) {
    Value v = l->items[i];
    if (!is_str(v)) raisef("TypeError", "str.join() item {} must be a str, not {}", i, type_name(v));
    if (i) out.append(sep);
    out.append(as<ObjString>(v)->view());
  }
  return str_value(t, out);
}

// ASCII classes (documented): non-ASCII characters are none of them.
template <bool (*Pred)(unsigned char)>
Value s_is(Thread& t, Args a) {
  (void)t;
  std::string_view v = self_str(a)->view();
  if (v.empty()) return Value::boolean(false);
  for (char c : v)
    if (!Pred(static_cast<unsigned char>(c))) return Value::boolean(false);
  return Value::boolean(true);
}
bool p_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool p_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool p_space(unsigned char c) { return ws(c); }

// ================================================================ builtins

// All items of a list or range (sum, zip, enumerate accept both).
ValueVec items_of(Thread& t, Value v, const char* fn) {
  if (is_obj_type(v, ObjType::List)) return as<ObjList>(v)->items;
  if (is_obj_type(v, ObjType::Range) || is_obj_type(v, ObjType::Map) || is_str(v)) return iterable_items(t, v, fn);
  raisef("TypeError", "{}() argument must be a list, not {}", fn, type_name(v));
}

Value b_sorted(Thread& t, Args a) {
  ObjList* out = new_list(t);
  StackRoot r(t, obj(out));
  out->items = iterable_items(t, a.v[0], "sorted");
  sort_list(t, out, a.n > 1 ? a.v[1] : Value());
  return obj(out);
}

Value b_sum(Thread& t, Args a) {
  ValueVec items = items_of(t, a.v[0], "sum");
  std::int64_t isum = 0;
  std::size_t i = 0;
  for (; i < items.size() && items[i].is_int(); ++i)
    if (__builtin_add_overflow(isum, items[i].as.i, &isum)) raise("OverflowError", "integer overflow in sum()");
  if (i == items.size()) return Value::integer(isum);
  // From the first float on: Neumaier's compensated sum, as Python 3.12
  // does (sum([0.1] * 10) == 1.0).
  double s = static_cast<double>(isum), c = 0;
  for (; i < items.size(); ++i) {
    Value v = items[i];
    if (!v.is_number()) raisef("TypeError", "sum() item {} must be a number, not {}", i, type_name(v));
    double x = v.to_double();
    double tt = s + x;
    if (std::isfinite(tt)) c += std::fabs(s) >= std::fabs(x) ? (s - tt) + x : (x - tt) + s;
    s = tt;
  }
  return Value::number(std::isfinite(s) ? s + c : s);
}

Value b_zip(Thread& t, Args a) {
  std::vector<ValueVec> cols;
  std::size_t n = std::numeric_limits<std::size_t>::max();
  for (int i = 0; i < a.n; ++i) {
    cols.push_back(items_of(t, a.v[i], "zip"));
    n = std::min(n, cols.back().size());
  }
  if (cols.empty()) n = 0;
  ObjList* out = make_list(t, n);
  for (std::size_t k = 0; k < n; ++k) {
    ObjList* row = make_list(t, cols.size());
    for (auto& c : cols) row->items.push_back(c[k]);
    out->items.push_back(obj(row));
  }
  return obj(out);
}

Value b_enumerate(Thread& t, Args a) {
  ValueVec items = items_of(t, a.v[0], "enumerate");
  std::int64_t start = 0;
  if (a.n > 1 && !a.v[1].is_nil()) start = arg_int(a, 1, "enumerate");
  ObjList* out = make_list(t, items.size());
  for (std::size_t k = 0; k < items.size(); ++k) {
    ObjList* row = make_list(t, 2);
    row->items.push_back(Value::integer(start + static_cast<std::int64_t>(k)));
    row->items.push_back(items[k]);
    out->items.push_back(obj(row));
  }
  return obj(out);
}

// A float rounded half to even to an int (round(x) without digits).
Value float_to_int_rounded(double d) {
  if (std::isnan(d)) raise("ValueError", "cannot convert float nan to integer");
  if (std::isinf(d)) raise("OverflowError", "cannot convert float infinity to integer");
  double r = std::nearbyint(d);  // the default rounding mode: half to even
  if (r < -9223372036854775808.0 || r >= 9223372036854775808.0)
    raise("OverflowError", "round() result does not fit in an int");
  return Value::integer(static_cast<std::int64_t>(r));
}

std::int64_t pow10i(std::int64_t k) {
  std::int64_t p = 1;
  for (std::int64_t i = 0; i < k; ++i) p *= 10;
  return p;
}

Value b_round(Thread& t, Args a) {
  (void)t;
  Value x = a.v[0];
  if (!x.is_number()) raisef("TypeError", "round() argument 1 must be a number, not {}", type_name(x));
  bool has_digits = a.n > 1 && !a.v[1].is_nil();
  if (!has_digits) return x.is_int() ? x : float_to_int_rounded(x.as.d);
  std::int64_t nd = arg_int(a, 1, "round");
  if (x.is_int()) {
    if (nd >= 0) return x;
    if (nd < -18) return Value::integer(0);
    // Half to even at 10^-nd, in integers (exact, unlike a float detour).
    std::int64_t p = pow10i(-nd), v = x.as.i;
    std::int64_t q = v / p, r = v % p;
    if (r < 0) {
      q -= 1;
      r += p;
    }
    if (2 * r > p || (2 * r == p && (q % 2 != 0))) q += 1;
    std::int64_t res;
    if (__builtin_mul_overflow(q, p, &res)) raise("OverflowError", "integer overflow in round()");
    return Value::integer(res);
  }
  double d = x.as.d;
  if (!std::isfinite(d)) return x;
  if (nd > 308) return x;
  if (nd >= 0) {
    // The correctly rounded decimal text (half to even on the exact binary
    // value), read back: what Python's round does.
    std::string s = fmt::format("{:.{}f}", d, static_cast<int>(nd));
    double r = std::strtod(s.c_str(), nullptr);
    return Value::number(r);
  }
  if (nd < -308) return Value::number(std::copysign(0.0, d));
  double p = std::pow(10.0, static_cast<double>(-nd));
  double r = std::nearbyint(d / p) * p;
  if (!std::isfinite(r)) raise("OverflowError", "rounded value too large");
  return Value::number(r);
}

Value b_chr(Thread& t, Args a) {
  std::int64_t c = arg_int(a, 0, "chr");
  if (c < 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    raisef("ValueError", "chr() argument {} is not a valid code point (0 to 0x10ffff, no surrogates)", c);
  char buf[4];
  std::size_t n;
  auto u = static_cast<std::uint32_t>(c);
  if (u < 0x80) {
    buf[0] = static_cast<char>(u);
    n = 1;
  } else if (u < 0x800) {
    buf[0] = static_cast<char>(0xC0 | (u >> 6));
    buf[1] = static_cast<char>(0x80 | (u & 0x3F));
    n = 2;
  } else if (u < 0x10000) {
    buf[0] = static_cast<char>(0xE0 | (u >> 12));
    buf[1] = static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    buf[2] = static_cast<char>(0x80 | (u & 0x3F));
    n = 3;
  } else {
    buf[0] = static_cast<char>(0xF0 | (u >> 18));
    buf[1] = static_cast<char>(0x80 | ((u >> 12) & 0x3F));
    buf[2] = static_cast<char>(0x80 | ((u >> 6) & 0x3F));
    buf[3] = static_cast<char>(0x80 | (u & 0x3F));
    n = 4;
  }
  return str_value(t, std::string_view(buf, n));
}

Value b_ord(Thread& t, Args a) {
  (void)t;
  ObjString* s = arg_string(a, 0, "ord");
  std::int64_t len = s->ascii ? s->length : s->cp_count;
  if (len != 1) raisef("TypeError", "ord() expected a single character, but got a str of length {}", len);
  auto b = reinterpret_cast<const unsigned char*>(s->data);
  std::size_t n = utf8_char_len(s, 0);
  // An invalid byte counts as one character: its byte value.
  if (n == 1) return Value::integer(b[0]);
  std::uint32_t cp = b[0] & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (std::size_t i = 1; i < n; ++i) cp = (cp << 6) | (b[i] & 0x3F);
  return Value::integer(cp);
}

Value b_hex(Thread& t, Args a) {
  std::int64_t i = arg_int(a, 0, "hex");
  std::uint64_t mag = i < 0 ? 0 - static_cast<std::uint64_t>(i) : static_cast<std::uint64_t>(i);
  return str_value(t, fmt::format("{}0x{:x}", i < 0 ? "-" : "", mag));
}

}  // namespace

#define G(f) &guarded<f>

void add_list_methods(MethodTable& m) {
  m["sort"] = {G(l_sort), 0, 1};
  m["count"] = {G(l_count), 1, 1};
  m["extend"] = {G(l_extend), 1, 1};
  m["clear"] = {G(l_clear), 0, 0};
  m["map"] = {G(l_map), 1, 1};
  m["filter"] = {G(l_filter), 1, 1};
  m["reduce"] = {G(l_reduce), 1, 2};
  m["any"] = {G(l_any), 0, 1};
  m["all"] = {G(l_all), 0, 1};
}

void add_map_methods(MethodTable& m) {
  m["clear"] = {G(m_clear), 0, 0};
  m["update"] = {G(m_update), 1, 1};
}

void add_str_methods(MethodTable& m) {
  m["split"] = {G(s_split), 0, 2};
  m["strip"] = {G(s_strip), 0, 0};
  m["trim"] = {G(s_strip), 0, 0};
  m["lstrip"] = {G(s_lstrip), 0, 0};
  m["rstrip"] = {G(s_rstrip), 0, 0};
  m["count"] = {G(s_count), 1, 1};
  m["join"] = {G(s_join), 1, 1};
  m["is_digit"] = {G(s_is<p_digit>), 0, 0};
  m["is_alpha"] = {G(s_is<p_alpha>), 0, 0};
  m["is_space"] = {G(s_is<p_space>), 0, 0};
}

void register_collection_builtins(Interp& in) {
  auto add = [&](const char* name, NativeFn fn, int mn, int mx) { in.add_builtin(name, in.native(name, fn, mn, mx)); };
  add("sorted", G(b_sorted), 1, 2);
  add("sum", G(b_sum), 1, 1);
  add("zip", G(b_zip), 0, -1);
  add("enumerate", G(b_enumerate), 1, 2);
  add("round", G(b_round), 1, 2);
  add("chr", G(b_chr), 1, 1);
  add("ord", G(b_ord), 1, 1);
  add("hex", G(b_hex), 1, 1);
}

#undef G

}  // namespace weft
