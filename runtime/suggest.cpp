#include "suggest.hpp"

#include <algorithm>

namespace weft {

namespace {

// Optimal-string-alignment distance (Damerau-Levenshtein without repeated
// edits of one substring), capped: returns `cap + 1` as soon as the distance
// is known to exceed `cap`, so long unrelated names cost little.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t cap) {
  std::size_t n = a.size(), m = b.size();
  if ((n > m ? n - m : m - n) > cap) return cap + 1;
  std::vector<std::size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (std::size_t j = 0; j <= m; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    std::size_t row_min = cur[0];
    for (std::size_t j = 1; j <= m; ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      std::size_t v = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) v = std::min(v, prev2[j - 2] + 1);
      cur[j] = v;
      row_min = std::min(row_min, v);
    }
    if (row_min > cap) return cap + 1;
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

}  // namespace

std::string closest_name(std::string_view name, const std::vector<std::string_view>& candidates) {
  if (name.empty()) return {};
  std::size_t cap = name.size() <= 4 ? 1 : name.size() <= 8 ? 2 : 3;
  std::size_t best = cap + 1;
  std::string_view found;
  for (std::string_view c : candidates) {
    if (c == name || c.empty()) continue;
    std::size_t d = edit_distance(name, c, cap);
    if (d < best) {
      best = d;
      found = c;
    }
  }
  return std::string(found);
}

std::string did_you_mean(std::string_view name, const std::vector<std::string_view>& candidates) {
  std::string c = closest_name(name, candidates);
  if (c.empty()) return {};
  return " (did you mean '" + c + "'?)";
}

}  // namespace weft
