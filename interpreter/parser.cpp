// parse_program: runs the X3 grammar of parser_def.hpp over the source and
// turns grammar failures into a ParseError.
#include "parser.hpp"

#include <pthread.h>

#include <new>

#include "parser_def.hpp"

namespace weft {

namespace {

// The lowest address the parser's recursion may reach: the bottom of this
// thread's stack plus a reserve. A backstop for kMaxNesting in case the
// parser runs on a thread with a small stack.
const char* stack_floor() {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return nullptr;
  void* addr = nullptr;
  std::size_t size = 0;
  int rc = pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (rc != 0 || addr == nullptr) return nullptr;
  std::size_t reserve = std::min<std::size_t>(size / 4, 512 * 1024);
  return static_cast<const char*>(addr) + reserve;
}

}  // namespace

bool parse_program(std::string_view source, ast::Program& out,
                   ParseError& err) {
  namespace x3 = boost::spirit::x3;
  using namespace parser;
  const char* first = source.data();
  const char* const last = first + source.size();
  // A UTF-8 byte-order mark at the very start is skipped; line 1's columns
  // count from after it, as an editor shows them.
  if (source.size() >= 3 && source.substr(0, 3) == "\xEF\xBB\xBF") first += 3;
  ParseState state(first, last);
  state.stack_floor = stack_floor();
  auto fail = [&](const char* where, std::string message) {
    auto [line, col] = state.pos(where);
    err.line = line;
    err.col = col;
    err.message = std::move(message);
    return false;
  };
  try {
    ast::Program prog;
    const char* it = first;
    bool ok = x3::phrase_parse(
        it, last, x3::with<state_tag>(state)[grammar::program], skipper_p,
        prog);
    if (!ok || it != last)  // cannot happen: the grammar ends with end_p
      return fail(it, "unexpected " + describe_token(it, last));
    out = std::move(prog);
    return true;
  } catch (SyntaxFailure const& f) {
    return fail(f.where, f.message);
  } catch (x3::expectation_failure<const char*> const& f) {
    return fail(f.where(), "expected " + f.which());
  } catch (std::bad_alloc const&) {
    return fail(first, "out of memory while parsing");
  } catch (std::exception const& e) {
    return fail(first, std::string("internal parser error: ") + e.what());
  }
}

}  // namespace weft
