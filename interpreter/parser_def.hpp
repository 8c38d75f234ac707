// The Weft grammar (SPEC section 3) in Spirit X3.
//
// Included only by parser.cpp. The grammar follows the usual X3 layout (see
// Boost's calc9 / rexpr examples): rule declarations, rule definitions,
// BOOST_SPIRIT_DEFINE, and an annotation handler that stamps every AST node
// with its line and column. A few hand-written X3 parsers do the things the
// stock ones cannot do well:
//
//   skipper_p    whitespace and `#` comments
//   kw(...)      a keyword: `let` but not `letter`
//   name_p       an identifier that is not a keyword
//   number_p     ints (`1_000`, `0x1F`, range checked) and floats
//   string_p     string literals with escapes, UTF-8 checked
//   delimited    `( ... )`, `[ ... ]`, `{ ... }`: remembers where the opener
//                was (for "expected ')' to close '(' opened at 3:5") and
//                counts nesting depth (for "too deeply nested")
//   nest_guard   counts nesting depth for the unary operators
//   expect(msg)  an expectation point: if the subject fails, parsing stops
//                with `msg` at the position where the subject should start
//
// Errors are thrown as SyntaxFailure (a position and a finished message) and
// turned into a ParseError by parse_program. Every recursive path through
// the grammar passes a depth counter, so hostile input like 100,000 `(`
// ends with "too deeply nested" rather than a stack overflow; in addition the
// depth guard refuses to go on when the C++ stack itself is nearly used up.
#pragma once

#include <boost/fusion/include/at_c.hpp>
#include <boost/spirit/home/x3.hpp>
#include <boost/spirit/home/x3/support/utility/annotate_on_success.hpp>
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "ast.hpp"
#include "ast_adapted.hpp"
#include "config.hpp"

namespace weft::parser {

// ------------------------------------------------------------------ state

// A syntax error: where and what. Thrown by the grammar, caught by
// parse_program.
struct SyntaxFailure {
  const char* where;
  std::string message;
};

// Per-parse state, reachable from every parser through the X3 context.
struct ParseState {
  const char* begin = nullptr;
  const char* end = nullptr;
  std::vector<const char*> line_starts;  // first byte of every line
  int depth = 0;                         // current nesting depth
  const char* stack_floor = nullptr;     // do not recurse below this address
  std::vector<const char*> starts;       // see located_directive
  // Whether a newline ends a statement in the innermost context: true in
  // the program and in blocks, false inside `( )`, `[ ]`, map literals and
  // f-string fields (SPEC 0.2 section 2). delimited_directive pushes and
  // pops it; same_line_p and the statement separator check read it.
  std::vector<bool> newline_ends{true};

  ParseState(const char* b, const char* e) : begin(b), end(e) {
    line_starts.push_back(b);
    for (const char* p = b; p != e; ++p)
      if (*p == '\n') line_starts.push_back(p + 1);
  }

  // 1-based line and byte column of `p`.
  std::pair<int, int> pos(const char* p) const {
    auto it = std::upper_bound(line_starts.begin(), line_starts.end(), p);
    --it;
    return {int(it - line_starts.begin()) + 1, int(p - *it) + 1};
  }
  std::string pos_str(const char* p) const {
    auto [l, c] = pos(p);
    return std::to_string(l) + ":" + std::to_string(c);
  }
};

template <typename Context>
inline ParseState& state_of(Context const& ctx) {
  return x3::get<state_tag>(ctx);
}

template <typename Context>
inline void set_pos(ast::Node& n, Context const& ctx, const char* p) {
  auto [l, c] = state_of(ctx).pos(p);
  n.line = l;
  n.col = c;
}

// ------------------------------------------------------- character helpers

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}
inline bool is_op_char(char c) {
  return c == '+' || c == '-' || c == '*' || c == '/' || c == '%' ||
         c == '=' || c == '<' || c == '>' || c == '!';
}

// Skips whitespace and comments.
inline const char* skip_ws(const char* p, const char* end) {
  for (;;) {
    while (p != end && is_space(*p)) ++p;
    if (p != end && *p == '#') {
      while (p != end && *p != '\n') ++p;
      continue;
    }
    return p;
  }
}

inline bool is_keyword(const char* b, const char* e) {
  static constexpr const char* kKeywords[] = {
      "let",   "fn",       "return", "if",   "else",  "while", "for",
      "in",    "break",    "continue", "true", "false", "nil",  "and",
      "or",    "not",      "try",    "catch", "finally", "throw"};
  std::string_view w(b, std::size_t(e - b));
  for (const char* k : kKeywords)
    if (w == k) return true;
  return false;
}

// Length of the valid UTF-8 sequence at p, or 0 if it is not valid.
inline int utf8_len(const char* p, const char* end) {
  auto u = [&](int i) { return static_cast<unsigned char>(p[i]); };
  auto cont = [&](int i) { return p + i < end && (u(i) & 0xC0) == 0x80; };
  unsigned c = u(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && u(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && u(1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && u(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && u(1) >= 0x90) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// If the byte at p cannot start any token, a message saying so; else "".
inline std::string bad_char_message(const char* p, const char* end) {
  if (p == end) return {};
  char c = *p;
  // Operators other languages spell differently: name the Weft spelling.
  bool two = end - p >= 2;
  if (c == '!' && !(two && p[1] == '='))
    return "Weft spells '!' as 'not' (write 'not x')";
  if (c == '&' && two && p[1] == '&') return "Weft spells '&&' as 'and'";
  if (c == '|' && two && p[1] == '|') return "Weft spells '||' as 'or'";
  if (is_ident_char(c) || c == '"' || is_op_char(c)) return {};
  switch (c) {
    case '(': case ')': case '[': case ']': case '{': case '}':
    case ',': case '.': case ':': case ';':
      return {};
    default:
      break;
  }
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7F) return std::string("unexpected character '") + c + "'";
  if (u >= 0x80) {
    if (int n = utf8_len(p, end); n > 0)
      return "unexpected character '" + std::string(p, std::size_t(n)) + "'";
    char buf[48];
    std::snprintf(buf, sizeof buf, "invalid UTF-8 byte 0x%02X", unsigned(u));
    return buf;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "unexpected control character 0x%02X",
                unsigned(u));
  return buf;
}

// The token that ends right before `p` (used in "after '+'" messages).
inline std::string prev_token(const char* p, const char* begin) {
  const char* b = p;
  if (b == begin) return {};
  if (is_ident_char(b[-1])) {
    while (b != begin && is_ident_char(b[-1])) --b;
  } else if (is_op_char(b[-1])) {
    while (b != begin && is_op_char(b[-1]) && p - b < 3) --b;
  } else {
    --b;
  }
  return std::string(b, p);
}

// Throws a SyntaxFailure at the first token at or after `p`. A byte that
// cannot start a token is reported as such instead of `message`.
[[noreturn]] inline void fail_at(const char* p, const char* end,
                                 std::string message) {
  p = skip_ws(p, end);
  if (std::string bad = bad_char_message(p, end); !bad.empty())
    message = std::move(bad);
  throw SyntaxFailure{p, std::move(message)};
}

// What stands at p, for "unexpected ..." messages.
inline std::string describe_token(const char* p, const char* end) {
  if (p == end) return "end of input";
  if (is_ident_start(*p)) {
    const char* e = p;
    while (e != end && is_ident_char(*e)) ++e;
    return "'" + std::string(p, e) + "'";
  }
  if (is_digit(*p)) return "number";
  if (*p == '"') return "string";
  if (is_op_char(*p)) {
    const char* e = p;
    while (e != end && is_op_char(*e) && e - p < 2) ++e;
    return "'" + std::string(p, e) + "'";
  }
  return std::string("'") + *p + "'";
}

// ------------------------------------------------------- leaf parsers

// Whitespace and `#` comments.
struct skipper_parser : x3::parser<skipper_parser> {
  using attribute_type = x3::unused_type;
  static bool const has_attribute = false;
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const&, RCtx&, Attr&) const {
    const char* p = skip_ws(first, last);
    if (p == first) return false;
    first = p;
    return true;
  }
};
inline skipper_parser const skipper_p{};

// A keyword: the word not followed by an identifier character.
struct kw_parser : x3::parser<kw_parser> {
  using attribute_type = x3::unused_type;
  static bool const has_attribute = false;
  std::string_view word;
  constexpr explicit kw_parser(std::string_view w) : word(w) {}
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx&, Attr&) const {
    x3::skip_over(first, last, ctx);
    std::size_t n = word.size();
    if (std::size_t(last - first) < n ||
        std::string_view(first, n) != word)
      return false;
    if (first + n != last && is_ident_char(first[n])) return false;
    first += n;
    return true;
  }
};
constexpr kw_parser kw(std::string_view w) { return kw_parser(w); }

// An identifier that is not a keyword -> ast::Name.
struct name_parser : x3::parser<name_parser> {
  using attribute_type = ast::Name;
  static bool const has_attribute = true;
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx&,
             Attr& attr) const {
    x3::skip_over(first, last, ctx);
    if (first == last || !is_ident_start(*first)) return false;
    const char* e = first;
    while (e != last && is_ident_char(*e)) ++e;
    if (is_keyword(first, e)) return false;
    ast::Name n;
    set_pos(n, ctx, first);
    n.name.assign(first, e);
    first = e;
    x3::traits::move_to(std::move(n), attr);
    return true;
  }
};
inline name_parser const name_p{};

