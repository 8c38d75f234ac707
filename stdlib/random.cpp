// The random module (SPEC §7.12): random, int, choice, shuffle, sample, seed.
//
// Each OS thread has its own std::mt19937_64, seeded from std::random_device
// the first time the thread uses it, so threads never share (or lock) a
// generator. random.seed(n) reseeds only the calling thread's generator:
// a seeded single-threaded run is reproducible. Integer ranges come from
// std::uniform_int_distribution (unbiased); floats take the top 53 bits of
// one draw, which is exact and the same on every standard library.
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"
#include "stdlib/modules.hpp"

namespace weft {

namespace {

struct ThreadRandom {
  bool ready = false;
  std::mt19937_64 gen;
};

std::mt19937_64& generator() {
  thread_local ThreadRandom r;
  if (!r.ready) {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    r.gen.seed(seq);
    r.ready = true;
  }
  return r.gen;
}

// A uniform index in [0, n).
std::size_t index_below(std::size_t n) {
  std::uniform_int_distribution<std::size_t> d(0, n - 1);
  return d(generator());
}

Value r_random(Thread&, Args) {
  return Value::number(static_cast<double>(generator()() >> 11) * 0x1.0p-53);
}

Value r_int(Thread&, Args a) {
  std::int64_t lo = arg_int(a, 0, "int"), hi = arg_int(a, 1, "int");
  if (lo > hi) raisef("ValueError", "int() empty range: {} > {}", lo, hi);
  std::uniform_int_distribution<std::int64_t> d(lo, hi);
  return Value::integer(d(generator()));
}

Value r_choice(Thread&, Args a) {
  ObjList* l = arg_list(a, 0, "choice");
  if (l->items.size() == 0) raise("IndexError", "choice() from an empty list");
  return l->items[index_below(l->items.size())];
}

// Fisher-Yates, in place.
Value r_shuffle(Thread&, Args a) {
  ObjList* l = arg_list(a, 0, "shuffle");
  for (std::size_t i = l->items.size(); i > 1; --i) {
    std::size_t j = index_below(i);
    std::swap(l->items[i - 1], l->items[j]);
  }
  return Value();
}

// k distinct positions (a partial Fisher-Yates over the indices), in the
// order drawn; the list itself is left alone.
Value r_sample(Thread& t, Args a) {
  ObjList* l = arg_list(a, 0, "sample");
  std::int64_t k = arg_int(a, 1, "sample");
  std::size_t n = l->items.size();
  if (k < 0) raisef("ValueError", "sample() size must not be negative, not {}", k);
  if (static_cast<std::uint64_t>(k) > n)
    raisef("ValueError", "sample() size {} is larger than the list ({} items)", k, n);
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  std::vector<Value> out;
  out.reserve(static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < static_cast<std::size_t>(k); ++i) {
    std::uniform_int_distribution<std::size_t> d(i, n - 1);
    std::swap(idx[i], idx[d(generator())]);
    out.push_back(l->items[idx[i]]);
  }
  return list_value(t, std::move(out));
}

// seed(n) makes this thread's sequence reproducible; seed() or seed(nil)
// goes back to an unpredictable one.
Value r_seed(Thread&, Args a) {
  std::mt19937_64& g = generator();
  if (a.n == 0 || a[0].is_nil()) {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    g.seed(seq);
  } else {
    g.seed(static_cast<std::uint64_t>(arg_int(a, 0, "seed")));
  }
  return Value();
}

}  // namespace

void register_random(Interp& in) {
  ObjMap* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, Value v) { m->set(Value::object(in.heap.intern(name)), v); };
  put("random", in.native("random", r_random, 0, 0));
  put("int", in.native("int", r_int, 2, 2));
  put("choice", in.native("choice", r_choice, 1, 1));
  put("shuffle", in.native("shuffle", r_shuffle, 1, 1));
  put("sample", in.native("sample", r_sample, 2, 2));
  put("seed", in.native("seed", r_seed, 0, 1));
  in.add_builtin("random", Value::object(m));
}

}  // namespace weft
