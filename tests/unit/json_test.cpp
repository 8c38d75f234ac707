// Unit tests of the JSON conversion layer (stdlib/json.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "runtime/natives.hpp"
#include "stdlib/json_convert.hpp"
#include "stdlib/modules.hpp"
#include "tests/unit/stdlib_env.hpp"

using namespace weft;
using weft::testing::Env;
using weft::testing::error_of;

namespace {

std::string roundtrip(Env& e, std::string_view text, int indent = -1) {
  return json_stringify(json_parse(e.t, text), indent);
}

}  // namespace

TEST_CASE("json_parse builds Weft values", "[json]") {
  Env e;
  Value v = json_parse(e.t, R"({"b": 1, "a": [true, false, null, 2.5, "x"], "n": -7})");
  REQUIRE(is_obj_type(v, ObjType::Map));
  // Document order, not sorted.
  CHECK(to_repr(v) == R"({"b": 1, "a": [true, false, nil, 2.5, "x"], "n": -7})");
  CHECK(json_parse(e.t, "null").is_nil());
  CHECK(json_parse(e.t, "  42 ").is_int());
  CHECK(json_parse(e.t, "42").as.i == 42);
  CHECK(json_parse(e.t, "1.0").is_float());
  CHECK(json_parse(e.t, "-9223372036854775808").as.i == std::numeric_limits<std::int64_t>::min());
  Value big = json_parse(e.t, "18446744073709551615");
  CHECK(big.is_float());
  CHECK(big.as.d == 18446744073709551615.0);
  CHECK(json_parse(e.t, "9223372036854775807").is_int());
  CHECK(to_str(json_parse(e.t, R"("a\nb\u00e9\ud83d\ude00")")) == "a\nb\xC3\xA9\xF0\x9F\x98\x80");
}

TEST_CASE("json_parse keeps the last of duplicate keys", "[json]") {
  Env e;
  CHECK(to_repr(json_parse(e.t, R"({"a":1,"b":2,"a":3})")) == R"({"a": 3, "b": 2})");
}

TEST_CASE("json_parse errors carry line and column", "[json]") {
  Env e;
  auto [type, msg] = error_of([&] { json_parse(e.t, R"({"a":})"); });
  CHECK(type == "ValueError");
  CHECK(msg.find("line 1, column 6") != std::string::npos);
  CHECK(msg.find("unexpected '}'") != std::string::npos);

  auto [t2, m2] = error_of([&] { json_parse(e.t, "[1,\n 2,\n  x]"); });
  CHECK(t2 == "ValueError");
  CHECK(m2.find("line 3, column 3") != std::string::npos);

  CHECK(error_of([&] { json_parse(e.t, ""); }).first == "ValueError");
  CHECK(error_of([&] { json_parse(e.t, "[1, 2"); }).first == "ValueError");
  CHECK(error_of([&] { json_parse(e.t, "[1] x"); }).first == "ValueError");
  CHECK(error_of([&] { json_parse(e.t, "\"\xff\""); }).first == "ValueError");
  CHECK(error_of([&] { json_parse(e.t, "{'a': 1}"); }).first == "ValueError");
}

TEST_CASE("json_parse bounds nesting instead of crashing", "[json]") {
  Env e;
  std::string deep(100000, '[');
  auto [type, msg] = error_of([&] { json_parse(e.t, deep); });
  CHECK(type == "ValueError");
  CHECK(msg.find("nesting") != std::string::npos);

  std::string ok = std::string(kJsonMaxDepth, '[') + std::string(kJsonMaxDepth, ']');
  CHECK_NOTHROW(json_parse(e.t, ok));
  std::string too = std::string(kJsonMaxDepth + 1, '[') + std::string(kJsonMaxDepth + 1, ']');
  CHECK(error_of([&] { json_parse(e.t, too); }).first == "ValueError");
}

TEST_CASE("json_stringify compact and indented", "[json]") {
  Env e;
  CHECK(roundtrip(e, R"({"k": [1, null]})") == R"({"k":[1,null]})");
  CHECK(roundtrip(e, R"({"k": [1, null], "e": [], "m": {}})", 2) ==
        "{\n  \"k\": [\n    1,\n    null\n  ],\n  \"e\": [],\n  \"m\": {}\n}");
  CHECK(roundtrip(e, "[1]", 0) == "[\n1\n]");
  CHECK(roundtrip(e, "[]", 4) == "[]");
  CHECK(json_stringify(Value::number(1.0)) == "1.0");
  CHECK(json_stringify(Value::number(0.1)) == "0.1");
  CHECK(json_stringify(Value::number(1e16)) == "1e+16");
  CHECK(json_stringify(Value::integer(-5)) == "-5");
  CHECK(json_stringify(Value::boolean(true)) == "true");
  CHECK(json_stringify(Value()) == "null");
}

