// Unit tests of the Weft parser (interpreter/parser.cpp).
#include <catch2/catch.hpp>

#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "../../interpreter/parser.hpp"

using namespace weft;

namespace {

namespace x3 = boost::spirit::x3;

// ------------------------------------------------------------ AST dump
// A compact S-expression-like rendering, so tests can compare structure.

std::string dump(const ast::Expr& e);
std::string dump(const ast::Stmt& s);
std::string dump(const ast::Block& b);

std::string join_exprs(const std::vector<ast::Expr>& v) {
  std::string r;
  // (Appending in steps avoids a GCC 12 -Wrestrict false positive.)
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) r += ' ';
    r += dump(v[i]);
  }
  return r;
}
std::string join_names(const std::vector<ast::Param>& v) {
  std::string r;
  for (std::size_t i = 0; i < v.size(); ++i)
    r += (i ? " " : "") + std::string(v[i].rest ? "..." : "") + v[i].name.name +
         (v[i].default_value ? "=" + dump(*v[i].default_value) : "");
  return r;
}
const char* binop(ast::BinOp op) {
  switch (op) {
    case ast::BinOp::Add: return "+";
    case ast::BinOp::Sub: return "-";
    case ast::BinOp::Mul: return "*";
    case ast::BinOp::Div: return "/";
    case ast::BinOp::FloorDiv: return "//";
    case ast::BinOp::Mod: return "%";
    case ast::BinOp::Pow: return "**";
  }
  return "?";
}
const char* cmpop(ast::CmpOp op) {
  switch (op) {
    case ast::CmpOp::Eq: return "==";
    case ast::CmpOp::Ne: return "!=";
    case ast::CmpOp::Lt: return "<";
    case ast::CmpOp::Le: return "<=";
    case ast::CmpOp::Gt: return ">";
    case ast::CmpOp::Ge: return ">=";
    case ast::CmpOp::In: return "in";
  }
  return "?";
}
const char* assignop(ast::AssignOp op) {
  switch (op) {
    case ast::AssignOp::Set: return "=";
    case ast::AssignOp::Add: return "+=";
    case ast::AssignOp::Sub: return "-=";
    case ast::AssignOp::Mul: return "*=";
    case ast::AssignOp::Div: return "/=";
    case ast::AssignOp::FloorDiv: return "//=";
    case ast::AssignOp::Mod: return "%=";
    case ast::AssignOp::Pow: return "**=";
  }
  return "?";
}

struct ExprDump {
  using result_type = std::string;
  std::string operator()(const ast::NilLit&) const { return "nil"; }
  std::string operator()(const ast::BoolLit& b) const {
    return b.value ? "true" : "false";
  }
  std::string operator()(const ast::IntLit& i) const {
    return std::to_string(i.value);
  }
  std::string operator()(const ast::FloatLit& f) const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%gf", f.value);
    return buf;
  }
  std::string operator()(const ast::StrLit& s) const {
    return "\"" + s.value + "\"";
  }
  std::string operator()(const ast::Name& n) const { return n.name; }
  std::string operator()(const ast::Unary& u) const {
    return std::string("(") +
           (u.op == ast::UnaryOp::Neg ? "neg " : u.op == ast::UnaryOp::Not ? "not " : "spread ") +
           dump(u.operand) + ")";
  }
  std::string operator()(const ast::Chain& c) const {
    std::string r = "(" + dump(c.first);
    for (auto& s : c.rest) r += std::string(" ") + binop(s.op) + " " + dump(s.rhs);
    return r + ")";
  }
  std::string operator()(const ast::Compare& c) const {
    return "(" + dump(c.lhs) + " " + cmpop(c.op) + " " + dump(c.rhs) + ")";
  }
  std::string operator()(const ast::Logical& l) const {
    return std::string("(") + (l.is_and ? "and " : "or ") +
           join_exprs(l.operands) + ")";
  }
  std::string operator()(const ast::Postfix& p) const {
    std::string r = "(post " + dump(p.primary);
    for (auto& op : p.ops) {
      struct V {
        using result_type = std::string;
        std::string operator()(const ast::CallOp& c) const {
          return " (call" + std::string(c.args.empty() ? "" : " ") +
                 join_exprs(c.args) + ")";
        }
        std::string operator()(const ast::IndexOp& i) const {
          return " [" + dump(i.index) + "]";
        }
        std::string operator()(const ast::FieldOp& f) const {
          return " ." + f.name;
        }
        std::string operator()(const ast::SliceOp& s) const {
          return " [" + (s.lo ? dump(*s.lo) : "") + ":" + (s.hi ? dump(*s.hi) : "") + "]";
        }
      };
      r += boost::apply_visitor(V{}, op);
    }
    return r + ")";
  }
  std::string operator()(const ast::ListLit& l) const {
    return "[" + join_exprs(l.items) + "]";
  }
  std::string operator()(const ast::MapLit& m) const {
    std::string r = "{";
    for (std::size_t i = 0; i < m.entries.size(); ++i) {
      struct K {
        using result_type = std::string;
        std::string operator()(const ast::Name& n) const { return n.name; }
        std::string operator()(const ast::StrLit& s) const {
          return "\"" + s.value + "\"";
        }
        std::string operator()(const ast::IntLit& i) const {
          return std::to_string(i.value);
        }
      };
      if (i) r += ' ';
      r += boost::apply_visitor(K{}, m.entries[i].key);
      r += ":" + dump(m.entries[i].value);
    }
    return r + "}";
  }
  std::string operator()(const ast::FnLit& f) const {
    return "(fn (" + join_names(f.params) + ") " + dump(f.body) + ")";
  }
  std::string operator()(const ast::FString& f) const {
    std::string r = "(f";
    for (const auto& part : f.parts) {
      if (!part.is_field) {
        r += " \"" + part.text + "\"";
        continue;
      }
      r += " {" + dump(part.expr);
      if (part.conv) (r += '!') += part.conv;
      if (!part.text.empty()) r += ":" + part.text;
      r += "}";
    }
    return r + ")";
  }
};

std::string dump(const ast::Expr& e) { return boost::apply_visitor(ExprDump{}, e); }

