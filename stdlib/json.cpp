// The json module (SPEC §7.8): json.parse and json.stringify.
//
// Parsing uses nlohmann-json's SAX interface and builds Weft values directly
// (no intermediate document), so objects keep document order and the
// nesting depth can be bounded before anything deep is built: the SAX parser
// itself is iterative, and our handler refuses to go deeper than
// kJsonMaxDepth, so `[[[[...` a million levels deep is a ValueError, never a
// stack overflow.
//
// Serialization is hand-written: it needs Weft's float repr, Python-style
// indentation, cycle detection, and must never throw on invalid UTF-8
// (invalid bytes become U+FFFD).
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"
#include "stdlib/json_convert.hpp"
#include "stdlib/modules.hpp"

namespace weft {

namespace {

// ------------------------------------------------------------------ parsing

class SaxBuilder {
 public:
  using json = nlohmann::json;

  SaxBuilder(Thread& t, std::string_view text) : t_(t), text_(text) {}

  bool null() { return add(Value()); }
  bool boolean(bool b) { return add(Value::boolean(b)); }
  bool number_integer(json::number_integer_t i) { return add(Value::integer(i)); }
  bool number_unsigned(json::number_unsigned_t u) {
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return add(Value::integer(static_cast<std::int64_t>(u)));
    return add(Value::number(static_cast<double>(u)));
  }
  bool number_float(json::number_float_t d, const json::string_t&) { return add(Value::number(d)); }
  bool string(json::string_t& s) { return add(str_value(t_, s)); }
  bool binary(json::binary_t&) { return add(Value()); }  // not produced by text JSON

  bool start_object(std::size_t) {
    if (!enter()) return false;
    ObjMap* m = new_map(t_);
    Value v = Value::object(m);
    if (!add(v)) return false;
    stack_.push_back({v, Value()});
    return true;
  }
  bool key(json::string_t& k) {
    stack_.back().key = Value::object(t_.interp.heap.intern(k));
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    if (!enter()) return false;
    ObjList* l = new_list(t_);
    Value v = Value::object(l);
    if (!add(v)) return false;
    stack_.push_back({v, Value()});
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    // nlohmann's message: "[json.exception.parse_error.101] parse error at
    // line 1, column 5: syntax error while parsing value - unexpected '}';
    // expected ..." -- keep the part that explains the problem.
    std::string what = ex.what();
    std::string reason = what;
    auto col = what.find("column ");
    if (col != std::string::npos) {
      auto colon = what.find(": ", col);
      if (colon != std::string::npos) reason = what.substr(colon + 2);
    } else {
      auto colon = what.find("] ");
      if (colon != std::string::npos) reason = what.substr(colon + 2);
    }
    auto dash = reason.find(" - ");
    if (dash != std::string::npos && reason.compare(0, 12, "syntax error") == 0) reason = reason.substr(dash + 3);
    if (text_.empty()) {
      error_ = "invalid JSON: empty input";
      return false;
    }
    error_ = fmt::format("invalid JSON at {}: {}", where(position), reason);
    return false;
  }

  Value result() const { return root_; }
  const std::string& error() const { return error_; }

 private:
  struct Open {
    Value container;
    Value key;  // maps: the key of the next value
  };

  // "line L, column C" for the 1-based count of bytes consumed.
  std::string where(std::size_t position) const {
    std::size_t p = position == 0 ? 0 : position - 1;  // offset of the offending byte
    if (p > text_.size()) p = text_.size();
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < p; i++) {
      if (text_[i] == '\n') {
        line++;
        line_start = i + 1;
      }
    }
    return fmt::format("line {}, column {}", line, p - line_start + 1);
  }

  bool enter() {
    if (stack_.size() >= static_cast<std::size_t>(kJsonMaxDepth)) {
      error_ = fmt::format("invalid JSON: nesting deeper than {} levels", kJsonMaxDepth);
      return false;
    }
    return true;
  }

  bool add(Value v) {
    if (stack_.empty()) {
      root_ = v;
      return true;
    }
    Open& top = stack_.back();
    if (top.container.as.o->type == ObjType::List) {
      as<ObjList>(top.container)->items.push_back(v);
    } else {
      as<ObjMap>(top.container)->set(top.key, v);
    }
    return true;
  }

  Thread& t_;
  std::string_view text_;
  std::vector<Open> stack_;
  Value root_;
  std::string error_;
};

// --------------------------------------------------------------- stringify

// Appends `s` as a JSON string literal. Valid UTF-8 is copied as is; invalid
// bytes are replaced with U+FFFD so the output is always valid JSON.
void append_quoted(std::string& out, std::string_view s) {
  static const char* const kHex = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      i++;
      continue;
    }
    // Multi-byte sequence: validate (no overlongs, no surrogates, <= U+10FFFF).
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (ok) {
      if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        ok = false;
    }
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for one invalid byte
      i++;
    }
  }
  out.push_back('"');
}

class Writer {
 public:
  explicit Writer(int indent) : indent_(indent) {}

