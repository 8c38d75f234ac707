// Unit tests of interpreter/builtins.cpp that don't need the VM: natives are
// called directly through Interp::builtins and the method tables, with
// arguments placed on the thread's value stack.
#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>

#include "interpreter/builtins.hpp"
#include "runtime/natives.hpp"

using namespace weft;

namespace {

struct Fixture {
  Interp in;
  Thread t{in, 1, "main"};
  Fixture() { register_builtins(in); }

  Value s(std::string_view v) { return str_value(t, v); }

  // Calls builtin `name` with `args` (copied onto the value stack).
  Value call(const std::string& name, std::initializer_list<Value> args) {
    Value fnv = in.builtins.at(name);
    auto* fn = as<ObjNative>(fnv);
    Value* base = t.sp;
    for (Value v : args) *t.sp++ = v;
    Args a{base, static_cast<int>(args.size()), fn->data};
    struct Pop {
      Thread& t;
      Value* base;
      ~Pop() { t.sp = base; }
    } pop{t, base};
    return fn->fn(t, a);
  }

  Value method(const MethodTable& table, std::string_view name, Value self, std::initializer_list<Value> args) {
    const Method& m = table.at(name);
    Value* base = t.sp;
    for (Value v : args) *t.sp++ = v;
    Args a{base, static_cast<int>(args.size()), self};
    struct Pop {
      Thread& t;
      Value* base;
      ~Pop() { t.sp = base; }
    } pop{t, base};
    return m.fn(t, a);
  }

  std::string str_of(Value v) { return to_str(v); }

  // The NativeError type a call raises ("" if none).
  template <class F>
  std::string error_of(F&& f, std::string* message = nullptr) {
    try {
      f();
    } catch (const NativeError& e) {
      if (message) *message = e.message;
      return e.type;
    }
    return "";
  }
};

Value I(std::int64_t i) { return Value::integer(i); }
Value F(double d) { return Value::number(d); }

}  // namespace

TEST_CASE_METHOD(Fixture, "utf8 helpers count code points", "[builtins][utf8]") {
  ObjString* ascii = as<ObjString>(s("hello"));
  CHECK(utf8_offset(ascii, 0) == 0);
  CHECK(utf8_offset(ascii, 3) == 3);
  CHECK(utf8_offset(ascii, 5) == 5);
  CHECK(utf8_char_len(ascii, 1) == 1);

  ObjString* u = as<ObjString>(s("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80!"));  // héllo € 😀!
  CHECK(utf8_offset(u, 1) == 1);
  CHECK(utf8_offset(u, 2) == 3);  // past é
  CHECK(utf8_char_len(u, 1) == 2);
  CHECK(utf8_char_len(u, 7) == 3);   // €
  CHECK(utf8_char_len(u, 11) == 4);  // 😀
  CHECK(utf8_offset(u, 10) == u->length);
  CHECK(utf8_offset(u, 1000) == u->length);  // clamped, never past the end
}

TEST_CASE_METHOD(Fixture, "invalid utf8 bytes count as one code point each", "[builtins][utf8]") {
  ObjString* bad = as<ObjString>(s(std::string_view("a\x80\xFF\xC3(z\xE2\x82", 8)));
  CHECK(utf8_char_len(bad, 0) == 1);
  CHECK(utf8_char_len(bad, 1) == 1);  // stray continuation byte
  CHECK(utf8_char_len(bad, 2) == 1);  // 0xFF never valid
  CHECK(utf8_char_len(bad, 3) == 1);  // 0xC3 followed by '(' is not a sequence
  CHECK(utf8_char_len(bad, 6) == 1);  // truncated 3-byte sequence at the end
  CHECK(utf8_char_len(bad, 100) == 1);
  CHECK(utf8_offset(bad, 2) == 2);
  // Overlong encodings and surrogates are invalid.
  ObjString* overlong = as<ObjString>(s("\xC0\xAF\xE0\x80\xAF\xED\xA0\x80"));
  CHECK(utf8_char_len(overlong, 0) == 1);
  CHECK(utf8_char_len(overlong, 2) == 1);
  CHECK(utf8_char_len(overlong, 5) == 1);
  // chars() never loses a byte.
  Value chars = method(str_methods(), "chars", Value::object(bad), {});
  std::string joined;
  for (Value c : as<ObjList>(chars)->items) joined += as<ObjString>(c)->view();
  CHECK(joined == std::string_view("a\x80\xFF\xC3(z\xE2\x82", 8));
}

