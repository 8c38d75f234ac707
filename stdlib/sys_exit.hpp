// sys.exit(code) unwinds with this C++ exception (not a Weft error: `catch`
// in a script cannot stop it). The VM lets it pass through every frame;
// main() catches it and exits with `code` (SPEC §1: "the value of
// sys.exit(n)"). sys.exit in the main thread also stores the code in
// Interp::exit_code before throwing.
#pragma once

namespace weft {

struct SysExit {
  int code;
};

}  // namespace weft
