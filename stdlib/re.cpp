// The re module (SPEC §7.13): regular expressions on RE2.
//
// RE2 matches in time linear in the input and has no backreferences, so no
// pattern can hang the interpreter. Every operation runs in two phases:
//  1. scan: find the byte spans of the matches and their groups in a plain
//     string_view (no runtime objects touched);
//  2. build: turn the spans into Weft values under the GIL.
// For a subject larger than kReleaseBytes, phase 1 runs on a copy of the
// bytes with the GIL released (the GIL rule: copy first, then release).
//
// Positions seen by scripts count code points, as string indexing does.
// Compiled patterns are shared (std::shared_ptr<const RE2>; RE2 objects are
// thread-safe for matching) between a small cache used by the module-level
// functions and the `regex` handles returned by re.compile.
#include <re2/re2.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "interpreter/builtins.hpp"
#include "runtime/gil.hpp"
#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"
#include "stdlib/modules.hpp"

namespace weft {

namespace {

// Subjects at least this long are matched with the GIL released.
constexpr std::size_t kReleaseBytes = 64 * 1024;
constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

using Regex = std::shared_ptr<const RE2>;

// Code point index of byte offset `pos` in `s` (pos <= length).
std::size_t cp_index_slow(const ObjString* s, std::size_t pos) {
  std::size_t cp = 0;
  for (std::size_t b = 0; b < pos; b += utf8_char_len(s, b)) ++cp;
  return cp;
}

// RE2 names the offending fragment (error_arg); its place in the pattern is
// the position reported, counted in code points like string indexing.
// "a\\d" for a\d: a pattern quoted as a string literal would show it.
std::string to_repr_of_bytes(std::string_view p) {
  std::string lit = "\"";
  for (char c : p) {
    if (c == '"' || c == '\\') lit.push_back('\\');
    if (c == '\n') {
      lit += "\\n";
      continue;
    }
    lit.push_back(c);
  }
  return lit + "\"";
}

[[noreturn]] void bad_pattern(std::string_view pattern, const RE2& re) {
  const std::string& arg = re.error_arg();
  std::size_t at = arg.empty() ? std::string_view::npos : pattern.find(arg);
  std::string quoted = to_repr_of_bytes(pattern);
  if (at == std::string_view::npos) raisef("ValueError", "bad regular expression {}: {}", quoted, re.error());
  std::size_t cp = 0;
  for (std::size_t b = 0; b < at; ++b)
    if ((static_cast<unsigned char>(pattern[b]) & 0xC0) != 0x80) ++cp;
  raisef("ValueError", "bad regular expression {} at position {}: {}", quoted, cp, re.error());
}

// Compiles a pattern, raising ValueError when it is invalid.
Regex compile_pattern(std::string_view pattern) {
  RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), opts);
  if (!re->ok()) bad_pattern(pattern, *re);
  return re;
}

// The module-level functions compile each pattern once: a small cache,
// emptied when it fills up (programs use few distinct patterns).
Regex cached_pattern(std::string_view pattern) {
  static std::mutex mu;
  static std::unordered_map<std::string, Regex> cache;
  constexpr std::size_t kMaxCached = 64;
  {
    std::lock_guard<std::mutex> lk(mu);
    auto it = cache.find(std::string(pattern));
    if (it != cache.end()) return it->second;
  }
  Regex re = compile_pattern(pattern);
  std::lock_guard<std::mutex> lk(mu);
  if (cache.size() >= kMaxCached) cache.clear();
  cache.emplace(std::string(pattern), re);
  return re;
}

// --------------------------------------------------------------- phase 1

// The spans found by one scan: `width` = 1 + number of groups offsets pairs
// per match, kNone for a group that did not participate.
struct Spans {
  int width = 1;
  std::vector<std::size_t> offs;  // begin, end, begin, end, ... per match
  std::size_t count() const { return offs.size() / (2 * static_cast<std::size_t>(width)); }
  std::size_t begin(std::size_t m, int g) const { return offs[(m * width + g) * 2]; }
  std::size_t end(std::size_t m, int g) const { return offs[(m * width + g) * 2 + 1]; }
};

enum class Scan { Match, Search, All };

// Length of the UTF-8 sequence starting at s[pos] (1 for invalid bytes), so
// that stepping past an empty match never splits a character.
std::size_t step_at(std::string_view s, std::size_t pos) {
  auto c = static_cast<unsigned char>(s[pos]);
  std::size_t n = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (pos + n > s.size()) return 1;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[pos + k]) & 0xC0) != 0x80) return 1;
  return n;
}