TEST_CASE_METHOD(Fixture, "len and str methods count code points", "[builtins]") {
  CHECK(call("len", {s("h\xC3\xA9llo")}).as.i == 5);
  CHECK(call("len", {s("")}).as.i == 0);
  Value u = s("h\xC3\xA9llo w\xC3\xB6rld");
  CHECK(method(str_methods(), "find", u, {s("w")}).as.i == 6);
  CHECK(method(str_methods(), "find", u, {s("zz")}).as.i == -1);
  CHECK(str_of(method(str_methods(), "slice", u, {I(1), I(4)})) == "\xC3\xA9ll");
  CHECK(str_of(method(str_methods(), "slice", u, {I(-5)})) == "w\xC3\xB6rld");
  CHECK(as<ObjList>(method(str_methods(), "chars", u, {}))->items.size() == 11);
  CHECK(as<ObjList>(method(str_methods(), "bytes", u, {}))->items.size() == 13);
}

TEST_CASE_METHOD(Fixture, "str/repr of floats follow float_repr", "[builtins][format]") {
  CHECK(str_of(call("str", {F(1.0)})) == "1.0");
  CHECK(str_of(call("str", {F(0.1)})) == "0.1");
  CHECK(str_of(call("str", {F(1e16)})) == "1e+16");
  CHECK(str_of(call("str", {F(1e-5)})) == "1e-05");
  CHECK(str_of(call("repr", {F(2.0 / 3)})) == "0.6666666666666666");
  CHECK(str_of(call("repr", {s("a\"b\n")})) == "\"a\\\"b\\n\"");
}

TEST_CASE_METHOD(Fixture, "format", "[builtins][format]") {
  auto fmt = [&](std::initializer_list<Value> args) { return str_of(call("format", args)); };
  CHECK(fmt({s("{:>5}|{:<5}|{:^7}|{:.2f}|{:x}"), I(1), I(2), s("mid"), F(2.0 / 3), I(255)}) ==
        "    1|2    |  mid  |0.67|ff");
  // {} of a float prints like str(): 1.0, not 1.
  CHECK(fmt({s("{} {} {}"), F(1.0), F(1e16), F(0.1)}) == "1.0 1e+16 0.1");
  CHECK(fmt({s("[{:>6}]"), F(1.0)}) == "[   1.0]");
  CHECK(fmt({s("[{:<6}]"), F(-1.5)}) == "[-1.5  ]");
  CHECK(fmt({s("[{:06}]"), F(-1.5)}) == "[-001.5]");
  CHECK(fmt({s("[{:+}]"), F(2.5)}) == "[+2.5]");
  CHECK(fmt({s("[{:*^9}]"), F(2.5)}) == "[***2.5***]");
  CHECK(fmt({s("{:.3}"), F(2.0 / 3)}) == "0.667");
  CHECK(fmt({s("{:e}"), F(1234.5)}) == "1.234500e+03");
  // ints with a float presentation type are converted.
  CHECK(fmt({s("{:.2f}"), I(3)}) == "3.00");
  CHECK(fmt({s("{:08.3f}"), F(-3.14159)}) == "-003.142");
  CHECK(fmt({s("{1} {0} {1}"), s("a"), s("b")}) == "b a b");
  CHECK(fmt({s("{{}} {{{}}}"), I(7)}) == "{} {7}");
  CHECK(fmt({s("{} {} {} {}"), Value(), Value::boolean(true), s("x"), F(-0.0)}) == "nil true x -0.0");
  CHECK(fmt({s("{:>{}}|"), s("ab"), I(5)}) == "   ab|");
  CHECK(fmt({s("{!r} {}"), s("q"), s("q")}) == "\"q\" q");
  CHECK(fmt({s("{:5}|{:<5}|"), Value::boolean(false), I(3)}) == "false|3    |");
  CHECK(fmt({s("caf\xC3\xA9 {:>3}"), s("\xC3\xA9")}) == "caf\xC3\xA9   \xC3\xA9");

  std::string msg;
  CHECK(error_of([&] { fmt({s("{"), I(1)}); }, &msg) == "ValueError");
  CHECK(error_of([&] { fmt({s("}"), I(1)}); }) == "ValueError");
  CHECK(error_of([&] { fmt({s("{} {}"), I(1)}); }, &msg) == "ValueError");
  CHECK(msg.find("argument 1") != std::string::npos);
  CHECK(error_of([&] { fmt({s("{:d}"), s("x")}); }) == "ValueError");
  CHECK(error_of([&] { fmt({s("{:x}"), F(1.5)}); }) == "ValueError");
  CHECK(error_of([&] { fmt({s("{0} {}"), I(1), I(2)}); }) == "ValueError");
  CHECK(error_of([&] { fmt({s("{name}"), I(1)}); }) == "ValueError");
  CHECK(error_of([&] { fmt({s("{:>999999999999}"), I(1)}); }) == "ValueError");
  CHECK(error_of([&] { fmt({I(1)}); }) == "TypeError");
}

