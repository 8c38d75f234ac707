// The instruction set, defined once. The opcode enum, the disassembler's
// names and operand layouts, and the VM's computed-goto dispatch table are
// all generated from this X-macro table.
//
// Operand kinds: NONE; U8; U16; U16_U8 (a u16 then a u8); U16_U16;
// JUMP (u16 forward offset); LOOP (u16 backward offset);
// FORITER (u16 slot, u8 vars, u16 forward offset);
// LOCAL_INT_JUMP (u16 slot, u16 int16 constant, u16 forward offset).
// Operands are little-endian.
#pragma once

#include <cstdint>

namespace weft {

// clang-format off
#define WEFT_OPCODES(X)                                                                     \
  X(CONST,         U16)     /* push constants[k] */                                         \
  X(SMALL_INT,     U16)     /* push the int (int16_t)k */                                   \
  X(NIL,           NONE)    /* push nil */                                                  \
  X(TRUE,          NONE)    /* push true */                                                 \
  X(FALSE,         NONE)    /* push false */                                                \
  X(POP,           NONE)    /* drop the top value */                                        \
  X(POPN,          U16)     /* drop n values */                                             \
  X(DUP,           NONE)    /* a -> a a */                                                  \
  X(DUP2,          NONE)    /* a b -> a b a b */                                            \
  X(GET_LOCAL,     U16)     /* push base[k] */                                              \
  X(SET_LOCAL,     U16)     /* base[k] = pop() */                                           \
  X(GET_UPVAL,     U16)     /* push *upvalues[k] */                                         \
  X(SET_UPVAL,     U16)     /* *upvalues[k] = pop() */                                      \
  X(GET_GLOBAL,    U16)     /* push globals[k]; NameError if unassigned */                  \
  X(SET_GLOBAL,    U16)     /* globals[k] = pop() */                                        \
  X(GET_INDEX,     NONE)    /* obj idx -> obj[idx] */                                       \
  X(SET_INDEX,     NONE)    /* obj idx v -> (obj[idx] = v) */                               \
  X(GET_FIELD,     U16)     /* obj -> obj.name (name = constants[k]) */                     \
  X(SET_FIELD,     U16)     /* obj v -> (obj.name = v) */                                   \
  X(ADD,           NONE)    /* a b -> a + b */                                              \
  X(SUB,           NONE)    /* a b -> a - b */                                              \
  X(MUL,           NONE)    /* a b -> a * b */                                              \
  X(DIV,           NONE)    /* a b -> a / b (always float) */                               \
  X(FLOORDIV,      NONE)    /* a b -> a // b */                                             \
  X(MOD,           NONE)    /* a b -> a % b */                                              \
  X(ADD_INT,       U16)     /* a -> a + (int16_t)k (superinstruction) */                    \
  X(NEG,           NONE)    /* a -> -a */                                                   \
  X(NOT,           NONE)    /* a -> not a */                                                \
  X(EQ,            NONE)    /* a b -> a == b */                                             \
  X(NE,            NONE)    /* a b -> a != b */                                             \
  X(LT,            NONE)    /* a b -> a < b */                                              \
  X(LE,            NONE)    /* a b -> a <= b */                                             \
  X(GT,            NONE)    /* a b -> a > b */                                              \
  X(GE,            NONE)    /* a b -> a >= b */                                             \
  X(IN,            NONE)    /* a b -> a in b */                                             \
  X(JUMP,          JUMP)    /* ip += k */                                                   \
  X(JUMP_IF_FALSE, JUMP)    /* pop; jump if falsy */                                        \
  X(JUMP_IF_FALSE_KEEP, JUMP) /* jump if top is falsy (keep it), else pop (and) */          \
  X(JUMP_IF_TRUE_KEEP,  JUMP) /* jump if top is truthy (keep it), else pop (or) */          \
  X(LOOP,          LOOP)    /* ip -= k; checks the eval breaker */                          \
  X(LT_LOCAL_JUMP, U16_U16) /* if not (base[a] < pop()) jump b forward (loop test) */       \
  X(LT_LOCAL_INT_JUMP, LOCAL_INT_JUMP) /* if not (base[a] < (int16_t)k) jump b forward */    \
  X(JUMP_IF_NOT_LT, JUMP)   /* a b -> ; jump if not (a < b) (fused compare + branch) */     \
  X(JUMP_IF_NOT_LE, JUMP)   /* a b -> ; jump if not (a <= b) */                             \
  X(JUMP_IF_NOT_GT, JUMP)   /* a b -> ; jump if not (a > b) */                              \
  X(JUMP_IF_NOT_GE, JUMP)   /* a b -> ; jump if not (a >= b) */                             \
  X(JUMP_IF_NOT_EQ, JUMP)   /* a b -> ; jump if not (a == b) */                             \
  X(JUMP_IF_NOT_NE, JUMP)   /* a b -> ; jump if not (a != b) */                             \
  X(CALL,          U8)      /* f a1..an -> f(a1..an); checks the eval breaker */            \
  X(INVOKE,        U16_U8)  /* obj a1..an -> obj.name(a1..an) */                            \
  X(CLOSURE,       U16)     /* push a closure of constants[k] (a proto) */                  \
  X(CLOSE_UPVALS,  U16)     /* close upvalues at slots >= k (loop iteration ends) */        \
  X(RETURN,        NONE)    /* return pop() */                                              \
  X(RETURN_NIL,    NONE)    /* return nil */                                                \
  X(LIST,          U16)     /* n items -> list */                                           \
  X(MAP,           U16)     /* n key/value pairs -> map */                                  \
  X(TRY,           JUMP)    /* push a handler whose catch code is at ip + k */              \
  X(END_TRY,       NONE)    /* pop the innermost handler */                                 \
  X(THROW,         NONE)    /* throw pop() */                                               \
  X(ITER_PREP,     U16)     /* turn base[k] into an iteration state (3 slots) */            \
  X(FOR_ITER,      FORITER) /* push the next item(s) of the iteration at base[k], or jump */ \
  X(POW,           NONE)    /* a b -> a ** b */                                             \
  X(SLICE,         NONE)    /* obj lo hi -> obj[lo:hi] (nil bounds: omitted) */             \
  X(UNPACK,        U16)     /* list -> its n items (ValueError unless exactly n) */         \
  X(ARG_DEFAULT,   U16_U16) /* if base[a] was passed (not undef), jump b forward */         \
  X(LIST_APPEND,   NONE)    /* list v -> list (v appended; spread call arguments) */        \
  X(LIST_EXTEND,   NONE)    /* list xs -> list (items of xs appended; TypeError if no list) */ \
  X(CALL_SPREAD,   NONE)    /* f args -> f(...args) */                                      \
  X(INVOKE_SPREAD, U16)     /* obj args -> obj.name(...args) (name = constants[k]) */       \
  X(RERAISE,       NONE)    /* throw pop() again, keeping its trace (end of a finally) */   \
  X(FORMAT_VALUE,  U16_U8)  /* v -> str (format spec constants[k], conversion u8) */        \
  X(BUILD_STRING,  U16)     /* n strings -> their concatenation */
// clang-format on

enum class Op : std::uint8_t {
#define WEFT_OP_ENUM(name, kind) name,
  WEFT_OPCODES(WEFT_OP_ENUM)
#undef WEFT_OP_ENUM
      COUNT_
};

enum class OperandKind : std::uint8_t { NONE, U8, U16, U16_U8, U16_U16, JUMP, LOOP, FORITER, LOCAL_INT_JUMP };

// Size of an instruction with its operands, in bytes.
inline int instruction_size(OperandKind k) {
  switch (k) {
    case OperandKind::NONE: return 1;
    case OperandKind::U8: return 2;
    case OperandKind::U16: return 3;
    case OperandKind::JUMP: return 3;
    case OperandKind::LOOP: return 3;
    case OperandKind::U16_U8: return 4;
    case OperandKind::U16_U16: return 5;
    case OperandKind::FORITER: return 6;
    case OperandKind::LOCAL_INT_JUMP: return 7;
  }
  return 1;
}

inline const char* const kOpNames[] = {
#define WEFT_OP_NAME(name, kind) #name,
    WEFT_OPCODES(WEFT_OP_NAME)
#undef WEFT_OP_NAME
};

inline const OperandKind kOpKinds[] = {
#define WEFT_OP_KIND(name, kind) OperandKind::kind,
    WEFT_OPCODES(WEFT_OP_KIND)
#undef WEFT_OP_KIND
};

}  // namespace weft