// Finds the first match (Match: anchored at the start; Search) or every
// non-overlapping match (All), Python 3.7's rules for empty matches: an
// empty match is allowed right after a non-empty one, and the scan then
// moves on by one character.
Spans scan(const RE2& re, std::string_view s, Scan how) {
  Spans out;
  out.width = 1 + re.NumberOfCapturingGroups();
  std::vector<re2::StringPiece> groups(static_cast<std::size_t>(out.width));
  re2::StringPiece subject(s.data(), s.size());
  std::size_t pos = 0;
  while (pos <= s.size()) {
    RE2::Anchor anchor = how == Scan::Match ? RE2::ANCHOR_START : RE2::UNANCHORED;
    if (!re.Match(subject, pos, s.size(), anchor, groups.data(), out.width)) break;
    for (const re2::StringPiece& g : groups) {
      if (g.data() == nullptr) {
        out.offs.push_back(kNone);
        out.offs.push_back(kNone);
      } else {
        auto b = static_cast<std::size_t>(g.data() - s.data());
        out.offs.push_back(b);
        out.offs.push_back(b + g.size());
      }
    }
    if (how != Scan::All) break;
    std::size_t b = static_cast<std::size_t>(groups[0].data() - s.data());
    std::size_t e = b + groups[0].size();
    if (e == b) {
      if (e >= s.size()) break;
      pos = e + step_at(s, e);
    } else {
      pos = e;
    }
  }
  return out;
}

// Runs scan() on the subject; big subjects are copied and scanned without
// the GIL.
Spans run_scan(Thread& t, const Regex& re, ObjString* subject, Scan how) {
  std::string_view s = subject->view();
  if (s.size() < kReleaseBytes) return scan(*re, s, how);
  std::string copy(s);
  Regex keep = re;
  Spans out;
  {
    BlockingRegion br(t.interp.gil, t.gil, "re");
    out = scan(*keep, copy, how);
  }
  t.check_interrupts();
  return out;
}

// ---------------------------------------------------------------- phase 2

// Byte offsets to code point indices for one subject: every offset that
// will be reported is converted in one pass over the string.
struct CpMap {
  const ObjString* s;
  std::vector<std::size_t> bytes, cps;
  CpMap(const ObjString* str, const Spans& spans) : s(str) {
    if (s->ascii) return;
    bytes.reserve(spans.offs.size());
    for (std::size_t o : spans.offs)
      if (o != kNone) bytes.push_back(o);
    std::sort(bytes.begin(), bytes.end());
    bytes.erase(std::unique(bytes.begin(), bytes.end()), bytes.end());
    cps.resize(bytes.size());
    std::size_t b = 0, cp = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      while (b < bytes[i]) {
        b += utf8_char_len(s, b);
        ++cp;
      }
      // A span that starts inside a character (cannot happen with UTF-8
      // patterns on valid text) falls back to the slow count.
      cps[i] = b == bytes[i] ? cp : cp_index_slow(s, bytes[i]);
    }
  }
  std::int64_t operator()(std::size_t byte) const {
    if (s->ascii) return static_cast<std::int64_t>(byte);
    auto it = std::lower_bound(bytes.begin(), bytes.end(), byte);
    return static_cast<std::int64_t>(cps[static_cast<std::size_t>(it - bytes.begin())]);
  }
};

Value group_text(Thread& t, std::string_view s, const Spans& sp, std::size_t m, int g) {
  std::size_t b = sp.begin(m, g);
  if (b == kNone) return Value();
  return str_value(t, s.substr(b, sp.end(m, g) - b));
}

// {text, start, end, groups, named} for match m.
Value match_value(Thread& t, const RE2& re, ObjString* subject, const Spans& sp, std::size_t m) {
  std::string_view s = subject->view();
  CpMap cp(subject, sp);
  ObjMap* out = new_map(t);
  map_put(t, out, "text", group_text(t, s, sp, m, 0));
  map_put(t, out, "start", Value::integer(cp(sp.begin(m, 0))));
  map_put(t, out, "end", Value::integer(cp(sp.end(m, 0))));
  ObjList* groups = new_list(t);
  for (int g = 1; g < sp.width; ++g) groups->items.push_back(group_text(t, s, sp, m, g));
  map_put(t, out, "groups", Value::object(groups));
  ObjMap* named = new_map(t);
  for (const auto& [index, name] : re.CapturingGroupNames()) map_put(t, named, name, group_text(t, s, sp, m, index));
  map_put(t, out, "named", Value::object(named));
  return Value::object(out);
}