TEST_CASE_METHOD(Fixture, "int and float conversions", "[builtins]") {
  CHECK(call("int", {s(" -42 ")}).as.i == -42);
  CHECK(call("int", {s("1_000")}).as.i == 1000);
  CHECK(call("int", {s("+7")}).as.i == 7);
  CHECK(call("int", {s("-9223372036854775808")}).as.i == INT64_MIN);
  CHECK(call("int", {F(-3.9)}).as.i == -3);
  CHECK(call("int", {Value::boolean(true)}).as.i == 1);
  std::string msg;
  CHECK(error_of([&] { call("int", {s("x1")}); }, &msg) == "ValueError");
  CHECK(msg == "not a number: \"x1\"");
  CHECK(error_of([&] { call("int", {s("1__0")}); }) == "ValueError");
  CHECK(error_of([&] { call("int", {s("")}); }) == "ValueError");
  CHECK(error_of([&] { call("int", {s("3.5")}); }) == "ValueError");
  CHECK(error_of([&] { call("int", {s("9223372036854775808")}); }) == "OverflowError");
  CHECK(error_of([&] { call("int", {F(1e19)}); }) == "OverflowError");
  CHECK(error_of([&] { call("int", {F(NAN)}); }) == "ValueError");
  CHECK(error_of([&] { call("int", {Value()}); }) == "TypeError");

  CHECK(call("float", {s(" 2.5 ")}).as.d == 2.5);
  CHECK(call("float", {s("1_000.5")}).as.d == 1000.5);
  CHECK(call("float", {s("-1e3")}).as.d == -1000.0);
  CHECK(std::isinf(call("float", {s("inf")}).as.d));
  CHECK(std::isinf(call("float", {s("1e999")}).as.d));
  CHECK(call("float", {I(3)}).as.d == 3.0);
  CHECK(error_of([&] { call("float", {s("1.2.3")}); }) == "ValueError");
  CHECK(error_of([&] { call("float", {s("--1")}); }) == "ValueError");
  CHECK(error_of([&] { call("float", {s("0x10")}); }) == "ValueError");
}