struct StmtDump {
  using result_type = std::string;
  std::string operator()(const ast::LetStmt& s) const {
    std::string r = "let " + s.name.name;
    for (auto& n : s.more) r += ", " + n.name;
    return r + " = " + dump(s.value);
  }
  std::string operator()(const ast::FnStmt& s) const {
    return "fn " + s.name.name + "(" + join_names(s.params) + ") " +
           dump(s.body);
  }
  std::string operator()(const ast::IfStmt& s) const {
    std::string r;
    for (std::size_t i = 0; i < s.branches.size(); ++i)
      r += (i ? " elif " : "if ") + dump(s.branches[i].cond) + " " +
           dump(s.branches[i].body);
    if (s.else_body) r += " else " + dump(*s.else_body);
    return r;
  }
  std::string operator()(const ast::WhileStmt& s) const {
    return "while " + dump(s.cond) + " " + dump(s.body);
  }
  std::string operator()(const ast::ForStmt& s) const {
    return "for " + s.first.name + (s.second ? "," + s.second->name : "") +
           " in " + dump(s.iterable) + " " + dump(s.body);
  }
  std::string operator()(const ast::BreakStmt&) const { return "break"; }
  std::string operator()(const ast::ContinueStmt&) const { return "continue"; }
  std::string operator()(const ast::ReturnStmt& s) const {
    return s.value ? "return " + dump(*s.value) : "return";
  }
  std::string operator()(const ast::TryStmt& s) const {
    std::string r = "try " + dump(s.body);
    if (s.handler) r += " catch " + s.handler->var.name + " " + dump(s.handler->body);
    if (s.finally_body) r += " finally " + dump(*s.finally_body);
    return r;
  }
  std::string operator()(const ast::ThrowStmt& s) const {
    return "throw " + dump(s.value);
  }
  std::string operator()(const ast::AssignStmt& s) const {
    return dump(s.target) + " " + assignop(s.op) + " " + dump(s.value);
  }
  std::string operator()(const ast::ExprStmt& s) const { return dump(s.expr); }
};

std::string dump(const ast::Stmt& s) { return boost::apply_visitor(StmtDump{}, s); }

std::string dump(const ast::Block& b) {
  std::string r = "{";
  for (std::size_t i = 0; i < b.stmts.size(); ++i)
    r += (i ? "; " : "") + dump(b.stmts[i].get());
  return r + "}";
}

std::string dump(const ast::Program& p) {
  std::string r;
  for (std::size_t i = 0; i < p.stmts.size(); ++i)
    r += (i ? "; " : "") + dump(p.stmts[i]);
  return r;
}

// Parses and dumps; on error returns "ERROR L:C: message".
std::string P(std::string_view src) {
  ast::Program prog;
  ParseError err;
  if (!parse_program(src, prog, err))
    return "ERROR " + std::to_string(err.line) + ":" +
           std::to_string(err.col) + ": " + err.message;
  return dump(prog);
}

// The error of a program that must not parse, as "L:C: message".
std::string E(std::string_view src) {
  ast::Program prog;
  ParseError err;
  if (parse_program(src, prog, err)) return "PARSED: " + dump(prog);
  return std::to_string(err.line) + ":" + std::to_string(err.col) + ": " +
         err.message;
}

ast::Program parse_ok(std::string_view src) {
  ast::Program prog;
  ParseError err;
  bool ok = parse_program(src, prog, err);
  INFO(err.line << ":" << err.col << ": " << err.message);
  REQUIRE(ok);
  return prog;
}

// The single expression of a one-statement program.
const ast::Expr& only_expr(const ast::Program& p) {
  REQUIRE(p.stmts.size() == 1);
  return boost::get<ast::ExprStmt>(p.stmts[0]).expr;
}

template <typename T>
const T& as(const ast::Expr& e) {
  return boost::get<x3::forward_ast<T>>(e).get();
}

std::string repeat(std::string_view s, int n) {
  std::string r;
  r.reserve(s.size() * std::size_t(n));
  for (int i = 0; i < n; ++i) r += s;
  return r;
}

}  // namespace

// ================================================================ statements

TEST_CASE("parser: empty programs, comments and semicolons", "[parser]") {
  CHECK(P("") == "");
  CHECK(P("   \n\t\n") == "");
  CHECK(P("# just a comment") == "");
  CHECK(P("# c1\n# c2\n") == "");
  CHECK(P(";;;") == "");
  CHECK(P("1; 2;; 3") == "1; 2; 3");
  CHECK(P("1\n2\n3") == "1; 2; 3");
  CHECK(P("let x = 1 # trailing comment\nx") == "let x = 1; x");
  CHECK(P("x = 1 #c\r\ny = 2\r\n") == "x = 1; y = 2");
  CHECK(P("if x { ; a; ; b ; }") == "if x {a; b}");
  CHECK(P("{}") == "{}");  // an empty map literal as a statement
}

TEST_CASE("parser: let, assignment and expression statements", "[parser]") {
  CHECK(P("let x = 5") == "let x = 5");
  CHECK(P("let  x=5") == "let x = 5");
  CHECK(P("x = 1") == "x = 1");
  CHECK(P("x += 1") == "x += 1");
  CHECK(P("x -= 1") == "x -= 1");
  CHECK(P("x *= 2") == "x *= 2");
  CHECK(P("x /= 2") == "x /= 2");
  CHECK(P("x+=1") == "x += 1");
  CHECK(P("x-=1") == "x -= 1");
  CHECK(P("x == 1") == "(x == 1)");
  CHECK(P("a.b = 1") == "(post a .b) = 1");
  CHECK(P("a[0] = 1") == "(post a [0]) = 1");
  CHECK(P("a.b[c].d += f(x)") == "(post a .b [c] .d) += (post f (call x))");
  // Any expression is accepted as a target; the compiler rejects it.
  CHECK(P("f() = 1") == "(post f (call)) = 1");
  CHECK(P("1 = 2") == "1 = 2");
  CHECK(P("print(x)") == "(post print (call x))");
}

TEST_CASE("parser: fn statements and literals", "[parser]") {
  CHECK(P("fn f() {}") == "fn f() {}");
  CHECK(P("fn f(a) { return a }") == "fn f(a) {return a}");
  CHECK(P("fn add(a, b) { return a + b }") == "fn add(a b) {return (a + b)}");
  CHECK(P("let f = fn(x) { return x * 2 }") == "let f = (fn (x) {return (x * 2)})");
  CHECK(P("fn () {}") == "(fn () {})");
  CHECK(P("fn(a,b){a}(1,2)") == "(post (fn (a b) {a}) (call 1 2))");
  CHECK(P("map(xs, fn(x) { return x })") == "(post map (call xs (fn (x) {return x})))");
}

