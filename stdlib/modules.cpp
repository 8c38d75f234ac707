#include "modules.hpp"

#include "console.hpp"

namespace weft {

void register_all_modules(Interp& in) {
  register_sys(in);
  register_math(in);
  register_time(in);
  register_io(in);
  register_json(in);
  register_http(in);
  register_thread(in);
  register_sync(in);
  register_gil(in);
  register_jobs(in);
  register_durable(in);
  register_random(in);
  register_re(in);
  register_console(in);  // print and input (after register_builtins)
}

}  // namespace weft
