// Test helper for stdlib unit tests: an interpreter with one registered
// thread ("main") that holds the GIL, plus a helper to catch NativeError.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "runtime/interp.hpp"
#include "runtime/natives.hpp"

namespace weft::testing {

struct Env {
  Interp in;
  Thread t{in, 1, "main"};
  Env() {
    in.next_thread_id = 2;
    in.gil.register_thread(t.gil);
    in.gil.acquire(t.gil);
    in.main_thread = &t;
    in.threads.push_back(&t);
  }
  ~Env() {
    in.threads.clear();
    in.gil.release(t.gil);
    in.gil.unregister_thread(t.gil);
  }
  Value str(std::string_view s) { return str_value(t, s); }
};

// Runs f; returns {type, message} of the NativeError it throws, or
// {"", ""} when it does not throw.
inline std::pair<std::string, std::string> error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const NativeError& e) {
    return {e.type, e.message};
  }
  return {"", ""};
}

}  // namespace weft::testing