TEST_CASE("parser: control flow statements", "[parser]") {
  CHECK(P("if x { a }") == "if x {a}");
  CHECK(P("if x { a } else { b }") == "if x {a} else {b}");
  CHECK(P("if x { a } else if y { b } else if z { c } else { d }") ==
        "if x {a} elif y {b} elif z {c} else {d}");
  CHECK(P("if x {} else if y {}") == "if x {} elif y {}");
  CHECK(P("while i < 10 { i += 1 }") == "while (i < 10) {i += 1}");
  CHECK(P("while true { break; continue }") == "while true {break; continue}");
  CHECK(P("for x in xs { print(x) }") == "for x in xs {(post print (call x))}");
  CHECK(P("for k, v in m {}") == "for k,v in m {}");
  CHECK(P("for i in range(10) {}") == "for i in (post range (call 10)) {}");
  CHECK(P("for x in [1, 2] {}") == "for x in [1 2] {}");
  CHECK(P("for x in a in b {}") == "for x in (a in b) {}");
  CHECK(P("return") == "return");
  CHECK(P("fn f() { return }") == "fn f() {return}");
  CHECK(P("return 1 + 2") == "return (1 + 2)");
  CHECK(P("try { f() } catch e { print(e) }") ==
        "try {(post f (call))} catch e {(post print (call e))}");
  CHECK(P("throw error(\"ValueError\", \"bad\")") ==
        "throw (post error (call \"ValueError\" \"bad\"))");
  CHECK(P("if not done { }") == "if (not done) {}");
  CHECK(P("if a and b or c {}") == "if (or (and a b) c) {}");
}

// ================================================================ expressions

TEST_CASE("parser: literals", "[parser]") {
  CHECK(P("42") == "42");
  CHECK(P("1_000_000") == "1000000");
  CHECK(P("0x1F") == "31");
  CHECK(P("0XfF") == "255");
  CHECK(P("0x7fff_ffff_ffff_ffff") == "9223372036854775807");
  CHECK(P("9223372036854775807") == "9223372036854775807");
  CHECK(P("0") == "0");
  CHECK(P("007") == "7");
  CHECK(P("3.14") == "3.14f");
  CHECK(P("1e9") == "1e+09f");
  CHECK(P("2.5e-3") == "0.0025f");
  CHECK(P("4.8e+00") == "4.8f");
  CHECK(P("1_000.5") == "1000.5f");
  CHECK(P("1E3") == "1000f");
  CHECK(P("true") == "true");
  CHECK(P("false") == "false");
  CHECK(P("nil") == "nil");
  CHECK(P("\"hi\"") == "\"hi\"");
  CHECK(P("\"\"") == "\"\"");
  CHECK(P("[]") == "[]");
  CHECK(P("[1, 2, 3]") == "[1 2 3]");
  CHECK(P("[1, 2, 3,]") == "[1 2 3]");
  CHECK(P("[1,\n 2,\n]") == "[1 2]");
  CHECK(P("[[1], [2, [3]]]") == "[[1] [2 [3]]]");
  CHECK(P("let m = {}") == "let m = {}");
  CHECK(P("let m = {a: 1, \"b c\": 2, 3: 4}") == "let m = {a:1 \"b c\":2 3:4}");
  CHECK(P("let m = {a: 1,}") == "let m = {a:1}");
  CHECK(P("let m = {a: {b: [1]}}") == "let m = {a:{b:[1]}}");
}

TEST_CASE("parser: literal node types", "[parser]") {
  auto p = parse_ok("1.5");
  CHECK(boost::get<ast::FloatLit>(only_expr(p)).value == 1.5);
  p = parse_ok("15");
  CHECK(boost::get<ast::IntLit>(only_expr(p)).value == 15);
  p = parse_ok("0x10");
  CHECK(boost::get<ast::IntLit>(only_expr(p)).value == 16);
  p = parse_ok("1e2");
  CHECK(boost::get<ast::FloatLit>(only_expr(p)).value == 100.0);
}

TEST_CASE("parser: strings and escapes", "[parser]") {
  auto str = [](std::string_view src) {
    auto p = parse_ok(src);
    return boost::get<ast::StrLit>(only_expr(p)).value;
  };
  CHECK(str(R"("a\nb")") == "a\nb");
  CHECK(str(R"("\t\r\\\"")") == "\t\r\\\"");
  CHECK(str(R"("a\0b")") == std::string("a\0b", 3));
  CHECK(str(R"("\u{41}")") == "A");
  CHECK(str(R"("\u{e9}")") == "\xC3\xA9");
  CHECK(str(R"("\u{20AC}")") == "\xE2\x82\xAC");
  CHECK(str(R"("\u{1F600}")") == "\xF0\x9F\x98\x80");
  CHECK(str(R"("\u{10FFFF}")") == "\xF4\x8F\xBF\xBF");
  CHECK(str("\"line1\nline2\"") == "line1\nline2");
  CHECK(str("\"h\xC3\xA9llo\"") == "h\xC3\xA9llo");
  CHECK(str("\"# not a comment\"") == "# not a comment");
}

TEST_CASE("parser: keyword prefixes are identifiers", "[parser]") {
  CHECK(P("letter") == "letter");
  CHECK(P("fnord = 1") == "fnord = 1");
  CHECK(P("iffy") == "iffy");
  CHECK(P("nil_x") == "nil_x");
  CHECK(P("android") == "android");
  CHECK(P("order or notable") == "(or order notable)");
  CHECK(P("x in inner") == "(x in inner)");
  CHECK(P("let returned = truely") == "let returned = truely");
  CHECK(P("for_ = while_ + break_") == "for_ = (while_ + break_)");
  CHECK(P("_ = _x1") == "_ = _x1");
  CHECK(P("trueish and falsey") == "(and trueish falsey)");
  CHECK(P("elsewhere") == "elsewhere");
  CHECK(P("if x {} elsewhere") == "if x {}; elsewhere");
}