  void write(Value v) {
    switch (v.tag) {
      case Tag::Nil:
      case Tag::Undef:
        out_ += "null";
        return;
      case Tag::Bool:
        out_ += v.as.b ? "true" : "false";
        return;
      case Tag::Int:
        out_ += fmt::format_int(v.as.i).c_str();
        return;
      case Tag::Float:
        write_float(v.as.d);
        return;
      case Tag::Obj:
        break;
    }
    Obj* o = v.as.o;
    switch (o->type) {
      case ObjType::String:
        append_quoted(out_, static_cast<ObjString*>(o)->view());
        return;
      case ObjType::List:
        write_list(static_cast<ObjList*>(o));
        return;
      case ObjType::Map:
        write_map(static_cast<ObjMap*>(o));
        return;
      default:
        raisef("TypeError", "cannot convert {} to JSON", type_name(v));
    }
  }

  std::string take() { return std::move(out_); }

 private:
  void write_float(double d) {
    if (std::isnan(d) || std::isinf(d)) raisef("ValueError", "cannot convert {} to JSON", float_repr(d));
    out_ += float_repr(d);
  }

  void open(Obj* o) {
    if (open_.size() >= static_cast<std::size_t>(kJsonMaxDepth))
      raisef("ValueError", "cannot convert to JSON: nesting deeper than {} levels", kJsonMaxDepth);
    for (Obj* x : open_)
      if (x == o) raise("ValueError", "cannot convert to JSON: circular reference");
    open_.push_back(o);
  }

  void newline(std::size_t depth) {
    out_.push_back('\n');
    out_.append(depth * static_cast<std::size_t>(indent_), ' ');
  }

  void write_list(ObjList* l) {
    if (l->items.empty()) {
      out_ += "[]";
      return;
    }
    open(l);
    std::size_t depth = open_.size();
    out_.push_back('[');
    // Index loop: the list cannot change during stringify (no script code
    // runs), but stay robust anyway.
    for (std::size_t i = 0; i < l->items.size(); i++) {
      if (i) out_.push_back(',');
      if (indent_ >= 0) newline(depth);
      write(l->items[i]);
    }
    if (indent_ >= 0) newline(depth - 1);
    out_.push_back(']');
    open_.pop_back();
  }

  void write_key(Value k) {
    switch (k.tag) {
      case Tag::Bool:
        out_ += k.as.b ? "\"true\"" : "\"false\"";
        return;
      case Tag::Int:
        out_.push_back('"');
        out_ += fmt::format_int(k.as.i).c_str();
        out_.push_back('"');
        return;
      case Tag::Float:
        out_.push_back('"');
        out_ += float_repr(k.as.d);
        out_.push_back('"');
        return;
      case Tag::Nil:
        out_ += "\"null\"";
        return;
      default:
        break;
    }
    if (is_obj_type(k, ObjType::String)) {
      append_quoted(out_, as<ObjString>(k)->view());
      return;
    }
    raisef("TypeError", "cannot convert map key of type {} to JSON", type_name(k));
  }

  void write_map(ObjMap* m) {
    if (m->count == 0) {
      out_ += "{}";
      return;
    }
    open(m);
    std::size_t depth = open_.size();
    out_.push_back('{');
    bool first = true;
    for (std::size_t i = 0; i < m->entries.size(); i++) {
      const MapEntry& e = m->entries[i];
      if (e.key.is_undef()) continue;  // tombstone
      if (!first) out_.push_back(',');
      first = false;
      if (indent_ >= 0) newline(depth);
      write_key(e.key);
      out_ += indent_ >= 0 ? ": " : ":";
      write(e.value);
    }
    if (indent_ >= 0) newline(depth - 1);
    out_.push_back('}');
    open_.pop_back();
  }

  int indent_;
  std::string out_;
  std::vector<Obj*> open_;
};

// ----------------------------------------------------------------- natives

Value json_parse_native(Thread& t, Args a) {
  std::string_view s = arg_str(a, 0, "parse");
  return json_parse(t, s);
}

Value json_stringify_native(Thread& t, Args a) {
  int indent = -1;
  if (a.n > 1 && !a[1].is_nil()) {
    if (!a[1].is_int()) raisef("TypeError", "stringify() argument 2 must be an int, not {}", type_name(a[1]));
    std::int64_t n = a[1].as.i;
    if (n < 0) raise("ValueError", "stringify() indent must be >= 0");
    if (n > 64) raise("ValueError", "stringify() indent must be <= 64");
    indent = static_cast<int>(n);
  }
  std::string s = json_stringify(a[0], indent);
  return str_value(t, s);
}

}  // namespace

Value json_parse(Thread& t, std::string_view text) {
  SaxBuilder b(t, text);
  bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &b, nlohmann::json::input_format_t::json, true, false);
  if (!ok) {
    if (b.error().empty()) raise("ValueError", "invalid JSON");
    raise("ValueError", b.error());
  }
  return b.result();
}

std::string json_stringify(Value v, int indent) {
  Writer w(indent);
  w.write(v);
  return w.take();
}

bool json_compatible(Value v) {
  try {
    (void)json_stringify(v, -1);
    return true;
  } catch (const NativeError&) {
    return false;
  }
}

void register_json(Interp& in) {
  ObjMap* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, Value v) { m->set(Value::object(in.heap.intern(name)), v); };
  put("parse", in.native("parse", json_parse_native, 1, 1));
  put("stringify", in.native("stringify", json_stringify_native, 1, 2));
  in.add_builtin("json", Value::object(m));
}

}  // namespace weft
