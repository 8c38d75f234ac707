// `weft test` (SPEC §9): runs every top-level `test_*` function of every
// `*_test.weft` file under the given paths, one fresh interpreter per file.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli.hpp"
#include "loader.hpp"
#include "parser.hpp"
#include "runtime/natives.hpp"
#include "stdlib/sys_exit.hpp"
#include "vm.hpp"

namespace weft {

namespace fs = std::filesystem;

static std::vector<std::string> find_test_files(const std::vector<std::string>& paths, bool& missing) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        const auto& path = it->path();
        std::string name = path.filename().string();
        if (it->is_regular_file(ec) && name.size() > 10 && name.ends_with("_test.weft")) found.push_back(path.string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      fmt::print(stderr, "weft test: no such file or directory: {}\n", p);
      missing = true;
    }
  }
  return files;
}

// The names of the top-level `fn test_*` statements, in file order.
static std::vector<std::string> test_names(const std::string& source) {
  std::vector<std::string> names;
  ast::Program program;
  ParseError err;
  if (!parse_program(source, program, err)) return names;
  for (const auto& s : program.stmts)
    if (const ast::FnStmt* f = boost::get<ast::FnStmt>(&s))
      if (f->name.name.rfind("test_", 0) == 0) names.push_back(f->name.name);
  return names;
}

static std::string indent(const std::string& text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out += "    " + text.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
  return out;
}

int run_tests(const RuntimeOptions& opts, const std::vector<std::string>& paths, const std::string& filter) {
  bool missing = false;
  std::vector<std::string> files = find_test_files(paths, missing);
  int passed = 0, failed = 0;
  using clock = std::chrono::steady_clock;
  for (const auto& file : files) {
    std::string source, err;
    std::string display = fs::path(file).filename().string();
    if (!read_file(file, source, err)) {
      fmt::print("FAIL {} (cannot read: {})\n", file, err);
      ++failed;
      continue;
    }
    std::vector<std::string> names = test_names(source);
    if (!filter.empty()) {
      std::vector<std::string> keep;
      for (auto& n : names)
        if ((file + "::" + n).find(filter) != std::string::npos) keep.push_back(n);
      names.swap(keep);
      if (names.empty()) continue;
    }
    Session s(opts);
    Thread& t = s.main();
    ObjModule* m = s.new_module(file, display, source);
    std::string report;
    ObjClosure* cl = load_source(t, m, source, CompileOptions{}, report);
    if (!cl) {
      fmt::print("FAIL {} (does not compile)\n{}", file, indent(report));
      ++failed;
      std::fflush(stdout);
      continue;
    }
    Value result, error;
    if (!guarded_call(t, Value::object(cl), nullptr, 0, result, error)) {
      fmt::print("FAIL {} (error while loading)\n{}", file, indent(format_uncaught(s.interp(), error, t.last_throw)));
      ++failed;
      s.finish();
      std::fflush(stdout);
      continue;
    }
    for (const auto& name : names) {
      auto it = m->slots.find(name);
      Value fn = it == m->slots.end() ? Value() : m->values[static_cast<std::size_t>(it->second)];
      auto t0 = clock::now();
      bool ok = false;
      if (is_obj_type(fn, ObjType::Closure) || is_obj_type(fn, ObjType::Native)) {
        ok = guarded_call(t, fn, nullptr, 0, result, error);
      } else {
        error = Value::object(new_error(t, "TypeError", name + " is not a function"));
      }
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count();
      if (ok) {
        fmt::print("PASS {}::{} ({} ms)\n", file, name, ms);
        ++passed;
      } else {
        fmt::print("FAIL {}::{} ({} ms)\n{}", file, name, ms, indent(format_uncaught(s.interp(), error, t.last_throw)));
        ++failed;
        if (is_obj_type(error, ObjType::Error) && as<ObjError>(error)->type_name->view() == "KeyboardInterrupt") {
          fmt::print("{} passed, {} failed\n", passed, failed);
          std::fflush(stdout);
          std::_Exit(130);
        }
      }
      std::fflush(stdout);
    }
    s.finish();
    s.print_reports();
  }
  fmt::print("{} passed, {} failed\n", passed, failed);
  std::fflush(stdout);
  return failed == 0 && !missing ? 0 : 1;
}

}  // namespace weft