TEST_CASE("parser: precedence and associativity", "[parser]") {
  CHECK(P("1 + 2 * 3") == "(1 + (2 * 3))");
  CHECK(P("1 * 2 + 3") == "((1 * 2) + 3)");
  CHECK(P("1 - 2 - 3") == "(1 - 2 - 3)");
  CHECK(P("a / b // c % d * e") == "(a / b // c % d * e)");
  CHECK(P("(1 + 2) * 3") == "((1 + 2) * 3)");
  CHECK(P("-x + 1") == "((neg x) + 1)");
  CHECK(P("-x * -y") == "((neg x) * (neg y))");
  CHECK(P("--x") == "(neg (neg x))");
  CHECK(P("-f(x)") == "(neg (post f (call x)))");
  CHECK(P("-a.b") == "(neg (post a .b))");
  CHECK(P("1 - -1") == "(1 - (neg 1))");
  CHECK(P("a < b + 1") == "(a < (b + 1))");
  CHECK(P("a + 1 == b * 2") == "((a + 1) == (b * 2))");
  CHECK(P("a == b and c != d") == "(and (a == b) (c != d))");
  CHECK(P("a or b and c") == "(or a (and b c))");
  CHECK(P("a and b or c and d") == "(or (and a b) (and c d))");
  CHECK(P("a or b or c") == "(or a b c)");
  CHECK(P("not a == b") == "(not (a == b))");
  CHECK(P("not not a") == "(not (not a))");
  CHECK(P("not a and b") == "(and (not a) b)");
  CHECK(P("a <= b") == "(a <= b)");
  CHECK(P("a >= b") == "(a >= b)");
  CHECK(P("a < b") == "(a < b)");
  CHECK(P("a > b") == "(a > b)");
  CHECK(P("a != b") == "(a != b)");
  CHECK(P("x in xs") == "(x in xs)");
  CHECK(P("not x in xs") == "(not (x in xs))");
  CHECK(P("a + b in c") == "((a + b) in c)");
}

TEST_CASE("parser: postfix chains", "[parser]") {
  CHECK(P("f()") == "(post f (call))");
  CHECK(P("f(1)(2)") == "(post f (call 1) (call 2))");
  CHECK(P("a.b.c") == "(post a .b .c)");
  CHECK(P("xs[0].name") == "(post xs [0] .name)");
  CHECK(P("xs[0] . name") == "(post xs [0] .name)");
  CHECK(P("m.keys()[1]") == "(post m .keys (call) [1])");
  CHECK(P("\"abc\".upper()") == "(post \"abc\" .upper (call))");
  CHECK(P("[1,2][0]") == "(post [1 2] [0])");
  CHECK(P("(a)(b)") == "(post a (call b))");
  CHECK(P("f(a, b + 1, g(c))") == "(post f (call a (b + 1) (post g (call c))))");
  CHECK(P("x.y_1.z2") == "(post x .y_1 .z2)");
}

// ================================================================ positions

TEST_CASE("parser: positions", "[parser]") {
  auto p = parse_ok("let x = 1\n  foo.bar(2)[3] = 4 + 5 * 6\n");
  REQUIRE(p.stmts.size() == 2);
  auto& let = boost::get<ast::LetStmt>(p.stmts[0]);
  CHECK(let.line == 1);
  CHECK(let.col == 1);
  CHECK(let.name.line == 1);
  CHECK(let.name.col == 5);
  CHECK(boost::get<ast::IntLit>(let.value).col == 9);

  auto& as_ = boost::get<ast::AssignStmt>(p.stmts[1]);
  CHECK(as_.line == 2);
  CHECK(as_.col == 17);  // the '='
  auto& post = as<ast::Postfix>(as_.target);
  CHECK(post.line == 2);
  CHECK(post.col == 3);
  auto& name = boost::get<ast::Name>(post.primary);
  CHECK(name.col == 3);
  REQUIRE(post.ops.size() == 3);
  auto& field = boost::get<ast::FieldOp>(post.ops[0]);
  CHECK(field.line == 2);
  CHECK(field.col == 7);  // the name after '.'
  auto& call = boost::get<ast::CallOp>(post.ops[1]);
  CHECK(call.col == 10);  // the '('
  auto& index = boost::get<ast::IndexOp>(post.ops[2]);
  CHECK(index.col == 13);  // the '['
  auto& chain = as<ast::Chain>(as_.value);
  CHECK(chain.col == 19);
  REQUIRE(chain.rest.size() == 1);
  CHECK(chain.rest[0].col == 21);  // the '+'
  auto& inner = as<ast::Chain>(chain.rest[0].rhs);
  CHECK(inner.col == 23);
  CHECK(inner.rest[0].col == 25);  // the '*'
}

TEST_CASE("parser: positions of statements, blocks, literals", "[parser]") {
  auto p = parse_ok(
      "# comment\n"
      "fn f(a, b) {\n"
      "    if a < b { return [1, {k: fn() {}}] }\n"
      "}\n"
      "x\n"
      "\"s\" == -y\n");
  REQUIRE(p.stmts.size() == 3);
  auto& fn = boost::get<ast::FnStmt>(p.stmts[0]);
  CHECK(fn.line == 2);
  CHECK(fn.col == 1);
  CHECK(fn.name.col == 4);
  CHECK(fn.params[1].col == 9);
  CHECK(fn.body.line == 2);
  CHECK(fn.body.col == 12);
  auto& ifs = boost::get<ast::IfStmt>(fn.body.stmts[0].get());
  CHECK(ifs.line == 3);
  CHECK(ifs.col == 5);
  auto& cmp = as<ast::Compare>(ifs.branches[0].cond);
  CHECK(cmp.line == 3);
  CHECK(cmp.col == 10);  // the '<'
  CHECK(ifs.branches[0].body.col == 14);
  auto& ret = boost::get<ast::ReturnStmt>(ifs.branches[0].body.stmts[0].get());
  CHECK(ret.col == 16);
  auto& list = as<ast::ListLit>(*ret.value);
  CHECK(list.col == 23);
  auto& map = as<ast::MapLit>(list.items[1]);
  CHECK(map.col == 27);
  CHECK(map.entries[0].col == 28);
  CHECK(boost::get<ast::Name>(map.entries[0].key).col == 28);
  auto& fl = as<ast::FnLit>(map.entries[0].value);
  CHECK(fl.line == 3);
  CHECK(fl.col == 31);  // the `fn`
  CHECK(fl.body.col == 36);

  auto& es = boost::get<ast::ExprStmt>(p.stmts[1]);
  CHECK(es.line == 5);
  CHECK(es.col == 1);
  auto& es2 = boost::get<ast::ExprStmt>(p.stmts[2]);
  CHECK(es2.line == 6);
  CHECK(es2.col == 1);
  auto& cmp2 = as<ast::Compare>(es2.expr);
  CHECK(cmp2.col == 5);
  CHECK(boost::get<ast::StrLit>(cmp2.lhs).col == 1);
  auto& neg = as<ast::Unary>(cmp2.rhs);
  CHECK(neg.col == 8);
  CHECK(boost::get<ast::Name>(neg.operand).col == 9);
}

