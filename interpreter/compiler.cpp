// The bytecode compiler.
//
// A single pass over the AST per function, in the style of clox: locals live
// in stack slots (slot 0 is the callee), captured variables become upvalues
// that stay open while their frame lives and are closed when their scope
// ends, and globals are slot indices into the module's global array. Each
// iteration of a loop body is its own scope, so a closure made in the body
// captures that iteration's variables.
#include "compiler.hpp"

#include <boost/variant/apply_visitor.hpp>
#include <fmt/format.h>

#include <limits>
#include <unordered_map>

#include "opcodes.hpp"

namespace weft {

namespace {
namespace x3 = boost::spirit::x3;

struct CompileFailure {
  CompileError err;
};

struct Local {
  std::string name;
  int depth;
  bool captured = false;
};

struct UpvalRef {
  std::uint16_t index;
  bool is_local;
};

struct LoopInfo {
  std::size_t continue_target;  // where `continue` jumps back to
  int scope_depth;              // scope depth outside the loop body
  std::size_t locals_outside;   // locals that survive a break/continue
  int try_depth;
  std::vector<std::size_t> breaks;  // JUMP operands to patch to the exit
};

// A `finally` block whose `try` is active: every way out of the try (and
// catch) block compiles a copy of `body` on the way (see run_finallies).
struct FinallyInfo {
  const ast::Block* body;
  int try_depth;               // fs_->try_depth outside the try statement
  std::size_t locals;          // locals visible to the finally block
  std::size_t loops;           // fs_->loops.size() at the try statement
};

struct FnState {
  FnState* enclosing = nullptr;
  ObjProto* proto = nullptr;
  std::vector<Local> locals;
  std::vector<UpvalRef> upvals;
  std::vector<LoopInfo> loops;
  std::vector<FinallyInfo> finallies;
  int scope_depth = 0;
  int try_depth = 0;
  bool toplevel = false;
  int depth = 0;      // current value-stack depth above the locals
  int max_depth = 0;
  std::unordered_map<std::int64_t, std::uint16_t> int_consts;
  std::unordered_map<Obj*, std::uint16_t> obj_consts;
};

class Compiler {
 public:
  Compiler(Interp& in, ObjModule* mod, const CompileOptions& opts) : in_(in), mod_(mod), opts_(opts) {}

  ObjProto* program(const ast::Program& p) {
    collect_globals(p);
    FnState fs;
    fs.toplevel = true;
    begin_function(fs, "<main>", 1);
    for (const auto& s : p.stmts) stmt(s);
    emit(Op::RETURN_NIL);
    return end_function();
  }

 private:
  Interp& in_;
  ObjModule* mod_;
  CompileOptions opts_;
  FnState* fs_ = nullptr;
  int line_ = 1, col_ = 1;
  // Bytes of bytecode emitted so far (all functions). Finally blocks are
  // compiled once per exit, so nested try/finally multiplies code; hostile
  // nesting must end in an error, not a runaway compile.
  std::size_t total_code_ = 0;
  int finally_nesting_ = 0;
  static constexpr std::size_t kMaxTotalCode = std::size_t(1) << 26;
  static constexpr int kMaxFinallyNesting = 16;

  // --------------------------------------------------------------- errors

  [[noreturn]] void fail(const ast::Node& at, std::string msg) {
    throw CompileFailure{{at.line, at.col, std::move(msg)}};
  }
  [[noreturn]] void fail_here(std::string msg) { throw CompileFailure{{line_, col_, std::move(msg)}}; }

  void at(const ast::Node& n) {
    if (n.line > 0) {
      line_ = n.line;
      col_ = n.col;
    }
  }

  // ------------------------------------------------------------- globals

  // Every name assigned at the top level of the file (outside functions) is
  // a declared global, wherever it appears, so functions may assign to
  // globals defined after them.
  void collect_globals(const ast::Program& p) {
    for (const auto& s : p.stmts) collect_stmt(s, 0);
  }
  void collect_block(const ast::Block& b, int depth) {
    for (const auto& s : b.stmts) collect_stmt(s.get(), depth + 1);
  }
  void collect_stmt(const ast::Stmt& s, int depth) {
    struct V {
      Compiler& c;
      int depth;
      void operator()(const ast::LetStmt& x) const {
        if (depth == 0) {
          c.mod_->declared.insert(x.name.name);
          for (const auto& n : x.more) c.mod_->declared.insert(n.name);
        }
      }
      void operator()(const ast::FnStmt& x) const {
        if (depth == 0) c.mod_->declared.insert(x.name.name);
      }
      void operator()(const ast::IfStmt& x) const {
        for (const auto& b : x.branches) c.collect_block(b.body, depth);
        if (x.else_body) c.collect_block(*x.else_body, depth);
      }
      void operator()(const ast::WhileStmt& x) const { c.collect_block(x.body, depth); }
      void operator()(const ast::ForStmt& x) const { c.collect_block(x.body, depth); }
      void operator()(const ast::TryStmt& x) const {
        c.collect_block(x.body, depth);
        if (x.handler) c.collect_block(x.handler->body, depth);
        if (x.finally_body) c.collect_block(*x.finally_body, depth);
      }
      void operator()(const ast::AssignStmt& x) const {
        if (const ast::Name* n = boost::get<ast::Name>(&x.target)) c.mod_->declared.insert(n->name);
      }
      void operator()(const ast::BreakStmt&) const {}
      void operator()(const ast::ContinueStmt&) const {}
      void operator()(const ast::ReturnStmt&) const {}
      void operator()(const ast::ThrowStmt&) const {}
      void operator()(const ast::ExprStmt&) const {}
    };
    boost::apply_visitor(V{*this, depth}, s);
  }

  std::uint16_t global_slot(const std::string& name) {
    auto it = mod_->slots.find(name);
    if (it != mod_->slots.end()) return static_cast<std::uint16_t>(it->second);
    if (mod_->values.size() >= 65535) fail_here("too many global variables");
    int slot = mod_->slot_for(in_.heap, name);
    if (slot < 0) fail_here("too many global variables");
    auto b = in_.builtins.find(name);
    if (b != in_.builtins.end()) mod_->values[static_cast<std::size_t>(slot)] = b->second;
    return static_cast<std::uint16_t>(slot);
  }

