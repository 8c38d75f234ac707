#include "loader.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "parser.hpp"
#include "runtime/diagnostic.hpp"
#include "runtime/natives.hpp"

namespace weft {

bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    error = std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return true;
}

ObjClosure* load_source(Thread& t, ObjModule* module, const std::string& source, const CompileOptions& opts,
                        std::string& report) {
  ast::Program program;
  ParseError perr;
  if (!parse_program(source, program, perr)) {
    report = format_diagnostic(module->display, source, perr.line, perr.col, "SyntaxError", perr.message);
    return nullptr;
  }
  CompileError cerr;
  ObjProto* proto = compile_program(t.interp, module, program, opts, cerr);
  if (!proto) {
    report = format_diagnostic(module->display, source, cerr.line, cerr.col, "SyntaxError", cerr.message);
    return nullptr;
  }
  if (t.interp.debug.print_code) std::fputs(disassemble(proto).c_str(), stderr);
  return t.interp.heap.make<ObjClosure>(proto);
}

ObjModule* current_module(Thread& t) {
  if (t.frames.empty()) return nullptr;
  return t.frames.back().closure->proto->module;
}

Value import_module(Thread& t, const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.is_relative()) {
    ObjModule* cur = current_module(t);
    fs::path dir = cur && !cur->path.empty() ? fs::path(cur->path).parent_path() : fs::current_path();
    p = dir / p;
  }
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(p, ec);
  std::string key = ec ? p.string() : canon.string();
  auto it = t.interp.modules.find(key);
  if (it != t.interp.modules.end()) return Value::object(it->second);
  std::string source, err;
  bool ok;
  {
    BlockingRegion br(t.interp.gil, t.gil, "import");
    ok = read_file(p.string(), source, err);
  }
  if (!ok) raisef("IOError", "cannot import '{}': {}", path, err);
  ObjModule* m = t.interp.heap.make<ObjModule>();
  m->path = p.string();
  // Diagnostics show the path the way the user would write it (SPEC §1):
  // relative to where the importing script was given, not just its name.
  m->display = p.is_absolute() && fs::path(path).is_relative() && (!current_module(t) || current_module(t)->path.empty())
                   ? path
                   : p.lexically_normal().string();
  m->source = source;
  t.interp.modules[key] = m;
  std::string report;
  ObjClosure* cl = load_source(t, m, source, CompileOptions{}, report);
  if (!cl) {
    t.interp.modules.erase(key);
    // The report's first line is "file:line:col: SyntaxError: message".
    std::string first = report.substr(0, report.find('\n'));
    auto pos = first.find(": SyntaxError: ");
    raise("SyntaxError", pos == std::string::npos ? first : first.substr(0, pos) + ": " + first.substr(pos + 15));
  }
  // The file's top-level declarations are known once it is compiled, so a
  // circular import (this file imported again while it runs) already sees
  // them as members.
  m->export_declared();
  call_value(t, Value::object(cl), nullptr, 0);
  // The module itself, not a copy of its globals: `mod.f = stub` replaces
  // the global that the file's own functions read.
  return Value::object(m);
}

static std::string_view module_source(Interp& in, const std::string& display) {
  for (auto& [k, m] : in.modules)
    if (m->display == display) return m->source;
  return {};
}

std::string format_uncaught(Interp& in, Value error, const ThrowInfo& where) {
  std::vector<std::string> trace;
  std::string file, type, message;
  int line = 0, col = 0;
  if (is_obj_type(error, ObjType::Error)) {
    auto* e = as<ObjError>(error);
    if (e->trace)
      for (Value v : e->trace->items) trace.push_back(to_str(v));
    file = e->file;
    line = e->line;
    col = e->col;
    type = std::string(e->type_name->view());
    message = std::string(e->message->view());
  } else {
    trace = where.trace;
    file = where.file;
    line = where.line;
    col = where.col;
    type = "Error";
    message = "uncaught value " + to_repr(error);
  }
  std::string out = "Traceback (most recent call last):\n";
  for (std::size_t i = 0; i + 1 < trace.size(); ++i) out += "  " + trace[i] + "\n";
  if (file.empty()) return out + fmt::format("{}: {}\n", type, message);
  out += format_diagnostic(file, module_source(in, file), line, col, type, message);
  return out;
}

}  // namespace weft
