// The assertions for timing and ratio tests (SPEC §6): assert_between and
// assert_close. They live apart from builtins.cpp because they belong with
// `weft test` and the contention suite: their failure messages are what a
// reader of a failed CI run sees, so each names the value and the bounds it
// missed.
#include <fmt/format.h>

#include <cmath>
#include <string>

#include "runtime/natives.hpp"

namespace weft {

namespace {

double number_arg(Args a, int i, const char* fn, const char* what) {
  Value v = a[i];
  if (!v.is_number()) raisef("TypeError", "{}() {} must be a number, not {}", fn, what, type_name(v));
  return v.to_double();
}

// The optional message goes first, as in assert_eq: "cpu ratio: expected ...".
std::string with_message(Args a, int index, std::string msg) {
  if (a.n > index && !a[index].is_nil()) return to_str(a[index]) + ": " + msg;
  return msg;
}

// assert_between(x, lo, hi, message?): lo <= x <= hi, both ends included.
Value assert_between(Thread&, Args a) {
  double x = number_arg(a, 0, "assert_between", "argument 1 (x)");
  double lo = number_arg(a, 1, "assert_between", "argument 2 (lo)");
  double hi = number_arg(a, 2, "assert_between", "argument 3 (hi)");
  if (lo > hi)
    raisef("ValueError", "assert_between() bounds are reversed: lo {} is greater than hi {}", to_repr(a[1]),
           to_repr(a[2]));
  if (lo <= x && x <= hi) return Value();
  std::string how;
  if (std::isnan(x))
    how = "it is nan";
  else if (x < lo)
    how = fmt::format("{:.6g} below the lower bound", lo - x);
  else
    how = fmt::format("{:.6g} above the upper bound", x - hi);
  raise("AssertionError", with_message(a, 3,
                                       fmt::format("expected {} to be between {} and {} ({})", to_repr(a[0]),
                                                   to_repr(a[1]), to_repr(a[2]), how)));
}

// assert_close(actual, expected, rel?, abs?) with pytest.approx's rule:
// |actual - expected| <= max(rel * |expected|, abs), rel 1e-6 and abs 1e-12
// by default. Infinities are close only to themselves; nan to nothing.
Value assert_close(Thread&, Args a) {
  double actual = number_arg(a, 0, "assert_close", "argument 1 (actual)");
  double expected = number_arg(a, 1, "assert_close", "argument 2 (expected)");
  double rel = a.n > 2 && !a[2].is_nil() ? number_arg(a, 2, "assert_close", "argument 3 (rel)") : 1e-6;
  double abs_tol = a.n > 3 && !a[3].is_nil() ? number_arg(a, 3, "assert_close", "argument 4 (abs)") : 1e-12;
  if (rel < 0 || abs_tol < 0 || std::isnan(rel) || std::isnan(abs_tol))
    raise("ValueError", "assert_close() tolerances must be >= 0");
  if (actual == expected) return Value();  // also inf == inf
  double tol = std::max(rel * std::fabs(expected), abs_tol);
  if (std::isfinite(actual) && std::isfinite(expected) && std::fabs(actual - expected) <= tol) return Value();
  raise("AssertionError",
        fmt::format("expected {} to be close to {} (within ±{:.6g}: between {:.12g} and {:.12g}; rel={:.6g}, "
                    "abs={:.6g}), but it differs by {:.6g}",
                    to_repr(a[0]), to_repr(a[1]), tol, expected - tol, expected + tol, rel, abs_tol,
                    std::fabs(actual - expected)));
}

}  // namespace

// Called from register_builtins.
void register_assertions(Interp& in) {
  in.add_builtin("assert_between", in.native("assert_between", assert_between, 3, 4));
  in.add_builtin("assert_close", in.native("assert_close", assert_close, 2, 4));
}

}  // namespace weft
