// The abstract syntax tree produced by the Spirit X3 parser (parser.cpp) and
// consumed by the bytecode compiler (compiler.cpp).
//
// Every node that can be the subject of an error message derives from Node,
// which carries a 1-based line and column. The parser fills them in with an
// annotate-on-success handler, so the compiler can attach a precise source
// position to every instruction it emits.
//
// Long operator chains (`1+1+...` with 200,000 terms) and postfix chains
// (`a.b(c)[d]...`) are stored as flat vectors, never as deep binary trees, so
// neither the compiler nor the destructors recurse on them. Real nesting
// (parentheses, brackets, blocks, function literals, unary operators) is
// bounded by the parser's depth limit (kMaxNesting), so recursion over the
// tree is always shallow enough for the C++ stack.
#pragma once

#include <boost/optional.hpp>
#include <boost/spirit/home/x3/support/ast/variant.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace weft::ast {

namespace x3 = boost::spirit::x3;

// The deepest nesting of expressions/blocks the parser accepts. Deeper input
// is a SyntaxError ("too deeply nested"), not a stack overflow.
inline constexpr int kMaxNesting = 200;

// Source position of a node (1-based; 0 means "unknown").
struct Node {
  int line = 0;
  int col = 0;
};

// ---------------------------------------------------------------- expressions

struct NilLit : Node {};
struct BoolLit : Node {
  bool value = false;
};
struct IntLit : Node {
  std::int64_t value = 0;
};
struct FloatLit : Node {
  double value = 0;
};
// The string with escapes already decoded (UTF-8 bytes).
struct StrLit : Node {
  std::string value;
};
struct Name : Node {
  std::string name;
};

struct Unary;      // -x, not x
struct Chain;      // a op b op c ... (one precedence level)
struct Compare;    // a < b (non-associative, at most one operator)
struct Logical;    // a and b and c / a or b or c
struct Postfix;    // primary followed by calls, indexing, field access
struct ListLit;
struct MapLit;
struct FnLit;
struct FString;    // f"..."

using Expr = x3::variant<NilLit, BoolLit, IntLit, FloatLit, StrLit, Name,
                         x3::forward_ast<Unary>, x3::forward_ast<Chain>,
                         x3::forward_ast<Compare>, x3::forward_ast<Logical>,
                         x3::forward_ast<Postfix>, x3::forward_ast<ListLit>,
                         x3::forward_ast<MapLit>, x3::forward_ast<FnLit>,
                         x3::forward_ast<FString>>;

// Spread is `...xs` in a call's argument list (the parser produces it only
// there); it is a unary node so call arguments stay plain expressions.
enum class UnaryOp { Neg, Not, Spread };
struct Unary : Node {
  UnaryOp op = UnaryOp::Neg;
  Expr operand;
};

// Pow appears only in a one-step Chain (`a ** b`, right-associative: the
// right operand is itself a unary expression, which may be another power).
enum class BinOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow };
// One `op rhs` step of a chain; the position is the operator's.
struct ChainStep : Node {
  BinOp op = BinOp::Add;
  Expr rhs;
};
// first op1 rhs1 op2 rhs2 ... evaluated left to right.
struct Chain : Node {
  Expr first;
  std::vector<ChainStep> rest;
};

enum class CmpOp { Eq, Ne, Lt, Le, Gt, Ge, In };
// lhs op rhs; the Node position is the operator's.
struct Compare : Node {
  Expr lhs;
  CmpOp op = CmpOp::Eq;
  Expr rhs;
};

// `and` chains and `or` chains (each operand is one level down).
struct Logical : Node {
  bool is_and = true;
  std::vector<Expr> operands;  // at least two
};

// f(a, b) — the position is the '(' token.
struct CallOp : Node {
  std::vector<Expr> args;
};
// x[i] — the position is the '[' token.
struct IndexOp : Node {
  Expr index;
};
// x.name — the position is the name after the dot.
struct FieldOp : Node {
  std::string name;
};
// x[lo:hi] — either bound may be omitted. The position is the '[' token.
struct SliceOp : Node {
  boost::optional<Expr> lo;
  boost::optional<Expr> hi;
};
using PostOp = x3::variant<CallOp, IndexOp, FieldOp, SliceOp>;

