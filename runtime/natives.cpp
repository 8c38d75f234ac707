#include "natives.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace weft {

void raise(std::string_view type, std::string message) {
  throw NativeError{std::string(type), std::move(message)};
}

// ----------------------------------------------------------------- printing

const char* type_name(Value v) {
  switch (v.tag) {
    case Tag::Nil:
    case Tag::Undef:
      return "nil";
    case Tag::Bool:
      return "bool";
    case Tag::Int:
      return "int";
    case Tag::Float:
      return "float";
    case Tag::Obj:
      switch (v.as.o->type) {
        case ObjType::String: return "str";
        case ObjType::List: return "list";
        case ObjType::Map: return "map";
        case ObjType::Range: return "range";
        case ObjType::Closure:
        case ObjType::Native:
        case ObjType::Proto: return "fn";
        case ObjType::Error: return "error";
        case ObjType::Module: return "module";
        case ObjType::Upvalue: return "upvalue";
        case ObjType::Handle: return static_cast<ObjHandle*>(v.as.o)->type_name();
      }
  }
  return "?";
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // The shortest digits that round-trip (like Python's repr), from
  // std::to_chars (Ryu-style, no trial and error).
  char buf[40];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  // buf is like "d.ddde+XX"; decide between fixed and scientific like Python:
  // scientific when exponent < -4 or >= 16.
  std::string s(buf, res.ptr);
  auto epos = s.find('e');
  std::string mant = s.substr(0, epos);
  int exp = std::atoi(s.c_str() + epos + 1);
  bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits.push_back(c);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp < -4 || exp >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  } else if (exp < 0) {
    out = "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
  } else {
    std::size_t intlen = static_cast<std::size_t>(exp) + 1;
    if (digits.size() <= intlen) {
      out = digits + std::string(intlen - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, intlen) + "." + digits.substr(intlen);
    }
  }
  return neg ? "-" + out : out;
}

static void repr_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\0': out += "\\0"; break;
      default: out.push_back(ch);
    }
  }
  out.push_back('"');
}

static void write_value(std::string& out, Value v, bool repr, int depth);

// How deep printing and == follow nested lists and maps before raising
// RecursionError (they recurse in C++; deeper data would overflow the
// stack of a thread). Never a silently wrong answer.
static constexpr int kMaxNesting = 2500;

static void check_nesting(int depth, const char* what) {
  if (depth > kMaxNesting)
    raisef("RecursionError", "maximum nesting depth exceeded in {} ({} levels of lists and maps)", what, kMaxNesting);
}

static void write_obj(std::string& out, Obj* o, bool repr, int depth) {
  switch (o->type) {
    case ObjType::String: {
      auto* s = static_cast<ObjString*>(o);
      if (repr)
        repr_string(out, s->view());
      else
        out.append(s->view());
      return;
    }
    case ObjType::List: {
      auto* l = static_cast<ObjList*>(o);
      // A list inside itself prints as [...], like Python.
      if (l->busy & kBusyRepr) {
        out += "[...]";
        return;
      }
      check_nesting(depth, "repr");
      BusyScope busy(l, kBusyRepr);
      out.push_back('[');
      for (std::size_t i = 0; i < l->items.size(); ++i) {
        if (i) out += ", ";
        write_value(out, l->items[i], true, depth + 1);
      }
      out.push_back(']');
      return;
    }
    case ObjType::Map: {
      auto* m = static_cast<ObjMap*>(o);
      if (m->busy & kBusyRepr) {
        out += "{...}";
        return;
      }
      check_nesting(depth, "repr");
      BusyScope busy(m, kBusyRepr);
      out.push_back('{');
      bool first = true;
      for (const MapEntry& e : m->entries) {
        if (e.key.is_undef()) continue;
        if (!first) out += ", ";
        first = false;
        write_value(out, e.key, true, depth + 1);
        out += ": ";
        write_value(out, e.value, true, depth + 1);
      }
      out.push_back('}');
      return;
    }
    case ObjType::Range: {
      auto* r = static_cast<ObjRange*>(o);
      if (r->step == 1)
        out += fmt::format("range({}, {})", r->start, r->stop);
      else
        out += fmt::format("range({}, {}, {})", r->start, r->stop, r->step);
      return;
    }
    case ObjType::Closure: {
      auto* c = static_cast<ObjClosure*>(o);
      const std::string& n = c->proto->name;
      out += n.empty() || n == "<anonymous>" ? "<fn anonymous>" : "<fn " + n + ">";
      return;
    }
    case ObjType::Proto:
      out += "<fn " + static_cast<ObjProto*>(o)->name + ">";
      return;
    case ObjType::Native:
      out += fmt::format("<native fn {}>", static_cast<ObjNative*>(o)->name);
      return;
    case ObjType::Error: {
      auto* e = static_cast<ObjError*>(o);
      out.append(e->type_name->view());
      // An error with no message prints as its type alone (KeyboardInterrupt).
      if (e->message->length) {
        out += ": ";
        out.append(e->message->view());
      }
      return;
    }
    case ObjType::Module:
      out += "<module " + static_cast<ObjModule*>(o)->module_name() + ">";
      return;
    case ObjType::Upvalue:
      out += "<upvalue>";
      return;
    case ObjType::Handle:
      out += static_cast<ObjHandle*>(o)->repr();
      return;
  }
}

