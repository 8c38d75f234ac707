// The VM dispatch loop.
//
// Style (from clox, Lua and Wren): instructions are dispatched with computed
// goto behind DISPATCH()/CASE() (a switch on other compilers); the
// instruction pointer, stack pointer and base live in locals, and are saved
// to the frame (SAVE(), Lua's Protect) before anything that can throw,
// allocate a lot, call out or release the GIL. Errors are C++ exceptions:
// natives throw NativeError (plain strings), script `throw` throws
// ScriptThrow with the value in Thread::pending; run() catches both, finds
// the innermost `try` handler of this activation, and resumes there.
//
// The eval breaker (Thread::gil.breaker) is tested with one relaxed load on
// every backward jump and every call; when any bit is set, safe_point()
// yields the GIL, collects garbage, or raises KeyboardInterrupt/TimeoutError.
#include "vm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>

#include "builtins.hpp"
#include "vm_ops.hpp"
#include "opcodes.hpp"
#include "runtime/natives.hpp"
#include "runtime/suggest.hpp"
#include "stdlib/sys_exit.hpp"

#if defined(__GNUC__)
#define WEFT_LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define WEFT_LIKELY(x) (x)
#define WEFT_UNLIKELY(x) (x)
#endif

namespace weft {

// ------------------------------------------------------------- positions

static std::string module_name(const ObjProto* p) { return p->module ? p->module->display : "?"; }

SourcePos current_position(Thread& t) {
  if (t.frames.empty()) return {};
  const Frame& f = t.frames.back();
  const ObjProto* p = f.closure->proto;
  auto off = static_cast<std::uint32_t>(f.ip - p->code.data());
  LineInfo li = p->position(off ? off - 1 : 0);
  return {module_name(p), li.line, li.col};
}

static void record_trace(Thread& t, std::vector<std::string>& out, SourcePos& pos) {
  for (const Frame& f : t.frames) {
    const ObjProto* p = f.closure->proto;
    auto off = static_cast<std::uint32_t>(f.ip - p->code.data());
    LineInfo li = p->position(off ? off - 1 : 0);
    out.push_back(fmt::format("{}:{} in {}", module_name(p), li.line, p->name));
  }
  pos = current_position(t);
}

void attach_trace(Thread& t, Value v) {
  t.last_throw.trace.clear();
  SourcePos pos;
  record_trace(t, t.last_throw.trace, pos);
  t.last_throw.file = pos.file;
  t.last_throw.line = pos.line;
  t.last_throw.col = pos.col;
  if (!is_obj_type(v, ObjType::Error)) return;
  auto* e = as<ObjError>(v);
  if (e->trace) return;  // rethrown: keep where it started
  ObjList* l = new_list(t);
  for (const auto& s : t.last_throw.trace) l->items.push_back(str_value(t, s));
  e->trace = l;
  e->file = pos.file;
  e->line = pos.line;
  e->col = pos.col;
}

Value make_thrown_error(Thread& t, const std::string& type, const std::string& message) {
  // Making the error value allocates; at the heap limit (the usual cause of
  // a MemoryError) that must still work, and if even malloc fails we fall
  // back to the MemoryError value made when the interpreter started.
  Heap& heap = t.interp.heap;
  bool was = heap.limit_suspended_;
  heap.limit_suspended_ = true;
  Value v;
  try {
    v = Value::object(new_error(t, type, message));
    attach_trace(t, v);
  } catch (...) {
    v = t.interp.oom_error;
  }
  heap.limit_suspended_ = was;
  t.pending = v;
  return v;
}

// -------------------------------------------------------------- upvalues

static ObjUpvalue* capture_upvalue(Thread& t, Value* slot) {
  ObjUpvalue* prev = nullptr;
  ObjUpvalue* u = t.open_upvalues;
  while (u && u->location > slot) {
    prev = u;
    u = u->next_open;
  }
  if (u && u->location == slot) return u;
  ObjUpvalue* created = t.interp.heap.make<ObjUpvalue>(slot);
  created->next_open = u;
  if (prev)
    prev->next_open = created;
  else
    t.open_upvalues = created;
  return created;
}

static inline void close_upvalues(Thread& t, Value* last) {
  while (t.open_upvalues && t.open_upvalues->location >= last) {
    ObjUpvalue* u = t.open_upvalues;
    u->closed = *u->location;
    u->location = &u->closed;
    t.open_upvalues = u->next_open;
  }
}

// ------------------------------------------------------------ safe point

void safe_point(Thread& t) {
  std::uint32_t bits = t.gil.breaker.load(std::memory_order_acquire);
  if (bits & kBreakGc) {
    t.gil.breaker.fetch_and(~static_cast<std::uint32_t>(kBreakGc), std::memory_order_relaxed);
    t.interp.heap.collect();
  }
  if (bits & kBreakDropRequest) t.interp.gil.yield(t.gil);
  if (bits & (kBreakInterrupt | kBreakTimeout)) t.check_interrupts();
}

// ------------------------------------------------------------ operations

[[noreturn]] static void binop_error(const char* op, Value a, Value b) {
  raisef("TypeError", "unsupported operand types for {}: '{}' and '{}'", op, type_name(a), type_name(b));
}

static Value repeat(Thread& t, Value seq, std::int64_t n) {
  if (n < 0) n = 0;
  if (is_obj_type(seq, ObjType::String)) {
    auto* s = as<ObjString>(seq);
    if (s->length && static_cast<std::uint64_t>(n) > (1ull << 31) / s->length)
      raise("MemoryError", "string too large");
    t.interp.heap.account(s->length * static_cast<std::size_t>(n));
    std::string out;
    out.reserve(s->length * static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) out.append(s->view());
    return str_value(t, out);
  }
  auto* l = as<ObjList>(seq);
  if (!l->items.empty() && static_cast<std::uint64_t>(n) > (1ull << 32) / l->items.size())
    raise("MemoryError", "list too large");
  t.interp.heap.account(l->items.size() * static_cast<std::size_t>(n) * sizeof(Value));
  ObjList* out = new_list(t);
  out->items.reserve(l->items.size() * static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out->items.insert(out->items.end(), l->items.begin(), l->items.end());
  return Value::object(out);
}

static Value arith_slow(Thread& t, Op op, Value a, Value b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) {
      std::int64_t x = a.as.i, y = b.as.i, r;
      switch (op) {
        case Op::ADD:
          if (__builtin_add_overflow(x, y, &r)) raise("OverflowError", "integer overflow in +");
          return Value::integer(r);
        case Op::SUB:
          if (__builtin_sub_overflow(x, y, &r)) raise("OverflowError", "integer overflow in -");
          return Value::integer(r);
        case Op::MUL:
          if (__builtin_mul_overflow(x, y, &r)) raise("OverflowError", "integer overflow in *");
          return Value::integer(r);
        case Op::DIV:
          if (y == 0) raise("ZeroDivisionError", "division by zero");
          return Value::number(static_cast<double>(x) / static_cast<double>(y));
        case Op::FLOORDIV: {
          if (y == 0) raise("ZeroDivisionError", "integer division by zero");
          if (x == INT64_MIN && y == -1) raise("OverflowError", "integer overflow in //");
          std::int64_t q = x / y;
          if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
          return Value::integer(q);
        }
        case Op::MOD: {
          if (y == 0) raise("ZeroDivisionError", "integer modulo by zero");
          if (y == -1) return Value::integer(0);
          std::int64_t m = x % y;
          if (m != 0 && ((m < 0) != (y < 0))) m += y;
          return Value::integer(m);
        }
        default:
          break;
      }
    }
    double x = a.to_double(), y = b.to_double();
    switch (op) {
      case Op::ADD: return Value::number(x + y);
      case Op::SUB: return Value::number(x - y);
      case Op::MUL: return Value::number(x * y);
      case Op::DIV:
        if (y == 0) raise("ZeroDivisionError", "float division by zero");
        return Value::number(x / y);
      case Op::FLOORDIV:
        if (y == 0) raise("ZeroDivisionError", "float floor division by zero");
        return Value::number(std::floor(x / y));
      case Op::MOD: {
        if (y == 0) raise("ZeroDivisionError", "float modulo by zero");
        double m = std::fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Value::number(m);
      }
      default:
        break;
    }
  }
  const char* sym = op == Op::ADD ? "+" : op == Op::SUB ? "-" : op == Op::MUL ? "*" : op == Op::DIV ? "/"
                  : op == Op::FLOORDIV ? "//" : "%";
  if (op == Op::ADD && a.is_obj() && b.is_obj() && a.as.o->type == b.as.o->type) {
    if (a.as.o->type == ObjType::String) {
      return Value::object(t.interp.heap.concat_strings(as<ObjString>(a), as<ObjString>(b)));
    }
    if (a.as.o->type == ObjType::List) {
      ObjList* out = new_list(t);
      auto& x = as<ObjList>(a)->items;
      auto& y = as<ObjList>(b)->items;
      t.interp.heap.account((x.size() + y.size()) * sizeof(Value));
      out->items.reserve(x.size() + y.size());
      out->items.insert(out->items.end(), x.begin(), x.end());
      out->items.insert(out->items.end(), y.begin(), y.end());
      return Value::object(out);
    }
  }
  if (op == Op::MUL) {
    bool seq_a = is_obj_type(a, ObjType::String) || is_obj_type(a, ObjType::List);
    bool seq_b = is_obj_type(b, ObjType::String) || is_obj_type(b, ObjType::List);
    if (seq_a && b.is_int()) return repeat(t, a, b.as.i);
    if (seq_b && a.is_int()) return repeat(t, b, a.as.i);
  }
  binop_error(sym, a, b);
}