  // ------------------------------------------------------------ emitting

  std::vector<std::uint8_t>& code() { return fs_->proto->code; }

  void mark_position() {
    auto& lines = fs_->proto->lines;
    std::uint32_t off = static_cast<std::uint32_t>(code().size());
    if (!lines.empty() && lines.back().line == line_ && lines.back().col == col_) return;
    if (!lines.empty() && lines.back().offset == off) {
      lines.back().line = line_;
      lines.back().col = col_;
      return;
    }
    lines.push_back({off, line_, col_});
  }

  void adjust(int delta) {
    fs_->depth += delta;
    if (fs_->depth > fs_->max_depth) fs_->max_depth = fs_->depth;
  }

  // Stack effect of each opcode (for the frame-size bound).
  void emit(Op op, int delta = 0) {
    if (++total_code_ > kMaxTotalCode) fail_here("program too large (the compiled code passes 64 MB)");
    mark_position();
    code().push_back(static_cast<std::uint8_t>(op));
    adjust(delta);
  }
  void emit_u8(std::uint8_t b) { code().push_back(b); }
  void emit_u16(std::uint16_t v) {
    code().push_back(static_cast<std::uint8_t>(v & 0xff));
    code().push_back(static_cast<std::uint8_t>(v >> 8));
  }
  void emit_op16(Op op, std::uint16_t v, int delta) {
    emit(op, delta);
    emit_u16(v);
  }
  std::size_t emit_jump(Op op, int delta) {
    emit(op, delta);
    emit_u16(0xffff);
    return code().size() - 2;
  }
  void patch_jump(std::size_t operand_at) {
    std::size_t dist = code().size() - (operand_at + 2);
    if (dist > 0xffff) fail_here("function too large (jump over 65535 bytes)");
    code()[operand_at] = static_cast<std::uint8_t>(dist & 0xff);
    code()[operand_at + 1] = static_cast<std::uint8_t>(dist >> 8);
  }
  void emit_loop(std::size_t target) {
    emit(Op::LOOP);
    std::size_t dist = code().size() + 2 - target;
    if (dist > 0xffff) fail_here("loop body too large (over 65535 bytes)");
    emit_u16(static_cast<std::uint16_t>(dist));
  }

  std::uint16_t add_constant(Value v) {
    auto& k = fs_->proto->constants;
    if (v.is_int()) {
      auto it = fs_->int_consts.find(v.as.i);
      if (it != fs_->int_consts.end()) return it->second;
    } else if (v.is_obj()) {
      auto it = fs_->obj_consts.find(v.as.o);
      if (it != fs_->obj_consts.end()) return it->second;
    }
    if (k.size() >= 65535) fail_here("too many constants in one function");
    auto idx = static_cast<std::uint16_t>(k.size());
    k.push_back(v);
    if (v.is_int()) fs_->int_consts[v.as.i] = idx;
    if (v.is_obj()) fs_->obj_consts[v.as.o] = idx;
    return idx;
  }
  std::uint16_t str_constant(const std::string& s) { return add_constant(Value::object(in_.heap.intern(s))); }

  void emit_int(std::int64_t v) {
    if (v >= -32768 && v <= 32767)
      emit_op16(Op::SMALL_INT, static_cast<std::uint16_t>(static_cast<std::int16_t>(v)), 1);
    else
      emit_op16(Op::CONST, add_constant(Value::integer(v)), 1);
  }

  // ------------------------------------------------------------ functions

  void begin_function(FnState& fs, const std::string& name, int line) {
    fs.enclosing = fs_;
    fs_ = &fs;
    fs.proto = in_.heap.make<ObjProto>();
    fs.proto->name = name;
    fs.proto->module = mod_;
    fs.proto->line = line;
    fs.locals.push_back({"", 0});  // slot 0: the callee
  }

  ObjProto* end_function() {
    ObjProto* p = fs_->proto;
    p->kptr = p->constants.data();
    p->gptr = mod_->values.data();
    std::size_t max_locals = 0;
    for (std::size_t i = 0; i < fs_->locals.size(); ++i) max_locals = i + 1;
    p->max_slots = static_cast<int>(fs_->max_depth + fs_->locals.capacity() + 8);
    (void)max_locals;
    p->upvalues.reserve(fs_->upvals.size());
    for (auto& u : fs_->upvals) p->upvalues.push_back({u.is_local, u.index});
    fs_ = fs_->enclosing;
    return p;
  }

