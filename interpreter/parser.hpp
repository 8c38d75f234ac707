// The Weft front end: source text in, AST out (Spirit X3, see parser_def.hpp).
#pragma once

#include <string>
#include <string_view>

#include "ast.hpp"

namespace weft {

// A syntax error found while parsing: where it is and what was expected.
// `message` is what follows "SyntaxError: " in the report, for example
// "expected '}' to close block opened at 3:5".
struct ParseError {
  int line = 0;
  int col = 0;
  std::string message;
};

// Parses a whole program. Returns true and fills `out` on success; returns
// false and fills `err` otherwise. Never throws, never overflows the C++
// stack (nesting deeper than ast::kMaxNesting is reported as an error), and
// accepts arbitrary bytes (invalid input is a ParseError, not a crash).
bool parse_program(std::string_view source, ast::Program& out, ParseError& err);

}  // namespace weft
