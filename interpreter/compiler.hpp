// The bytecode compiler: AST in, one ObjProto per function out.
#pragma once

#include <string>

#include "ast.hpp"
#include "runtime/interp.hpp"

namespace weft {

// A compile-time error (reported as SyntaxError): an assignment to an
// undeclared variable inside a function, `break` outside a loop, too many
// constants, ...
struct CompileError {
  int line = 0;
  int col = 0;
  std::string message;
};

struct CompileOptions {
  // REPL: the value of each top-level expression statement is printed with
  // repr (nil is not), through the builtin `__repl_print`.
  bool repl = false;
};

// Compiles `program` as the top-level code of `module` (whose globals it
// extends). Returns the <main> proto, or nullptr with `err` filled. Must be
// called with the GIL held; allocates on the heap but never collects.
ObjProto* compile_program(Interp& in, ObjModule* module, const ast::Program& program,
                          const CompileOptions& opts, CompileError& err);

// Prints the bytecode of `proto` and every function nested in it
// (`weft dis`): offsets, opcode names, operands and source lines.
std::string disassemble(const ObjProto* proto);

}  // namespace weft