  ObjProto* function(const std::string& name, const std::vector<ast::Param>& params, const ast::Block& body,
                     const ast::Node& pos) {
    FnState fs;
    begin_function(fs, name, pos.line);
    fs.scope_depth = 1;
    if (params.size() > 255) fail(pos, "too many parameters (limit 255)");
    ObjProto* proto = fs.proto;
    bool seen_default = false;
    for (std::size_t k = 0; k < params.size(); ++k) {
      const ast::Param& p = params[k];
      for (std::size_t i = 1; i < fs.locals.size(); ++i)
        if (fs.locals[i].name == p.name.name) fail(p.name, fmt::format("duplicate parameter '{}'", p.name.name));
      if (p.rest) {
        if (p.default_value) fail(p.name, fmt::format("the rest parameter '...{}' cannot have a default", p.name.name));
        if (k + 1 != params.size())
          fail(p.name, fmt::format("the rest parameter '...{}' must be the last parameter", p.name.name));
        proto->has_rest = true;
      } else if (p.default_value) {
        seen_default = true;
      } else if (seen_default) {
        fail(p.name, fmt::format("parameter '{}' without a default follows a parameter with one "
                                 "(put parameters with defaults last)", p.name.name));
      } else {
        ++proto->required;
      }
      if (!proto->params_sig.empty()) proto->params_sig += ", ";
      proto->params_sig += (p.rest ? "..." : "") + p.name.name + (p.default_value ? "=..." : "");
      fs.locals.push_back({p.name.name, 1});
    }
    proto->nparams = static_cast<int>(params.size()) - (proto->has_rest ? 1 : 0);
    proto->flexible = proto->has_rest || seen_default;
    // Plain calls compare argc with arity only; a rest parameter makes every
    // call take the slow path (which builds the list).
    proto->arity = proto->has_rest ? -1 : proto->nparams;
    // Omitted arguments arrive as undef; each default is computed in the
    // callee's scope, seeing only the parameters before it.
    for (std::size_t k = 0; k < params.size(); ++k) {
      if (!params[k].default_value) continue;
      auto slot = static_cast<std::uint16_t>(k + 1);
      at(params[k].name);
      emit(Op::ARG_DEFAULT, 0);
      emit_u16(slot);
      emit_u16(0xffff);
      std::size_t skip = code().size() - 2;
      std::vector<std::string> hidden;
      for (std::size_t i = k + 1; i < fs.locals.size(); ++i) hidden.push_back(std::exchange(fs.locals[i].name, ""));
      expr(*params[k].default_value);
      for (std::size_t i = k + 1; i < fs.locals.size(); ++i) fs.locals[i].name = hidden[i - k - 1];
      emit_op16(Op::SET_LOCAL, slot, -1);
      patch_jump(skip);
    }
    for (const auto& s : body.stmts) stmt(s.get());
    emit(Op::RETURN_NIL);
    int saved_line = line_, saved_col = col_;
    ObjProto* p = end_function();
    line_ = saved_line;
    col_ = saved_col;
    return p;
  }

  void emit_closure(ObjProto* p) {
    // `fs_` is the enclosing function again; the constant lives there.
    emit_op16(Op::CLOSURE, add_constant(Value::object(p)), 1);
  }

  // --------------------------------------------------------------- scopes

  void begin_scope() { ++fs_->scope_depth; }

  // Pops the locals of the innermost scope, closing captured ones.
  void end_scope() {
    --fs_->scope_depth;
    auto& locals = fs_->locals;
    std::size_t first = locals.size();
    bool captured = false;
    while (first > 0 && locals[first - 1].depth > fs_->scope_depth) {
      --first;
      captured |= locals[first].captured;
    }
    std::size_t n = locals.size() - first;
    if (n == 0) return;
    if (captured) emit_op16(Op::CLOSE_UPVALS, static_cast<std::uint16_t>(first), 0);
    emit_pop(n);
    locals.resize(first);
  }

  void emit_pop(std::size_t n) {
    if (n == 1) {
      emit(Op::POP);
    } else if (n > 1) {
      emit_op16(Op::POPN, static_cast<std::uint16_t>(n), 0);
    }
  }

  // Declares a local whose value is already on top of the stack.
  void declare_local(const std::string& name) {
    if (fs_->locals.size() >= 10000) fail_here("too many local variables in one function (limit 10000)");
    fs_->locals.push_back({name, fs_->scope_depth});
    adjust(-1);  // the value moved from "temporary" to "local"
  }

  int resolve_local(FnState* fs, const std::string& name) {
    for (std::size_t i = fs->locals.size(); i-- > 1;)
      if (fs->locals[i].name == name) return static_cast<int>(i);
    return -1;
  }

  int add_upvalue(FnState* fs, std::uint16_t index, bool is_local) {
    for (std::size_t i = 0; i < fs->upvals.size(); ++i)
      if (fs->upvals[i].index == index && fs->upvals[i].is_local == is_local) return static_cast<int>(i);
    if (fs->upvals.size() >= 65535) fail_here("too many captured variables");
    fs->upvals.push_back({index, is_local});
    return static_cast<int>(fs->upvals.size() - 1);
  }

  int resolve_upvalue(FnState* fs, const std::string& name) {
    if (!fs->enclosing) return -1;
    int local = resolve_local(fs->enclosing, name);
    if (local >= 0) {
      fs->enclosing->locals[static_cast<std::size_t>(local)].captured = true;
      return add_upvalue(fs, static_cast<std::uint16_t>(local), true);
    }
    int up = resolve_upvalue(fs->enclosing, name);
    if (up >= 0) return add_upvalue(fs, static_cast<std::uint16_t>(up), false);
    return -1;
  }

  void load_name(const ast::Name& n) {
    at(n);
    int l = resolve_local(fs_, n.name);
    if (l >= 0) return emit_op16(Op::GET_LOCAL, static_cast<std::uint16_t>(l), 1);
    int u = resolve_upvalue(fs_, n.name);
    if (u >= 0) return emit_op16(Op::GET_UPVAL, static_cast<std::uint16_t>(u), 1);
    emit_op16(Op::GET_GLOBAL, global_slot(n.name), 1);
  }

  // Stores the top of the stack into the variable `n`.
  void store_name(const ast::Name& n) {
    int l = resolve_local(fs_, n.name);
    if (l >= 0) return emit_op16(Op::SET_LOCAL, static_cast<std::uint16_t>(l), -1);
    int u = resolve_upvalue(fs_, n.name);
    if (u >= 0) return emit_op16(Op::SET_UPVAL, static_cast<std::uint16_t>(u), -1);
    if (!fs_->toplevel && !mod_->declared.count(n.name))
      fail(n, fmt::format("undeclared variable '{}'", n.name));
    mod_->declared.insert(n.name);
    emit_op16(Op::SET_GLOBAL, global_slot(n.name), -1);
  }

  // ----------------------------------------------------------- statements

  void block(const ast::Block& b) {
    begin_scope();
    for (const auto& s : b.stmts) stmt(s.get());
    end_scope();
  }

  void stmt(const ast::Stmt& s) {
    boost::apply_visitor([this](const auto& x) { this->stmt_node(x); }, s);
  }

