// Unit tests of the compiler + VM + GC through small programs: each program
// stores its answer in the global `r`, which the test reads back.
#include <catch2/catch.hpp>

#include "interpreter/cli.hpp"
#include "interpreter/compiler.hpp"
#include "interpreter/loader.hpp"
#include "interpreter/vm.hpp"
#include "runtime/natives.hpp"

using namespace weft;

namespace {

struct Run {
  std::string value;   // repr of global `r`
  std::string error;   // "Type: message" of an uncaught error, or ""
  std::string report;  // syntax error report, or ""
};

Run run(const std::string& src, bool gc_stress = false) {
  RuntimeOptions opts;
  opts.debug.gc_stress = gc_stress;
  Session s(opts);
  Thread& t = s.main();
  ObjModule* m = s.new_module("", "test.weft", src);
  Run out;
  ObjClosure* cl = load_source(t, m, src, CompileOptions{}, out.report);
  if (!cl) return out;
  Value result, error;
  if (!guarded_call(t, Value::object(cl), nullptr, 0, result, error)) {
    out.error = to_str(error);
    return out;
  }
  auto it = m->slots.find("r");
  if (it != m->slots.end()) out.value = to_repr(m->values[static_cast<std::size_t>(it->second)]);
  s.finish();
  return out;
}

std::string value_of(const std::string& src) {
  Run r = run(src);
  INFO(src << "\nerror: " << r.error << "\nreport: " << r.report);
  REQUIRE(r.error.empty());
  REQUIRE(r.report.empty());
  return r.value;
}

std::string error_of(const std::string& src) {
  Run r = run(src);
  INFO(src);
  REQUIRE(!r.error.empty());
  return r.error;
}

}  // namespace

TEST_CASE("arithmetic follows the SPEC", "[vm]") {
  CHECK(value_of("let r = 1 + 2 * 3") == "7");
  CHECK(value_of("let r = 7 / 2") == "3.5");
  CHECK(value_of("let r = [-7 // 2, -7 % 2, 7 // -2, 7 % -2]") == "[-4, 1, -4, -1]");
  CHECK(value_of("let r = 1 + 0.5") == "1.5");
  CHECK(value_of("let r = \"ab\" * 3") == "\"ababab\"");
  CHECK(value_of("let r = [1] + [2, 3]") == "[1, 2, 3]");
  CHECK(error_of("let r = 9223372036854775807 + 1").rfind("OverflowError", 0) == 0);
  CHECK(error_of("let r = 1 // 0").rfind("ZeroDivisionError", 0) == 0);
  CHECK(error_of("let r = 1 + \"a\"") == "TypeError: unsupported operand types for +: 'int' and 'str'");
}

TEST_CASE("comparison and equality", "[vm]") {
  CHECK(value_of("let r = [1 == 1.0, [1, {\"a\": 2}] == [1, {\"a\": 2}], \"a\" < \"b\", nil == false]") ==
        "[true, true, true, false]");
  CHECK(value_of("let r = [2 in [1, 2], \"x\" in {\"x\": 1}, \"ell\" in \"hello\", 3 in range(5)]") ==
        "[true, true, true, true]");
  CHECK(error_of("let r = 1 < \"a\"").rfind("TypeError", 0) == 0);
  CHECK(value_of("let r = [nil or 1, false and 2, 0 or 3]") == "[1, false, 0]");
}

TEST_CASE("closures capture per-iteration variables and share captured state", "[vm]") {
  CHECK(value_of("let fs = []\nfor i in range(3) { fs.push(fn() { return i }) }\nlet r = [fs[0](), fs[2]()]") ==
        "[0, 2]");
  CHECK(value_of("fn counter() { let n = 0\n return fn() { n += 1\n return n } }\n"
                 "let c = counter()\nc()\nc()\nlet r = c()") == "3");
  CHECK(value_of("fn outer() { let x = 1\n fn set() { x = 5 }\n set()\n return x }\nlet r = outer()") == "5");
  CHECK(value_of("let r = 0\nfn f() { r = 42 }\nf()") == "42");
}