struct NumberScan {
  const char* end;
  bool is_float = false;
  std::int64_t i = 0;
  double f = 0;
};

// Scans a number literal at p (which must be a digit).
inline NumberScan scan_number(const char* start, const char* last) {
  NumberScan r{start};
  const char* p = start;
  std::string clean;
  auto digits = [&](auto pred) {
    // digit (digit | '_' digit)*
    while (p != last) {
      if (pred(*p)) {
        clean += *p++;
      } else if (*p == '_' && p + 1 != last && pred(p[1]) && !clean.empty()) {
        ++p;
      } else {
        break;
      }
    }
  };
  if (*p == '0' && p + 1 != last && (p[1] == 'x' || p[1] == 'X')) {
    p += 2;
    if (p == last || !is_hex(*p))
      throw SyntaxFailure{start, "expected hex digits after '0x'"};
    digits(is_hex);
    std::uint64_t v = 0;
    for (char c : clean) {
      unsigned d = is_digit(c) ? unsigned(c - '0')
                               : unsigned((c | 0x20) - 'a' + 10);
      if (v > (std::uint64_t(INT64_MAX) - d) / 16)
        throw SyntaxFailure{start, "integer literal too large"};
      v = v * 16 + d;
    }
    r.i = std::int64_t(v);
  } else {
    digits(is_digit);
    if (p != last && *p == '.' && p + 1 != last && is_digit(p[1])) {
      r.is_float = true;
      clean += *p++;
      std::size_t before = clean.size();
      digits(is_digit);
      (void)before;
    }
    if (p != last && (*p == 'e' || *p == 'E')) {
      const char* q = p + 1;
      if (q != last && (*q == '+' || *q == '-')) ++q;
      if (q != last && is_digit(*q)) {
        r.is_float = true;
        clean += 'e';
        if (q[-1] == '-') clean += '-';
        p = q;
        while (p != last && (is_digit(*p) || (*p == '_' && p + 1 != last && is_digit(p[1])))) {
          if (*p != '_') clean += *p;
          ++p;
        }
      }
    }
    if (r.is_float) {
      double d = 0;
      auto res = std::from_chars(clean.data(), clean.data() + clean.size(), d);
      if (res.ec == std::errc::result_out_of_range) {
        d = std::strtod(clean.c_str(), nullptr);  // inf or 0
        if (d > 1.0) throw SyntaxFailure{start, "float literal too large"};
      }
      r.f = d;
    } else {
      std::uint64_t v = 0;
      for (char c : clean) {
        unsigned dgt = unsigned(c - '0');
        if (v > (std::uint64_t(INT64_MAX) - dgt) / 10)
          throw SyntaxFailure{start, "integer literal too large"};
        v = v * 10 + dgt;
      }
      r.i = std::int64_t(v);
    }
  }
  if (p != last && is_ident_char(*p))
    throw SyntaxFailure{p, std::string("invalid character '") + *p +
                               "' in number literal"};
  r.end = p;
  return r;
}

// INT or FLOAT -> ast::Expr (IntLit / FloatLit); with IntOnly -> ast::IntLit
// (a float does not match).
template <bool IntOnly>
struct number_parser : x3::parser<number_parser<IntOnly>> {
  using attribute_type =
      std::conditional_t<IntOnly, ast::IntLit, ast::Expr>;
  static bool const has_attribute = true;
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx&,
             Attr& attr) const {
    x3::skip_over(first, last, ctx);
    if (first == last || !is_digit(*first)) return false;
    NumberScan s = scan_number(first, last);
    if (s.is_float) {
      if constexpr (IntOnly) {
        return false;
      } else {
        ast::FloatLit f;
        set_pos(f, ctx, first);
        f.value = s.f;
        x3::traits::move_to(ast::Expr(f), attr);
      }
    } else {
      ast::IntLit n;
      set_pos(n, ctx, first);
      n.value = s.i;
      if constexpr (IntOnly)
        x3::traits::move_to(std::move(n), attr);
      else
        x3::traits::move_to(ast::Expr(n), attr);
    }
    first = s.end;
    return true;
  }
};
inline number_parser<false> const number_p{};
inline number_parser<true> const int_key_p{};

// Decodes the escape sequence at `esc` (which points at the backslash) of a
// string or f-string opened at `open`, appends the bytes to `out` and
// returns the position after it. `\xHH` is limited to ASCII (below 0x80)
// so that every string literal stays valid UTF-8; `\u{...}` writes any
// other character.
inline const char* decode_escape(const char* esc, const char* last,
                                 const char* open, std::string& out) {
  const char* p = esc + 1;
  if (p == last) throw SyntaxFailure{open, "unterminated string"};
  switch (*p) {
    case 'n': out += '\n'; return p + 1;
    case 't': out += '\t'; return p + 1;
    case 'r': out += '\r'; return p + 1;
    case '\\': out += '\\'; return p + 1;
    case '"': out += '"'; return p + 1;
    case '0': out += '\0'; return p + 1;
    case 'x': {
      if (last - p < 3 || !is_hex(p[1]) || !is_hex(p[2]))
        throw SyntaxFailure{esc, "invalid \\x escape (expected two hex digits, as in \\x41)"};
      auto hex = [](char h) {
        return is_digit(h) ? unsigned(h - '0') : unsigned((h | 0x20) - 'a' + 10);
      };
      unsigned v = hex(p[1]) * 16 + hex(p[2]);
      if (v >= 0x80)
        throw SyntaxFailure{esc, "\\x escapes must be below \\x80 (use \\u{...} for other characters)"};
      out += char(v);
      return p + 3;
    }
    case 'u': {
      ++p;
      if (p == last || *p != '{')
        throw SyntaxFailure{esc, "expected '{' after '\\u' (write \\u{1F600})"};
      ++p;
      std::uint32_t cp = 0;
      int n = 0;
      while (p != last && is_hex(*p) && n < 7) {
        cp = cp * 16 + (is_digit(*p) ? unsigned(*p - '0')
                                     : unsigned((*p | 0x20) - 'a' + 10));
        ++p;
        ++n;
      }
      if (n == 0 || n > 6 || p == last || *p != '}')
        throw SyntaxFailure{esc, "invalid \\u{...} escape (expected 1 to 6 hex digits and '}')"};
      ++p;
      if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        throw SyntaxFailure{esc, "invalid Unicode code point in \\u{...} escape"};
      append_utf8(out, cp);
      return p;
    }
    default: {
      unsigned char u = static_cast<unsigned char>(*p);
      if (u >= 0x21 && u < 0x7F)
        throw SyntaxFailure{esc, std::string("invalid escape sequence '\\") + *p + "'"};
      throw SyntaxFailure{esc, "invalid escape sequence"};
    }
  }
}

