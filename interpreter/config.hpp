// Spirit X3 configuration of the Weft parser: the iterator type and the
// context the grammar is instantiated with (see parser_def.hpp).
#pragma once

#include <boost/spirit/home/x3.hpp>

namespace weft::parser {

namespace x3 = boost::spirit::x3;

// The parser works on the raw bytes of the source.
using iterator_type = const char*;

// Tag under which the per-parse ParseState (line table, nesting depth) is
// injected into the X3 context with x3::with.
struct state_tag;

}  // namespace weft::parser
