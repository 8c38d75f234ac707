// The one diagnostic reporter used for every error Weft prints: syntax errors,
// compile-time errors and uncaught runtime errors all look the same:
//
//   FILE:LINE:COL: Type: message
//       source line
//       ^
#pragma once

#include <string>
#include <string_view>

namespace weft {

// Formats the header line, the source line (indented by four spaces) and a
// caret under the column. `source` is the whole file; when the line is not
// available (line <= 0 or out of range) only the header line is produced.
// The result ends with a newline.
std::string format_diagnostic(std::string_view file, std::string_view source, int line,
                              int col, std::string_view type, std::string_view message);

// Returns line `line` (1-based) of `source` without its newline, or "".
std::string_view source_line(std::string_view source, int line);

}  // namespace weft