struct Postfix : Node {
  Expr primary;
  std::vector<PostOp> ops;  // at least one
};

struct ListLit : Node {
  std::vector<Expr> items;
};

// A map key written as NAME or STRING is a string key; INT is an int key.
using MapKey = x3::variant<Name, StrLit, IntLit>;
struct MapEntry : Node {
  MapKey key;
  Expr value;
};
struct MapLit : Node {
  std::vector<MapEntry> entries;
};

struct Stmt;
// `{ stmt* }` — the position is the opening '{'.
struct Block : Node {
  std::vector<x3::forward_ast<Stmt>> stmts;
};

// One parameter: `a`, `b = expr` (a default, evaluated at each call that
// omits it) or `...rest`. The parser accepts them in any order; the compiler
// checks that defaults follow required ones and that a rest comes last.
struct Param : Node {
  bool rest = false;
  Name name;
  boost::optional<Expr> default_value;
};

// fn (a, b) { ... } — the position is the `fn` keyword.
struct FnLit : Node {
  std::vector<Param> params;
  Block body;
};

// f"..." — literal parts and {expr!conv:spec} fields, in order. A literal
// part has its escapes decoded and `{{`/`}}` unescaped; a field's position
// is its expression's, which is a real position inside the string.
struct FStringPart : Node { bool is_field = false; std::string text; /* literal, or spec */
                            char conv = 0; /* 0, 'r', 's' */ Expr expr; };
struct FString : Node { std::vector<FStringPart> parts; };

// ----------------------------------------------------------------- statements

// let a = v, or `let a, b = xs` (more = [b]: destructuring a list).
struct LetStmt : Node {
  Name name;
  std::vector<Name> more;
  Expr value;
};
struct FnStmt : Node {
  Name name;
  std::vector<Param> params;
  Block body;
};
struct CondBlock : Node {
  Expr cond;
  Block body;
};
// if c1 {..} else if c2 {..} else {..}
struct IfStmt : Node {
  std::vector<CondBlock> branches;  // at least one
  boost::optional<Block> else_body;
};
struct WhileStmt : Node {
  Expr cond;
  Block body;
};
// for a in x {..}  /  for a, b in x {..}
struct ForStmt : Node {
  Name first;
  boost::optional<Name> second;
  Expr iterable;
  Block body;
};
struct BreakStmt : Node {};
struct ContinueStmt : Node {};
struct ReturnStmt : Node {
  boost::optional<Expr> value;
};
// catch e { ... }
struct CatchClause : Node {
  Name var;
  Block body;
};
// try {..} catch e {..} finally {..}: at least one of catch and finally.
struct TryStmt : Node {
  Block body;
  boost::optional<CatchClause> handler;
  boost::optional<Block> finally_body;
};
struct ThrowStmt : Node {
  Expr value;
};

enum class AssignOp { Set, Add, Sub, Mul, Div, FloorDiv, Mod, Pow };
// target op value. The parser accepts any expression as the target; the
// compiler checks that it is a Name, or a Postfix whose last op is an
// IndexOp or FieldOp, and reports "cannot assign to this expression"
// otherwise. The position is the assignment operator's.
struct AssignStmt : Node {
  Expr target;
  AssignOp op = AssignOp::Set;
  Expr value;
};
// An expression statement; `has_assign` is never needed because the parser
// produces AssignStmt when an assignment operator follows.
struct ExprStmt : Node {
  Expr expr;
};

struct Stmt : x3::variant<LetStmt, FnStmt, IfStmt, WhileStmt, ForStmt,
                          BreakStmt, ContinueStmt, ReturnStmt, TryStmt,
                          ThrowStmt, AssignStmt, ExprStmt> {
  using base_type::base_type;
  using base_type::operator=;
};

struct Program {
  std::vector<Stmt> stmts;
};

}  // namespace weft::ast