static void write_value(std::string& out, Value v, bool repr, int depth) {
  switch (v.tag) {
    case Tag::Nil:
    case Tag::Undef:
      out += "nil";
      return;
    case Tag::Bool:
      out += v.as.b ? "true" : "false";
      return;
    case Tag::Int:
      out += fmt::format_int(v.as.i).str();
      return;
    case Tag::Float:
      out += float_repr(v.as.d);
      return;
    case Tag::Obj:
      write_obj(out, v.as.o, repr, depth);
      return;
  }
}

std::string to_str(Value v) {
  std::string out;
  write_value(out, v, false, 0);
  return out;
}

std::string to_repr(Value v) {
  std::string out;
  write_value(out, v, true, 0);
  return out;
}

static bool equal_depth(Value a, Value b, int depth) {
  if (a.tag != b.tag) {
    if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;  // exact for int vs float
    return false;
  }
  switch (a.tag) {
    case Tag::Nil:
    case Tag::Undef:
      return true;
    case Tag::Bool:
      return a.as.b == b.as.b;
    case Tag::Int:
      return a.as.i == b.as.i;
    case Tag::Float:
      return a.as.d == b.as.d;
    case Tag::Obj:
      break;
  }
  if (a.as.o == b.as.o) return true;
  if (a.as.o->type != b.as.o->type) return false;
  ObjType ty = a.as.o->type;
  if (ty == ObjType::List || ty == ObjType::Map) {
    // Meeting a container again on the way down means it contains itself;
    // comparing would never end (Python raises RecursionError; SPEC §4 says
    // ValueError).
    if ((a.as.o->busy & kBusyEqualL) || (b.as.o->busy & kBusyEqualR))
      raise("ValueError", "cannot compare a list or map that contains itself");
    check_nesting(depth, "==");
  }
  if (ty == ObjType::List) {
    auto& x = static_cast<ObjList*>(a.as.o)->items;
    auto& y = static_cast<ObjList*>(b.as.o)->items;
    if (x.size() != y.size()) return false;
    BusyScope ba(a.as.o, kBusyEqualL), bb(b.as.o, kBusyEqualR);
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!equal_depth(x[i], y[i], depth + 1)) return false;
    return true;
  }
  if (a.as.o->type == ObjType::Map) {
    auto* x = static_cast<ObjMap*>(a.as.o);
    auto* y = static_cast<ObjMap*>(b.as.o);
    if (x->count != y->count) return false;
    BusyScope ba(x, kBusyEqualL), bb(y, kBusyEqualR);
    for (const MapEntry& e : x->entries) {
      if (e.key.is_undef()) continue;
      Value* other = y->find(e.key);
      if (!other || !equal_depth(e.value, *other, depth + 1)) return false;
    }
    return true;
  }
  if (a.as.o->type == ObjType::String) {
    auto* x = static_cast<ObjString*>(a.as.o);
    auto* y = static_cast<ObjString*>(b.as.o);
    // Compare cached hashes only when both are there: computing one costs
    // more than comparing the bytes.
    if (x->hash_ && y->hash_ && x->hash_ != y->hash_) return false;
    return x->view() == y->view();
  }
  return false;
}

bool values_equal(Value a, Value b) { return equal_depth(a, b, 0); }

