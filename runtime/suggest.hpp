// "Did you mean ...?" hints for misspelt names, methods, map keys and module
// members (SPEC §5), in the spirit of Python 3.10+.
//
// The candidate closest to `name` by Damerau-Levenshtein distance (a swap of
// two neighbouring letters counts as one edit) is suggested when the distance
// is small for the name's length: at most 1 for names of up to 4 bytes, 2 up
// to 8, 3 beyond. Ties go to the candidate listed first, so callers list the
// most likely ones (locals before globals before builtins) first.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace weft {

// The best candidate, or "" when none is close enough.
std::string closest_name(std::string_view name, const std::vector<std::string_view>& candidates);

// " (did you mean 'count'?)" for the best candidate, or "" when none is close
// enough: ready to append to an error message.
std::string did_you_mean(std::string_view name, const std::vector<std::string_view>& candidates);

}  // namespace weft