TEST_CASE("loops, break and continue", "[vm]") {
  CHECK(value_of("let r = 0\nfor i in range(10) { if i == 5 { break }\n if i % 2 == 0 { continue }\n r += i }") == "4");
  CHECK(value_of("let r = []\nlet i = 0\nwhile i < 5 { i += 1\n if i == 2 { continue }\n r.push(i) }") ==
        "[1, 3, 4, 5]");
  CHECK(value_of("let r = []\nfor k, v in {\"a\": 1, \"b\": 2} { r.push(k + str(v)) }") == "[\"a1\", \"b2\"]");
  CHECK(value_of("let r = []\nfor i, x in [\"p\", \"q\"] { r.push([i, x]) }") == "[[0, \"p\"], [1, \"q\"]]");
  CHECK(value_of("let r = []\nfor c in \"héllo\" { r.push(c) }") == "[\"h\", \"é\", \"l\", \"l\", \"o\"]");
  CHECK(value_of("let r = []\nfor i in range(10, 0, -3) { r.push(i) }") == "[10, 7, 4, 1]");
}

TEST_CASE("try, catch and throw", "[vm]") {
  CHECK(value_of("let r = nil\ntry { throw \"boom\" } catch e { r = e }") == "\"boom\"");
  CHECK(value_of("let r = nil\ntry { [1][5] } catch e { r = e.type }") == "\"IndexError\"");
  CHECK(value_of("fn f() { throw error(\"ValueError\", \"bad\") }\nlet r = nil\n"
                 "try { f() } catch e { r = [e.type, e.message, len(e.trace)] }") == "[\"ValueError\", \"bad\", 2]");
  CHECK(value_of("let r = 0\nfor i in range(3) { try { if i == 1 { break } } catch e { }\n r += 1 }") == "1");
  CHECK(value_of("fn f() { try { return 1 } catch e { return 2 } }\nlet r = f()\ntry { throw 1 } catch e { r += e }") ==
        "2");
}

TEST_CASE("runtime errors name the problem", "[vm]") {
  CHECK(error_of("let r = undefined_thing") == "NameError: name 'undefined_thing' is not defined");
  CHECK(error_of("let r = {\"a\": 1}[\"b\"]") == "KeyError: \"b\"");
  CHECK(error_of("let r = {}\nr[[1]] = 2").rfind("TypeError: unhashable type", 0) == 0);
  CHECK(error_of("fn f(a) { return a }\nlet r = f(1, 2)") == "TypeError: f() takes 1 argument (a) but 2 were given (defined at test.weft:1)");
  CHECK(error_of("fn f() { return f() }\nf()").rfind("RecursionError", 0) == 0);
  CHECK(error_of("let r = 5()") == "TypeError: cannot call a value of type int");
}

TEST_CASE("compile-time errors are reported before running", "[compiler]") {
  Run r = run("print(1)\nfn f() { y = 1 }");
  CHECK(r.report.find("test.weft:2:10: SyntaxError: undeclared variable 'y'") != std::string::npos);
  CHECK(run("break").report.find("'break' outside a loop") != std::string::npos);
  CHECK(run("return 1").report.find("'return' outside a function") != std::string::npos);
  CHECK(run("1 + 2 = 3").report.find("cannot assign") != std::string::npos);
  // Assignment in a function to a global declared later at top level is fine.
  CHECK(value_of("fn f() { r = 7 }\nlet r = 0\nf()") == "7");
}

TEST_CASE("the collector keeps live values and frees cycles", "[gc]") {
  Run r = run(
      "let keep = []\n"
      "for i in range(2000) { let c = [i]\n c.push(c)\n if i % 100 == 0 { keep.push(c) } }\n"
      "let m = {}\nfor i in range(500) { m[str(i)] = [i, str(i)] }\n"
      "let r = [len(keep), keep[3][0], m[\"499\"][1]]",
      true);
  CHECK(r.error.empty());
  CHECK(r.value == "[20, 300, \"499\"]");
}

TEST_CASE("deep expressions compile without overflowing the stack", "[compiler]") {
  std::string src = "let r = 0";
  for (int i = 0; i < 200000; ++i) src += "+1";
  CHECK(value_of(src) == "200000");
}