TEST_CASE("parser: positions count bytes", "[parser]") {
  // "é" is two bytes: the column is a byte offset.
  auto p = parse_ok("\"\xC3\xA9\" + x");
  auto& chain = as<ast::Chain>(only_expr(p));
  CHECK(chain.rest[0].col == 6);
  CHECK(boost::get<ast::Name>(chain.rest[0].rhs).col == 8);
}

TEST_CASE("parser: more statement positions", "[parser]") {
  auto p = parse_ok(
      "while x { break }\n"
      "for a, b in c { continue }\n"
      "try { throw 1 } catch e { }\n"
      "a and b\n"
      "not c\n");
  auto& w = boost::get<ast::WhileStmt>(p.stmts[0]);
  CHECK(w.col == 1);
  CHECK(w.body.col == 9);
  CHECK(boost::get<ast::BreakStmt>(w.body.stmts[0].get()).col == 11);
  auto& f = boost::get<ast::ForStmt>(p.stmts[1]);
  CHECK(f.line == 2);
  CHECK(f.first.col == 5);
  CHECK(f.second->col == 8);
  CHECK(boost::get<ast::ContinueStmt>(f.body.stmts[0].get()).col == 17);
  auto& t = boost::get<ast::TryStmt>(p.stmts[2]);
  CHECK(t.line == 3);
  CHECK(t.handler->var.col == 23);
  CHECK(t.handler->body.col == 25);
  auto& th = boost::get<ast::ThrowStmt>(t.body.stmts[0].get());
  CHECK(th.col == 7);
  auto& lg = as<ast::Logical>(boost::get<ast::ExprStmt>(p.stmts[3]).expr);
  CHECK(lg.line == 4);
  CHECK(lg.col == 1);
  auto& nt = as<ast::Unary>(boost::get<ast::ExprStmt>(p.stmts[4]).expr);
  CHECK(nt.line == 5);
  CHECK(nt.col == 1);
  CHECK(nt.op == ast::UnaryOp::Not);
}

// ================================================================ errors

