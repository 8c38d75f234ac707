// See vm_ops.hpp.
#include "vm_ops.hpp"

#include <cmath>

#include "builtins.hpp"
#include "runtime/natives.hpp"

namespace weft {

static std::string module_name(const ObjProto* p) { return p->module ? p->module->display : "?"; }

// f() takes 2 arguments (a, b) but 3 were given (defined at main.weft:3)
[[noreturn]] void closure_arity_error(const ObjProto* p, int got) {
  std::string takes;
  if (p->has_rest)
    takes = fmt::format("at least {} argument{}", p->required, p->required == 1 ? "" : "s");
  else if (p->required != p->nparams)
    takes = fmt::format("{} to {} arguments", p->required, p->nparams);
  else
    takes = fmt::format("{} argument{}", p->nparams, p->nparams == 1 ? "" : "s");
  raisef("TypeError", "{}() takes {} ({}) but {} {} given (defined at {}:{})", p->name, takes, p->params_sig, got,
         got == 1 ? "was" : "were", module_name(p), p->line);
}

// The slow path of a call to a closure whose argument count is not its
// arity: checks the count, then rewrites the arguments at `args` in place
// so the frame has exactly its parameters (omitted defaults as undef, which
// the callee's ARG_DEFAULT instructions fill in; the rest parameter as a
// list). Returns the new stack top. t.sp must cover the arguments (they
// stay rooted while the list is allocated).
Value* adapt_args(Thread& t, const ObjProto* p, Value* args, int argc) {
  if (!p->flexible || argc < p->required || (!p->has_rest && argc > p->nparams)) closure_arity_error(p, argc);
  Value* sp = args + argc;
  if (args + p->nparams + 2 >= t.stack_limit) raise("RecursionError", "value stack exhausted");
  for (int i = argc; i < p->nparams; ++i) *sp++ = Value::undef();
  if (p->has_rest) {
    ObjList* rest = new_list(t);
    if (argc > p->nparams) {
      rest->items.assign(args + p->nparams, args + argc);
      sp = args + p->nparams;
    }
    *sp++ = Value::object(rest);
  }
  return sp;
}

// x[lo:hi] for lists and strings (code points): nil bounds are omitted,
// negative ones count from the end, and out-of-range ones are clamped.
static std::int64_t slice_bound(Value b, std::int64_t len, std::int64_t dflt, const char* what) {
  if (b.is_nil()) return dflt;
  if (!b.is_int()) raisef("TypeError", "{} slice bounds must be ints or nil, not {}", what, type_name(b));
  std::int64_t i = b.as.i;
  if (i < 0) i += len;
  return i < 0 ? 0 : i > len ? len : i;
}

Value slice_value(Thread& t, Value obj, Value lo, Value hi) {
  if (is_obj_type(obj, ObjType::List)) {
    auto& items = as<ObjList>(obj)->items;
    auto len = static_cast<std::int64_t>(items.size());
    std::int64_t a = slice_bound(lo, len, 0, "list"), b = slice_bound(hi, len, len, "list");
    ObjList* out = new_list(t);
    if (a < b) out->items.assign(items.begin() + a, items.begin() + b);
    return Value::object(out);
  }
  if (is_obj_type(obj, ObjType::String)) {
    auto* s = as<ObjString>(obj);
    std::int64_t len = s->cp_count;
    std::int64_t a = slice_bound(lo, len, 0, "str"), b = slice_bound(hi, len, len, "str");
    if (a >= b) return str_value(t, "");
    std::size_t from = utf8_offset(s, a), to = utf8_offset(s, b);
    return str_value(t, s->view().substr(from, to - from));
  }
  raisef("TypeError", "cannot slice a value of type {} (only lists and strings)", type_name(obj));
}

// a ** b: int ** non-negative int stays an int (OverflowError past 64
// bits); a negative exponent or a float operand gives a float.
Value power(Value a, Value b) {
  if (!a.is_number() || !b.is_number())
    raisef("TypeError", "unsupported operand types for **: '{}' and '{}'", type_name(a), type_name(b));
  if (a.is_int() && b.is_int() && b.as.i >= 0) {
    std::int64_t base = a.as.i, e = b.as.i, r = 1;
    while (e > 0) {
      if ((e & 1) && __builtin_mul_overflow(r, base, &r)) raise("OverflowError", "integer overflow in **");
      e >>= 1;
      if (e > 0 && __builtin_mul_overflow(base, base, &base)) raise("OverflowError", "integer overflow in **");
    }
    return Value::integer(r);
  }
  double x = a.to_double(), y = b.to_double();
  if (x == 0 && y < 0) raise("ZeroDivisionError", "0 cannot be raised to a negative power");
  double r = std::pow(x, y);
  if (std::isnan(r) && !std::isnan(x) && !std::isnan(y))
    raise("ValueError", "a negative number cannot be raised to a fractional power");
  return Value::number(r);
}

Value format_value_op(Thread& t, Value v, char conv, const ObjString* spec) {
  std::string out;
  try {
    format_value_into(out, v, conv, spec->view());
  } catch (const fmt::format_error& e) {
    // The message format() gives for the same field.
    raisef("ValueError", "bad format: {}", e.what());
  }
  return str_value(t, out);
}

Value build_string_op(Thread& t, const Value* parts, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(as<ObjString>(parts[i])->view());
  return str_value(t, out);
}

}  // namespace weft
