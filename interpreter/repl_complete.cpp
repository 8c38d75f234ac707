// Tab completion for the REPL, and the indentation of continuation lines (SPEC §10), on libedit's
// readline interface.
//
// Completion looks at the word before the cursor, dots included:
//  * `wh`      -> keywords, globals of the REPL module and builtins;
//  * `math.sq` -> the members of the module (or the string keys of a map)
//                 that the global `math` holds, and the methods of its type;
//  * `xs.pu`   -> the methods of the list, string, map or handle (thread,
//                 queue, lock, ...) that the global `xs` holds.
// It reads the value of a global name directly and never evaluates an
// expression, so completing can't run user code. The prompt waits without
// the GIL (a BlockingRegion), so the completer takes the GIL for the moment
// it reads the runtime objects and copies the names out.
#include <editline/readline.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "builtins.hpp"
#include "repl_internal.hpp"
#include "runtime/gil.hpp"
#include "runtime/interp.hpp"
#include "runtime/object.hpp"

namespace weft {

namespace {

Interp* g_in = nullptr;
Thread* g_t = nullptr;
ObjModule* g_mod = nullptr;
const char* g_wait_label = "repl input";

const char* const kKeywords[] = {"let", "fn",   "return", "if",  "else",  "while",   "for",  "in",
                                 "break", "continue", "true", "false", "nil", "and", "or", "not",
                                 "try",   "catch", "finally", "throw"};

bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void add_table(std::set<std::string>& out, const MethodTable& table) {
  for (const auto& [name, m] : table) out.insert(std::string(name));
}

// The value a global name holds in the REPL, or Undef. Requires the GIL.
Value global_value(const std::string& name) {
  auto it = g_mod->slots.find(name);
  if (it != g_mod->slots.end()) {
    Value v = g_mod->values[static_cast<std::size_t>(it->second)];
    if (!v.is_undef()) return v;
  }
  auto b = g_in->builtins.find(name);
  if (b != g_in->builtins.end()) return b->second;
  return Value::undef();
}

// Member names of a value: what `v.` may be followed by. A built-in module
// (a map of natives today) offers its members only, not the map methods.
// Requires the GIL.
void members_of(Value v, bool builtin_module, std::set<std::string>& out) {
  if (!v.is_obj()) return;
  switch (v.as.o->type) {
    case ObjType::List: add_table(out, list_methods()); break;
    case ObjType::String: add_table(out, str_methods()); break;
    case ObjType::Map: {
      // Modules are maps of natives today, and maps used as records are read
      // with `m.key`: offer the string keys, then the map methods.
      auto* m = static_cast<ObjMap*>(v.as.o);
      for (const MapEntry& e : m->entries)
        if (is_obj_type(e.key, ObjType::String)) out.insert(std::string(as<ObjString>(e.key)->view()));
      if (!builtin_module) add_table(out, map_methods());
      break;
    }
    case ObjType::Module: {
      auto* m = static_cast<ObjModule*>(v.as.o);
      for (const auto& [name, slot] : m->slots)
        if (!m->values[static_cast<std::size_t>(slot)].is_undef()) out.insert(name);
      break;
    }
    case ObjType::Handle: add_table(out, static_cast<ObjHandle*>(v.as.o)->methods()); break;
    default: break;
  }
}

// Every completion of `word` (the text before the cursor, dots included).
std::vector<std::string> candidates(const std::string& word) {
  std::set<std::string> names;
  std::string prefix, head;
  std::size_t dot = word.rfind('.');
  // Take the GIL only to read runtime objects; the names are copied out.
  g_in->gil.end_blocking(g_t->gil);
  if (dot == std::string::npos) {
    prefix = word;
    for (const char* k : kKeywords) names.insert(k);
    for (const auto& [name, slot] : g_mod->slots)
      if (!g_mod->values[static_cast<std::size_t>(slot)].is_undef()) names.insert(name);
    for (const auto& [name, v] : g_in->builtins) names.insert(name);
  } else {
    head = word.substr(0, dot + 1);
    prefix = word.substr(dot + 1);
    std::string base = word.substr(0, dot);
    bool plain = !base.empty() && !(base[0] >= '0' && base[0] <= '9') &&
                 std::all_of(base.begin(), base.end(), ident_char);
    if (plain) {
      Value v = global_value(base);
      auto b = g_in->builtins.find(base);
      bool builtin_module = b != g_in->builtins.end() && is_obj_type(v, ObjType::Map) && b->second.as.o == v.as.o;
      members_of(v, builtin_module, names);
    }
  }
  g_in->gil.begin_blocking(g_t->gil, g_wait_label);
  std::vector<std::string> out;
  for (const std::string& n : names) {
    if (n.rfind("__", 0) == 0 && prefix.rfind("__", 0) != 0) continue;  // internal helpers
    if (n.compare(0, prefix.size(), prefix) == 0) out.push_back(head + n);
  }
  return out;
}

char* dup_str(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// libedit calls this with the word before the cursor (the word-break
// characters below leave dots inside the word).
char** complete(const char* text, int start, int end) {
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1;  // never fall back to file names
  std::vector<std::string> found = candidates(text);
  if (found.empty()) return nullptr;
  // readline's format: [0] is what replaces the word (the longest common
  // prefix), then the matches, then NULL.
  std::string common = found.front();
  for (const std::string& s : found) {
    std::size_t i = 0;
    while (i < common.size() && i < s.size() && common[i] == s[i]) ++i;
    common.resize(i);
  }
  auto** out = static_cast<char**>(std::malloc(sizeof(char*) * (found.size() + 2)));
  out[0] = dup_str(common);
  for (std::size_t i = 0; i < found.size(); ++i) out[i + 1] = dup_str(found[i]);
  out[found.size() + 1] = nullptr;
  if (found.size() == 1) {
    // One match: nothing to list. A lone match replaces the word.
    std::free(out[1]);
    out[1] = nullptr;
  }
  return out;
}

}  // namespace

int repl_indent_for(const std::string& text) {
  int depth = 0;
  bool in_str = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '{' || c == '(' || c == '[') ++depth;
    else if ((c == '}' || c == ')' || c == ']') && depth > 0) --depth;
  }
  return 4 * std::min(depth, 10);
}

void repl_install_completion(Interp& in, Thread& t, ObjModule* mod, const char* wait_label) {
  g_in = &in;
  g_t = &t;
  g_mod = mod;
  g_wait_label = wait_label;
  static char breaks[] = " \t\n\"\\'`@$><=;|&{}()[],+-*/%!:";
  rl_basic_word_break_characters = breaks;
  rl_completer_word_break_characters = breaks;
  rl_attempted_completion_function = complete;
  rl_completion_append_character = '\0';
}

}  // namespace weft