TEST_CASE("parser: error messages", "[parser]") {
  CHECK(E("fn f() {\n  if x {\n    y\n  }\n") ==
        "5:1: expected '}' to close block opened at 1:8");
  CHECK(E("if x {\n  1\n  while y {\n") ==
        "4:1: expected '}' to close block opened at 3:11");
  CHECK(E("\n\n    while x { y") ==
        "3:16: expected '}' to close block opened at 3:13");
  CHECK(E("print(1, 2") == "1:11: expected ')' to close '(' opened at 1:6");
  CHECK(E("(1 + 2") == "1:7: expected ')' to close '(' opened at 1:1");
  CHECK(E("let x = [1, 2") == "1:14: expected ']' to close '[' opened at 1:9");
  CHECK(E("let x = [1, 2 3]") == "1:15: expected ']' to close '[' opened at 1:9");
  CHECK(E("let m = {a: 1") == "1:14: expected '}' to close '{' opened at 1:9");
  CHECK(E("xs[1") == "1:5: expected ']' to close '[' opened at 1:3");
  CHECK(E("fn f(a, b {}") == "1:11: expected ')' to close '(' opened at 1:5");
  CHECK(E("let = 5") == "1:5: expected a variable name after 'let'");
  CHECK(E("let x 5") == "1:7: expected '=' after 'let x'");
  CHECK(E("let count == 5") == "1:11: expected '=' after 'let count'");
  CHECK(E("if x") == "1:5: expected '{' to start the block of 'if'");
  CHECK(E("if x y") == "1:6: expected '{' to start the block of 'if'");
  CHECK(E("if x {} else if y") == "1:18: expected '{' to start the block of 'if'");
  CHECK(E("if x {} else y") == "1:14: expected '{' or 'if' after 'else'");
  CHECK(E("while x") == "1:8: expected '{' to start the block of 'while'");
  CHECK(E("for x in xs") == "1:12: expected '{' to start the block of 'for'");
  CHECK(E("for in xs {}") == "1:5: expected a loop variable name after 'for'");
  CHECK(E("for x xs {}") == "1:7: expected 'in' after the loop variable");
  CHECK(E("for x, in xs {}") == "1:8: expected a second loop variable name after ','");
  CHECK(E("try {}") == "1:7: expected 'catch' or 'finally' after the 'try' block");
  CHECK(E("try {} catch {}") == "1:14: expected a variable name after 'catch'");
  CHECK(E("try x") == "1:5: expected '{' to start the block of 'try'");
  CHECK(E("1 +") == "1:4: expected an expression after '+'");
  CHECK(E("1 + ") == "1:5: expected an expression after '+'");
  CHECK(E("1 +\n\n  # c\n") == "4:1: expected an expression after '+'");
  CHECK(E("a * ) ") == "1:5: expected an expression after '*'");
  CHECK(E("a // ") == "1:6: expected an expression after '//'");
  CHECK(E("a == ") == "1:6: expected an expression after '=='");
  CHECK(E("a and") == "1:6: expected an expression after 'and'");
  CHECK(E("a or ]") == "1:6: expected an expression after 'or'");
  CHECK(E("not") == "1:4: expected an expression after 'not'");
  CHECK(E("x = ") == "1:5: expected an expression after '='");
  CHECK(E("x += ") == "1:6: expected an expression after '+='");
  CHECK(E("let x =") == "1:8: expected an expression after '='");
  CHECK(E("-") == "1:2: expected an expression after '-'");
  CHECK(E("f(1,)") == "1:5: expected an expression after ','");
  CHECK(E("()") == "1:2: expected an expression after '('");
  CHECK(E("x[]") == "1:3: expected an expression or ':' after '['");
  CHECK(E("throw") == "1:6: expected an expression after 'throw'");
  CHECK(E("if {") == "1:5: expected '}' to close '{' opened at 1:4");
  CHECK(E("if { x }") == "1:8: expected ':' after the map key");
  CHECK(E("if {a: 1} }") == "1:11: expected '{' to start the block of 'if'");
  CHECK(E("while") == "1:6: expected an expression after 'while'");
  CHECK(E("x in") == "1:5: expected an expression after 'in'");
  CHECK(E("{a 1}") == "1:4: expected ':' after the map key");
  CHECK(E("{a: }") == "1:5: expected an expression after ':'");
  CHECK(E("x.") == "1:3: expected a field name after '.'");
  CHECK(E("x.if") == "1:3: expected a field name after '.'");
  CHECK(E("fn (") == "1:5: expected ')' to close '(' opened at 1:4");
  CHECK(E("fn (a,) {}") == "1:7: expected a parameter name after ','");
  CHECK(E("fn") == "1:3: expected '(' after 'fn'");
  CHECK(E("fn f") == "1:5: expected '(' after 'fn f'");
  CHECK(E("fn f()") == "1:7: expected '{' to start the function body");
  CHECK(E("let f = fn() 1") == "1:14: expected '{' to start the function body");
  CHECK(E("x = @") == "1:5: unexpected character '@'");
  CHECK(E("@") == "1:1: unexpected character '@'");
  CHECK(E("let x = 1\n  $y") == "2:3: unexpected character '$'");
  CHECK(E("{ a: 1 ~ }") == "1:8: unexpected character '~'");
  CHECK(E("if x { ` }") == "1:8: unexpected character '`'");
  CHECK(E(")") == "1:1: unexpected ')'");
  CHECK(E("x }") == "1:3: unexpected '}'");
  CHECK(E("else {}") == "1:1: unexpected 'else'");
  CHECK(E("x = 1 = 2") == "1:7: expected a newline or ';' after the statement");
  CHECK(E("a < b < c") == "1:7: comparisons cannot be chained (use 'and')");
  CHECK(E("a == b != c") == "1:8: comparisons cannot be chained (use 'and')");
  CHECK(E("a in b in c") == "1:8: comparisons cannot be chained (use 'and')");
  CHECK(P("a in b\ninner") == "(a in b); inner");
  CHECK(E("{1.5: 2}") == "1:2: expected a map key (a name, string or integer) or '}'");
  CHECK(E("{true: 1}") == "1:2: expected a map key (a name, string or integer) or '}'");
  CHECK(E("[,]") == "1:2: expected an expression or ']'");
  CHECK(E("f(,)") == "1:3: expected an expression or ')'");
  CHECK(E("fn f(1) {}") == "1:6: expected a parameter name or ')'");
  CHECK(E("f(1 2)") == "1:5: expected ')' to close '(' opened at 1:2");
  CHECK(E("\"abc") == "1:1: unterminated string");
  CHECK(E("let s = \"abc\ndef") == "1:9: unterminated string");
  CHECK(E("\"ab\\") == "1:1: unterminated string");
  CHECK(E("\"a\\qb\"") == "1:3: invalid escape sequence '\\q'");
  CHECK(E("x = \"\\u{110000}\"") ==
        "1:6: invalid Unicode code point in \\u{...} escape");
  CHECK(E("\"\\u{D800}\"") == "1:2: invalid Unicode code point in \\u{...} escape");
  CHECK(E("\"\\u{}\"") ==
        "1:2: invalid \\u{...} escape (expected 1 to 6 hex digits and '}')");
  CHECK(E("\"\\u{1234567}\"") ==
        "1:2: invalid \\u{...} escape (expected 1 to 6 hex digits and '}')");
  CHECK(E("\"\\u41\"") == "1:2: expected '{' after '\\u' (write \\u{1F600})");
  CHECK(E("9223372036854775808") == "1:1: integer literal too large");
  CHECK(E("x = 99999999999999999999999") == "1:5: integer literal too large");
  CHECK(E("0x8000000000000000") == "1:1: integer literal too large");
  CHECK(E("0x") == "1:1: expected hex digits after '0x'");
  CHECK(E("12abc") == "1:3: invalid character 'a' in number literal");
  CHECK(E("1_") == "1:2: invalid character '_' in number literal");
  CHECK(E("1e") == "1:2: invalid character 'e' in number literal");
  CHECK(E("1e999") == "1:1: float literal too large");
  CHECK(E("\"\xFF\"") == "1:2: invalid UTF-8 in string literal");
  CHECK(E("x = \xFF") == "1:5: invalid UTF-8 byte 0xFF");
  CHECK(E("x = \xC3\xA9") == "1:5: unexpected character '\xC3\xA9'");
  CHECK(E(std::string_view("x\0", 2)) == "1:2: unexpected control character 0x00");
}

TEST_CASE("parser: the error position is where parsing failed", "[parser]") {
  CHECK(E("fn f() {\n  let x = 1\n  let y = (x +\n}\n") ==
        "4:1: expected an expression after '+'");
  CHECK(E("if a {\n} else {\n  for x in xs {\n    let = 1\n  }\n}") ==
        "4:9: expected a variable name after 'let'");
  CHECK(E("let m = {\n  a: 1,\n  b: [1, 2,\n}") ==
        "4:1: expected ']' to close '[' opened at 3:6");
}

// ================================================================ nesting

namespace {
ParseError parse_err(const std::string& src, bool* ok = nullptr) {
  ast::Program prog;
  ParseError err;
  bool r = parse_program(src, prog, err);
  if (ok) *ok = r;
  return err;
}
bool parses(const std::string& src) {
  bool ok = false;
  auto err = parse_err(src, &ok);
  INFO(err.line << ":" << err.col << ": " << err.message);
  return ok;
}
bool too_deep(const std::string& src) {
  bool ok = true;
  auto err = parse_err(src, &ok);
  INFO(err.line << ":" << err.col << ": " << err.message);
  return !ok && err.message == "too deeply nested (limit 200)";
}
}  // namespace