TEST_CASE_METHOD(Fixture, "min, max, abs, sorted, range", "[builtins]") {
  CHECK(call("min", {I(3), F(1.5), I(2)}).as.d == 1.5);
  CHECK(call("max", {I(3), F(1.5), I(2)}).as.i == 3);
  CHECK(str_of(call("max", {s("apple"), s("pear")})) == "pear");
  ObjList* l = new_list(t);
  l->items = {I(5), I(-2), I(9)};
  CHECK(call("min", {Value::object(l)}).as.i == -2);
  CHECK(error_of([&] { call("min", {Value::object(new_list(t))}); }) == "ValueError");
  CHECK(error_of([&] { call("max", {I(1), s("a")}); }) == "TypeError");
  CHECK(error_of([&] { call("abs", {I(INT64_MIN)}); }) == "OverflowError");
  CHECK(call("abs", {F(-2.5)}).as.d == 2.5);
  CHECK(to_repr(call("sorted", {Value::object(l)})) == "[-2, 5, 9]");
  CHECK(to_repr(Value::object(l)) == "[5, -2, 9]");  // unchanged
  CHECK(call("len", {call("range", {I(10), I(0), I(-3)})}).as.i == 4);
  CHECK(to_repr(call("list", {call("range", {I(10), I(0), I(-3)})})) == "[10, 7, 4, 1]");
  CHECK(error_of([&] { call("range", {I(1), I(2), I(0)}); }) == "ValueError");
  CHECK(error_of([&] { call("range", {F(1.0)}); }) == "TypeError");
}

TEST_CASE_METHOD(Fixture, "assert helpers", "[builtins]") {
  std::string msg;
  CHECK(error_of([&] { call("assert", {Value::boolean(false)}); }, &msg) == "AssertionError");
  CHECK(msg == "assertion failed");
  CHECK(error_of([&] { call("assert", {Value(), s("boom")}); }, &msg) == "AssertionError");
  CHECK(msg == "boom");
  CHECK(error_of([&] { call("assert", {I(0)}); }) == "");
  CHECK(error_of([&] { call("assert_eq", {I(4), I(3)}); }, &msg) == "AssertionError");
  CHECK(msg == "expected 3, got 4");
  CHECK(error_of([&] { call("assert_eq", {s("a"), s("b"), s("names")}); }, &msg) == "AssertionError");
  CHECK(msg == "names: expected \"b\", got \"a\"");
  CHECK(error_of([&] { call("assert_eq", {I(1), F(1.0)}); }) == "");
}

TEST_CASE_METHOD(Fixture, "list methods", "[builtins][methods]") {
  const MethodTable& L = list_methods();
  Value lv = Value::object(new_list(t));
  for (int i = 0; i < 5; ++i) method(L, "push", lv, {I(i)});
  CHECK(to_repr(lv) == "[0, 1, 2, 3, 4]");
  CHECK(method(L, "pop", lv, {}).as.i == 4);
  method(L, "insert", lv, {I(-1), s("x")});
  method(L, "insert", lv, {I(100), s("end")});
  method(L, "insert", lv, {I(-100), s("start")});
  CHECK(to_repr(lv) == "[\"start\", 0, 1, 2, \"x\", 3, \"end\"]");
  CHECK(str_of(method(L, "remove_at", lv, {I(-1)})) == "end");
  CHECK(error_of([&] { method(L, "remove_at", lv, {I(6)}); }) == "IndexError");
  CHECK(to_repr(method(L, "slice", lv, {I(1), I(-2)})) == "[0, 1, 2]");
  CHECK(to_repr(method(L, "slice", lv, {I(-2)})) == "[\"x\", 3]");
  CHECK(to_repr(method(L, "slice", lv, {I(4), I(2)})) == "[]");
  CHECK(method(L, "index", lv, {F(2.0)}).as.i == 3);
  CHECK(method(L, "index", lv, {s("nope")}).as.i == -1);
  CHECK(method(L, "contains", lv, {s("x")}).as.b);
  CHECK(error_of([&] { method(L, "sort", lv, {}); }) == "TypeError");
  CHECK(str_of(method(L, "join", lv, {s(",")})) == "start,0,1,2,x,3");
  CHECK(error_of([&] { method(L, "join", lv, {I(1)}); }) == "TypeError");
  CHECK(error_of([&] { method(L, "insert", lv, {s("0"), I(1)}); }) == "TypeError");
  Value empty = Value::object(new_list(t));
  std::string msg;
  CHECK(error_of([&] { method(L, "pop", empty, {}); }, &msg) == "IndexError");
  CHECK(msg == "pop from empty list");
}

