// libFuzzer target: arbitrary bytes through the parser and, when they parse,
// the bytecode compiler and the disassembler. Nothing may crash, overflow the
// C++ stack or leak; a syntax error must come with a position.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "fuzz_common.hpp"

using namespace weft;

static Session* session() {
  static Session* s = [] {
    weft_fuzz::silence_stdout();
    return new Session(RuntimeOptions{});
  }();
  return s;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string source(reinterpret_cast<const char*>(data), size);
  ast::Program program;
  ParseError perr;
  if (!parse_program(source, program, perr)) {
    // A syntax error always has a place and a message.
    if (perr.line < 1 || perr.col < 1 || perr.message.empty()) std::abort();
    return 0;
  }
  Session& s = *session();
  Interp& in = s.interp();
  ObjModule* m = in.heap.make<ObjModule>();
  m->display = "<fuzz>";
  m->source = source;
  CompileError cerr;
  ObjProto* proto = compile_program(in, m, program, CompileOptions{}, cerr);
  if (proto) {
    std::string text = disassemble(proto);
    if (text.empty()) std::abort();
  } else if (cerr.line < 0 || cerr.message.empty()) {
    std::abort();
  }
  // The module is unreachable now: let the collector take it every so often
  // (nothing else ever collects in this process).
  static unsigned n = 0;
  if (++n % 64 == 0) in.heap.collect();
  return 0;
}
