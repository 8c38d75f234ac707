// Shared set-up for the libFuzzer targets (tests/fuzz): one interpreter
// session per process or per input, stdout silenced.
#pragma once

#include <cstdio>
#include <string>

#include "interpreter/cli.hpp"
#include "interpreter/compiler.hpp"
#include "interpreter/loader.hpp"
#include "interpreter/parser.hpp"
#include "interpreter/vm.hpp"
#include "runtime/natives.hpp"
#include "stdlib/sys_exit.hpp"

namespace weft_fuzz {

// Scripts print; the fuzzer's own report goes to stderr.
inline void silence_stdout() {
  static bool done = false;
  if (done) return;
  done = true;
  if (!std::freopen("/dev/null", "w", stdout)) std::perror("freopen");
}

}  // namespace weft_fuzz
