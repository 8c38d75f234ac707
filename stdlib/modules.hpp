// Registration of the built-in modules (SPEC §7). Each module lives in its
// own file and adds one global (a map of natives) to Interp::builtins.
#pragma once

namespace weft {

struct Interp;

void register_sys(Interp& in);
void register_math(Interp& in);
void register_time(Interp& in);
void register_io(Interp& in);
void register_json(Interp& in);
void register_http(Interp& in);
void register_thread(Interp& in);
void register_sync(Interp& in);
void register_gil(Interp& in);
void register_jobs(Interp& in);
void register_durable(Interp& in);  // jobs.open, jobs.spawn_worker (durable.hpp)
void register_random(Interp& in);
void register_re(Interp& in);

// All of the above, in dependency order.
void register_all_modules(Interp& in);

// `weft mock-api [OPTIONS]`: runs the fake external API until SIGINT/SIGTERM.
// Returns the process exit status.
int mock_api_main(int argc, char** argv);

}  // namespace weft