TEST_CASE_METHOD(Fixture, "sort is stable and orders mixed numbers", "[builtins][methods]") {
  const MethodTable& L = list_methods();
  ObjList* l = new_list(t);
  l->items = {I(3), F(1.5), I(-1), F(NAN), I(2), F(-0.5)};
  method(L, "sort", Value::object(l), {});
  CHECK(to_repr(Value::object(l)) == "[-1, -0.5, 1.5, 2, 3, nan]");
  ObjList* s2 = new_list(t);
  s2->items = {s("b"), s("B"), s("a"), s("\xC3\xA9")};
  method(L, "sort", Value::object(s2), {});
  CHECK(to_repr(Value::object(s2)) == "[\"B\", \"a\", \"b\", \"\xC3\xA9\"]");
  ObjList* mixed = new_list(t);
  mixed->items = {I(1), s("a")};
  std::string msg;
  CHECK(error_of([&] { method(L, "sort", Value::object(mixed), {}); }, &msg) == "TypeError");
  CHECK(msg == "cannot sort a list of int and str");
  CHECK(to_repr(Value::object(mixed)) == "[1, \"a\"]");
}

TEST_CASE_METHOD(Fixture, "map methods", "[builtins][methods]") {
  const MethodTable& M = map_methods();
  ObjMap* m = new_map(t);
  m->set(s("a"), I(1));
  m->set(s("b"), I(2));
  m->set(I(3), s("three"));
  Value mv = Value::object(m);
  CHECK(to_repr(method(M, "keys", mv, {})) == "[\"a\", \"b\", 3]");
  CHECK(to_repr(method(M, "values", mv, {})) == "[1, 2, \"three\"]");
  CHECK(method(M, "remove", mv, {s("b")}).as.i == 2);
  CHECK(method(M, "remove", mv, {s("b")}).is_nil());
  CHECK(to_repr(method(M, "items", mv, {})) == "[[\"a\", 1], [3, \"three\"]]");
  CHECK(method(M, "get", mv, {F(3.0)}).is_obj());
  CHECK(method(M, "get", mv, {s("zz"), I(9)}).as.i == 9);
  CHECK(method(M, "get", mv, {s("zz")}).is_nil());
  CHECK(method(M, "has", mv, {s("a")}).as.b);
  CHECK(method(M, "len", mv, {}).as.i == 2);
  Value c = method(M, "copy", mv, {});
  CHECK(values_equal(c, mv));
  CHECK(c.as.o != mv.as.o);
  std::string msg;
  CHECK(error_of([&] { method(M, "get", mv, {Value::object(new_list(t))}); }, &msg) == "TypeError");
  CHECK(msg == "unhashable type: 'list'");
}

TEST_CASE_METHOD(Fixture, "str methods", "[builtins][methods]") {
  const MethodTable& S = str_methods();
  CHECK(to_repr(method(S, "split", s("  a b\t\nc  "), {})) == "[\"a\", \"b\", \"c\"]");
  CHECK(to_repr(method(S, "split", s("a,,b"), {s(",")})) == "[\"a\", \"\", \"b\"]");
  CHECK(to_repr(method(S, "split", s(""), {})) == "[]");
  CHECK(to_repr(method(S, "split", s(""), {s(",")})) == "[\"\"]");
  CHECK(error_of([&] { method(S, "split", s("abc"), {s("")}); }) == "ValueError");
  CHECK(str_of(method(S, "trim", s(" \t x y \n"), {})) == "x y");
  CHECK(str_of(method(S, "upper", s("abc\xC3\xA9"), {})) == "ABC\xC3\xA9");
  CHECK(str_of(method(S, "lower", s("ABC"), {})) == "abc");
  CHECK(method(S, "starts_with", s("hello"), {s("he")}).as.b);
  CHECK(!method(S, "ends_with", s("hello"), {s("he")}).as.b);
  CHECK(method(S, "contains", s("hello"), {s("ll")}).as.b);
  CHECK(str_of(method(S, "replace", s("a-b-c"), {s("-"), s("+-")})) == "a+-b+-c");
  CHECK(error_of([&] { method(S, "replace", s("abc"), {s(""), s("x")}); }) == "ValueError");
  CHECK(error_of([&] { method(S, "find", s("abc"), {I(1)}); }) == "TypeError");
  CHECK(to_repr(method(S, "bytes", s("\xC3\xA9"), {})) == "[195, 169]");
}

