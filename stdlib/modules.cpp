#include "modules.hpp"

#include "console.hpp"
#include "runtime/interp.hpp"
#include "runtime/object.hpp"

namespace weft {

// Each register_* function builds its module as a map global (simple to
// write, and unit tests call them one by one); SPEC §4 makes modules values
// of their own type, so the finished maps are turned into module objects
// here, in one place, whatever modules exist. Every map-valued builtin is a
// module: register_builtins adds functions only.
static void maps_to_modules(Interp& in) {
  for (auto& [name, v] : in.builtins) {
    if (!is_obj_type(v, ObjType::Map)) continue;
    auto* map = as<ObjMap>(v);
    ObjModule* mod = in.heap.make<ObjModule>(static_cast<std::size_t>(map->count) + 8);
    mod->path = "";
    mod->display = name;
    for (const MapEntry& e : map->entries) {
      if (e.key.is_undef() || !is_obj_type(e.key, ObjType::String)) continue;
      mod->set_member(in.heap, as<ObjString>(e.key)->view(), e.value);
    }
    v = Value::object(mod);
  }
}

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
  maps_to_modules(in);   // last: every module map becomes a module value
}

}  // namespace weft