TEST_CASE("parser: 200 levels of nesting parse", "[parser][nesting]") {
  int n = ast::kMaxNesting;
  CHECK(parses(repeat("(", n) + "1" + repeat(")", n)));
  CHECK(parses(repeat("[", n) + "1" + repeat("]", n)));
  CHECK(parses(repeat("{a: ", n) + "1" + repeat("}", n)));
  CHECK(parses(repeat("-", n) + "1"));
  CHECK(parses(repeat("- ", n) + "1"));
  CHECK(parses(repeat("not ", n) + "1"));
  CHECK(parses("x = " + repeat("fn() { return ", n) + "1" + repeat("}", n)));
  CHECK(parses(repeat("if x { ", n) + repeat("}", n)));
  CHECK(parses(repeat("while x { ", n) + repeat("}", n)));
  CHECK(parses(repeat("for x in y { ", n) + repeat("}", n)));
  CHECK(parses(repeat("try { ", n) + repeat("} catch e {}", n)));
  CHECK(parses(repeat("fn f() { ", n) + repeat("}", n)));
  CHECK(parses(repeat("f(", n) + "1" + repeat(")", n)));
  CHECK(parses(repeat("x[", n) + "1" + repeat("]", n)));
  CHECK(parses(repeat("if x {} else { ", n) + repeat("}", n)));
  CHECK(parses("y = " + repeat("(1 + ", n) + "1" + repeat(")", n)));
}

TEST_CASE("parser: nesting deeper than the limit is an error", "[parser][nesting]") {
  int n = ast::kMaxNesting + 1;
  CHECK(too_deep(repeat("(", n) + "1" + repeat(")", n)));
  CHECK(too_deep(repeat("[", n) + "1" + repeat("]", n)));
  CHECK(too_deep(repeat("{a: ", n) + "1" + repeat("}", n)));
  CHECK(too_deep(repeat("-", n) + "1"));
  CHECK(too_deep(repeat("not ", n) + "1"));
  CHECK(too_deep(repeat("if x { ", n) + repeat("}", n)));
  CHECK(too_deep("x = " + repeat("fn() { return ", n) + "1" + repeat("}", n)));
  auto err = parse_err(repeat("(", n) + "1" + repeat(")", n));
  CHECK(err.line == 1);
  CHECK(err.col == n);
}

TEST_CASE("parser: hostile nesting fails cleanly", "[parser][nesting]") {
  const int n = 100000;
  for (const char* unit : {"(", "[", "-", "not ", "{a:", "fn(){", "if x {",
                           "f(", "x[", "[(", "-(", "-(not ", "while x {"}) {
    INFO(unit);
    CHECK(too_deep(repeat(unit, n)));
  }
}

namespace {
struct ThreadJob {
  std::string src;
  bool ok = false;
  ParseError err;
};
void* run_parse(void* p) {
  auto* job = static_cast<ThreadJob*>(p);
  ast::Program prog;
  job->ok = parse_program(job->src, prog, job->err);
  return nullptr;
}
}  // namespace

TEST_CASE("parser: a small thread stack is not overflowed", "[parser][nesting]") {
  // 200 levels need more than this thread's 256 KB of stack; the parser must
  // notice and report "too deeply nested" instead of crashing.
  const int n = ast::kMaxNesting;
  for (std::string src : {repeat("(", n) + "1" + repeat(")", n),
                          repeat("[", n) + "1" + repeat("]", n),
                          repeat("-", n) + "1", repeat("not ", n) + "1",
                          repeat("if x { ", n) + repeat("}", n)}) {
    ThreadJob job;
    job.src = src;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t th;
    REQUIRE(pthread_create(&th, &attr, run_parse, &job) == 0);
    pthread_join(th, nullptr);
    pthread_attr_destroy(&attr);
    INFO(src.substr(0, 10));
    // Cheap levels (unary operators) may fit; the others cannot.
    if (src[0] == '(' || src[0] == '[') CHECK(!job.ok);
    if (!job.ok) CHECK(job.err.message == "too deeply nested (limit 200)");
  }
}

TEST_CASE("parser: hostile braces", "[parser][nesting]") {
  // `{` cannot directly contain `{` (a map key is needed first).
  CHECK(E(repeat("{", 100000)) ==
        "1:2: expected a map key (a name, string or integer) or '}'");
  CHECK(E(repeat("}", 100000)) == "1:1: unexpected '}'");
  CHECK(E(repeat(")", 100000)) == "1:1: unexpected ')'");
}

TEST_CASE("parser: long flat chains", "[parser][nesting]") {
  const int n = 200000;
  std::string src = "x = 1" + repeat(" + 1", n - 1);
  auto t0 = std::chrono::steady_clock::now();
  {
    auto p = parse_ok(src);
    auto& as_ = boost::get<ast::AssignStmt>(p.stmts[0]);
    CHECK(as<ast::Chain>(as_.value).rest.size() == std::size_t(n - 1));
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
  CHECK(secs < 1.0);  // (sanitizer and -O0 builds are much slower)
#else
  (void)secs;
#endif

#if defined(__SANITIZE_ADDRESS__)
  const int m = 20000;  // keep sanitizer runs short
#else
  const int m = n;
#endif
  CHECK(parses("x = a" + repeat(" and a", m)));
  CHECK(parses("x = a" + repeat(" or a", m)));
  CHECK(parses("x = a" + repeat(" * a", m)));
  CHECK(parses("x = a" + repeat(".b", m)));
  CHECK(parses("x = f" + repeat("()", m)));
  CHECK(parses("x = a" + repeat("[0]", m)));
  CHECK(parses("x = [" + repeat("1, ", m) + "]"));
  CHECK(parses(repeat("x = 1\n", m)));
  CHECK(parses("if x {}" + repeat(" else if x {}", 20000) + " else {}"));
  CHECK(parses(repeat(";", m)));
  CHECK(parses(repeat("# comment\n", m)));
}

// ================================================================ fuzz

namespace {
const char* const kSample = R"(# A sample program
let xs = [1, 2, 3, 0x1F, 1_000, 2.5e-3,]
let m = {a: 1, "b": [true, false, nil], 3: fn(x) { return x * 2 }}
fn fib(n) {
  if n < 2 { return n } else if n == 2 { return 1 } else { return fib(n - 1) + fib(n - 2) }
}
for i, x in xs { print(i, x); xs[i] += 1 }
while not done and count <= 10 { count = count + 1; if count % 3 == 0 { continue } }
try { throw error("ValueError", "bad \"x\"\n\u{1F600}") } catch e { print(e.message) }
let s = m.b[0] or -x // 2 in xs
)";
}

TEST_CASE("parser: the fuzz sample parses", "[parser][fuzz]") {
  auto p = parse_ok(kSample);
  CHECK(p.stmts.size() == 7);
}