// "..." -> ast::StrLit with escapes decoded.
struct string_parser : x3::parser<string_parser> {
  using attribute_type = ast::StrLit;
  static bool const has_attribute = true;
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx&,
             Attr& attr) const {
    x3::skip_over(first, last, ctx);
    if (first == last || *first != '"') return false;
    const char* open = first;
    const char* p = first + 1;
    ast::StrLit s;
    set_pos(s, ctx, open);
    std::string& out = s.value;
    for (;;) {
      if (p == last) throw SyntaxFailure{open, "unterminated string"};
      char c = *p;
      if (c == '"') {
        ++p;
        break;
      }
      if (c == '\\') {
        p = decode_escape(p, last, open, out);
        continue;
      }
      int n = utf8_len(p, last);
      if (n == 0) throw SyntaxFailure{p, "invalid UTF-8 in string literal"};
      out.append(p, std::size_t(n));
      p += n;
    }
    first = p;
    x3::traits::move_to(std::move(s), attr);
    return true;
  }
};
inline string_parser const string_p{};

// ------------------------------------------------------ newlines (SPEC 2)

// True if a newline separates the token starting at `tok` from the token
// before it. Comments run to the end of their line, so only blanks can
// stand between the last newline and `tok`: looking back over blanks finds
// it, whatever the parser skipped before.
inline bool newline_before(ParseState const& st, const char* tok) {
  while (tok != st.begin && (tok[-1] == ' ' || tok[-1] == '\t' ||
                             tok[-1] == '\r' || tok[-1] == '\v' ||
                             tok[-1] == '\f'))
    --tok;
  return tok != st.begin && tok[-1] == '\n';
}

// Placed before every binary, postfix and assignment operator: fails when
// newlines end statements here and the operator starts a new line, so
// `a⏎+ b` is two statements while `a +⏎b` is one (as in Go).
struct same_line_parser : x3::parser<same_line_parser> {
  using attribute_type = x3::unused_type;
  static bool const has_attribute = false;
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx&, Attr&) const {
    ParseState const& st = state_of(ctx);
    if (!st.newline_ends.back()) return true;
    return !newline_before(st, skip_ws(first, last));
  }
};
inline same_line_parser const same_line_p{};

// Pushes a newline context for the lifetime of a scope.
struct NewlineScope {
  ParseState& st;
  NewlineScope(ParseState& s, bool ends) : st(s) { st.newline_ends.push_back(ends); }
  ~NewlineScope() { st.newline_ends.pop_back(); }
  NewlineScope(NewlineScope const&) = delete;
  NewlineScope& operator=(NewlineScope const&) = delete;
};

// The binary operator (or '.', '=') at p, if there is one, for the
// message about a line that starts with an operator; else "".
inline std::string leading_operator(const char* p, const char* end) {
  if (p == end) return {};
  auto word = [&](std::string_view w) {
    return std::size_t(end - p) >= w.size() && std::string_view(p, w.size()) == w &&
           (p + w.size() == end || !is_ident_char(p[w.size()]));
  };
  for (std::string_view w : {"and", "or", "in"})
    if (word(w)) return std::string(w);
  if (*p == '!' && !(end - p >= 2 && p[1] == '=')) return {};  // '!' has its own hint
  if (*p == '-') return {};  // unary minus starts an expression
  if (is_op_char(*p) || *p == '.') {
    const char* e = p + 1;
    while (e != end && is_op_char(*e) && e - p < 3) ++e;
    return std::string(p, e);
  }
  return {};
}

// After the statements of a block or program: a token that could only
// continue an expression, at the start of a line, gets a message that says
// how to continue a line in Weft.
struct line_start_parser : x3::parser<line_start_parser> {
  using attribute_type = x3::unused_type;
  static bool const has_attribute = false;
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx&, Attr&) const {
    const char* p = skip_ws(first, last);
    if (!newline_before(state_of(ctx), p)) return true;
    std::string op = leading_operator(p, last);
    if (op.empty()) return true;
    throw SyntaxFailure{p, "a line cannot start with '" + op +
                               "': to continue the expression of the line "
                               "before, end that line with the operator"};
  }
};
inline line_start_parser const line_start_p{};

// The rest of the statement's line from p, for hints: up to a comment, a
// ';' or the '}' that closes the enclosing block.
inline std::string rest_of_line(const char* p, const char* end) {
  const char* e = p;
  bool in_str = false;
  int depth = 0;
  for (; e != end && *e != '\n'; ++e) {
    if (in_str) {
      if (*e == '\\' && e + 1 != end && e[1] != '\n') ++e;
      else if (*e == '"') in_str = false;
      continue;
    }
    if (*e == '#' || *e == ';' || (*e == '}' && depth == 0)) break;
    if (*e == '"') in_str = true;
    if (*e == '{') ++depth;
    if (*e == '}') --depth;
  }
  while (e != p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) --e;
  return std::string(p, e);
}

