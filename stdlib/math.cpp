// The math module (SPEC §7.11): sqrt floor ceil trunc sin cos tan atan2 pow
// log log2 log10 exp, the constants pi e inf nan, isnan and isinf.
//
// Domain errors raise ValueError ("math domain error", like Python), results
// too large for a float raise OverflowError; floor/ceil/trunc return ints.
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <limits>

#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"
#include "stdlib/modules.hpp"

namespace weft {

namespace {

[[noreturn]] void domain_error(const char* fn) { raisef("ValueError", "math domain error in {}()", fn); }

double checked(double r, const char* fn) {
  if (std::isnan(r)) domain_error(fn);
  if (std::isinf(r)) raisef("OverflowError", "math range error in {}()", fn);
  return r;
}

// floor/ceil of a float as an int.
Value to_int(double d, const char* fn) {
  if (std::isnan(d)) raisef("ValueError", "{}() cannot convert nan to int", fn);
  // 2^63 is exactly representable; every double below it fits in int64.
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
    raisef("OverflowError", "{}() result {} does not fit in an int", fn, float_repr(d));
  return Value::integer(static_cast<std::int64_t>(d));
}

Value m_sqrt(Thread&, Args a) {
  double x = arg_number(a, 0, "sqrt");
  if (x < 0) raisef("ValueError", "math domain error in sqrt(): negative argument {}", to_repr(a[0]));
  return Value::number(std::sqrt(x));
}

Value m_floor(Thread&, Args a) {
  if (a[0].is_int()) return a[0];
  return to_int(std::floor(arg_number(a, 0, "floor")), "floor");
}

Value m_ceil(Thread&, Args a) {
  if (a[0].is_int()) return a[0];
  return to_int(std::ceil(arg_number(a, 0, "ceil")), "ceil");
}

Value m_trunc(Thread&, Args a) {
  if (a[0].is_int()) return a[0];
  return to_int(std::trunc(arg_number(a, 0, "trunc")), "trunc");
}

Value m_atan2(Thread&, Args a) {
  return Value::number(std::atan2(arg_number(a, 0, "atan2"), arg_number(a, 1, "atan2")));
}

// log2 and log10 are exact for powers of their base (log10(1000) is 3.0),
// which log(x) / log(b) is not.
Value log_base(Args a, const char* fn, double (*f)(double)) {
  double x = arg_number(a, 0, fn);
  if (std::isnan(x)) return Value::number(x);
  if (x <= 0) raisef("ValueError", "math domain error in {}(): {} is not positive", fn, to_repr(a[0]));
  return Value::number(f(x));
}

Value m_log2(Thread&, Args a) { return log_base(a, "log2", [](double x) { return std::log2(x); }); }
Value m_log10(Thread&, Args a) { return log_base(a, "log10", [](double x) { return std::log10(x); }); }

Value m_sin(Thread&, Args a) {
  double x = arg_number(a, 0, "sin");
  if (std::isinf(x)) domain_error("sin");
  return Value::number(std::sin(x));
}

Value m_cos(Thread&, Args a) {
  double x = arg_number(a, 0, "cos");
  if (std::isinf(x)) domain_error("cos");
  return Value::number(std::cos(x));
}

Value m_tan(Thread&, Args a) {
  double x = arg_number(a, 0, "tan");
  if (std::isinf(x)) domain_error("tan");
  return Value::number(std::tan(x));
}

Value m_exp(Thread&, Args a) {
  double x = arg_number(a, 0, "exp");
  if (std::isnan(x)) return Value::number(x);
  return Value::number(checked(std::exp(x), "exp"));
}

// pow(int, non-negative int) stays an int (OverflowError past int64), like
// the language's own int arithmetic; everything else is a float.
Value m_pow(Thread&, Args a) {
  if (a[0].is_int() && a[1].is_int() && a[1].as.i >= 0) {
    std::int64_t base = a[0].as.i, e = a[1].as.i, result = 1;
    while (e > 0) {
      if (e & 1) {
        if (__builtin_mul_overflow(result, base, &result)) raise("OverflowError", "integer overflow in pow()");
      }
      e >>= 1;
      if (e > 0 && __builtin_mul_overflow(base, base, &base)) raise("OverflowError", "integer overflow in pow()");
    }
    return Value::integer(result);
  }
  double x = arg_number(a, 0, "pow"), y = arg_number(a, 1, "pow");
  if (x == 0 && y < 0) domain_error("pow");
  double r = std::pow(x, y);
  if (std::isnan(r) && !std::isnan(x) && !std::isnan(y)) domain_error("pow");
  if (std::isinf(r) && std::isfinite(x) && std::isfinite(y)) raise("OverflowError", "math range error in pow()");
  return Value::number(r);
}

Value m_log(Thread&, Args a) {
  double x = arg_number(a, 0, "log");
  if (std::isnan(x)) return Value::number(x);
  if (x <= 0) raisef("ValueError", "math domain error in log(): {} is not positive", to_repr(a[0]));
  double r = std::log(x);
  if (a.n > 1 && !a[1].is_nil()) {
    double b = arg_number(a, 1, "log");
    if (!(b > 0) || b == 1) raisef("ValueError", "math domain error in log(): invalid base {}", to_repr(a[1]));
    if (b == 2) return Value::number(std::log2(x));
    if (b == 10) return Value::number(std::log10(x));
    r /= std::log(b);
  }
  return Value::number(r);
}

Value m_isnan(Thread&, Args a) { return Value::boolean(std::isnan(arg_number(a, 0, "isnan"))); }
Value m_isinf(Thread&, Args a) { return Value::boolean(std::isinf(arg_number(a, 0, "isinf"))); }

}  // namespace

void register_math(Interp& in) {
  ObjMap* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, Value v) { m->set(Value::object(in.heap.intern(name)), v); };
  put("sqrt", in.native("sqrt", m_sqrt, 1, 1));
  put("floor", in.native("floor", m_floor, 1, 1));
  put("ceil", in.native("ceil", m_ceil, 1, 1));
  put("trunc", in.native("trunc", m_trunc, 1, 1));
  put("sin", in.native("sin", m_sin, 1, 1));
  put("cos", in.native("cos", m_cos, 1, 1));
  put("tan", in.native("tan", m_tan, 1, 1));
  put("atan2", in.native("atan2", m_atan2, 2, 2));
  put("exp", in.native("exp", m_exp, 1, 1));
  put("pow", in.native("pow", m_pow, 2, 2));
  put("log", in.native("log", m_log, 1, 2));
  put("log2", in.native("log2", m_log2, 1, 1));
  put("log10", in.native("log10", m_log10, 1, 1));
  put("isnan", in.native("isnan", m_isnan, 1, 1));
  put("isinf", in.native("isinf", m_isinf, 1, 1));
  put("pi", Value::number(3.141592653589793));
  put("e", Value::number(2.718281828459045));
  put("inf", Value::number(std::numeric_limits<double>::infinity()));
  put("nan", Value::number(std::numeric_limits<double>::quiet_NaN()));
  in.add_builtin("math", Value::object(m));
}

}  // namespace weft
