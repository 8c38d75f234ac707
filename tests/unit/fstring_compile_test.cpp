// The compiler's half of f-strings (SPEC §2): an ast::FString, as the
// lexical layer produces it, compiles to FORMAT_VALUE / BUILD_STRING and
// formats exactly like format(). The ASTs here are built by hand, so these
// tests do not depend on the f-string parser.
#include <catch2/catch.hpp>

#include "interpreter/cli.hpp"
#include "interpreter/compiler.hpp"
#include "interpreter/loader.hpp"
#include "interpreter/parser.hpp"
#include "interpreter/vm.hpp"
#include "runtime/natives.hpp"

using namespace weft;

namespace {

ast::FStringPart literal(std::string text) {
  ast::FStringPart p;
  p.text = std::move(text);
  return p;
}

ast::FStringPart field(std::string name, std::string spec = "", char conv = 0) {
  ast::FStringPart p;
  p.is_field = true;
  ast::Name n;
  n.name = std::move(name);
  n.line = 1;
  n.col = 1;
  p.expr = n;
  p.text = std::move(spec);
  p.conv = conv;
  return p;
}

struct Outcome {
  std::string r, expected, error;
};

// Parses `src` (which must end with `let r = nil`), replaces the value of
// that last `let` with an f-string made of `parts`, runs it and returns
// str(r), str(expected) (if the program sets it) and the error, if any.
Outcome run_fstring(const std::string& src, std::vector<ast::FStringPart> parts) {
  RuntimeOptions opts;
  Session s(opts);
  Thread& t = s.main();
  ObjModule* m = s.new_module("", "fstring.weft", src);
  ast::Program program;
  ParseError perr;
  REQUIRE(parse_program(src, program, perr));
  auto& let = boost::get<ast::LetStmt>(program.stmts.back());
  ast::FString f;
  f.line = let.line;
  f.col = let.col;
  f.parts = std::move(parts);
  let.value = ast::Expr(boost::spirit::x3::forward_ast<ast::FString>(std::move(f)));
  CompileError cerr;
  ObjProto* proto = compile_program(t.interp, m, program, CompileOptions{}, cerr);
  REQUIRE(proto);
  Outcome out;
  Value result, error;
  if (!guarded_call(t, Value::object(t.interp.heap.make<ObjClosure>(proto)), nullptr, 0, result, error)) {
    out.error = to_str(error);
  } else {
    for (const char* name : {"r", "expected"}) {
      auto it = m->slots.find(name);
      if (it == m->slots.end()) continue;
      Value v = m->values[static_cast<std::size_t>(it->second)];
      (name[0] == 'r' ? out.r : out.expected) = v.is_undef() ? "" : to_str(v);
    }
  }
  s.finish();
  return out;
}

}  // namespace

TEST_CASE("f-strings compile to the same formatting as format()", "[compiler][fstring]") {
  std::string src =
      "let x = 42\n"
      "let name = \"h\\u{e9}llo\"\n"
      "let expected = format(\"x={:>5}, {!r}, {:.2f}!\", x, name, 2.0 / 3)\n"
      "let third = 2.0 / 3\n"
      "let r = nil\n";
  Outcome o = run_fstring(src, {literal("x="), field("x", ">5"), literal(", "), field("name", "", 'r'),
                                literal(", "), field("third", ".2f"), literal("!")});
  CHECK(o.error.empty());
  CHECK(o.r == o.expected);
  CHECK(o.r == "x=   42, \"h\xc3\xa9llo\", 0.67!");
}

TEST_CASE("f-strings: one part, no parts, str conversion", "[compiler][fstring]") {
  CHECK(run_fstring("let x = [1, \"a\"]\nlet r = nil\n", {field("x")}).r == "[1, \"a\"]");
  CHECK(run_fstring("let x = \"s\"\nlet r = nil\n", {field("x", "", 's')}).r == "s");
  CHECK(run_fstring("let r = nil\n", {literal("just text")}).r == "just text");
  CHECK(run_fstring("let r = nil\n", {}).r == "");
  CHECK(run_fstring("let x = nil\nlet r = nil\n", {literal("<"), field("x"), literal(">")}).r == "<nil>");
}

TEST_CASE("f-strings: a bad spec is the same ValueError as in format()", "[compiler][fstring]") {
  Outcome o = run_fstring("let x = 1\nlet r = nil\n", {field("x", "Q")});
  CHECK(o.error == "ValueError: bad format spec ':Q' for a value of type int");
  Outcome n = run_fstring("let r = nil\n", {field("missing")});
  CHECK(n.error == "NameError: name 'missing' is not defined");
}