// Checks what follows a statement (SPEC 2): a newline, ';', the '}' that
// closes the block, or the end of input. A statement that ends with a
// block's '}' (`if`, `while`, `for`, `fn`, `try`) may be followed by another
// on the same line. Otherwise the error names the recognisable mistakes:
// spellings from other languages and `print x` for `print(x)`.
inline void check_separator(ParseState const& st, ast::Stmt const& stmt,
                            const char* begin, const char* end) {
  const char* p = end;
  while (p != st.end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\v' ||
                         *p == '\f'))
    ++p;
  if (p == st.end || *p == '\n' || *p == '#' || *p == ';' || *p == '}') return;
  auto const& v = stmt.get();
  if (boost::get<ast::IfStmt>(&v) || boost::get<ast::WhileStmt>(&v) ||
      boost::get<ast::ForStmt>(&v) || boost::get<ast::FnStmt>(&v) ||
      boost::get<ast::TryStmt>(&v))
    return;
  std::string msg = "expected a newline or ';' after the statement";
  if (std::string bad = bad_char_message(p, st.end); !bad.empty())
    throw SyntaxFailure{p, std::move(bad)};
  // A stray closer or separator is no second statement.
  if (*p == ')' || *p == ']' || *p == ',' || *p == ':')
    throw SyntaxFailure{p, "unexpected " + describe_token(p, st.end)};
  // `"""abc"""` reads as `""`, `"abc"`, `""`: name the real mistake.
  if (*p == '"' && p == end && end - begin >= 2 && end[-1] == '"' && end[-2] == '"')
    throw SyntaxFailure{end - 2, "Weft has no triple-quoted strings: a \"...\" "
                               "string may span lines"};
  const ast::Name* word = nullptr;
  if (auto* es = boost::get<ast::ExprStmt>(&v)) word = boost::get<ast::Name>(&es->expr);
  bool starts_expr = is_ident_start(*p) || is_digit(*p) || *p == '"';
  if (is_ident_start(*p)) {
    // A keyword after the name (`x return`) is no argument list.
    const char* e = p;
    while (e != st.end && is_ident_char(*e)) ++e;
    std::string_view next(p, std::size_t(e - p));
    if (is_keyword(p, e) && next != "not" && next != "fn" && next != "true" &&
        next != "false" && next != "nil")
      starts_expr = false;
  }
  if (word && starts_expr && is_ident_start(*begin)) {
    const std::string& w = word->name;
    std::string rest = rest_of_line(p, st.end);
    if (w == "elif" || w == "elseif")
      throw SyntaxFailure{begin, "'" + w + "' is not Weft: write 'else if'"};
    if (w == "var" || w == "const")
      throw SyntaxFailure{begin, "'" + w + "' is not Weft: declare variables with 'let' (let " + rest + ")"};
    if (w == "def" || w == "function")
      throw SyntaxFailure{begin, "'" + w + "' is not Weft: define functions with 'fn'"};
    if (w == "class")
      throw SyntaxFailure{begin, "Weft has no classes: use a map of closures (docs/language.md)"};
    if (w == "import") {
      const char* e = p;
      std::string arg;
      if (*p == '"') {
        ++e;
        while (e != st.end && *e != '"' && *e != '\n') ++e;
        arg = std::string(p, e) + "\"";
      } else {
        while (e != st.end && (is_ident_char(*e) || *e == '/' || *e == '.')) ++e;
        arg = "\"" + std::string(p, e) + "\"";
      }
      throw SyntaxFailure{begin, "import is a function in Weft: did you mean import(" + arg + ")?"};
    }
    if (!rest.empty() && rest.size() <= 60)
      msg += "; did you mean " + w + "(" + rest + ")?";
  }
  throw SyntaxFailure{p, std::move(msg)};
}

// Succeeds unless another comparison operator follows: `a < b < c` is
// an error (comparisons do not chain).
struct no_chain_parser : x3::parser<no_chain_parser> {
  using attribute_type = x3::unused_type;
  static bool const has_attribute = false;
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx&, Attr&) const {
    const char* p = skip_ws(first, last);
    ParseState const& st = state_of(ctx);
    if (st.newline_ends.back() && newline_before(st, p)) return true;
    std::size_t n = std::size_t(last - p);
    bool cmp = false;
    if (n >= 2 && (std::string_view(p, 2) == "==" || std::string_view(p, 2) == "!="))
      cmp = true;
    else if (n >= 1 && (*p == '<' || *p == '>'))
      cmp = true;
    else if (n >= 2 && std::string_view(p, 2) == "in" &&
             (n == 2 || !is_ident_char(p[2])))
      cmp = true;
    if (cmp)
      throw SyntaxFailure{p, "comparisons cannot be chained (use 'and')"};
    return true;
  }
};
inline no_chain_parser const no_chain_p{};

// Fails with a message describing the first token that is left over.
struct end_parser : x3::parser<end_parser> {
  using attribute_type = x3::unused_type;
  static bool const has_attribute = false;
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx&, Attr&) const {
    x3::skip_over(first, last, ctx);
    if (first == last) return true;
    fail_at(first, last, "unexpected " + describe_token(first, last));
  }
};
inline end_parser const end_p{};

// ------------------------------------------------------ directives

// Enforces the nesting limit (and a C++ stack reserve) around a subject.
struct DepthGuard {
  ParseState& st;
  DepthGuard(ParseState& s, const char* where) : st(s) {
    if (st.depth >= ast::kMaxNesting ||
        static_cast<const char*>(__builtin_frame_address(0)) < st.stack_floor)
      throw SyntaxFailure{where, "too deeply nested (limit " +
                                     std::to_string(ast::kMaxNesting) + ")"};
    ++st.depth;
  }
  ~DepthGuard() { --st.depth; }
  DepthGuard(DepthGuard const&) = delete;
  DepthGuard& operator=(DepthGuard const&) = delete;
};

// open subject close: counts one nesting level; a missing closer is
// "expected ')' to close '(' opened at L:C".
template <typename Subject>
struct delimited_directive
    : x3::unary_parser<Subject, delimited_directive<Subject>> {
  using base_type = x3::unary_parser<Subject, delimited_directive<Subject>>;
  static bool const is_pass_through_unary = true;
  static bool const handles_container = Subject::handles_container;
  char open, close;
  const char* what;       // "block" or nullptr (then "'('")
  const char* empty_msg;  // if set: the message when nothing valid follows
                          // the opener
  delimited_directive(Subject const& s, char o, char c, const char* w,
                      const char* e)
      : base_type(s), open(o), close(c), what(w), empty_msg(e) {}

  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx& rctx,
             Attr& attr) const {
    x3::skip_over(first, last, ctx);
    if (first == last || *first != open) return false;
    const char* opener = first;
    ParseState& st = state_of(ctx);
    DepthGuard guard(st, opener);
    // Newlines end statements in a block, not inside brackets or a map.
    NewlineScope nl(st, what && std::string_view(what) == "block");
    ++first;
    bool ok = this->subject.parse(first, last, ctx, rctx, attr);
    x3::skip_over(first, last, ctx);
    if (!ok || first == last || *first != close) {
      if (empty_msg && first != last && skip_ws(opener + 1, last) == first)
        fail_at(first, last, empty_msg);
      std::string m = std::string("expected '") + close + "' to close ";
      m += what ? std::string(what) : std::string("'") + open + "'";
      m += " opened at " + st.pos_str(opener);
      fail_at(first, last, std::move(m));
    }
    ++first;
    return true;
  }
};
struct delimited_gen {
  char open, close;
  const char* what;
  const char* empty_msg;
  template <typename Subject>
  delimited_directive<typename x3::extension::as_parser<Subject>::value_type>
  operator[](Subject const& s) const {
    return {x3::as_parser(s), open, close, what, empty_msg};
  }
};
inline delimited_gen delimited(char open, char close,
                               const char* what = nullptr,
                               const char* empty_msg = nullptr) {
  return {open, close, what, empty_msg};
}

// Counts one nesting level around the subject (unary operators).
template <typename Subject>
struct nest_directive : x3::unary_parser<Subject, nest_directive<Subject>> {
  using base_type = x3::unary_parser<Subject, nest_directive<Subject>>;
  static bool const is_pass_through_unary = true;
  static bool const handles_container = Subject::handles_container;
  explicit nest_directive(Subject const& s) : base_type(s) {}
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx& rctx,
             Attr& attr) const {
    DepthGuard guard(state_of(ctx), skip_ws(first, last));
    return this->subject.parse(first, last, ctx, rctx, attr);
  }
};
struct nest_gen {
  template <typename Subject>
  nest_directive<typename x3::extension::as_parser<Subject>::value_type>
  operator[](Subject const& s) const {
    return nest_directive<typename x3::extension::as_parser<Subject>::value_type>(
        x3::as_parser(s));
  }
};
inline nest_gen const nest_guard{};