TEST_CASE_METHOD(Fixture, "format never crashes on random format strings", "[builtins][format]") {
  const std::string alphabet = "{}{}:<>^0123456789.xXfFeEgGdbocsaL!r*+- #\xC3\xA9";
  std::uint64_t seed = 0x9E3779B97F4A7C15ULL;
  auto next = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  Value args[] = {I(42), F(-2.5), s("str"), Value::boolean(true), Value(), I(3)};
  int ok = 0, errors = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string f;
    std::size_t len = next() % 12;
    for (std::size_t k = 0; k < len; ++k) f.push_back(alphabet[next() % alphabet.size()]);
    std::string type = error_of([&] {
      call("format", {s(f), args[next() % 6], args[next() % 6], args[next() % 6]});
    });
    if (type.empty())
      ++ok;
    else {
      CHECK((type == "ValueError" || type == "MemoryError"));
      ++errors;
    }
  }
  CHECK(ok > 100);
  CHECK(errors > 100);
}

TEST_CASE_METHOD(Fixture, "order_values orders lists like Python", "[builtins][order]") {
  auto L = [&](std::initializer_list<Value> items) { return list_value(t, std::vector<Value>(items)); };
  CHECK(order_values(L({I(1), I(2)}), L({I(1), I(3)}), "<") == -1);
  CHECK(order_values(L({I(1)}), L({I(1), I(2)}), "<") == -1);
  CHECK(order_values(L({I(2)}), L({I(1), I(5)}), "<") == 1);
  CHECK(order_values(L({I(1), F(2.0)}), L({F(1.0), I(2)}), "<") == 0);
  CHECK(order_values(L({F(std::nan(""))}), L({I(1)}), "<") == 2);
  // 2^53 + 1 is greater than the float 2^53, exactly.
  CHECK(order_values(I((std::int64_t{1} << 53) + 1), F(9007199254740992.0), "<") == 1);
  std::string msg;
  CHECK(error_of([&] { order_values(L({I(1)}), L({s("a")}), "<"); }, &msg) == "TypeError");
  CHECK(msg == "'<' not supported between 'int' and 'str'");
}

TEST_CASE_METHOD(Fixture, "repr and == on cyclic lists and maps", "[builtins][cycles]") {
  ObjList* a = new_list(t);
  a->items.push_back(I(1));
  a->items.push_back(Value::object(a));
  CHECK(to_repr(Value::object(a)) == "[1, [...]]");
  // The busy marks are cleared afterwards: printing twice gives the same.
  CHECK(to_repr(Value::object(a)) == "[1, [...]]");
  ObjMap* m = new_map(t);
  map_put(t, m, "me", Value::object(m));
  CHECK(to_repr(Value::object(m)) == "{\"me\": {...}}");
  ObjList* b = new_list(t);
  b->items.push_back(I(1));
  b->items.push_back(Value::object(b));
  CHECK(values_equal(Value::object(a), Value::object(a)));
  CHECK(error_of([&] { values_equal(Value::object(a), Value::object(b)); }) == "ValueError");
  CHECK(static_cast<int>(a->busy) == 0);
  CHECK(static_cast<int>(b->busy) == 0);
}

TEST_CASE_METHOD(Fixture, "sum round hex ord chr", "[builtins]") {
  CHECK(str_of(call("round", {F(2.5)})) == "2");
  CHECK(str_of(call("round", {F(-0.5)})) == "0");
  CHECK(str_of(call("round", {F(2.675), I(2)})) == "2.67");
  CHECK(str_of(call("round", {I(-1550), I(-2)})) == "-1600");
  CHECK(str_of(call("hex", {I(-255)})) == "-0xff");
  CHECK(str_of(call("ord", {s("\xe2\x82\xac")})) == "8364");
  CHECK(str_of(call("chr", {I(8364)})) == "\xe2\x82\xac");
  Value xs = list_value(t, {F(0.1), F(0.2), F(0.3)});
  CHECK(str_of(call("sum", {xs})) == "0.6");
}