TEST_CASE("parser: random mutations never crash", "[parser][fuzz]") {
  std::mt19937 rng(12345);
  const std::string sample = kSample;
  const char alphabet[] = "(){}[],.:;+-*/%=<>!\"\\#_ \nabcxyz019fnletif\0\xFF\xC3";
  int parsed = 0, failed = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s = sample;
    int edits = 1 + int(rng() % 8);
    for (int k = 0; k < edits; ++k) {
      if (s.empty()) break;
      std::size_t pos = rng() % s.size();
      switch (rng() % 5) {
        case 0: s.erase(pos, 1 + rng() % 5); break;
        case 1: s.insert(pos, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
        case 2: s[pos] = char(rng() % 256); break;
        case 3: s.resize(pos); break;  // truncation
        case 4: s.insert(pos, s.substr(rng() % s.size(), rng() % 40)); break;
      }
    }
    ast::Program prog;
    ParseError err;
    if (parse_program(s, prog, err)) {
      ++parsed;
    } else {
      ++failed;
      CHECK(err.line >= 1);
      CHECK(err.col >= 1);
      CHECK(!err.message.empty());
    }
  }
  CHECK(parsed + failed == 2000);
}

TEST_CASE("parser: random bytes never crash", "[parser][fuzz]") {
  std::mt19937 rng(777);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s(rng() % 200, '\0');
    for (auto& c : s) c = char(rng() % 256);
    ast::Program prog;
    ParseError err;
    if (!parse_program(s, prog, err)) {
      CHECK(err.line >= 1);
      CHECK(!err.message.empty());
    }
  }
  // Every prefix of the sample.
  const std::string sample = kSample;
  for (std::size_t i = 0; i <= sample.size(); ++i) {
    ast::Program prog;
    ParseError err;
    parse_program(std::string_view(sample).substr(0, i), prog, err);
  }
}

TEST_CASE("parser: newlines end statements (0.2)", "[parser]") {
  CHECK(P("a\n+ b") == "ERROR 2:1: a line cannot start with '+': to continue the expression "
                        "of the line before, end that line with the operator");
  CHECK(P("a +\nb") == "(a + b)");
  CHECK(P("a\n-b") == "a; (neg b)");
  CHECK(P("f\n(1)") == "f; 1");
  CHECK(P("f(1,\n2)") == "(post f (call 1 2))");
  CHECK(P("(a\n+ b)") == "(a + b)");
  CHECK(P("[a\n, b]") == "[a b]");
  CHECK(P("x.\ny") == "(post x .y)");
  CHECK(P("x =\n1") == "x = 1");
  CHECK(P("fn f() {\nreturn\nx\n}") == "fn f() {return; x}");
  CHECK(P("fn f() { return x }") == "fn f() {return x}");
  CHECK(P("if a {} b") == "if a {}; b");
  CHECK(P("if a {\n}\nelse\n{\n}") == "if a {} else {}");
  CHECK(P("f(fn() {\na\n-b\n})") == "(post f (call (fn () {a; (neg b)})))");
  CHECK(E("let x = 1 2") == "1:11: expected a newline or ';' after the statement");
  CHECK(E("let m = {} x") == "1:12: expected a newline or ';' after the statement");
  CHECK(E("a < b\n< c") == "2:1: a line cannot start with '<': to continue the expression "
                           "of the line before, end that line with the operator");
  CHECK(E("print total") == "1:7: expected a newline or ';' after the statement; "
                            "did you mean print(total)?");
  CHECK(E("var x = 1") == "1:1: 'var' is not Weft: declare variables with 'let' (let x = 1)");
  CHECK(P("var = 1") == "var = 1");
  CHECK(E("a || b") == "1:3: Weft spells '||' as 'or'");
  CHECK(E("x = \"\"\"a\"\"\"") == "1:5: Weft has no triple-quoted strings: a \"...\" string may span lines");
  CHECK(P("\xEF\xBB\xBFx") == "x");
  CHECK(E("\xEF\xBB\xBF" "1 2") == "1:3: expected a newline or ';' after the statement");
  CHECK(E("let finally = 1") == "1:5: expected a variable name after 'let'");
}

TEST_CASE("parser: f-strings", "[parser]") {
  CHECK(P("f\"a{x}b\"") == "(f \"a\" {x} \"b\")");
  CHECK(P("f\"{x!r:>5} {{}}\"") == "(f {x!r:>5} \" {}\")");
  CHECK(P("f\"{m[\"k\"]}\"") == "(f {(post m [\"k\"])})");
  CHECK(P("f\"{f\"{x}\"}\"") == "(f {(f {x})})");
  CHECK(P("f\"\\x41\"") == "(f \"A\")");
  CHECK(P("f\"\"") == "(f)");
  CHECK(E("f\"{x + }\"") == "1:8: expected an expression after '+'");
  CHECK(E("f\"{}\"") == "1:4: expected an expression inside '{}' in the f-string");
  CHECK(E("f\"}\"") == "1:3: single '}' in an f-string (write '}}' for a literal brace)");
  // The expression's nodes carry their real positions in the file.
  ast::Program p = parse_ok("\n  f\"ab{ xy }\"");
  auto& fs = boost::get<x3::forward_ast<ast::FString>>(
                 boost::get<ast::ExprStmt>(p.stmts[0]).expr).get();
  REQUIRE(fs.parts.size() == 2);
  auto& n = boost::get<ast::Name>(fs.parts[1].expr);
  CHECK(n.line == 2);
  CHECK(n.col == 9);
  // f-strings nested in fields count towards the nesting limit.
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "f\"{";
  deep += "x";
  for (int i = 0; i < 300; ++i) deep += "}\"";
  CHECK(E(deep).find("too deeply nested") != std::string::npos);
}

TEST_CASE("parser: the print-without-parentheses hint", "[parser]") {
  CHECK(E("fn f() { print total }") ==
        "1:16: expected a newline or ';' after the statement; did you mean print(total)?");
  CHECK(E("print \"a\", {k: 1} # note") ==
        "1:7: expected a newline or ';' after the statement; did you mean print(\"a\", {k: 1})?");
  CHECK(E("print \"}\"; x") ==
        "1:7: expected a newline or ';' after the statement; did you mean print(\"}\")?");
  CHECK(E("f(1))") == "1:5: unexpected ')'");
  CHECK(E("x = [1]]") == "1:8: unexpected ']'");
  CHECK(E("x return") == "1:3: expected a newline or ';' after the statement");
  CHECK(E("print not x") ==
        "1:7: expected a newline or ';' after the statement; did you mean print(not x)?");
}