// Records where the subject starts (its first token) for the semantic
// actions inside it: X3's _where(ctx) only gives the end of a match.
template <typename Subject>
struct located_directive
    : x3::unary_parser<Subject, located_directive<Subject>> {
  using base_type = x3::unary_parser<Subject, located_directive<Subject>>;
  static bool const is_pass_through_unary = true;
  static bool const handles_container = Subject::handles_container;
  explicit located_directive(Subject const& s) : base_type(s) {}
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx& rctx,
             Attr& attr) const {
    ParseState& st = state_of(ctx);
    st.starts.push_back(skip_ws(first, last));
    struct Pop {
      ParseState& st;
      ~Pop() { st.starts.pop_back(); }
    } pop{st};
    return this->subject.parse(first, last, ctx, rctx, attr);
  }
};
struct located_gen {
  template <typename Subject>
  located_directive<typename x3::extension::as_parser<Subject>::value_type>
  operator[](Subject const& s) const {
    return located_directive<typename x3::extension::as_parser<Subject>::value_type>(
        x3::as_parser(s));
  }
};
inline located_gen const located{};

// Stamps `n` with the start recorded by the innermost located[].
template <typename Context>
inline void stamp(ast::Node& n, Context const& ctx) {
  set_pos(n, ctx, state_of(ctx).starts.back());
}

// An expectation point with a readable message. "{}" in the message is
// replaced by the token right before the expected one.
template <typename Subject>
struct expect_directive
    : x3::unary_parser<Subject, expect_directive<Subject>> {
  using base_type = x3::unary_parser<Subject, expect_directive<Subject>>;
  static bool const is_pass_through_unary = true;
  static bool const handles_container = Subject::handles_container;
  const char* msg;
  expect_directive(Subject const& s, const char* m) : base_type(s), msg(m) {}
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx& rctx,
             Attr& attr) const {
    const char* entry = first;
    if (this->subject.parse(first, last, ctx, rctx, attr)) return true;
    std::string m = msg;
    if (auto i = m.find("{}"); i != std::string::npos)
      m.replace(i, 2, prev_token(entry, state_of(ctx).begin));
    fail_at(entry, last, std::move(m));
  }
};
struct expect_gen {
  const char* msg;
  template <typename Subject>
  expect_directive<typename x3::extension::as_parser<Subject>::value_type>
  operator[](Subject const& s) const {
    return {x3::as_parser(s), msg};
  }
};
inline expect_gen expect(const char* msg) { return {msg}; }

// ------------------------------------------------------ helper AST pieces

// `op rhs` after a comparison's left operand (position: the operator).
struct CmpTail : ast::Node {
  ast::CmpOp op = ast::CmpOp::Eq;
  ast::Expr rhs;
};
// `: hi?` inside a subscript: marks it as a slice.
struct SliceTail {
  boost::optional<ast::Expr> hi;
};
// What stands between '[' and ']' after a postfix expression.
struct Subscript {
  boost::optional<ast::Expr> lo;
  boost::optional<SliceTail> tail;
};
// `op value` after an assignment target (position: the operator).
struct AssignTail : ast::Node {
  ast::AssignOp op = ast::AssignOp::Set;
  ast::Expr value;
};

}  // namespace weft::parser

BOOST_FUSION_ADAPT_STRUCT(weft::parser::CmpTail, op, rhs)
BOOST_FUSION_ADAPT_STRUCT(weft::parser::AssignTail, op, value)
BOOST_FUSION_ADAPT_STRUCT(weft::parser::Subscript, lo, tail)