TEST_CASE("json_stringify escapes strings and survives invalid UTF-8", "[json]") {
  Env e;
  CHECK(json_stringify(e.str("a\"b\\c\n\t\x01")) == R"("a\"b\\c\n\t\u0001")");
  CHECK(json_stringify(e.str("h\xC3\xA9llo")) == "\"h\xC3\xA9llo\"");
  // Invalid bytes become U+FFFD; the result parses again.
  std::string out = json_stringify(e.str("a\xff" "b\xC3"));
  CHECK(out == "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\"");
  CHECK_NOTHROW(json_parse(e.t, out));
  // Surrogates encoded in UTF-8 (CESU) are invalid too.
  CHECK(json_stringify(e.str("\xED\xA0\x80")) == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST_CASE("json_stringify converts keys and rejects what JSON cannot hold", "[json]") {
  Env e;
  ObjMap* m = new_map(e.t);
  m->set(Value::integer(1), Value::integer(10));
  m->set(Value::boolean(true), Value::integer(20));
  m->set(Value::number(2.5), Value::integer(30));
  m->set(e.str("s"), Value::integer(40));
  CHECK(json_stringify(Value::object(m)) == R"({"1":10,"true":20,"2.5":30,"s":40})");

  // Removed entries (tombstones) are skipped.
  Value old;
  m->remove(Value::integer(1), &old);
  CHECK(json_stringify(Value::object(m)) == R"({"true":20,"2.5":30,"s":40})");

  Value fn = e.in.native("f", [](Thread&, Args) { return Value(); }, 0, 0);
  auto [type, msg] = error_of([&] { json_stringify(fn); });
  CHECK(type == "TypeError");
  CHECK(msg == "cannot convert fn to JSON");

  CHECK(error_of([&] { json_stringify(Value::number(std::nan(""))); }).first == "ValueError");
  CHECK(error_of([&] { json_stringify(Value::number(INFINITY)); }).first == "ValueError");
  CHECK_FALSE(json_compatible(fn));
  CHECK(json_compatible(Value::object(m)));
}

TEST_CASE("json_stringify detects cycles and deep nesting", "[json]") {
  Env e;
  ObjList* l = new_list(e.t);
  l->items.push_back(Value::integer(1));
  l->items.push_back(Value::object(l));
  auto [type, msg] = error_of([&] { json_stringify(Value::object(l)); });
  CHECK(type == "ValueError");
  CHECK(msg.find("circular") != std::string::npos);

  ObjMap* m = new_map(e.t);
  map_put(e.t, m, "self", Value::object(m));
  CHECK(error_of([&] { json_stringify(Value::object(m)); }).first == "ValueError");

  // A shared (non-cyclic) sub-list is fine.
  ObjList* shared = new_list(e.t);
  ObjList* outer = new_list(e.t);
  outer->items.push_back(Value::object(shared));
  outer->items.push_back(Value::object(shared));
  CHECK(json_stringify(Value::object(outer)) == "[[],[]]");

  // Very deep acyclic nesting: ValueError, not a crash.
  ObjList* root = new_list(e.t);
  ObjList* cur = root;
  for (int i = 0; i < 100000; i++) {
    ObjList* next = new_list(e.t);
    cur->items.push_back(Value::object(next));
    cur = next;
  }
  CHECK(error_of([&] { json_stringify(Value::object(root)); }).first == "ValueError");
}

TEST_CASE("json module natives", "[json]") {
  Env e;
  register_json(e.in);
  Value mod = e.in.builtins.at("json");
  REQUIRE(is_obj_type(mod, ObjType::Map));
  Value* parse = as<ObjMap>(mod)->find_str(e.in.heap.intern("parse"));
  Value* stringify = as<ObjMap>(mod)->find_str(e.in.heap.intern("stringify"));
  REQUIRE(parse);
  REQUIRE(stringify);
  Value args[2] = {e.str("[1, {\"a\": 2}]"), Value()};
  Value v = as<ObjNative>(*parse)->fn(e.t, Args{args, 1, Value()});
  Value sargs[2] = {v, Value::integer(1)};
  Value s = as<ObjNative>(*stringify)->fn(e.t, Args{sargs, 2, Value()});
  CHECK(to_str(s) == "[\n 1,\n {\n  \"a\": 2\n }\n]");
  sargs[1] = Value::integer(-1);
  CHECK(error_of([&] { as<ObjNative>(*stringify)->fn(e.t, Args{sargs, 2, Value()}); }).first == "ValueError");
}
