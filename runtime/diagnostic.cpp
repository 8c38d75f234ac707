#include "diagnostic.hpp"

#include <fmt/format.h>

namespace weft {

std::string_view source_line(std::string_view source, int line) {
  if (line <= 0) return {};
  size_t pos = 0;
  for (int l = 1; l < line; ++l) {
    size_t nl = source.find('\n', pos);
    if (nl == std::string_view::npos) return {};
    pos = nl + 1;
  }
  size_t end = source.find('\n', pos);
  if (end == std::string_view::npos) end = source.size();
  std::string_view s = source.substr(pos, end - pos);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  // The parser skips a byte-order mark and counts line 1's columns after it.
  if (line == 1 && s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  return s;
}

std::string format_diagnostic(std::string_view file, std::string_view source, int line,
                              int col, std::string_view type, std::string_view message) {
  std::string out = message.empty() ? fmt::format("{}:{}:{}: {}\n", file, line, col, type)
                                    : fmt::format("{}:{}:{}: {}: {}\n", file, line, col, type, message);
  std::string_view text = source_line(source, line);
  if (text.empty() || col <= 0) return out;
  // Very long lines (minified or generated input) are shown as a window
  // around the column, so the report stays readable.
  constexpr int kBefore = 60, kAfter = 60;
  std::string prefix;
  if (text.size() > kBefore + kAfter + 20) {
    int start = col - 1 > kBefore ? col - 1 - kBefore : 0;
    while (start > 0 && (static_cast<unsigned char>(text[static_cast<size_t>(start)]) & 0xC0) == 0x80) --start;
    size_t len = static_cast<size_t>(kBefore + kAfter);
    std::string_view window = text.substr(static_cast<size_t>(start), len);
    if (start > 0) prefix = "...";
    col -= start;
    text = window;
  }
  // Show the line as is, but replace tabs and control bytes with a space so
  // the caret stays under the right character in any terminal.
  std::string shown;
  shown.reserve(text.size());
  size_t caret = 0, cp = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    bool cont = (c & 0xC0) == 0x80;  // UTF-8 continuation byte
    if (!cont) {
      ++cp;
      if (static_cast<int>(i) + 1 == col) caret = cp - 1;
    }
    shown.push_back(c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c));
  }
  if (static_cast<size_t>(col) > text.size()) caret = cp;
  out += fmt::format("    {}{}\n    {}^\n", prefix, shown, std::string(caret + prefix.size(), ' '));
  return out;
}

}  // namespace weft