static int order_depth(Value a, Value b, const char* op, int depth) {
  if (a.is_int() && b.is_int()) return a.as.i < b.as.i ? -1 : a.as.i > b.as.i ? 1 : 0;
  if (a.is_number() && b.is_number()) return compare_numbers(a, b);  // exact for int vs float
  if (is_obj_type(a, ObjType::String) && is_obj_type(b, ObjType::String)) {
    int c = as<ObjString>(a)->view().compare(as<ObjString>(b)->view());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (is_obj_type(a, ObjType::List) && is_obj_type(b, ObjType::List)) {
    check_nesting(depth, op);
    auto& x = as<ObjList>(a)->items;
    auto& y = as<ObjList>(b)->items;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (values_equal(x[i], y[i])) continue;
      return order_depth(x[i], y[i], op, depth + 1);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  raisef("TypeError", "'{}' not supported between '{}' and '{}'", op, type_name(a), type_name(b));
}

int order_values(Value a, Value b, const char* op) { return order_depth(a, b, op, 0); }

// ----------------------------------------------------------------- building

ObjString* new_string(Thread& t, std::string_view s) { return t.interp.heap.new_string(s); }
Value str_value(Thread& t, std::string_view s) { return Value::object(t.interp.heap.new_string(s)); }
ObjList* new_list(Thread& t) { return t.interp.heap.make<ObjList>(); }
Value list_value(Thread& t, std::vector<Value> items) {
  ObjList* l = new_list(t);
  t.interp.heap.account(items.size() * sizeof(Value));
  l->items.assign(items.begin(), items.end());
  return Value::object(l);
}
ObjMap* new_map(Thread& t) { return t.interp.heap.make<ObjMap>(); }
void map_put(Thread& t, ObjMap* m, std::string_view key, Value v) {
  m->set(Value::object(t.interp.heap.intern(key)), v);
}
Value* map_get(Thread& t, ObjMap* m, std::string_view key) {
  return m->find(Value::object(t.interp.heap.intern(key)));
}
ObjError* new_error(Thread& t, std::string_view type, std::string_view message) {
  return t.interp.heap.make<ObjError>(t.interp.heap.intern(type), t.interp.heap.intern(message));
}

// ---------------------------------------------------------------- arguments

[[noreturn]] static void bad_arg(Args a, int i, const char* fn, const char* want) {
  raisef("TypeError", "{}() argument {} must be {}, not {}", fn, i + 1, want,
         i < a.n ? type_name(a.v[i]) : "missing");
}

std::int64_t arg_int(Args a, int i, const char* fn) {
  if (i >= a.n || !a.v[i].is_int()) bad_arg(a, i, fn, "an int");
  return a.v[i].as.i;
}
double arg_number(Args a, int i, const char* fn) {
  if (i >= a.n || !a.v[i].is_number()) bad_arg(a, i, fn, "a number");
  return a.v[i].to_double();
}
ObjString* arg_string(Args a, int i, const char* fn) {
  if (i >= a.n || !is_obj_type(a.v[i], ObjType::String)) bad_arg(a, i, fn, "a str");
  return as<ObjString>(a.v[i]);
}
std::string_view arg_str(Args a, int i, const char* fn) { return arg_string(a, i, fn)->view(); }
ObjList* arg_list(Args a, int i, const char* fn) {
  if (i >= a.n || !is_obj_type(a.v[i], ObjType::List)) bad_arg(a, i, fn, "a list");
  return as<ObjList>(a.v[i]);
}
ObjMap* arg_map(Args a, int i, const char* fn) {
  if (i >= a.n || !is_obj_type(a.v[i], ObjType::Map)) bad_arg(a, i, fn, "a map");
  return as<ObjMap>(a.v[i]);
}
std::optional<double> opt_number(Args a, int i, const char* fn) {
  if (i >= a.n || a.v[i].is_nil()) return std::nullopt;
  return arg_number(a, i, fn);
}

double opt_field_number(Thread& t, ObjMap* m, std::string_view key, double dflt) {
  if (!m) return dflt;
  Value* v = map_get(t, m, key);
  if (!v || v->is_nil()) return dflt;
  if (!v->is_number()) raisef("TypeError", "option '{}' must be a number, not {}", key, type_name(*v));
  return v->to_double();
}
std::int64_t opt_field_int(Thread& t, ObjMap* m, std::string_view key, std::int64_t dflt) {
  if (!m) return dflt;
  Value* v = map_get(t, m, key);
  if (!v || v->is_nil()) return dflt;
  if (!v->is_int()) raisef("TypeError", "option '{}' must be an int, not {}", key, type_name(*v));
  return v->as.i;
}
std::string opt_field_str(Thread& t, ObjMap* m, std::string_view key, std::string_view dflt) {
  if (!m) return std::string(dflt);
  Value* v = map_get(t, m, key);
  if (!v || v->is_nil()) return std::string(dflt);
  if (!is_obj_type(*v, ObjType::String))
    raisef("TypeError", "option '{}' must be a str, not {}", key, type_name(*v));
  return std::string(as<ObjString>(*v)->view());
}

double opt_field_nonneg(Thread& t, ObjMap* m, std::string_view key, double dflt, const char* what) {
  double v = opt_field_number(t, m, key, dflt);
  if (!(v >= 0) || std::isinf(v))
    raisef("ValueError", "{} option '{}' must be a finite number >= 0, got {}", what, key, float_repr(v));
  return v;
}

void check_option_keys(ObjMap* m, std::initializer_list<std::string_view> known, const char* what) {
  if (!m) return;
  for (const MapEntry& e : m->entries) {
    if (e.key.is_undef()) continue;
    if (!is_obj_type(e.key, ObjType::String))
      raisef("TypeError", "{} options must have string keys, not {}", what, type_name(e.key));
    std::string_view k = as<ObjString>(e.key)->view();
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list;
      for (auto s : known) list += (list.empty() ? "" : ", ") + std::string(s);
      raisef("ValueError", "unknown {} option '{}' (known: {})", what, k, list);
    }
  }
}

}  // namespace weft