namespace weft::parser {

// ------------------------------------------------------ annotation

// on_success handler: stamps the rule's node with the position of its first
// token (after skipping whitespace).
struct annotate_position {
  template <typename T, typename It, typename Ctx>
  void on_success(It const& first, It const&, T& node, Ctx const& ctx) const {
    if constexpr (std::is_base_of_v<ast::Node, T>) set_pos(node, ctx, first);
  }
};

// ------------------------------------------------------ semantic actions

namespace act {
using boost::fusion::at_c;

inline auto const set_name_field = [](auto& ctx) {
  auto& n = x3::_attr(ctx);
  x3::_val(ctx).line = n.line;
  x3::_val(ctx).col = n.col;
  x3::_val(ctx).name = std::move(n.name);
};
inline auto const set_args = [](auto& ctx) {
  stamp(x3::_val(ctx), ctx);
  x3::_val(ctx).args = std::move(x3::_attr(ctx));
};
inline auto const set_index = [](auto& ctx) {
  stamp(x3::_val(ctx), ctx);
  x3::_val(ctx).index = std::move(x3::_attr(ctx));
};
inline auto const set_items = [](auto& ctx) {
  stamp(x3::_val(ctx), ctx);
  x3::_val(ctx).items = std::move(x3::_attr(ctx));
};
inline auto const set_entries = [](auto& ctx) {
  stamp(x3::_val(ctx), ctx);
  x3::_val(ctx).entries = std::move(x3::_attr(ctx));
};
inline auto const set_true = [](auto& ctx) {
  stamp(x3::_val(ctx), ctx);
  x3::_val(ctx).value = true;
};
inline auto const set_false = [](auto& ctx) {
  stamp(x3::_val(ctx), ctx);
  x3::_val(ctx).value = false;
};
inline auto const set_value = [](auto& ctx) {
  stamp(x3::_val(ctx), ctx);
  x3::_val(ctx).value = std::move(x3::_attr(ctx));
};
inline auto const set_block = [](auto& ctx) {
  stamp(x3::_val(ctx), ctx);
  auto& src = x3::_attr(ctx);
  auto& dst = x3::_val(ctx).stmts;
  dst.reserve(src.size());
  for (auto& s : src) dst.emplace_back(std::move(s));
};
inline auto const set_program = [](auto& ctx) {
  x3::_val(ctx).stmts = std::move(x3::_attr(ctx));
};

template <bool IsAnd>
struct make_logical {
  template <typename Ctx>
  void operator()(Ctx& ctx) const {
    auto& a = x3::_attr(ctx);
    auto& rest = at_c<1>(a);
    if (rest.empty()) {
      x3::_val(ctx) = std::move(at_c<0>(a));
      return;
    }
    ast::Logical l;
    stamp(l, ctx);
    l.is_and = IsAnd;
    l.operands.reserve(rest.size() + 1);
    l.operands.push_back(std::move(at_c<0>(a)));
    for (auto& e : rest) l.operands.push_back(std::move(e));
    x3::_val(ctx) = x3::forward_ast<ast::Logical>(std::move(l));
  }
};

inline auto const make_compare = [](auto& ctx) {
  auto& a = x3::_attr(ctx);
  auto& tail = at_c<1>(a);
  if (!tail) {
    x3::_val(ctx) = std::move(at_c<0>(a));
    return;
  }
  ast::Compare c;
  c.line = tail->line;
  c.col = tail->col;
  c.lhs = std::move(at_c<0>(a));
  c.op = tail->op;
  c.rhs = std::move(tail->rhs);
  x3::_val(ctx) = x3::forward_ast<ast::Compare>(std::move(c));
};

inline auto const make_chain = [](auto& ctx) {
  auto& a = x3::_attr(ctx);
  auto& rest = at_c<1>(a);
  if (rest.empty()) {
    x3::_val(ctx) = std::move(at_c<0>(a));
    return;
  }
  ast::Chain c;
  stamp(c, ctx);
  c.first = std::move(at_c<0>(a));
  c.rest = std::move(rest);
  x3::_val(ctx) = x3::forward_ast<ast::Chain>(std::move(c));
};

inline auto const make_postfix = [](auto& ctx) {
  auto& a = x3::_attr(ctx);
  auto& ops = at_c<1>(a);
  if (ops.empty()) {
    x3::_val(ctx) = std::move(at_c<0>(a));
    return;
  }
  ast::Postfix p;
  stamp(p, ctx);
  p.primary = std::move(at_c<0>(a));
  p.ops = std::move(ops);
  x3::_val(ctx) = x3::forward_ast<ast::Postfix>(std::move(p));
};

// x[i] or x[lo:hi] (the position is the '[').
inline auto const make_subscript = [](auto& ctx) {
  Subscript& s = x3::_attr(ctx);
  if (!s.tail) {
    if (!s.lo) fail_at(state_of(ctx).starts.back() + 1, state_of(ctx).end,
                       "expected an expression or ':' after '['");
    ast::IndexOp ix;
    stamp(ix, ctx);
    ix.index = std::move(*s.lo);
    x3::_val(ctx) = std::move(ix);
    return;
  }
  ast::SliceOp sl;
  stamp(sl, ctx);
  sl.lo = std::move(s.lo);
  sl.hi = std::move(s.tail->hi);
  x3::_val(ctx) = std::move(sl);
};
inline auto const set_slice_hi = [](auto& ctx) { x3::_val(ctx).hi = std::move(x3::_attr(ctx)); };

// `a ** b`: a one-step Chain (the position is the operator's).
inline auto const make_power = [](auto& ctx) {
  auto& a = x3::_attr(ctx);
  auto& tail = at_c<1>(a);
  if (!tail) {
    x3::_val(ctx) = std::move(at_c<0>(a));
    return;
  }
  ast::Chain c;
  c.line = tail->line;
  c.col = tail->col;
  c.first = std::move(at_c<0>(a));
  c.rest.push_back(std::move(*tail));
  x3::_val(ctx) = x3::forward_ast<ast::Chain>(std::move(c));
};

// `...expr` in a call's arguments.
inline auto const make_spread = [](auto& ctx) {
  ast::Unary u;
  stamp(u, ctx);
  u.op = ast::UnaryOp::Spread;
  u.operand = std::move(x3::_attr(ctx));
  x3::_val(ctx) = x3::forward_ast<ast::Unary>(std::move(u));
};

inline auto const make_simple_stmt = [](auto& ctx) {
  auto& a = x3::_attr(ctx);
  auto& tail = at_c<1>(a);
  if (!tail) {
    ast::ExprStmt s;
    stamp(s, ctx);
    s.expr = std::move(at_c<0>(a));
    x3::_val(ctx) = std::move(s);
    return;
  }
  ast::AssignStmt s;
  s.line = tail->line;
  s.col = tail->col;
  s.target = std::move(at_c<0>(a));
  s.op = tail->op;
  s.value = std::move(tail->value);
  x3::_val(ctx) = std::move(s);
};
}  // namespace act

// ------------------------------------------------------ rules

namespace grammar {
using x3::attr;
using x3::lexeme;
using x3::lit;

// IDs: those deriving from annotate_position get their node stamped with
// the position of their first token.
struct expr_class;
struct and_class;
struct not_class;
struct not_op_class : annotate_position {};
struct cmp_class;
struct cmp_tail_class : annotate_position {};
struct sum_class;
struct sum_step_class : annotate_position {};
struct term_class;
struct term_step_class : annotate_position {};
struct unary_class;
struct neg_class : annotate_position {};
struct postfix_class;
struct post_op_class;
struct call_class : annotate_position {};
struct index_class : annotate_position {};
struct field_class;
struct primary_class;
struct bool_class : annotate_position {};
struct nil_class : annotate_position {};
struct list_class : annotate_position {};
struct exprs_class;
struct args_class;
struct map_class : annotate_position {};
struct entries_class;
struct entry_class : annotate_position {};
struct key_class;
struct fn_lit_class : annotate_position {};
struct params_class;
struct block_class : annotate_position {};
struct stmts_class;
// Every statement is followed by a separator check (check_separator).
struct stmt_class {
  template <typename T, typename It, typename Ctx>
  void on_success(It const& first, It const& last, T& node, Ctx const& ctx) const {
    check_separator(state_of(ctx), node, first, last);
  }
};
struct let_class : annotate_position {};
struct fn_stmt_class : annotate_position {};
struct if_class : annotate_position {};
struct cond_block_class : annotate_position {};
struct while_class : annotate_position {};
struct for_class : annotate_position {};
struct break_class : annotate_position {};
struct continue_class : annotate_position {};
struct return_class : annotate_position {};
struct try_class : annotate_position {};
struct throw_class : annotate_position {};
struct simple_class;
struct assign_tail_class : annotate_position {};
struct program_class;
struct power_class;
struct pow_step_class : annotate_position {};
struct slice_tail_class;
struct subscript_class;
struct arg_class;
struct spread_class;
struct param_class : annotate_position {};
struct catch_class : annotate_position {};
struct finally_class;

x3::rule<expr_class, ast::Expr> const expr = "expression";
x3::rule<and_class, ast::Expr> const and_expr = "expression";
x3::rule<not_class, ast::Expr> const not_expr = "expression";
x3::rule<not_op_class, ast::Unary> const not_op = "not";
x3::rule<cmp_class, ast::Expr> const cmp_expr = "expression";
x3::rule<cmp_tail_class, CmpTail> const cmp_tail = "comparison";
x3::rule<sum_class, ast::Expr> const sum_expr = "expression";
x3::rule<sum_step_class, ast::ChainStep> const sum_step = "operator";
x3::rule<term_class, ast::Expr> const term_expr = "expression";
x3::rule<term_step_class, ast::ChainStep> const term_step = "operator";
x3::rule<unary_class, ast::Expr> const unary_expr = "expression";
x3::rule<neg_class, ast::Unary> const neg_expr = "negation";
x3::rule<postfix_class, ast::Expr> const postfix_expr = "expression";
x3::rule<post_op_class, ast::PostOp> const post_op = "postfix operator";
x3::rule<call_class, ast::CallOp> const call_op = "call";
x3::rule<index_class, ast::PostOp> const index_op = "index";
x3::rule<field_class, ast::FieldOp> const field_op = "field";
x3::rule<primary_class, ast::Expr> const primary = "expression";
x3::rule<bool_class, ast::BoolLit> const bool_lit = "boolean";
x3::rule<nil_class, ast::NilLit> const nil_lit = "nil";
x3::rule<list_class, ast::ListLit> const list_lit = "list";
x3::rule<exprs_class, std::vector<ast::Expr>> const list_items = "list items";
x3::rule<args_class, std::vector<ast::Expr>> const call_args = "arguments";
x3::rule<map_class, ast::MapLit> const map_lit = "map";
x3::rule<entries_class, std::vector<ast::MapEntry>> const map_entries = "map entries";
x3::rule<entry_class, ast::MapEntry> const map_entry = "map entry";
x3::rule<key_class, ast::MapKey> const map_key = "map key";
x3::rule<fn_lit_class, ast::FnLit> const fn_lit = "function";
x3::rule<params_class, std::vector<ast::Param>> const params = "parameters";
x3::rule<block_class, ast::Block> const block = "block";
x3::rule<stmts_class, std::vector<ast::Stmt>> const stmts = "statements";
x3::rule<stmt_class, ast::Stmt> const stmt = "statement";
x3::rule<let_class, ast::LetStmt> const let_stmt = "let";
x3::rule<fn_stmt_class, ast::FnStmt> const fn_stmt = "fn";
x3::rule<if_class, ast::IfStmt> const if_stmt = "if";
x3::rule<cond_block_class, ast::CondBlock> const cond_block = "condition";
x3::rule<while_class, ast::WhileStmt> const while_stmt = "while";
x3::rule<for_class, ast::ForStmt> const for_stmt = "for";
x3::rule<break_class, ast::BreakStmt> const break_stmt = "break";
x3::rule<continue_class, ast::ContinueStmt> const continue_stmt = "continue";
x3::rule<return_class, ast::ReturnStmt> const return_stmt = "return";
x3::rule<try_class, ast::TryStmt> const try_stmt = "try";
x3::rule<throw_class, ast::ThrowStmt> const throw_stmt = "throw";
x3::rule<simple_class, ast::Stmt> const simple_stmt = "statement";
x3::rule<assign_tail_class, AssignTail> const assign_tail = "assignment";
x3::rule<program_class, ast::Program> const program = "program";
x3::rule<power_class, ast::Expr> const power_expr = "expression";
x3::rule<pow_step_class, ast::ChainStep> const pow_step = "operator";
x3::rule<slice_tail_class, SliceTail> const slice_tail = "slice";
x3::rule<subscript_class, Subscript> const subscript = "index or slice";
x3::rule<arg_class, ast::Expr> const call_arg = "argument";
x3::rule<spread_class, ast::Expr> const spread_arg = "spread argument";
x3::rule<param_class, ast::Param> const param = "parameter";
x3::rule<catch_class, ast::CatchClause> const catch_clause = "catch";
x3::rule<finally_class, ast::Block> const finally_clause = "finally";

// ---- f-strings

// f"..." -> ast::FString (as an ast::Expr). Literal text is decoded like a
// string's; each `{field}` is parsed in place by the expression grammar, so
// its node positions, and its syntax errors, are real positions inside the
// string. A field counts one nesting level (f-strings nest through fields)
// and newlines inside it do not end statements.
struct fstring_parser : x3::parser<fstring_parser> {
  using attribute_type = ast::Expr;
  static bool const has_attribute = true;
  template <typename It, typename Ctx, typename RCtx, typename Attr>
  bool parse(It& first, It const& last, Ctx const& ctx, RCtx& rctx,
             Attr& attr) const {
    x3::skip_over(first, last, ctx);
    if (last - first < 2 || first[0] != 'f' || first[1] != '"') return false;
    const char* open = first + 1;
    const char* p = open + 1;
    ast::FString fs;
    set_pos(fs, ctx, first);
    ast::FStringPart lit;
    auto flush = [&] {
      if (!lit.text.empty()) fs.parts.push_back(std::move(lit));
      lit = ast::FStringPart{};
    };
    for (;;) {
      if (p == last) throw SyntaxFailure{first, "unterminated f-string"};
      char c = *p;
      if (c == '"') {
        ++p;
        break;
      }
      if (c == '{' && !(p + 1 != last && p[1] == '{')) {
        flush();
        p = field(p, last, ctx, rctx, fs);
        continue;
      }
      if (lit.line == 0) set_pos(lit, ctx, p);
      if (c == '\\') {
        p = decode_escape(p, last, open, lit.text);
      } else if (c == '{' || c == '}') {
        if (c == '}' && !(p + 1 != last && p[1] == '}'))
          throw SyntaxFailure{p, "single '}' in an f-string (write '}}' for a literal brace)"};
        lit.text += c;
        p += 2;
      } else {
        int n = utf8_len(p, last);
        if (n == 0) throw SyntaxFailure{p, "invalid UTF-8 in string literal"};
        lit.text.append(p, std::size_t(n));
        p += n;
      }
    }
    flush();
    first = p;
    x3::traits::move_to(ast::Expr(x3::forward_ast<ast::FString>(std::move(fs))), attr);
    return true;
  }

