// Placeholder REPL, replaced by the full libedit REPL (SPEC §10).
#include "cli.hpp"

namespace weft {
int run_repl(const RuntimeOptions& opts) {
  (void)opts;
  return 0;
}
}  // namespace weft