// ------------------------------------------------------------ operations
// Each takes the compiled pattern and the call's arguments from `first` on
// (0 for a regex handle's methods, 1 after the pattern for the module's).

Value op_first(Thread& t, const Regex& re, Args a, int first, Scan how, const char* fn) {
  ObjString* subject = arg_string(a, first, fn);
  Spans sp = run_scan(t, re, subject, how);
  if (sp.count() == 0) return Value();
  return match_value(t, *re, subject, sp, 0);
}

// Texts of the matches; with one group, that group's text; with several,
// a list of the groups' texts (nil for a group that did not participate).
Value op_find_all(Thread& t, const Regex& re, Args a, int first) {
  ObjString* subject = arg_string(a, first, "find_all");
  std::string_view s = subject->view();
  Spans sp = run_scan(t, re, subject, Scan::All);
  ObjList* out = new_list(t);
  out->items.reserve(sp.count());
  for (std::size_t m = 0; m < sp.count(); ++m) {
    if (sp.width == 1) {
      out->items.push_back(group_text(t, s, sp, m, 0));
    } else if (sp.width == 2) {
      out->items.push_back(group_text(t, s, sp, m, 1));
    } else {
      ObjList* groups = new_list(t);
      for (int g = 1; g < sp.width; ++g) groups->items.push_back(group_text(t, s, sp, m, g));
      out->items.push_back(Value::object(groups));
    }
  }
  return Value::object(out);
}

// One piece of a replacement template: literal text, or a group number.
struct Piece {
  std::string text;
  int group = -1;
};

// Parses `\1`..`\99`, `\g<name>`, `\g<1>` and `\\` in a replacement; any
// other backslash is kept as written. Unknown groups are a ValueError.
std::vector<Piece> parse_template(const RE2& re, std::string_view r) {
  std::vector<Piece> out;
  auto literal = [&](std::string_view txt) {
    if (out.empty() || out.back().group >= 0) out.push_back({});
    out.back().text.append(txt);
  };
  auto group = [&](int g, std::string_view spelled) {
    if (g > re.NumberOfCapturingGroups())
      raisef("ValueError", "replace() refers to group {} but the pattern has {} group{}", spelled,
             re.NumberOfCapturingGroups(), re.NumberOfCapturingGroups() == 1 ? "" : "s");
    out.push_back({"", g});
  };
  for (std::size_t i = 0; i < r.size(); ++i) {
    char c = r[i];
    if (c != '\\' || i + 1 >= r.size()) {
      literal(r.substr(i, 1));
      continue;
    }
    char n = r[i + 1];
    if (n == '\\') {
      literal("\\");
      ++i;
    } else if (n >= '0' && n <= '9') {
      std::size_t j = i + 1;
      int g = 0;
      while (j < r.size() && j < i + 3 && r[j] >= '0' && r[j] <= '9') g = g * 10 + (r[j++] - '0');
      group(g, r.substr(i, j - i));
      i = j - 1;
    } else if (n == 'g' && i + 2 < r.size() && r[i + 2] == '<') {
      std::size_t close = r.find('>', i + 3);
      if (close == std::string_view::npos) raise("ValueError", "replace(): missing '>' after \\g<");
      std::string_view name = r.substr(i + 3, close - i - 3);
      if (name.empty()) raise("ValueError", "replace(): empty group name in \\g<>");
      if (std::all_of(name.begin(), name.end(), [](char d) { return d >= '0' && d <= '9'; }) && name.size() < 4) {
        group(std::stoi(std::string(name)), r.substr(i, close - i + 1));
      } else {
        const auto& names = re.NamedCapturingGroups();
        auto it = names.find(std::string(name));
        if (it == names.end()) raisef("ValueError", "replace(): the pattern has no group named '{}'", name);
        out.push_back({"", it->second});
      }
      i = close;
    } else {
      literal(r.substr(i, 1));
    }
  }
  return out;
}

Value op_replace(Thread& t, const Regex& re, Args a, int first) {
  ObjString* subject = arg_string(a, first, "replace");
  std::vector<Piece> tpl = parse_template(*re, arg_str(a, first + 1, "replace"));
  Spans sp = run_scan(t, re, subject, Scan::All);
  if (sp.count() == 0) return Value::object(subject);
  std::string_view s = subject->view();
  std::string out;
  std::size_t last = 0;
  for (std::size_t m = 0; m < sp.count(); ++m) {
    out.append(s.substr(last, sp.begin(m, 0) - last));
    for (const Piece& p : tpl) {
      if (p.group < 0) {
        out.append(p.text);
      } else if (sp.begin(m, p.group) != kNone) {
        out.append(s.substr(sp.begin(m, p.group), sp.end(m, p.group) - sp.begin(m, p.group)));
      }
    }
    last = sp.end(m, 0);
  }
  out.append(s.substr(last));
  return str_value(t, out);
}