  // Parses the field `{expr!conv:spec}` at `brace`; returns the position
  // after its '}'.
  template <typename Ctx, typename RCtx>
  const char* field(const char* brace, const char* last, Ctx const& ctx,
                    RCtx& rctx, ast::FString& fs) const {
    ParseState& st = state_of(ctx);
    DepthGuard guard(st, brace);
    NewlineScope nl(st, false);
    ast::FStringPart part;
    part.is_field = true;
    const char* e = brace + 1;
    set_pos(part, ctx, skip_ws(e, last));
    if (!expr.parse(e, last, ctx, rctx, part.expr))
      fail_at(brace + 1, last, "expected an expression inside '{}' in the f-string");
    e = skip_ws(e, last);
    if (e != last && *e == '!') {
      if (last - e < 2 || (e[1] != 'r' && e[1] != 's'))
        throw SyntaxFailure{e, "expected 'r' or 's' after '!' in an f-string field"};
      part.conv = e[1];
      e += 2;
    }
    if (e != last && *e == ':') {
      const char* spec = ++e;
      while (e != last && *e != '}' && *e != '{' && *e != '"' && *e != '\n') ++e;
      if (e != last && *e == '{')
        throw SyntaxFailure{e, "nested '{...}' in a format spec is not supported in f-strings"};
      part.text.assign(spec, e);
    }
    if (e == last || *e != '}')
      fail_at(e, last, "expected '}' to close the f-string field opened at " + st.pos_str(brace));
    fs.parts.push_back(std::move(part));
    return e + 1;
  }
};
inline fstring_parser const fstring_p{};

// ---- tokens

// An operator character not followed by '=' (so `+` is not taken from `+=`).
inline auto op_no_eq(char c) { return lexeme[lit(c) >> !lit('=')]; }

struct cmp_ops_ : x3::symbols<ast::CmpOp> {
  cmp_ops_() {
    add("==", ast::CmpOp::Eq)("!=", ast::CmpOp::Ne)("<", ast::CmpOp::Lt)(
        "<=", ast::CmpOp::Le)(">", ast::CmpOp::Gt)(">=", ast::CmpOp::Ge);
  }
};
inline cmp_ops_ const cmp_ops;

auto const expect_expr = expect("expected an expression after '{}'");

// ---- expressions

auto const expr_def =
    located[(and_expr >> *(same_line_p >> kw("or") >> expect_expr[and_expr]))[act::make_logical<false>{}]];
auto const and_expr_def =
    located[(not_expr >> *(same_line_p >> kw("and") >> expect_expr[not_expr]))[act::make_logical<true>{}]];
auto const not_expr_def = not_op | cmp_expr;
auto const not_op_def =
    kw("not") >> attr(ast::UnaryOp::Not) >> nest_guard[expect_expr[not_expr]];
auto const cmp_expr_def = (sum_expr >> -cmp_tail)[act::make_compare];
auto const cmp_tail_def = same_line_p >> (cmp_ops | kw("in") >> attr(ast::CmpOp::In)) >>
                          expect_expr[sum_expr] >> no_chain_p;
auto const sum_expr_def = located[(term_expr >> *sum_step)[act::make_chain]];
auto const sum_step_def = same_line_p >>
    (op_no_eq('+') >> attr(ast::BinOp::Add) | op_no_eq('-') >> attr(ast::BinOp::Sub)) >>
    expect_expr[term_expr];
auto const term_expr_def = located[(unary_expr >> *term_step)[act::make_chain]];
auto const term_step_def = same_line_p >>
    (lexeme[lit("//") >> !lit('=')] >> attr(ast::BinOp::FloorDiv) |
     lexeme[lit('/') >> !lit('/') >> !lit('=')] >> attr(ast::BinOp::Div) |
     lexeme[lit('*') >> !lit('*') >> !lit('=')] >> attr(ast::BinOp::Mul) |
     op_no_eq('%') >> attr(ast::BinOp::Mod)) >>
    expect_expr[unary_expr];
auto const unary_expr_def = neg_expr | power_expr;
// `**` binds tighter than unary minus and is right-associative: its right
// operand is a unary expression (so `2 ** -1` and `2 ** 3 ** 2` work).
auto const power_expr_def = (postfix_expr >> -pow_step)[act::make_power];
auto const pow_step_def = same_line_p >> lexeme[lit("**") >> !lit('=')] >> attr(ast::BinOp::Pow) >>
                          nest_guard[expect_expr[unary_expr]];
auto const neg_expr_def =
    lit('-') >> attr(ast::UnaryOp::Neg) >> nest_guard[expect_expr[unary_expr]];
auto const postfix_expr_def = located[(primary >> *post_op)[act::make_postfix]];
auto const post_op_def = same_line_p >> (call_op | index_op | field_op);
auto const call_op_def = located[delimited('(', ')', nullptr,
    "expected an expression or ')'")[call_args][act::set_args]];
auto const call_args_def =
    -(call_arg >> *(lit(',') >> expect_expr[call_arg]));
auto const call_arg_def = spread_arg | expr;
auto const spread_arg_def = located[(lit("...") >> expect("expected a list to spread after '...'")[expr])[act::make_spread]];
auto const index_op_def = located[delimited('[', ']')[subscript][act::make_subscript]];
auto const subscript_def = -expr >> -slice_tail;
auto const slice_tail_def = (lit(':') >> -expr)[act::set_slice_hi];
// The position of a FieldOp is the name's, which name_p reports.
auto const field_op_def =
    lit('.') >> expect("expected a field name after '.'")[name_p][act::set_name_field];

auto const primary_def = number_p | string_p | fstring_p | bool_lit | nil_lit | fn_lit |
                         name_p | delimited('(', ')')[expect_expr[expr]] |
                         list_lit | map_lit;
auto const bool_lit_def =
    located[kw("true")[act::set_true] | kw("false")[act::set_false]];
auto const nil_lit_def = kw("nil");
auto const list_lit_def = located[delimited('[', ']', nullptr,
    "expected an expression or ']'")[list_items][act::set_items]];
auto const list_items_def =
    -(expr >> *(lit(',') >> expr) >> -lit(','));
auto const map_lit_def = located[delimited('{', '}', nullptr,
    "expected a map key (a name, string or integer) or '}'")[map_entries][act::set_entries]];
auto const map_entries_def =
    -(map_entry >> *(lit(',') >> map_entry) >> -lit(','));
auto const map_entry_def = map_key >>
                           expect("expected ':' after the map key")[lit(':')] >>
                           expect_expr[expr];
auto const map_key_def = name_p | string_p | int_key_p;
auto const fn_lit_def =
    kw("fn") >> expect("expected '(' after 'fn'")[params] >>
    expect("expected '{' to start the function body")[block];
auto const params_def = delimited('(', ')', nullptr,
    "expected a parameter name or ')'")[-(
    param >> *(lit(',') >> expect("expected a parameter name after ','")[param]))];
auto const param_def =
    (lit("...") >> attr(true) >> expect("expected a parameter name after '...'")[&name_p] | attr(false)) >>
    name_p >>
    -(op_no_eq('=') >> expect_expr[expr]);

// ---- statements

auto const block_def = located[delimited('{', '}', "block")[stmts][act::set_block]];
auto const stmts_def = *(*lit(';') >> stmt) >> *lit(';') >> line_start_p;
auto const stmt_def = let_stmt | fn_stmt | if_stmt | while_stmt | for_stmt |
                      break_stmt | continue_stmt | return_stmt | try_stmt |
                      throw_stmt | simple_stmt;
auto const let_stmt_def =
    kw("let") >> expect("expected a variable name after 'let'")[name_p] >>
    *(lit(',') >> expect("expected a variable name after ','")[name_p]) >>
    expect("expected '=' after 'let {}'")[op_no_eq('=')] >> expect_expr[expr];
auto const fn_stmt_def =
    kw("fn") >> name_p >> expect("expected '(' after 'fn {}'")[params] >>
    expect("expected '{' to start the function body")[block];
auto const if_stmt_def =
    kw("if") >> (cond_block % (kw("else") >> kw("if"))) >>
    -(kw("else") >> expect("expected '{' or 'if' after 'else'")[block]);
auto const cond_block_def =
    expect_expr[expr] >> expect("expected '{' to start the block of 'if'")[block];
auto const while_stmt_def =
    kw("while") >> expect_expr[expr] >>
    expect("expected '{' to start the block of 'while'")[block];
auto const for_stmt_def =
    kw("for") >> expect("expected a loop variable name after 'for'")[name_p] >>
    -(lit(',') >> expect("expected a second loop variable name after ','")[name_p]) >>
    expect("expected 'in' after the loop variable")[kw("in")] >>
    expect_expr[expr] >> expect("expected '{' to start the block of 'for'")[block];
auto const break_stmt_def = kw("break");
auto const continue_stmt_def = kw("continue");
// `return` takes a value only from its own line: `return⏎x` returns nil.
auto const return_stmt_def = located[(kw("return") >> -(same_line_p >> expr))[act::set_value]];
auto const try_stmt_def =
    kw("try") >> expect("expected '{' to start the block of 'try'")[block] >>
    expect("expected 'catch' or 'finally' after the 'try' block")[&(kw("catch") | kw("finally"))] >>
    -catch_clause >> -finally_clause;
auto const catch_clause_def =
    kw("catch") >> expect("expected a variable name after 'catch'")[name_p] >>
    expect("expected '{' to start the block of 'catch'")[block];
auto const finally_clause_def =
    kw("finally") >> expect("expected '{' to start the block of 'finally'")[block];
auto const throw_stmt_def = located[(kw("throw") >> expect_expr[expr])[act::set_value]];
auto const simple_stmt_def = located[(expr >> -assign_tail)[act::make_simple_stmt]];
auto const assign_tail_def = same_line_p >>
    (op_no_eq('=') >> attr(ast::AssignOp::Set) |
     lit("+=") >> attr(ast::AssignOp::Add) |
     lit("-=") >> attr(ast::AssignOp::Sub) |
     lit("*=") >> attr(ast::AssignOp::Mul) |
     lit("/=") >> attr(ast::AssignOp::Div) |
     lit("//=") >> attr(ast::AssignOp::FloorDiv) |
     lit("%=") >> attr(ast::AssignOp::Mod) |
     lit("**=") >> attr(ast::AssignOp::Pow)) >>
    expect_expr[expr];
auto const program_def = (stmts >> end_p)[act::set_program];

BOOST_SPIRIT_DEFINE(expr, and_expr, not_expr, not_op, cmp_expr, cmp_tail,
                    sum_expr, sum_step, term_expr, term_step, unary_expr,
                    neg_expr, postfix_expr, post_op, call_op, call_args,
                    index_op, field_op, primary, bool_lit, nil_lit, list_lit,
                    list_items, map_lit, map_entries, map_entry, map_key,
                    fn_lit, params, block, stmts, stmt, let_stmt, fn_stmt,
                    if_stmt, cond_block, while_stmt, for_stmt, break_stmt,
                    continue_stmt, return_stmt, try_stmt, throw_stmt,
                    simple_stmt, assign_tail, program)
BOOST_SPIRIT_DEFINE(power_expr, pow_step, slice_tail, subscript, call_arg,
                    spread_arg, param, catch_clause, finally_clause)

}  // namespace grammar

}  // namespace weft::parser
