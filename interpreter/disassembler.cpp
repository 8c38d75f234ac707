// `weft dis`: a readable listing of a function's bytecode and of every
// function nested in it, with source lines.
#include <fmt/format.h>

#include "compiler.hpp"
#include "opcodes.hpp"
#include "runtime/natives.hpp"

namespace weft {

static std::uint16_t u16_at(const std::vector<std::uint8_t>& c, std::size_t i) {
  return static_cast<std::uint16_t>(c[i] | (c[i + 1] << 8));
}

static void disassemble_one(const ObjProto* p, std::string& out, std::vector<const ObjProto*>& nested) {
  if (p->flexible)
    out += fmt::format("== fn {} ({}; defined at line {}) ==\n", p->name, p->params_sig, p->line);
  else
    out += fmt::format("== fn {} ({} param{}, defined at line {}) ==\n", p->name, p->arity, p->arity == 1 ? "" : "s",
                       p->line);
  const auto& c = p->code;
  int last_line = -1;
  for (std::size_t i = 0; i < c.size();) {
    auto op = static_cast<Op>(c[i]);
    if (c[i] >= static_cast<std::uint8_t>(Op::COUNT_)) {
      out += fmt::format("{:04d}  <bad opcode {}>\n", i, c[i]);
      break;
    }
    OperandKind kind = kOpKinds[c[i]];
    int size = instruction_size(kind);
    if (i + static_cast<std::size_t>(size) > c.size()) break;
    LineInfo li = p->position(static_cast<std::uint32_t>(i));
    std::string line = li.line != last_line ? fmt::format("{:4d}", li.line) : "   |";
    last_line = li.line;
    std::string operands;
    switch (kind) {
      case OperandKind::NONE: break;
      case OperandKind::U8: operands = fmt::format("{}", c[i + 1]); break;
      case OperandKind::U16: {
        std::uint16_t k = u16_at(c, i + 1);
        if (op == Op::CONST || op == Op::CLOSURE || op == Op::GET_FIELD || op == Op::SET_FIELD ||
            op == Op::INVOKE_SPREAD) {
          Value v = p->constants[k];
          operands = fmt::format("{:<5} ; {}", k, to_repr(v));
          if (op == Op::CLOSURE) nested.push_back(as<ObjProto>(v));
        } else if (op == Op::GET_GLOBAL || op == Op::SET_GLOBAL) {
          operands = fmt::format("{:<5} ; {}", k, p->module && k < p->module->names.size() ? p->module->names[k]->view() : "?");
        } else if (op == Op::SMALL_INT || op == Op::ADD_INT) {
          operands = fmt::format("{}", static_cast<std::int16_t>(k));
        } else {
          operands = fmt::format("{}", k);
        }
        break;
      }
      case OperandKind::U16_U8: {
        std::uint16_t k = u16_at(c, i + 1);
        if (op == Op::FORMAT_VALUE) {
          char conv = static_cast<char>(c[i + 3]);
          operands = fmt::format("{:<5} ; spec {}{}", k, to_repr(p->constants[k]),
                                 conv ? fmt::format(", !{}", conv) : std::string());
          break;
        }
        operands = fmt::format("{:<5} ; {} ({} arg{})", k, to_repr(p->constants[k]), c[i + 3], c[i + 3] == 1 ? "" : "s");
        break;
      }
      case OperandKind::U16_U16:
        operands = fmt::format("slot {} -> {}", u16_at(c, i + 1), i + 5 + u16_at(c, i + 3));
        break;
      case OperandKind::JUMP:
        operands = fmt::format("-> {}", i + 3 + u16_at(c, i + 1));
        break;
      case OperandKind::LOOP:
        operands = fmt::format("-> {}", i + 3 - u16_at(c, i + 1));
        break;
      case OperandKind::LOCAL_INT_JUMP:
        operands = fmt::format("slot {} < {} -> {}", u16_at(c, i + 1), static_cast<std::int16_t>(u16_at(c, i + 3)),
                               i + 7 + u16_at(c, i + 5));
        break;
      case OperandKind::FORITER:
        operands = fmt::format("slot {}, {} var{} -> {}", u16_at(c, i + 1), c[i + 3], c[i + 3] == 1 ? "" : "s",
                               i + 6 + u16_at(c, i + 4));
        break;
    }
    out += fmt::format("{:04d} {} {:<18} {}\n", i, line, kOpNames[c[i]], operands);
    i += static_cast<std::size_t>(size);
  }
  out += "\n";
}

std::string disassemble(const ObjProto* proto) {
  std::string out;
  std::vector<const ObjProto*> todo{proto};
  for (std::size_t i = 0; i < todo.size(); ++i) disassemble_one(todo[i], out, todo);
  return out;
}

}  // namespace weft