// The pieces between matches; when the pattern has groups their texts are
// put between the pieces too (as Python's re.split does).
Value op_split(Thread& t, const Regex& re, Args a, int first) {
  ObjString* subject = arg_string(a, first, "split");
  std::string_view s = subject->view();
  Spans sp = run_scan(t, re, subject, Scan::All);
  ObjList* out = new_list(t);
  std::size_t last = 0;
  for (std::size_t m = 0; m < sp.count(); ++m) {
    out->items.push_back(str_value(t, s.substr(last, sp.begin(m, 0) - last)));
    for (int g = 1; g < sp.width; ++g) out->items.push_back(group_text(t, s, sp, m, g));
    last = sp.end(m, 0);
  }
  out->items.push_back(str_value(t, s.substr(last)));
  return Value::object(out);
}

// ----------------------------------------------------------- the handle

struct RegexHandle : ObjHandle {
  Regex re;
  std::string pattern;
  const char* type_name() const override { return "regex"; }
  const MethodTable& methods() const override;
  bool get_field(Thread& t, std::string_view f, Value& out) override {
    if (f == "pattern") {
      out = str_value(t, pattern);
      return true;
    }
    if (f == "groups") {
      out = Value::integer(re->NumberOfCapturingGroups());
      return true;
    }
    return false;
  }
  std::string repr() const override;
};

std::string RegexHandle::repr() const { return "<regex " + to_repr_of_bytes(pattern) + ">"; }

const Regex& self_re(Args a) { return static_cast<RegexHandle*>(a.self.as.o)->re; }

Value rx_match(Thread& t, Args a) { return op_first(t, self_re(a), a, 0, Scan::Match, "match"); }
Value rx_search(Thread& t, Args a) { return op_first(t, self_re(a), a, 0, Scan::Search, "search"); }
Value rx_find_all(Thread& t, Args a) { return op_find_all(t, self_re(a), a, 0); }
Value rx_replace(Thread& t, Args a) { return op_replace(t, self_re(a), a, 0); }
Value rx_split(Thread& t, Args a) { return op_split(t, self_re(a), a, 0); }

const MethodTable kRegexMethods = {
    {"match", {rx_match, 1, 1}},     {"search", {rx_search, 1, 1}}, {"find_all", {rx_find_all, 1, 1}},
    {"replace", {rx_replace, 2, 2}}, {"split", {rx_split, 1, 1}},
};

const MethodTable& RegexHandle::methods() const { return kRegexMethods; }

// ------------------------------------------------------- module functions

Regex pattern_arg(Args a, const char* fn) { return cached_pattern(arg_str(a, 0, fn)); }

Value re_match(Thread& t, Args a) { return op_first(t, pattern_arg(a, "match"), a, 1, Scan::Match, "match"); }
Value re_search(Thread& t, Args a) { return op_first(t, pattern_arg(a, "search"), a, 1, Scan::Search, "search"); }
Value re_find_all(Thread& t, Args a) { return op_find_all(t, pattern_arg(a, "find_all"), a, 1); }
Value re_replace(Thread& t, Args a) { return op_replace(t, pattern_arg(a, "replace"), a, 1); }
Value re_split(Thread& t, Args a) { return op_split(t, pattern_arg(a, "split"), a, 1); }

Value re_compile(Thread& t, Args a) {
  std::string_view p = arg_str(a, 0, "compile");
  Regex re = compile_pattern(p);
  auto* h = t.interp.heap.make<RegexHandle>();
  h->re = std::move(re);
  h->pattern = std::string(p);
  return Value::object(h);
}

}  // namespace

void register_re(Interp& in) {
  ObjMap* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, Value v) { m->set(Value::object(in.heap.intern(name)), v); };
  put("match", in.native("match", re_match, 2, 2));
  put("search", in.native("search", re_search, 2, 2));
  put("find_all", in.native("find_all", re_find_all, 2, 2));
  put("replace", in.native("replace", re_replace, 3, 3));
  put("split", in.native("split", re_split, 2, 2));
  put("compile", in.native("compile", re_compile, 1, 1));
  in.add_builtin("re", Value::object(m));
}

}  // namespace weft
