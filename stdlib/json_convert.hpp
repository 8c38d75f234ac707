// Conversion between Weft values and JSON text, shared by the json module,
// the http client (list/map request bodies) and anything else that needs
// JSON (e.g. durable job arguments and results).
//
// Both functions require the GIL (they read or build runtime objects) and
// report problems by throwing NativeError:
//   json_parse:     ValueError "invalid JSON at line L, column C: ..." and
//                   ValueError for nesting deeper than kJsonMaxDepth.
//   json_stringify: TypeError "cannot convert fn to JSON" for values JSON
//                   cannot represent, ValueError for nan/inf and for nesting
//                   deeper than kJsonMaxDepth (which is how cycles surface).
#pragma once

#include <string>
#include <string_view>

#include "runtime/value.hpp"

namespace weft {

struct Thread;

inline constexpr int kJsonMaxDepth = 512;

// Parses JSON text into Weft values: objects -> maps (document order),
// arrays -> lists, null -> nil, integers -> int (beyond int64 -> float),
// other numbers -> float.
Value json_parse(Thread& t, std::string_view text);

// Serializes `v`. indent < 0: compact (`{"k":[1,null]}`); indent >= 0: like
// Python's json.dumps(indent=N) (newlines, N spaces per level, ": ").
// Strings are emitted as UTF-8; invalid UTF-8 bytes become U+FFFD.
std::string json_stringify(Value v, int indent = -1);

// True when json_stringify(v) would succeed (no exception), without building
// the text. Useful for checking arguments up front.
bool json_compatible(Value v);

}  // namespace weft