// Returns <0, 0, >0; raises TypeError for unordered types.
static int compare_values(Value a, Value b, const char* op) {
  if (a.is_int() && b.is_int()) return a.as.i < b.as.i ? -1 : a.as.i > b.as.i ? 1 : 0;
  if (a.is_number() && b.is_number()) return compare_numbers(a, b);  // exact for int vs float
  if (is_obj_type(a, ObjType::String) && is_obj_type(b, ObjType::String)) {
    int c = as<ObjString>(a)->view().compare(as<ObjString>(b)->view());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  return order_values(a, b, op);
}

static bool contains(Value needle, Value hay) {
  if (!hay.is_obj()) raisef("TypeError", "'in' needs a list, map, str or range, not {}", type_name(hay));
  switch (hay.as.o->type) {
    case ObjType::List:
      for (Value v : as<ObjList>(hay)->items)
        if (values_equal(v, needle)) return true;
      return false;
    case ObjType::Map:
      if (!hashable(needle)) return false;
      return as<ObjMap>(hay)->find(needle) != nullptr;
    case ObjType::String:
      if (!is_obj_type(needle, ObjType::String))
        raisef("TypeError", "'in <str>' needs a str on the left, not {}", type_name(needle));
      return find_bytes(as<ObjString>(hay)->view(), as<ObjString>(needle)->view()) != std::string_view::npos;
    case ObjType::Range: {
      auto* r = as<ObjRange>(hay);
      if (!needle.is_int()) return false;
      std::int64_t x = needle.as.i;
      if (r->step > 0 ? (x < r->start || x >= r->stop) : (x > r->start || x <= r->stop)) return false;
      return ((static_cast<__int128>(x) - r->start) % r->step) == 0;  // 128-bit: no overflow
    }
    default:
      raisef("TypeError", "'in' needs a list, map, str or range, not {}", type_name(hay));
  }
}

static std::int64_t norm_index(std::int64_t i, std::int64_t len, const char* what) {
  std::int64_t j = i < 0 ? i + len : i;
  if (j < 0 || j >= len) raisef("IndexError", "{} index {} out of range (length {})", what, i, len);
  return j;
}

static void check_key(Value k) {
  if (!hashable(k)) raisef("TypeError", "unhashable type: '{}'", type_name(k));
}

static Value get_index(Thread& t, Value obj, Value idx) {
  if (obj.is_obj()) {
    switch (obj.as.o->type) {
      case ObjType::List: {
        auto& items = as<ObjList>(obj)->items;
        if (!idx.is_int()) raisef("TypeError", "list index must be an int, not {}", type_name(idx));
        return items[static_cast<std::size_t>(norm_index(idx.as.i, static_cast<std::int64_t>(items.size()), "list"))];
      }
      case ObjType::Map: {
        check_key(idx);
        Value* v = as<ObjMap>(obj)->find(idx);
        if (!v) raise("KeyError", to_repr(idx));
        return *v;
      }
      case ObjType::String: {
        auto* s = as<ObjString>(obj);
        if (!idx.is_int()) raisef("TypeError", "str index must be an int, not {}", type_name(idx));
        std::int64_t i = norm_index(idx.as.i, s->cp_count, "str");
        std::size_t off = utf8_offset(s, i);
        return str_value(t, s->view().substr(off, utf8_char_len(s, off)));
      }
      case ObjType::Range: {
        auto* r = as<ObjRange>(obj);
        if (!idx.is_int()) raisef("TypeError", "range index must be an int, not {}", type_name(idx));
        // 128-bit: a range may hold more than INT64_MAX items.
        __int128 a = r->start, b = r->stop, st = r->step, n = 0;
        if (st > 0 && a < b) n = (b - a + st - 1) / st;
        if (st < 0 && a > b) n = (a - b + (-st) - 1) / (-st);
        __int128 i = idx.as.i < 0 ? idx.as.i + n : idx.as.i;
        if (i < 0 || i >= n)
          raisef("IndexError", "range index {} out of range (length {})", idx.as.i,
                 n > INT64_MAX ? std::string("more than 2**63-1") : std::to_string(static_cast<std::int64_t>(n)));
        return Value::integer(static_cast<std::int64_t>(a + i * st));
      }
      default:
        break;
    }
  }
  raisef("TypeError", "cannot index a value of type {}", type_name(obj));
}

static void set_index(Thread& t, Value obj, Value idx, Value v) {
  (void)t;
  if (is_obj_type(obj, ObjType::List)) {
    auto& items = as<ObjList>(obj)->items;
    if (!idx.is_int()) raisef("TypeError", "list index must be an int, not {}", type_name(idx));
    items[static_cast<std::size_t>(norm_index(idx.as.i, static_cast<std::int64_t>(items.size()), "list"))] = v;
    return;
  }
  if (is_obj_type(obj, ObjType::Map)) {
    check_key(idx);
    as<ObjMap>(obj)->set(idx, v);
    return;
  }
  if (is_obj_type(obj, ObjType::String)) raise("TypeError", "strings are immutable");
  raisef("TypeError", "cannot assign by index to a value of type {}", type_name(obj));
}

// m.name on a map without that key: KeyError, with a hint when a string key
// is close to the name.
[[noreturn]] static void missing_key_error(ObjMap* m, ObjString* name) {
  std::vector<std::string_view> keys;
  for (const MapEntry& e : m->entries)
    if (is_obj_type(e.key, ObjType::String)) keys.push_back(as<ObjString>(e.key)->view());
  raise("KeyError", to_repr(Value::object(name)) + did_you_mean(name->view(), keys));
}

[[noreturn]] static void missing_member_error(ObjModule* m, ObjString* name) {
  // Declared but not assigned yet: the file is still running its top level,
  // which happens when two files import each other.
  auto it = m->slots.find(std::string(name->view()));
  if (it != m->slots.end() && m->is_member(static_cast<std::size_t>(it->second)))
    raisef("AttributeError", "module '{}' has no member '{}' yet (it is still being imported: a circular import?)",
           m->module_name(), name->view());
  raisef("AttributeError", "module '{}' has no member '{}'{}", m->module_name(), name->view(),
         did_you_mean(name->view(), m->member_names()));
}

static Value get_field(Thread& t, Value obj, ObjString* name) {
  if (obj.is_obj()) {
    switch (obj.as.o->type) {
      case ObjType::Map: {
        Value* v = as<ObjMap>(obj)->find(Value::object(name));
        if (!v) missing_key_error(as<ObjMap>(obj), name);
        return *v;
      }
      case ObjType::Module: {
        auto* m = as<ObjModule>(obj);
        int slot = m->member_slot(name->view());
        if (slot < 0) missing_member_error(m, name);
        return m->values[static_cast<std::size_t>(slot)];
      }
      case ObjType::Error: {
        auto* e = as<ObjError>(obj);
        std::string_view n = name->view();
        if (n == "type") return Value::object(e->type_name);
        if (n == "message") return Value::object(e->message);
        if (n == "trace") return e->trace ? Value::object(e->trace) : Value::object(new_list(t));
        if (e->fields) {
          if (Value* v = map_get(t, e->fields, n)) return *v;
        }
        raisef("TypeError", "error has no field '{}'{}", n, did_you_mean(n, {"type", "message", "trace"}));
      }
      case ObjType::Handle: {
        Value out;
        if (as<ObjHandle>(obj)->get_field(t, name->view(), out)) return out;
        break;
      }
      default:
        break;
    }
  }
  raisef("TypeError", "{} has no field '{}'", type_name(obj), name->view());
}

// m[name] for a field instruction at `site` (see Interp::field_cache), or
// null when the map has no such key.
static inline Value* cached_field(Interp& in, ObjMap* m, ObjString* name, const std::uint8_t* site) {
  std::uint32_t& guess = in.field_cache[(reinterpret_cast<std::uintptr_t>(site) >> 1) & (Interp::kFieldCacheSize - 1)];
  if (WEFT_LIKELY(guess < m->entries.size())) {
    MapEntry& e = m->entries[guess];
    if (e.key.tag == Tag::Obj && e.key.as.o == name) return &e.value;
  }
  std::int32_t p = m->position(Value::object(name));
  if (p < 0) return nullptr;
  guess = static_cast<std::uint32_t>(p);
  return &m->entries[static_cast<std::size_t>(p)].value;
}

// mod.name for a field instruction at `site`: the member's value, or null.
// It shares Interp::field_cache with maps; the guess is a slot index here,
// checked against the slot's (interned) name and member flag, so a guess
// left by a map or another module only costs the normal lookup.
static inline Value* cached_member(Interp& in, ObjModule* m, ObjString* name, const std::uint8_t* site) {
  std::uint32_t& guess = in.field_cache[(reinterpret_cast<std::uintptr_t>(site) >> 1) & (Interp::kFieldCacheSize - 1)];
  if (WEFT_LIKELY(guess < m->member.size() && m->member[guess] && m->names[guess] == name)) {
    Value* v = &m->values[guess];
    if (WEFT_LIKELY(!v->is_undef())) return v;
  }
  int slot = m->member_slot(name->view());
  if (slot < 0) return nullptr;
  guess = static_cast<std::uint32_t>(slot);
  return &m->values[static_cast<std::size_t>(slot)];
}

static void set_field(Thread& t, Value obj, ObjString* name, Value v) {
  if (is_obj_type(obj, ObjType::Map)) {
    as<ObjMap>(obj)->set(Value::object(name), v);
    return;
  }
  // Replacing a module member (a stub in a test) writes the module's global
  // slot, so the module's own functions see the new value too.
  if (is_obj_type(obj, ObjType::Module)) {
    if (!as<ObjModule>(obj)->set_member(t.interp.heap, name->view(), v))
      raisef("RuntimeError", "module '{}' has too many members", as<ObjModule>(obj)->module_name());
    return;
  }
  raisef("TypeError", "cannot set field '{}' on a value of type {}", name->view(), type_name(obj));
}

// The method tables of the built-in types, looked up once (the functions
// that return them test a guard variable on every call).
static const MethodTable* const g_list_methods = &list_methods();
static const MethodTable* const g_map_methods = &map_methods();
static const MethodTable* const g_str_methods = &str_methods();

// Misses are cached too (method null): a map used as an object looks for a
// map method first on every call (SPEC §4), and must not pay a hash lookup
// of the name each time to learn that there is none.
static const Method* find_method_slow(const MethodTable* table, ObjString* name, Interp::MethodCacheEntry& e) {
  auto it = table->find(name->view());
  const Method* m = it == table->end() ? nullptr : &it->second;
  e = Interp::MethodCacheEntry{name, table, m};
  return m;
}

// recv.name(...) found nothing: the error names the type and suggests a
// close method (or, on a map, a close method or key).
[[noreturn]] static void no_method_error(Value recv, ObjString* name) {
  const MethodTable* table = nullptr;
  if (recv.is_obj()) {
    switch (recv.as.o->type) {
      case ObjType::List: table = g_list_methods; break;
      case ObjType::Map: table = g_map_methods; break;
      case ObjType::String: table = g_str_methods; break;
      case ObjType::Handle: table = &as<ObjHandle>(recv)->methods(); break;
      default: break;
    }
  }
  // A map's string keys come first: a map called like an object (o.gret())
  // more likely misspells one of its own functions than a map method.
  std::vector<std::string_view> cands;
  if (is_obj_type(recv, ObjType::Map))
    for (const MapEntry& e : as<ObjMap>(recv)->entries)
      if (is_obj_type(e.key, ObjType::String)) cands.push_back(as<ObjString>(e.key)->view());
  if (table) {
    std::size_t first = cands.size();
    for (auto& [n, m] : *table) cands.push_back(n);
    // The table is unordered: sort so that ties between equally close names
    // always give the same hint.
    std::sort(cands.begin() + static_cast<std::ptrdiff_t>(first), cands.end());
  }
  if (is_obj_type(recv, ObjType::Map)) {
    raisef("TypeError", "map has no method or key '{}'{}", name->view(), did_you_mean(name->view(), cands));
  }
  raisef("TypeError", "{} has no method '{}'{}", type_name(recv), name->view(), did_you_mean(name->view(), cands));
}

// recv.name(...) for a built-in or handle type: the method, or null. The hit
// path is inline in INVOKE: a type switch and two pointer compares.
static inline const Method* find_method(Interp& in, Value recv, ObjString* name) {
  if (!recv.is_obj()) return nullptr;
  const MethodTable* table;
  switch (recv.as.o->type) {
    case ObjType::List: table = g_list_methods; break;
    case ObjType::Map: table = g_map_methods; break;
    case ObjType::String: table = g_str_methods; break;
    case ObjType::Handle: table = &as<ObjHandle>(recv)->methods(); break;
    default: return nullptr;
  }
  auto key = reinterpret_cast<std::uintptr_t>(name) ^ (reinterpret_cast<std::uintptr_t>(table) >> 3);
  Interp::MethodCacheEntry& e = in.method_cache[(key >> 4) & (Interp::kMethodCacheSize - 1)];
  if (WEFT_LIKELY(e.name == name && e.table == table)) return e.method;
  return find_method_slow(table, name, e);
}

// NameError for global slot `k`, with a hint among the module's defined
// globals and the builtins.
[[noreturn]] static void name_error(Thread& t, ObjModule* m, std::uint16_t k) {
  std::string_view name = m->names[k]->view();
  std::vector<std::string_view> cands;
  for (std::size_t i = 0; i < m->names.size(); ++i)
    if (i != k && !m->values[i].is_undef()) cands.push_back(m->names[i]->view());
  std::vector<std::string_view> builtin;
  for (auto& [n, v] : t.interp.builtins)
    if (!n.starts_with("__")) builtin.push_back(n);
  std::sort(builtin.begin(), builtin.end());
  cands.insert(cands.end(), builtin.begin(), builtin.end());
  raisef("NameError", "name '{}' is not defined{}", name, did_you_mean(name, cands));
}

[[noreturn]] static void arity_error(const char* name, int min, int max, int got) {
  if (min == max)
    raisef("TypeError", "{}() takes {} argument{} ({} given)", name, min, min == 1 ? "" : "s", got);
  if (max < 0) raisef("TypeError", "{}() takes at least {} argument{} ({} given)", name, min, min == 1 ? "" : "s", got);
  raisef("TypeError", "{}() takes {} to {} arguments ({} given)", name, min, max, got);
}

// ---------------------------------------------------------- iteration

static void iter_prep(Value* s) {
  Value it = s[0];
  if (is_obj_type(it, ObjType::Range)) {
    auto* r = as<ObjRange>(it);
    s[0] = Value::integer(r->stop);
    s[1] = Value::integer(r->start);
    s[2] = Value::integer(r->step);
    return;
  }
  if (is_obj_type(it, ObjType::List) || is_obj_type(it, ObjType::String)) {
    s[1] = Value::integer(0);
    s[2] = Value::integer(0);
    return;
  }
  if (is_obj_type(it, ObjType::Map)) {
    // The aux slot remembers the key version (see ObjMap::version).
    s[1] = Value::integer(0);
    s[2] = Value::integer(as<ObjMap>(it)->version);
    return;
  }
  if (is_obj_type(it, ObjType::Handle) && std::strcmp(as<ObjHandle>(it)->type_name(), "channel") == 0) {
    auto& methods = as<ObjHandle>(it)->methods();
    auto m = methods.find("recv");
    if (m != methods.end()) {
      s[1] = Value::integer(0);
      s[2] = Value::integer(0);
      return;
    }
  }
  raisef("TypeError", "cannot iterate over a value of type {}", type_name(it));
}

// ---------------------------------------------------------- the loop

template <bool kTracing>
static Value execute(Thread& t);

// Runs until the frame at depth `entry` (a reentry frame) returns. Catches
// errors and resumes at the innermost handler of this activation; errors
// with no handler here propagate to the native caller as ScriptThrow.
static Value run(Thread& t, std::size_t entry) {
  for (;;) {
    try {
      // Tracing gets its own instantiation of the loop, so the normal one
      // has no per-instruction test for it.
      return t.interp.debug.trace_execution ? execute<true>(t) : execute<false>(t);
    } catch (NativeError& e) {
      make_thrown_error(t, e.type, e.message);
    } catch (ScriptThrow&) {
      // t.pending holds the value; its trace was recorded at the throw.
    } catch (std::bad_alloc&) {
      make_thrown_error(t, "MemoryError", "out of memory");
    }
    // Find a handler belonging to this activation.
    if (!t.handlers.empty() && t.handlers.back().frame_depth > entry) {
      Handler h = t.handlers.back();
      t.handlers.pop_back();
      close_upvalues(t, h.sp);
      t.frames.resize(h.frame_depth);
      t.sp = h.sp;
      *t.sp++ = t.pending;
      t.pending = Value();
      t.frames.back().ip = h.catch_ip;
      continue;
    }
    // Unwind this activation entirely and let the caller see the error.
    Value* base = t.frames[entry].base;
    close_upvalues(t, base);
    while (!t.handlers.empty() && t.handlers.back().frame_depth > entry) t.handlers.pop_back();
    t.frames.resize(entry);
    t.sp = base;
    throw ScriptThrow{};
  }
}

template <bool kTracing>
static Value execute(Thread& t) {
  Frame* frame;
  const std::uint8_t* ip;
  Value* base;
  Value* sp = t.sp;
  const Value* consts;
  Value* globals;
  int argc;
  Value ret;

#define LOAD_FRAME()                                              \
  do {                                                            \
    frame = &t.frames.back();                                     \
    ip = frame->ip;                                               \
    base = frame->base;                                           \
    consts = frame->closure->proto->kptr;                         \
    globals = frame->closure->proto->gptr;                        \
  } while (0)
#define SAVE() (frame->ip = ip, t.sp = sp)
#define RELOAD_GLOBALS() ((void)0)
#define READ_U8() (*ip++)
#define READ_U16() (ip += 2, static_cast<std::uint16_t>(ip[-2] | (ip[-1] << 8)))
#define PUSH(v) (*sp++ = (v))
#define POP() (*--sp)
#define PEEK(n) (sp[-1 - (n)])
#ifdef WEFT_NO_GIL_INSTRUMENTATION
  // The measurement build (see CMakeLists.txt): the eval breaker is never
  // tested, so there is no switching, collection or Ctrl-C.
#define BREAKER_SET() false
#else
#define BREAKER_SET() t.gil.breaker.load(std::memory_order_relaxed)
#endif
#define CHECK_BREAKER()                                                         \
  do {                                                                          \
    if (WEFT_UNLIKELY(BREAKER_SET())) {                                         \
      SAVE();                                                                   \
      safe_point(t);                                                            \
      RELOAD_GLOBALS();                                                         \
    }                                                                           \
  } while (0)

  LOAD_FRAME();
  constexpr bool tracing = kTracing;

#if defined(__GNUC__) && !defined(WEFT_NO_COMPUTED_GOTO)
  static void* dispatch_table[] = {
#define WEFT_OP_LABEL(name, kind) &&L_##name,
      WEFT_OPCODES(WEFT_OP_LABEL)
#undef WEFT_OP_LABEL
  };
#define TRACE_EXEC()                                                           \
  if (WEFT_UNLIKELY(tracing)) {                                                \
    std::fprintf(stderr, "[%d] %04d %s\n", t.id(),                             \
                 static_cast<int>(ip - frame->closure->proto->code.data()),    \
                 kOpNames[*ip]);                                               \
  }
#define DISPATCH()                  \
  do {                              \
    TRACE_EXEC();                   \
    goto* dispatch_table[*ip++];    \
  } while (0)
#define CASE(name) L_##name:
  DISPATCH();
#else
#define DISPATCH() goto dispatch
#define CASE(name) case Op::name:
dispatch:
  if (WEFT_UNLIKELY(tracing))
    std::fprintf(stderr, "[%d] %04d %s\n", t.id(), static_cast<int>(ip - frame->closure->proto->code.data()),
                 kOpNames[*ip]);
  switch (static_cast<Op>(*ip++)) {
#endif

  CASE(CONST) {
    PUSH(consts[READ_U16()]);
    DISPATCH();
  }
  CASE(SMALL_INT) {
    PUSH(Value::integer(static_cast<std::int16_t>(READ_U16())));
    DISPATCH();
  }
  CASE(NIL) {
    PUSH(Value());
    DISPATCH();
  }
  CASE(TRUE) {
    PUSH(Value::boolean(true));
    DISPATCH();
  }
  CASE(FALSE) {
    PUSH(Value::boolean(false));
    DISPATCH();
  }
  CASE(POP) {
    --sp;
    DISPATCH();
  }
  CASE(POPN) {
    sp -= READ_U16();
    DISPATCH();
  }
  CASE(DUP) {
    Value v = PEEK(0);
    PUSH(v);
    DISPATCH();
  }
  CASE(DUP2) {
    Value a = PEEK(1), b = PEEK(0);
    PUSH(a);
    PUSH(b);
    DISPATCH();
  }
  CASE(GET_LOCAL) {
    PUSH(base[READ_U16()]);
    DISPATCH();
  }
  CASE(SET_LOCAL) {
    base[READ_U16()] = POP();
    DISPATCH();
  }
  CASE(GET_UPVAL) {
    PUSH(*frame->closure->upvalues[READ_U16()]->location);
    DISPATCH();
  }
  CASE(SET_UPVAL) {
    *frame->closure->upvalues[READ_U16()]->location = POP();
    DISPATCH();
  }
  CASE(GET_GLOBAL) {
    std::uint16_t k = READ_U16();
    Value v = globals[k];
    if (WEFT_UNLIKELY(v.is_undef())) {
      SAVE();
      name_error(t, frame->closure->proto->module, k);
    }
    PUSH(v);
    DISPATCH();
  }
  CASE(SET_GLOBAL) {
    globals[READ_U16()] = POP();
    DISPATCH();
  }
  CASE(GET_INDEX) {
    Value idx = PEEK(0), obj = PEEK(1);
    if (WEFT_LIKELY(is_obj_type(obj, ObjType::List) && idx.is_int())) {
      auto& items = as<ObjList>(obj)->items;
      std::uint64_t i = static_cast<std::uint64_t>(idx.as.i);
      if (WEFT_LIKELY(i < items.size())) {
        sp[-2] = items[i];
        --sp;
        DISPATCH();
      }
    }
    SAVE();
    Value r = get_index(t, obj, idx);
    sp[-2] = r;
    --sp;
    DISPATCH();
  }
  CASE(SET_INDEX) {
    Value v = PEEK(0), idx = PEEK(1), obj = PEEK(2);
    if (WEFT_LIKELY(is_obj_type(obj, ObjType::List) && idx.is_int())) {
      auto& items = as<ObjList>(obj)->items;
      std::uint64_t i = static_cast<std::uint64_t>(idx.as.i);
      if (WEFT_LIKELY(i < items.size())) {
        items[i] = v;
        sp -= 3;
        DISPATCH();
      }
    }
    SAVE();
    set_index(t, obj, idx, v);
    sp -= 3;
    DISPATCH();
  }
  CASE(GET_FIELD) {
    auto* name = as<ObjString>(consts[READ_U16()]);
    Value obj = PEEK(0);
    if (WEFT_LIKELY(is_obj_type(obj, ObjType::Map))) {
      if (Value* v = cached_field(t.interp, as<ObjMap>(obj), name, ip)) {
        sp[-1] = *v;
        DISPATCH();
      }
    } else if (is_obj_type(obj, ObjType::Module)) {
      if (Value* v = cached_member(t.interp, as<ObjModule>(obj), name, ip)) {
        sp[-1] = *v;
        DISPATCH();
      }
    }
    SAVE();
    sp[-1] = get_field(t, obj, name);
    DISPATCH();
  }
  CASE(SET_FIELD) {
    auto* name = as<ObjString>(consts[READ_U16()]);
    Value v = PEEK(0), obj = PEEK(1);
    if (WEFT_LIKELY(is_obj_type(obj, ObjType::Map))) {
      if (Value* slot = cached_field(t.interp, as<ObjMap>(obj), name, ip)) {
        *slot = v;
        sp -= 2;
        DISPATCH();
      }
    }
    SAVE();
    set_field(t, obj, name, v);
    sp -= 2;
    DISPATCH();
  }

#define ARITH(OPNAME, BUILTIN, FOP)                                      \
  CASE(OPNAME) {                                                         \
    Value b = PEEK(0), a = PEEK(1);                                      \
    if (WEFT_LIKELY(a.is_int() && b.is_int())) {                         \
      std::int64_t r;                                                    \
      if (WEFT_LIKELY(!BUILTIN(a.as.i, b.as.i, &r))) {                   \
        sp[-2].as.i = r;                                                 \
        --sp;                                                            \
        DISPATCH();                                                      \
      }                                                                  \
    } else if (a.is_float() && b.is_float()) {                           \
      sp[-2].as.d = a.as.d FOP b.as.d;                                   \
      --sp;                                                              \
      DISPATCH();                                                        \
    } else if (a.is_number() && b.is_number()) {                         \
      sp[-2] = Value::number(a.to_double() FOP b.to_double());           \
      --sp;                                                              \
      DISPATCH();                                                        \
    }                                                                    \
    SAVE();                                                              \
    sp[-2] = arith_slow(t, Op::OPNAME, a, b);                            \
    --sp;                                                                \
    DISPATCH();                                                          \
  }
  ARITH(ADD, __builtin_add_overflow, +)
  ARITH(SUB, __builtin_sub_overflow, -)
  ARITH(MUL, __builtin_mul_overflow, *)
#undef ARITH

  CASE(DIV) {
    Value b = PEEK(0), a = PEEK(1);
    if (WEFT_LIKELY(a.is_float() && b.is_float() && b.as.d != 0)) {
      sp[-2].as.d = a.as.d / b.as.d;
      --sp;
      DISPATCH();
    }
    if (a.is_number() && b.is_number()) {
      double y = b.to_double();
      if (y != 0) {
        sp[-2] = Value::number(a.to_double() / y);
        --sp;
        DISPATCH();
      }
    }
    SAVE();
    sp[-2] = arith_slow(t, Op::DIV, a, b);
    --sp;
    DISPATCH();
  }
  CASE(FLOORDIV) {
    Value b = PEEK(0), a = PEEK(1);
    // Both non-negative: C++ division already floors.
    if (WEFT_LIKELY(a.is_int() && b.is_int() && b.as.i > 0 && a.as.i >= 0)) {
      sp[-2].as.i = a.as.i / b.as.i;
      --sp;
      DISPATCH();
    }
    SAVE();
    sp[-2] = arith_slow(t, Op::FLOORDIV, a, b);
    --sp;
    DISPATCH();
  }
  CASE(MOD) {
    Value b = PEEK(0), a = PEEK(1);
    if (WEFT_LIKELY(a.is_int() && b.is_int() && b.as.i > 0 && a.as.i >= 0)) {
      sp[-2].as.i = a.as.i % b.as.i;
      --sp;
      DISPATCH();
    }
    SAVE();
    sp[-2] = arith_slow(t, Op::MOD, a, b);
    --sp;
    DISPATCH();
  }
  CASE(ADD_INT) {
    auto k = static_cast<std::int16_t>(READ_U16());
    Value a = PEEK(0);
    std::int64_t r;
    if (WEFT_LIKELY(a.is_int() && !__builtin_add_overflow(a.as.i, static_cast<std::int64_t>(k), &r))) {
      sp[-1].as.i = r;
      DISPATCH();
    }
    SAVE();
    sp[-1] = arith_slow(t, Op::ADD, a, Value::integer(k));
    DISPATCH();
  }
  CASE(NEG) {
    Value a = PEEK(0);
    if (a.is_int()) {
      if (a.as.i == INT64_MIN) {
        SAVE();
        raise("OverflowError", "integer overflow in unary -");
      }
      sp[-1].as.i = -a.as.i;
    } else if (a.is_float()) {
      sp[-1].as.d = -a.as.d;
    } else {
      SAVE();
      raisef("TypeError", "bad operand type for unary -: '{}'", type_name(a));
    }
    DISPATCH();
  }
  CASE(NOT) {
    sp[-1] = Value::boolean(!sp[-1].truthy());
    DISPATCH();
  }
  CASE(EQ) {
    Value b = PEEK(0), a = PEEK(1);
    bool r = (a.tag == Tag::Int && b.tag == Tag::Int) ? a.as.i == b.as.i : values_equal(a, b);
    sp[-2] = Value::boolean(r);
    --sp;
    DISPATCH();
  }
  CASE(NE) {
    Value b = PEEK(0), a = PEEK(1);
    bool r = (a.tag == Tag::Int && b.tag == Tag::Int) ? a.as.i != b.as.i : !values_equal(a, b);
    sp[-2] = Value::boolean(r);
    --sp;
    DISPATCH();
  }
#define COMPARE(OPNAME, SYM, TEST)                            \
  CASE(OPNAME) {                                              \
    Value b = PEEK(0), a = PEEK(1);                           \
    bool r;                                                   \
    if (WEFT_LIKELY(a.is_int() && b.is_int())) {              \
      r = a.as.i SYM b.as.i;                                  \
    } else if (a.is_float() && b.is_float()) {                \
      r = a.as.d SYM b.as.d; /* false with nan, as it must */ \
    } else {                                                  \
      SAVE();                                                 \
      int c = compare_values(a, b, #SYM);                     \
      r = c != 2 && (TEST);                                   \
    }                                                         \
    sp[-2] = Value::boolean(r);                               \
    --sp;                                                     \
    DISPATCH();                                               \
  }
  COMPARE(LT, <, c < 0)
  COMPARE(LE, <=, c <= 0)
  COMPARE(GT, >, c > 0)
  COMPARE(GE, >=, c >= 0)
#undef COMPARE
  CASE(IN) {
    Value b = PEEK(0), a = PEEK(1);
    SAVE();
    bool r = contains(a, b);
    sp[-2] = Value::boolean(r);
    --sp;
    DISPATCH();
  }
  CASE(JUMP) {
    std::uint16_t off = READ_U16();
    ip += off;
    DISPATCH();
  }
  CASE(JUMP_IF_FALSE) {
    std::uint16_t off = READ_U16();
    if (!POP().truthy()) ip += off;
    DISPATCH();
  }
  CASE(JUMP_IF_FALSE_KEEP) {
    std::uint16_t off = READ_U16();
    if (!PEEK(0).truthy())
      ip += off;
    else
      --sp;
    DISPATCH();
  }
  CASE(JUMP_IF_TRUE_KEEP) {
    std::uint16_t off = READ_U16();
    if (PEEK(0).truthy())
      ip += off;
    else
      --sp;
    DISPATCH();
  }
  CASE(LOOP) {
    std::uint16_t off = READ_U16();
    ip -= off;
    CHECK_BREAKER();
    DISPATCH();
  }
  CASE(LT_LOCAL_JUMP) {
    std::uint16_t slot = READ_U16();
    std::uint16_t off = READ_U16();
    Value b = POP();
    Value a = base[slot];
    bool r;
    if (WEFT_LIKELY(a.is_int() && b.is_int())) {
      r = a.as.i < b.as.i;
    } else {
      SAVE();
      int c = compare_values(a, b, "<");
      r = c != 2 && c < 0;
    }
    if (!r) ip += off;
    DISPATCH();
  }
  CASE(LT_LOCAL_INT_JUMP) {
    std::uint16_t slot = READ_U16();
    auto k = static_cast<std::int16_t>(READ_U16());
    std::uint16_t off = READ_U16();
    Value a = base[slot];
    bool r;
    if (WEFT_LIKELY(a.is_int())) {
      r = a.as.i < k;
    } else {
      SAVE();
      int c = compare_values(a, Value::integer(k), "<");
      r = c != 2 && c < 0;
    }
    if (!r) ip += off;
    DISPATCH();
  }
#define CMP_JUMP(OPNAME, SYM, TEST)                           \
  CASE(OPNAME) {                                              \
    std::uint16_t off = READ_U16();                           \
    Value b = sp[-1], a = sp[-2];                             \
    sp -= 2;                                                  \
    bool r;                                                   \
    if (WEFT_LIKELY(a.is_int() && b.is_int())) {              \
      r = a.as.i SYM b.as.i;                                  \
    } else {                                                  \
      sp += 2;                                                \
      SAVE();                                                 \
      int c = compare_values(a, b, #SYM);                     \
      sp -= 2;                                                \
      r = c != 2 && (TEST);                                   \
    }                                                         \
    if (!r) ip += off;                                        \
    DISPATCH();                                               \
  }
  CMP_JUMP(JUMP_IF_NOT_LT, <, c < 0)
  CMP_JUMP(JUMP_IF_NOT_LE, <=, c <= 0)
  CMP_JUMP(JUMP_IF_NOT_GT, >, c > 0)
  CMP_JUMP(JUMP_IF_NOT_GE, >=, c >= 0)
#undef CMP_JUMP
  CASE(JUMP_IF_NOT_EQ) {
    std::uint16_t off = READ_U16();
    Value b = sp[-1], a = sp[-2];
    sp -= 2;
    bool r = (a.tag == Tag::Int && b.tag == Tag::Int) ? a.as.i == b.as.i : values_equal(a, b);
    if (!r) ip += off;
    DISPATCH();
  }
  CASE(JUMP_IF_NOT_NE) {
    std::uint16_t off = READ_U16();
    Value b = sp[-1], a = sp[-2];
    sp -= 2;
    bool r = (a.tag == Tag::Int && b.tag == Tag::Int) ? a.as.i != b.as.i : !values_equal(a, b);
    if (!r) ip += off;
    DISPATCH();
  }
  CASE(CALL) {
    argc = READ_U8();
    goto do_call;
  }
  CASE(INVOKE) {
    auto* name = as<ObjString>(consts[READ_U16()]);
    argc = READ_U8();
    Value recv = sp[-argc - 1];
    // mod.name(...) calls the module's member.
    if (is_obj_type(recv, ObjType::Module)) {
      if (Value* v = cached_member(t.interp, as<ObjModule>(recv), name, ip)) {
        sp[-argc - 1] = *v;
        goto do_call;
      }
      SAVE();
      missing_member_error(as<ObjModule>(recv), name);
    }
    // m.name(...) on a map calls the map method `name` when there is one,
    // whatever keys the map holds (SPEC §4: counts.get(w, 0) must work
    // after counts["get"] = 1), else the function stored under "name".
    const Method* m = find_method(t.interp, recv, name);
    if (WEFT_UNLIKELY(!m)) {
      if (is_obj_type(recv, ObjType::Map)) {
        if (Value* v = cached_field(t.interp, as<ObjMap>(recv), name, ip)) {
          sp[-argc - 1] = *v;
          goto do_call;
        }
      }
      SAVE();
      no_method_error(recv, name);
    }
    if (WEFT_UNLIKELY(argc < m->min_args || (m->max_args >= 0 && argc > m->max_args))) {
      SAVE();
      arity_error(std::string(name->view()).c_str(), m->min_args, m->max_args, argc);
    }
    SAVE();
    Value r = m->fn(t, Args{sp - argc, argc, recv});
    sp -= argc + 1;
    PUSH(r);
    RELOAD_GLOBALS();
    DISPATCH();
  }
do_call : {
  Value callee = sp[-argc - 1];
  if (WEFT_LIKELY(is_obj_type(callee, ObjType::Closure))) {
    auto* cl = as<ObjClosure>(callee);
    ObjProto* p = cl->proto;
    // Defaults and rest parameters (and arity errors) take a separate path
    // that does not rejoin this one, so plain calls compile as before.
    if (WEFT_UNLIKELY(argc != p->arity)) goto do_call_adapt;
    if (WEFT_UNLIKELY(t.frames.size() >= kMaxFrames || sp + p->max_slots >= t.stack_limit)) {
      SAVE();
      raisef("RecursionError", "maximum recursion depth exceeded ({} frames)", kMaxFrames);
    }
    frame->ip = ip;
    t.frames.push_back(Frame{cl, p->code.data(), sp - argc - 1, false});
    frame = &t.frames.back();
    ip = frame->ip;
    base = frame->base;
    consts = p->kptr;
    globals = p->gptr;
    CHECK_BREAKER();
    DISPATCH();
  }
  if (is_obj_type(callee, ObjType::Native)) {
    auto* nf = as<ObjNative>(callee);
    // len(x) without the native call (whatever name it was called by).
    if (nf->fn == kBuiltinLen && argc == 1 && sp[-1].is_obj()) {
      Obj* o = sp[-1].as.o;
      std::int64_t n = -1;
      if (o->type == ObjType::String) {
        auto* str = static_cast<ObjString*>(o);
        n = str->ascii ? str->length : str->cp_count;
      } else if (o->type == ObjType::List) {
        n = static_cast<std::int64_t>(static_cast<ObjList*>(o)->items.size());
      } else if (o->type == ObjType::Map) {
        n = static_cast<ObjMap*>(o)->count;
      }
      if (n >= 0) {
        sp -= 2;
        PUSH(Value::integer(n));
        DISPATCH();
      }
    }
    if (WEFT_UNLIKELY(argc < nf->min_args || (nf->max_args >= 0 && argc > nf->max_args))) {
      SAVE();
      arity_error(nf->name, nf->min_args, nf->max_args, argc);
    }
    SAVE();
    Value r = nf->fn(t, Args{sp - argc, argc, nf->data});
    sp -= argc + 1;
    PUSH(r);
    RELOAD_GLOBALS();
    CHECK_BREAKER();
    DISPATCH();
  }
  SAVE();
  raisef("TypeError", "cannot call a value of type {}", type_name(callee));
}
do_call_adapt : {
  // A closure called with a count other than its arity: fill in omitted
  // defaults / build the rest list (or raise the arity error), then enter
  // the frame as do_call does.
  auto* cl = as<ObjClosure>(sp[-argc - 1]);
  ObjProto* p = cl->proto;
  SAVE();
  sp = adapt_args(t, p, sp - argc, argc);
  argc = p->nparams + (p->has_rest ? 1 : 0);
  if (t.frames.size() >= kMaxFrames || sp + p->max_slots >= t.stack_limit) {
    t.sp = sp;
    raisef("RecursionError", "maximum recursion depth exceeded ({} frames)", kMaxFrames);
  }
  frame->ip = ip;
  t.frames.push_back(Frame{cl, p->code.data(), sp - argc - 1, false});
  frame = &t.frames.back();
  ip = frame->ip;
  base = frame->base;
  consts = p->kptr;
  globals = p->gptr;
  CHECK_BREAKER();
  DISPATCH();
}
  CASE(CLOSURE) {
    auto* p = as<ObjProto>(consts[READ_U16()]);
    auto* cl = t.interp.heap.make<ObjClosure>(p);
    for (std::size_t i = 0; i < p->upvalues.size(); ++i) {
      const UpvalueDesc& d = p->upvalues[i];
      cl->upvalues[i] = d.is_local ? capture_upvalue(t, base + d.index) : frame->closure->upvalues[d.index];
    }
    PUSH(Value::object(cl));
    DISPATCH();
  }
  CASE(CLOSE_UPVALS) {
    close_upvalues(t, base + READ_U16());
    DISPATCH();
  }
  CASE(RETURN) {
    ret = POP();
    goto do_return;
  }
  CASE(RETURN_NIL) {
    ret = Value();
    goto do_return;
  }
do_return : {
    Value result = ret;
    close_upvalues(t, base);
    while (!t.handlers.empty() && t.handlers.back().frame_depth >= t.frames.size()) t.handlers.pop_back();
    bool reentry = frame->reentry;
    sp = base;
    t.frames.pop_back();
    if (reentry) {
      t.sp = sp;
      return result;
    }
    PUSH(result);
    LOAD_FRAME();
    DISPATCH();
  }
  CASE(LIST) {
    std::uint16_t n = READ_U16();
    SAVE();
    ObjList* l = new_list(t);
    l->items.assign(sp - n, sp);
    sp -= n;
    PUSH(Value::object(l));
    DISPATCH();
  }
  CASE(MAP) {
    std::uint16_t n = READ_U16();
    SAVE();
    ObjMap* m = new_map(t);
    Value* kv = sp - 2 * n;
    for (std::uint16_t i = 0; i < n; ++i) {
      check_key(kv[2 * i]);
      m->set(kv[2 * i], kv[2 * i + 1]);
    }
    sp -= 2 * n;
    PUSH(Value::object(m));
    DISPATCH();
  }
  CASE(TRY) {
    std::uint16_t off = READ_U16();
    t.handlers.push_back(Handler{t.frames.size(), sp, ip + off});
    DISPATCH();
  }
  CASE(END_TRY) {
    t.handlers.pop_back();
    DISPATCH();
  }
  CASE(RERAISE) {
    // The end of a finally block entered by an error: throw the same value
    // on, keeping the position and trace of the original throw.
    ret = POP();
    SAVE();
    goto do_throw;
  }
  CASE(THROW) {
    ret = POP();
    SAVE();
    attach_trace(t, ret);
    goto do_throw;
  }
do_throw : {
    Value v = ret;
    // When the innermost handler belongs to this activation of the loop (no
    // native call in between), jump to it directly: a C++ throw and catch
    // costs microseconds. Otherwise run() catches and unwinds.
    if (!t.handlers.empty()) {
      Handler h = t.handlers.back();
      bool here = true;
      for (std::size_t i = h.frame_depth; i < t.frames.size(); ++i)
        if (t.frames[i].reentry) {
          here = false;
          break;
        }
      if (here) {
        t.handlers.pop_back();
        close_upvalues(t, h.sp);
        t.frames.resize(h.frame_depth);
        frame = &t.frames.back();
        frame->ip = h.catch_ip;
        LOAD_FRAME();
        sp = h.sp;
        PUSH(v);
        t.sp = sp;
        DISPATCH();
      }
    }
    t.pending = v;
    throw ScriptThrow{};
  }
  CASE(POW) {
    Value b = PEEK(0), a = PEEK(1);
    SAVE();
    sp[-2] = power(a, b);
    --sp;
    DISPATCH();
  }
  CASE(SLICE) {
    Value hi = PEEK(0), lo = PEEK(1), obj = PEEK(2);
    SAVE();
    Value r = slice_value(t, obj, lo, hi);
    sp -= 2;
    sp[-1] = r;
    DISPATCH();
  }
  CASE(UNPACK) {
    std::uint16_t n = READ_U16();
    Value v = PEEK(0);
    if (WEFT_UNLIKELY(!is_obj_type(v, ObjType::List))) {
      SAVE();
      raisef("ValueError", "cannot unpack a {} into {} names (a list of exactly {} items is needed)", type_name(v), n, n);
    }
    auto& items = as<ObjList>(v)->items;
    if (WEFT_UNLIKELY(items.size() != n)) {
      SAVE();
      raisef("ValueError", "cannot unpack a list of {} item{} into {} names", items.size(), items.size() == 1 ? "" : "s",
             n);
    }
    --sp;
    for (std::uint16_t i = 0; i < n; ++i) PUSH(items[i]);
    DISPATCH();
  }
  CASE(ARG_DEFAULT) {
    std::uint16_t slot = READ_U16();
    std::uint16_t off = READ_U16();
    if (!base[slot].is_undef()) ip += off;
    DISPATCH();
  }
  CASE(LIST_APPEND) {
    Value v = POP();
    SAVE();
    as<ObjList>(PEEK(0))->items.push_back(v);
    DISPATCH();
  }
  CASE(LIST_EXTEND) {
    Value xs = PEEK(0);
    if (!is_obj_type(xs, ObjType::List)) {
      SAVE();
      raisef("TypeError", "'...' needs a list to spread into arguments, not {}", type_name(xs));
    }
    --sp;
    SAVE();
    auto& src = as<ObjList>(xs)->items;
    auto& dst = as<ObjList>(PEEK(0))->items;
    if (&src == &dst) {
      std::vector<Value> copy(src.begin(), src.end());
      dst.insert(dst.end(), copy.begin(), copy.end());
    } else {
      dst.insert(dst.end(), src.begin(), src.end());
    }
    DISPATCH();
  }
  CASE(CALL_SPREAD) {
    // f [args...] -> f args...: the list's items become the arguments.
    Value lv = PEEK(0);
    auto& items = as<ObjList>(lv)->items;
    if (WEFT_UNLIKELY(items.size() > 255 || sp + items.size() + 8 >= t.stack_limit)) {
      SAVE();
      raisef("TypeError", "too many arguments ({}; the limit is 255)", items.size());
    }
    argc = static_cast<int>(items.size());
    --sp;
    for (int i = 0; i < argc; ++i) PUSH(items[static_cast<std::size_t>(i)]);
    goto do_call;
  }
  CASE(INVOKE_SPREAD) {
    // obj.name(...xs): the map/str/list/handle method `name` if there is
    // one (SPEC §4: whatever keys a map holds), else the value of the field
    // `name` (a closure stored in a map, a module member) is called. Kept
    // apart from INVOKE so plain method calls stay as they are.
    auto* name = as<ObjString>(consts[READ_U16()]);
    Value lv = PEEK(0);
    auto& items = as<ObjList>(lv)->items;
    if (WEFT_UNLIKELY(items.size() > 255 || sp + items.size() + 8 >= t.stack_limit)) {
      SAVE();
      raisef("TypeError", "too many arguments ({}; the limit is 255)", items.size());
    }
    argc = static_cast<int>(items.size());
    --sp;
    for (int i = 0; i < argc; ++i) PUSH(items[static_cast<std::size_t>(i)]);
    Value recv = sp[-argc - 1];
    SAVE();
    if (const Method* m = find_method(t.interp, recv, name)) {
      if (argc < m->min_args || (m->max_args >= 0 && argc > m->max_args))
        arity_error(std::string(name->view()).c_str(), m->min_args, m->max_args, argc);
      Value r = m->fn(t, Args{sp - argc, argc, recv});
      sp -= argc + 1;
      PUSH(r);
      RELOAD_GLOBALS();
      DISPATCH();
    }
    sp[-argc - 1] = get_field(t, recv, name);
    goto do_call;
  }
  CASE(FORMAT_VALUE) {
    auto* spec = as<ObjString>(consts[READ_U16()]);
    char conv = static_cast<char>(READ_U8());
    Value v = PEEK(0);
    SAVE();
    sp[-1] = format_value_op(t, v, conv, spec);
    DISPATCH();
  }
  CASE(BUILD_STRING) {
    std::uint16_t n = READ_U16();
    SAVE();
    Value r = build_string_op(t, sp - n, n);
    sp -= n;
    PUSH(r);
    DISPATCH();
  }
  CASE(ITER_PREP) {
    std::uint16_t slot = READ_U16();
    SAVE();
    iter_prep(base + slot);
    DISPATCH();
  }
  CASE(FOR_ITER) {
    std::uint16_t slot = READ_U16();
    int nvars = READ_U8();
    std::uint16_t off = READ_U16();
    Value* s = base + slot;
    if (s[0].is_int()) {  // a range: stop, current, step
      std::int64_t cur = s[1].as.i, stop = s[0].as.i, step = s[2].as.i;
      if (step > 0 ? cur < stop : cur > stop) {
        if (WEFT_UNLIKELY(nvars != 1)) {
          SAVE();
          raise("TypeError", "a range yields one value per iteration (use 'for x in range(...)')");
        }
        std::int64_t next;
        if (__builtin_add_overflow(cur, step, &next)) next = stop;
        s[1].as.i = next;
        PUSH(Value::integer(cur));
        DISPATCH();
      }
      ip += off;
      DISPATCH();
    }
    Obj* o = s[0].as.o;
    std::int64_t i = s[1].as.i;
    switch (o->type) {
      case ObjType::List: {
        auto& items = static_cast<ObjList*>(o)->items;
        if (static_cast<std::size_t>(i) < items.size()) {
          if (nvars == 2) PUSH(Value::integer(i));
          PUSH(items[static_cast<std::size_t>(i)]);
          s[1].as.i = i + 1;
          DISPATCH();
        }
        break;
      }
      case ObjType::Map: {
        auto* map = static_cast<ObjMap*>(o);
        if (WEFT_UNLIKELY(map->version != static_cast<std::uint32_t>(s[2].as.i))) {
          SAVE();
          raise("RuntimeError", "map changed size during iteration");
        }
        auto& entries = map->entries;
        while (static_cast<std::size_t>(i) < entries.size() && entries[static_cast<std::size_t>(i)].key.is_undef()) ++i;
        if (static_cast<std::size_t>(i) < entries.size()) {
          const MapEntry& e = entries[static_cast<std::size_t>(i)];
          PUSH(e.key);
          if (nvars == 2) PUSH(e.value);
          s[1].as.i = i + 1;
          DISPATCH();
        }
        break;
      }
      case ObjType::String: {
        auto* str = static_cast<ObjString*>(o);
        if (static_cast<std::size_t>(i) < str->length) {
          std::size_t len = utf8_char_len(str, static_cast<std::size_t>(i));
          SAVE();
          Value ch = str_value(t, str->view().substr(static_cast<std::size_t>(i), len));
          if (nvars == 2) PUSH(Value::integer(s[2].as.i));
          PUSH(ch);
          s[1].as.i = i + static_cast<std::int64_t>(len);
          s[2].as.i += 1;
          DISPATCH();
        }
        break;
      }
      case ObjType::Handle: {
        // A channel: receive until it is closed and empty (recv blocks with
        // the GIL released, so everything is saved first).
        if (WEFT_UNLIKELY(nvars != 1)) {
          SAVE();
          raise("TypeError", "a channel yields one value per iteration (use 'for v in ch')");
        }
        const Method& recv = as<ObjHandle>(s[0])->methods().at("recv");
        SAVE();
        Value v = recv.fn(t, Args{sp, 0, s[0]});
        RELOAD_GLOBALS();
        if (!v.is_nil()) {
          PUSH(v);
          DISPATCH();
        }
        break;
      }
      default:
        break;
    }
    ip += off;
    DISPATCH();
  }

#if !(defined(__GNUC__) && !defined(WEFT_NO_COMPUTED_GOTO))
    default:
      break;
  }
  raise("SystemError", "bad opcode");
#endif
  return Value();
#undef LOAD_FRAME
#undef SAVE
#undef READ_U8
#undef READ_U16
#undef PUSH
#undef POP
#undef PEEK
}

// ------------------------------------------------------------- entry points

Value call_value(Thread& t, Value callee, const Value* args, int argc) {
  if (t.sp + argc + 1 >= t.stack_limit) raise("RecursionError", "value stack exhausted");
  if (is_obj_type(callee, ObjType::Native)) {
    auto* nf = as<ObjNative>(callee);
    if (argc < nf->min_args || (nf->max_args >= 0 && argc > nf->max_args))
      arity_error(nf->name, nf->min_args, nf->max_args, argc);
    Value* at = t.sp;
    *t.sp++ = callee;
    for (int i = 0; i < argc; ++i) *t.sp++ = args[i];
    struct Restore {
      Thread& t;
      Value* at;
      ~Restore() { t.sp = at; }
    } restore{t, at};
    return nf->fn(t, Args{at + 1, argc, nf->data});
  }
  if (!is_obj_type(callee, ObjType::Closure)) raisef("TypeError", "cannot call a value of type {}", type_name(callee));
  auto* cl = as<ObjClosure>(callee);
  const ObjProto* p = cl->proto;
  if (argc != p->arity && (!p->flexible || argc < p->required || (!p->has_rest && argc > p->nparams)))
    closure_arity_error(p, argc);
  if (t.frames.size() >= kMaxFrames || t.native_depth >= 200 ||
      t.sp + p->max_slots + argc + p->nparams + 2 >= t.stack_limit)
    raisef("RecursionError", "maximum recursion depth exceeded ({} frames)", kMaxFrames);
  Value* base = t.sp;
  *t.sp++ = callee;
  for (int i = 0; i < argc; ++i) *t.sp++ = args[i];
  if (argc != p->arity) {
    struct Restore {
      Thread& t;
      Value* at;
      bool armed = true;
      ~Restore() {
        if (armed) t.sp = at;
      }
    } restore{t, base};
    t.sp = adapt_args(t, p, base + 1, argc);
    restore.armed = false;
  }
  std::size_t entry = t.frames.size();
  t.frames.push_back(Frame{cl, cl->proto->code.data(), base, true});
  ++t.native_depth;
  struct Depth {
    Thread& t;
    ~Depth() { --t.native_depth; }
  } depth{t};
  return run(t, entry);
}

bool guarded_call(Thread& t, Value fn, const Value* args, int argc, Value& result, Value& error) {
  try {
    result = call_value(t, fn, args, argc);
    return true;
  } catch (ScriptThrow&) {
    error = t.pending;
    t.pending = Value();
  } catch (NativeError& e) {
    error = make_thrown_error(t, e.type, e.message);
    t.pending = Value();
  } catch (std::bad_alloc&) {
    error = make_thrown_error(t, "MemoryError", "out of memory");
    t.pending = Value();
  }
  return false;
}

}  // namespace weft