  void stmt_node(const ast::LetStmt& s) {
    at(s);
    expr(s.value);
    if (!s.more.empty()) return let_destructure(s);
    if (fs_->toplevel && fs_->scope_depth == 0) {
      mod_->declared.insert(s.name.name);
      at(s);
      emit_op16(Op::SET_GLOBAL, global_slot(s.name.name), -1);
      return;
    }
    // Re-declaring a name in the same block reuses its slot.
    for (std::size_t i = fs_->locals.size(); i-- > 1;) {
      if (fs_->locals[i].depth < fs_->scope_depth) break;
      if (fs_->locals[i].name == s.name.name) {
        emit_op16(Op::SET_LOCAL, static_cast<std::uint16_t>(i), -1);
        return;
      }
    }
    declare_local(s.name.name);
  }

  // let a, b, c = xs: UNPACK checks the list and pushes its items in order.
  void let_destructure(const ast::LetStmt& s) {
    std::vector<const ast::Name*> names{&s.name};
    for (const auto& n : s.more) names.push_back(&n);
    if (names.size() > 255) fail(s, "too many names in one 'let' (limit 255)");
    for (std::size_t i = 0; i < names.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (names[i]->name == names[j]->name) fail(*names[i], fmt::format("'{}' appears twice in this 'let'", names[i]->name));
    at(s);
    emit_op16(Op::UNPACK, static_cast<std::uint16_t>(names.size()), static_cast<int>(names.size()) - 1);
    if (fs_->toplevel && fs_->scope_depth == 0) {
      for (std::size_t i = names.size(); i-- > 0;) {
        mod_->declared.insert(names[i]->name);
        emit_op16(Op::SET_GLOBAL, global_slot(names[i]->name), -1);
      }
      return;
    }
    for (const ast::Name* n : names) declare_local(n->name);
  }

  void stmt_node(const ast::FnStmt& s) {
    at(s);
    if (fs_->toplevel && fs_->scope_depth == 0) {
      ObjProto* p = function(s.name.name, s.params, s.body, s);
      at(s);
      emit_closure(p);
      mod_->declared.insert(s.name.name);
      emit_op16(Op::SET_GLOBAL, global_slot(s.name.name), -1);
      return;
    }
    // A local function is visible in its own body (so it can recurse): the
    // slot exists before the closure is made.
    emit(Op::NIL, 1);
    declare_local(s.name.name);
    auto slot = static_cast<std::uint16_t>(fs_->locals.size() - 1);
    ObjProto* p = function(s.name.name, s.params, s.body, s);
    at(s);
    emit_closure(p);
    emit_op16(Op::SET_LOCAL, slot, -1);
  }

  void stmt_node(const ast::IfStmt& s) {
    std::vector<std::size_t> ends;
    for (std::size_t i = 0; i < s.branches.size(); ++i) {
      const auto& br = s.branches[i];
      at(br);
      std::vector<std::size_t> next = cond_jumps(br.cond);
      block(br.body);
      bool last = i + 1 == s.branches.size() && !s.else_body;
      if (!last) ends.push_back(emit_jump(Op::JUMP, 0));
      for (std::size_t j : next) patch_jump(j);
    }
    if (s.else_body) block(*s.else_body);
    for (std::size_t e : ends) patch_jump(e);
  }

  void stmt_node(const ast::WhileStmt& s) {
    at(s);
    std::size_t start = code().size();
    std::vector<std::size_t> exits = cond_jumps(s.cond);
    loop_body(s.body, start);
    emit_loop(start);
    for (std::size_t j : exits) patch_jump(j);
    finish_loop();
  }

  // Compiles `cond` as control flow: returns the operands of the jumps
  // taken when it is false (to be patched to the false target); execution
  // falls through when it is true. `and`/`or` become jumps between their
  // operands' tests, so `if a < b and c != d` uses two fused compare-jumps
  // and never materializes a boolean.
  std::vector<std::size_t> cond_jumps(const ast::Expr& cond) {
    if (auto* fl = boost::get<x3::forward_ast<ast::Logical>>(&cond)) {
      const ast::Logical& l = fl->get();
      std::vector<std::size_t> false_jumps;
      if (l.is_and) {
        // Any false operand makes the whole condition false.
        for (const ast::Expr& op : l.operands) {
          std::vector<std::size_t> j = cond_jumps(op);
          false_jumps.insert(false_jumps.end(), j.begin(), j.end());
        }
        return false_jumps;
      }
      // or: a true operand jumps over the rest to the true target; a false
      // one falls to the next operand's test.
      std::vector<std::size_t> true_jumps;
      for (std::size_t i = 0; i + 1 < l.operands.size(); ++i) {
        std::vector<std::size_t> j = cond_jumps(l.operands[i]);
        at(l);
        true_jumps.push_back(emit_jump(Op::JUMP, 0));
        for (std::size_t f : j) patch_jump(f);
      }
      false_jumps = cond_jumps(l.operands.back());
      for (std::size_t t : true_jumps) patch_jump(t);
      return false_jumps;
    }
    return {cond_jump(cond)};
  }

  // Compiles `cond` followed by a jump taken when it is false; returns the
  // jump operand. `i < n` with a local `i` uses the fused LT_LOCAL_JUMP.
  std::size_t cond_jump(const ast::Expr& cond) {
    if (auto* fc = boost::get<x3::forward_ast<ast::Compare>>(&cond)) {
      const ast::Compare& c = fc->get();
      if (c.op == ast::CmpOp::Lt) {
        if (auto* n = boost::get<ast::Name>(&c.lhs)) {
          int l = resolve_local(fs_, n->name);
          const ast::IntLit* lit = boost::get<ast::IntLit>(&c.rhs);
          if (l >= 0 && lit && lit->value >= -32768 && lit->value <= 32767) {
            // `n < 2`: the constant is an operand, no push.
            at(c);
            emit(Op::LT_LOCAL_INT_JUMP, 0);
            emit_u16(static_cast<std::uint16_t>(l));
            emit_u16(static_cast<std::uint16_t>(static_cast<std::int16_t>(lit->value)));
            emit_u16(0xffff);
            return code().size() - 2;
          }
          if (l >= 0) {
            expr(c.rhs);
            at(c);
            emit(Op::LT_LOCAL_JUMP, -1);
            emit_u16(static_cast<std::uint16_t>(l));
            emit_u16(0xffff);
            return code().size() - 2;
          }
        }
      }
    }
    // `if a < b` / `while x != y`: compare and branch in one instruction.
    if (auto* fc = boost::get<x3::forward_ast<ast::Compare>>(&cond)) {
      const ast::Compare& c = fc->get();
      Op op = Op::JUMP;
      switch (c.op) {
        case ast::CmpOp::Lt: op = Op::JUMP_IF_NOT_LT; break;
        case ast::CmpOp::Le: op = Op::JUMP_IF_NOT_LE; break;
        case ast::CmpOp::Gt: op = Op::JUMP_IF_NOT_GT; break;
        case ast::CmpOp::Ge: op = Op::JUMP_IF_NOT_GE; break;
        case ast::CmpOp::Eq: op = Op::JUMP_IF_NOT_EQ; break;
        case ast::CmpOp::Ne: op = Op::JUMP_IF_NOT_NE; break;
        case ast::CmpOp::In: break;
      }
      if (op != Op::JUMP) {
        expr(c.lhs);
        expr(c.rhs);
        at(c);
        return emit_jump(op, -2);
      }
    }
    expr(cond);
    return emit_jump(Op::JUMP_IF_FALSE, -1);
  }

  void loop_body(const ast::Block& body, std::size_t continue_target) {
    fs_->loops.push_back({continue_target, fs_->scope_depth, fs_->locals.size(), fs_->try_depth, {}});
    block(body);
  }

  void finish_loop() {
    for (std::size_t b : fs_->loops.back().breaks) patch_jump(b);
    fs_->loops.pop_back();
  }

  void stmt_node(const ast::ForStmt& s) {
    at(s);
    begin_scope();
    expr(s.iterable);
    declare_local("(iter)");
    emit(Op::NIL, 1);
    declare_local("(state)");
    emit(Op::NIL, 1);
    declare_local("(aux)");
    auto slot = static_cast<std::uint16_t>(fs_->locals.size() - 3);
    at(s);
    emit_op16(Op::ITER_PREP, slot, 0);
    std::size_t start = code().size();
    int nvars = s.second ? 2 : 1;
    emit(Op::FOR_ITER, 0);
    emit_u16(slot);
    emit_u8(static_cast<std::uint8_t>(nvars));
    emit_u16(0xffff);
    std::size_t exit = code().size() - 2;
    // The body scope holds the fresh loop variables of this iteration.
    fs_->loops.push_back({start, fs_->scope_depth, fs_->locals.size(), fs_->try_depth, {}});
    begin_scope();
    adjust(nvars);
    declare_local(s.first.name);
    if (s.second) declare_local(s.second->name);
    for (const auto& st : s.body.stmts) stmt(st.get());
    end_scope();
    emit_loop(start);
    patch_jump(exit);
    finish_loop();
    end_scope();
  }

  // Pops (and closes) the locals declared inside the loop, and leaves the
  // try blocks entered inside it, before a break or continue.
  void unwind_to_loop(const LoopInfo& loop) {
    int try_depth = run_finallies(static_cast<std::ptrdiff_t>(fs_->loops.size()) - 1);
    for (int i = try_depth; i > loop.try_depth; --i) emit(Op::END_TRY);
    std::size_t n = fs_->locals.size() - loop.locals_outside;
    if (n > 0) {
      emit_op16(Op::CLOSE_UPVALS, static_cast<std::uint16_t>(loop.locals_outside), 0);
      emit_pop(n);
    }
  }

  void stmt_node(const ast::BreakStmt& s) {
    at(s);
    if (fs_->loops.empty()) fail(s, "'break' outside a loop");
    LoopInfo& loop = fs_->loops.back();
    unwind_to_loop(loop);
    loop.breaks.push_back(emit_jump(Op::JUMP, 0));
  }

  void stmt_node(const ast::ContinueStmt& s) {
    at(s);
    if (fs_->loops.empty()) fail(s, "'continue' outside a loop");
    LoopInfo& loop = fs_->loops.back();
    unwind_to_loop(loop);
    emit_loop(loop.continue_target);
  }

  void stmt_node(const ast::ReturnStmt& s) {
    at(s);
    if (fs_->toplevel) fail(s, "'return' outside a function");
    if (!fs_->finallies.empty()) {
      // The value waits in a hidden local while the finally blocks run (a
      // `return` inside one of them returns its own value instead).
      if (s.value)
        expr(*s.value);
      else
        emit(Op::NIL, 1);
      std::size_t saved = fs_->locals.size();
      declare_local("");
      auto slot = static_cast<std::uint16_t>(saved);
      run_finallies(-1);
      at(s);
      emit_op16(Op::GET_LOCAL, slot, 1);
      emit(Op::RETURN, -1);
      fs_->locals.resize(saved);
      return;
    }
    if (s.value) {
      expr(*s.value);
      at(s);
      emit(Op::RETURN, -1);
    } else {
      emit(Op::RETURN_NIL);
    }
  }

  // Before a jump out of try blocks (break/continue to the loop with index
  // `loop_index`, or return: -1), compiles a copy of every finally block
  // being left, innermost first, each after leaving the try handlers inside
  // it. Locals declared inside a try are hidden from its finally block, and
  // a break/continue in it sees only the loops around the try. The code
  // after the jump is compiled with the state restored. Returns the try
  // depth the emitted code has reached.
  int run_finallies(std::ptrdiff_t loop_index) {
    std::vector<FinallyInfo> saved = fs_->finallies;
    int saved_try = fs_->try_depth;
    std::vector<std::string> names;
    for (const auto& l : fs_->locals) names.push_back(l.name);
    while (!fs_->finallies.empty() && static_cast<std::ptrdiff_t>(fs_->finallies.back().loops) > loop_index) {
      FinallyInfo f = fs_->finallies.back();
      fs_->finallies.pop_back();
      for (int i = fs_->try_depth; i > f.try_depth; --i) emit(Op::END_TRY);
      fs_->try_depth = f.try_depth;
      for (std::size_t i = f.locals; i < fs_->locals.size(); ++i) fs_->locals[i].name = "";
      std::vector<LoopInfo> inner(std::make_move_iterator(fs_->loops.begin() + static_cast<std::ptrdiff_t>(f.loops)),
                                  std::make_move_iterator(fs_->loops.end()));
      fs_->loops.resize(f.loops);
      block(*f.body);
      for (auto& l : inner) fs_->loops.push_back(std::move(l));
    }
    int reached = fs_->try_depth;
    fs_->finallies = std::move(saved);
    fs_->try_depth = saved_try;
    for (std::size_t i = 0; i < names.size(); ++i) fs_->locals[i].name = names[i];
    return reached;
  }

  void stmt_node(const ast::TryStmt& s) {
    at(s);
    if (!s.finally_body) return try_catch(s);
    if (finally_nesting_ >= kMaxFinallyNesting)
      fail(s, fmt::format("too many nested try/finally statements (limit {})", kMaxFinallyNesting));
    ++finally_nesting_;
    struct Unnest {
      int& n;
      ~Unnest() { --n; }
    } unnest{finally_nesting_};
    // try { body } catch e { handler } finally { fin } compiles like
    //   TRY H; <try/catch>; END_TRY; fin; JUMP end
    //   H: (thrown value in a hidden local) fin; RERAISE
    // and break/continue/return inside copy `fin` on their way out.
    std::size_t handler = emit_jump(Op::TRY, 0);
    fs_->finallies.push_back({&*s.finally_body, fs_->try_depth, fs_->locals.size(), fs_->loops.size()});
    ++fs_->try_depth;
    if (s.handler)
      try_catch(s);
    else
      block(s.body);
    --fs_->try_depth;
    fs_->finallies.pop_back();
    emit(Op::END_TRY);
    block(*s.finally_body);
    std::size_t over = emit_jump(Op::JUMP, 0);
    patch_jump(handler);
    begin_scope();
    adjust(1);
    declare_local("");
    auto slot = static_cast<std::uint16_t>(fs_->locals.size() - 1);
    block(*s.finally_body);
    at(s);
    emit_op16(Op::GET_LOCAL, slot, 1);
    emit(Op::RERAISE, -1);
    // The handler never falls through; drop the hidden local at compile time.
    fs_->locals.pop_back();
    --fs_->scope_depth;
    patch_jump(over);
  }

  void try_catch(const ast::TryStmt& s) {
    std::size_t handler = emit_jump(Op::TRY, 0);
    ++fs_->try_depth;
    block(s.body);
    --fs_->try_depth;
    emit(Op::END_TRY);
    std::size_t over = emit_jump(Op::JUMP, 0);
    patch_jump(handler);
    // The VM restores the stack height of the TRY and pushes the thrown value.
    begin_scope();
    adjust(1);
    declare_local(s.handler->var.name);
    for (const auto& st : s.handler->body.stmts) stmt(st.get());
    end_scope();
    patch_jump(over);
  }

  void stmt_node(const ast::ThrowStmt& s) {
    expr(s.value);
    at(s);
    emit(Op::THROW, -1);
  }

  void stmt_node(const ast::ExprStmt& s) {
    if (opts_.repl && fs_->toplevel && fs_->scope_depth == 0) {
      emit_op16(Op::GET_GLOBAL, global_slot("__repl_print"), 1);
      expr(s.expr);
      emit(Op::CALL, -1);
      emit_u8(1);
      emit(Op::POP, -1);
      return;
    }
    expr(s.expr);
    emit(Op::POP, -1);
  }

  static Op arith_op(ast::AssignOp op) {
    switch (op) {
      case ast::AssignOp::Add: return Op::ADD;
      case ast::AssignOp::Sub: return Op::SUB;
      case ast::AssignOp::Mul: return Op::MUL;
      case ast::AssignOp::Div: return Op::DIV;
      case ast::AssignOp::FloorDiv: return Op::FLOORDIV;
      case ast::AssignOp::Mod: return Op::MOD;
      case ast::AssignOp::Pow: return Op::POW;
      default: return Op::ADD;
    }
  }

  void stmt_node(const ast::AssignStmt& s) {
    bool compound = s.op != ast::AssignOp::Set;
    if (const ast::Name* n = boost::get<ast::Name>(&s.target)) {
      // x += 1 on a local int becomes ADD_INT.
      if (compound) {
        load_name(*n);
        compound_rhs(s);
      } else {
        expr(s.value);
      }
      at(s);
      store_name(*n);
      return;
    }
    const auto* fp = boost::get<x3::forward_ast<ast::Postfix>>(&s.target);
    if (!fp) fail(s, "cannot assign to this expression");
    const ast::Postfix& pf = fp->get();
    const ast::PostOp& last = pf.ops.back();
    // Everything but the last operation computes the container.
    postfix(pf, pf.ops.size() - 1);
    if (const ast::IndexOp* ix = boost::get<ast::IndexOp>(&last)) {
      expr(ix->index);
      if (compound) {
        emit(Op::DUP2, 2);
        at(*ix);
        emit(Op::GET_INDEX, -1);
        compound_rhs(s);
      } else {
        expr(s.value);
      }
      at(s);
      emit(Op::SET_INDEX, -3);
      return;
    }
    if (const ast::FieldOp* f = boost::get<ast::FieldOp>(&last)) {
      std::uint16_t k = str_constant(f->name);
      if (compound) {
        emit(Op::DUP, 1);
        at(*f);
        emit_op16(Op::GET_FIELD, k, 0);
        compound_rhs(s);
      } else {
        expr(s.value);
      }
      at(s);
      emit_op16(Op::SET_FIELD, k, -2);
      return;
    }
    if (boost::get<ast::SliceOp>(&last)) fail(s, "cannot assign to a slice (build a new list instead)");
    fail(s, "cannot assign to a function call");
  }

  // With the current value on the stack, computes `current op value`.
  void compound_rhs(const ast::AssignStmt& s) {
    if (s.op == ast::AssignOp::Add || s.op == ast::AssignOp::Sub) {
      if (const ast::IntLit* lit = boost::get<ast::IntLit>(&s.value)) {
        std::int64_t v = s.op == ast::AssignOp::Add ? lit->value : -lit->value;
        if (v >= -32768 && v <= 32767) {
          at(s);
          emit_op16(Op::ADD_INT, static_cast<std::uint16_t>(static_cast<std::int16_t>(v)), 0);
          return;
        }
      }
    }
    expr(s.value);
    at(s);
    emit(arith_op(s.op), -1);
  }

  // ---------------------------------------------------------- expressions

  void expr(const ast::Expr& e) {
    boost::apply_visitor([this](const auto& x) { this->expr_node(x); }, e);
  }

  void expr_node(const ast::NilLit& n) { at(n), emit(Op::NIL, 1); }
  void expr_node(const ast::BoolLit& n) { at(n), emit(n.value ? Op::TRUE : Op::FALSE, 1); }
  void expr_node(const ast::IntLit& n) { at(n), emit_int(n.value); }
  void expr_node(const ast::FloatLit& n) { at(n), emit_op16(Op::CONST, add_constant(Value::number(n.value)), 1); }
  void expr_node(const ast::StrLit& n) { at(n), emit_op16(Op::CONST, str_constant(n.value), 1); }
  void expr_node(const ast::Name& n) { load_name(n); }

  void expr_node(const x3::forward_ast<ast::Unary>& fu) {
    const ast::Unary& u = fu.get();
    if (u.op == ast::UnaryOp::Neg) {
      if (const ast::IntLit* lit = boost::get<ast::IntLit>(&u.operand)) {
        at(u);
        emit_int(-lit->value);
        return;
      }
      if (const ast::FloatLit* lit = boost::get<ast::FloatLit>(&u.operand)) {
        at(u);
        emit_op16(Op::CONST, add_constant(Value::number(-lit->value)), 1);
        return;
      }
    }
    if (u.op == ast::UnaryOp::Spread) fail(u, "'...' may only spread a list into call arguments");
    expr(u.operand);
    at(u);
    emit(u.op == ast::UnaryOp::Neg ? Op::NEG : Op::NOT, 0);
  }

  void expr_node(const x3::forward_ast<ast::Chain>& fc) {
    const ast::Chain& c = fc.get();
    expr(c.first);
    for (const auto& step : c.rest) {
      if ((step.op == ast::BinOp::Add || step.op == ast::BinOp::Sub)) {
        if (const ast::IntLit* lit = boost::get<ast::IntLit>(&step.rhs)) {
          std::int64_t v = step.op == ast::BinOp::Add ? lit->value : -lit->value;
          if (v >= -32768 && v <= 32767) {
            at(step);
            emit_op16(Op::ADD_INT, static_cast<std::uint16_t>(static_cast<std::int16_t>(v)), 0);
            continue;
          }
        }
      }
      expr(step.rhs);
      at(step);
      switch (step.op) {
        case ast::BinOp::Add: emit(Op::ADD, -1); break;
        case ast::BinOp::Sub: emit(Op::SUB, -1); break;
        case ast::BinOp::Mul: emit(Op::MUL, -1); break;
        case ast::BinOp::Div: emit(Op::DIV, -1); break;
        case ast::BinOp::FloorDiv: emit(Op::FLOORDIV, -1); break;
        case ast::BinOp::Mod: emit(Op::MOD, -1); break;
        case ast::BinOp::Pow: emit(Op::POW, -1); break;
      }
    }
  }

  void expr_node(const x3::forward_ast<ast::Compare>& fc) {
    const ast::Compare& c = fc.get();
    expr(c.lhs);
    expr(c.rhs);
    at(c);
    switch (c.op) {
      case ast::CmpOp::Eq: emit(Op::EQ, -1); break;
      case ast::CmpOp::Ne: emit(Op::NE, -1); break;
      case ast::CmpOp::Lt: emit(Op::LT, -1); break;
      case ast::CmpOp::Le: emit(Op::LE, -1); break;
      case ast::CmpOp::Gt: emit(Op::GT, -1); break;
      case ast::CmpOp::Ge: emit(Op::GE, -1); break;
      case ast::CmpOp::In: emit(Op::IN, -1); break;
    }
  }

  void expr_node(const x3::forward_ast<ast::Logical>& fl) {
    const ast::Logical& l = fl.get();
    std::vector<std::size_t> ends;
    for (std::size_t i = 0; i < l.operands.size(); ++i) {
      expr(l.operands[i]);
      if (i + 1 < l.operands.size()) {
        at(l);
        ends.push_back(emit_jump(l.is_and ? Op::JUMP_IF_FALSE_KEEP : Op::JUMP_IF_TRUE_KEEP, -1));
      }
    }
    for (std::size_t e : ends) patch_jump(e);
  }

  // Compiles the primary and the first `count` postfix operations.
  void postfix(const ast::Postfix& p, std::size_t count) {
    expr(p.primary);
    for (std::size_t i = 0; i < count; ++i) {
      const ast::PostOp& op = p.ops[i];
      if (const ast::FieldOp* f = boost::get<ast::FieldOp>(&op)) {
        // obj.name(args) is a method call.
        if (i + 1 < count) {
          if (const ast::CallOp* call = boost::get<ast::CallOp>(&p.ops[i + 1])) {
            if (has_spread(*call)) {
              spread_args(*call);
              at(*f);
              emit_op16(Op::INVOKE_SPREAD, str_constant(f->name), -1);
              ++i;
              continue;
            }
            args(*call);
            at(*f);
            emit(Op::INVOKE, -static_cast<int>(call->args.size()));
            emit_u16(str_constant(f->name));
            emit_u8(static_cast<std::uint8_t>(call->args.size()));
            ++i;
            continue;
          }
        }
        at(*f);
        emit_op16(Op::GET_FIELD, str_constant(f->name), 0);
      } else if (const ast::IndexOp* ix = boost::get<ast::IndexOp>(&op)) {
        expr(ix->index);
        at(*ix);
        emit(Op::GET_INDEX, -1);
      } else if (const ast::SliceOp* sl = boost::get<ast::SliceOp>(&op)) {
        if (sl->lo)
          expr(*sl->lo);
        else
          emit(Op::NIL, 1);
        if (sl->hi)
          expr(*sl->hi);
        else
          emit(Op::NIL, 1);
        at(*sl);
        emit(Op::SLICE, -2);
      } else {
        const ast::CallOp& call = boost::get<ast::CallOp>(op);
        if (has_spread(call)) {
          spread_args(call);
          at(i == 0 ? static_cast<const ast::Node&>(p) : static_cast<const ast::Node&>(call));
          emit(Op::CALL_SPREAD, -1);
          continue;
        }
        args(call);
        // Point at the start of the called expression, like Python.
        at(i == 0 ? static_cast<const ast::Node&>(p) : static_cast<const ast::Node&>(call));
        emit(Op::CALL, -static_cast<int>(call.args.size()));
        emit_u8(static_cast<std::uint8_t>(call.args.size()));
      }
    }
  }

  static bool has_spread(const ast::CallOp& call) {
    for (const auto& a : call.args)
      if (auto* u = boost::get<x3::forward_ast<ast::Unary>>(&a); u && u->get().op == ast::UnaryOp::Spread) return true;
    return false;
  }

  // f(a, ...xs, b): the arguments become one list (CALL_SPREAD unpacks it),
  // so plain calls keep their fixed-count CALL.
  void spread_args(const ast::CallOp& call) {
    // Leading arguments up to the first unary (maybe a spread) go in LIST.
    std::size_t lead = 0;
    for (; lead < call.args.size(); ++lead) {
      auto* u = boost::get<x3::forward_ast<ast::Unary>>(&call.args[lead]);
      if (u && u->get().op == ast::UnaryOp::Spread) break;
      expr(call.args[lead]);
    }
    at(call);
    emit_op16(Op::LIST, static_cast<std::uint16_t>(lead), 1 - static_cast<int>(lead));
    for (std::size_t i = lead; i < call.args.size(); ++i) {
      auto* u = boost::get<x3::forward_ast<ast::Unary>>(&call.args[i]);
      if (u && u->get().op == ast::UnaryOp::Spread) {
        expr(u->get().operand);
        at(u->get());
        emit(Op::LIST_EXTEND, -1);
      } else {
        expr(call.args[i]);
        emit(Op::LIST_APPEND, -1);
      }
    }
  }

  void args(const ast::CallOp& call) {
    if (call.args.size() > 255) fail(call, "too many arguments (limit 255)");
    for (const auto& a : call.args) expr(a);
  }

  void expr_node(const x3::forward_ast<ast::Postfix>& fp) {
    const ast::Postfix& p = fp.get();
    postfix(p, p.ops.size());
  }

  void expr_node(const x3::forward_ast<ast::ListLit>& fl) {
    const ast::ListLit& l = fl.get();
    if (l.items.size() > 65535) fail(l, "list literal too long (limit 65535 items)");
    for (const auto& e : l.items) expr(e);
    at(l);
    emit_op16(Op::LIST, static_cast<std::uint16_t>(l.items.size()), 1 - static_cast<int>(l.items.size()));
  }

  void expr_node(const x3::forward_ast<ast::MapLit>& fm) {
    const ast::MapLit& m = fm.get();
    if (m.entries.size() > 32767) fail(m, "map literal too long (limit 32767 entries)");
    for (const auto& e : m.entries) {
      if (const ast::Name* n = boost::get<ast::Name>(&e.key)) {
        at(*n);
        emit_op16(Op::CONST, str_constant(n->name), 1);
      } else if (const ast::StrLit* s = boost::get<ast::StrLit>(&e.key)) {
        at(*s);
        emit_op16(Op::CONST, str_constant(s->value), 1);
      } else {
        const ast::IntLit& i = boost::get<ast::IntLit>(e.key);
        at(i);
        emit_int(i.value);
      }
      expr(e.value);
    }
    at(m);
    emit_op16(Op::MAP, static_cast<std::uint16_t>(m.entries.size()), 1 - 2 * static_cast<int>(m.entries.size()));
  }

  // f"a{x!r:>5}b" compiles to CONST "a"; <x>; FORMAT_VALUE ">5" 'r';
  // CONST "b"; BUILD_STRING 3: the template is never parsed at run time.
  void expr_node(const x3::forward_ast<ast::FString>& ff) {
    const ast::FString& f = ff.get();
    std::size_t n = 0;
    for (const auto& part : f.parts) {
      if (!part.is_field) {
        if (part.text.empty()) continue;
        at(f);
        emit_op16(Op::CONST, str_constant(part.text), 1);
      } else {
        expr(part.expr);
        at(f);
        emit_op16(Op::FORMAT_VALUE, str_constant(part.text), 0);
        emit_u8(static_cast<std::uint8_t>(part.conv));
      }
      ++n;
    }
    if (n > 65535) fail(f, "f-string too long");
    at(f);
    // One piece is already a string (a literal, or FORMAT_VALUE's result).
    if (n == 0)
      emit_op16(Op::CONST, str_constant(""), 1);
    else if (n > 1)
      emit_op16(Op::BUILD_STRING, static_cast<std::uint16_t>(n), 1 - static_cast<int>(n));
  }

  void expr_node(const x3::forward_ast<ast::FnLit>& ff) {
    const ast::FnLit& f = ff.get();
    ObjProto* p = function("<anonymous>", f.params, f.body, f);
    at(f);
    emit_closure(p);
  }
};

}  // namespace

ObjProto* compile_program(Interp& in, ObjModule* module, const ast::Program& program,
                          const CompileOptions& opts, CompileError& err) {
  try {
    Compiler c(in, module, opts);
    return c.program(program);
  } catch (CompileFailure& f) {
    err = f.err;
    return nullptr;
  }
}

}  // namespace weft
