// The sys module (SPEC §7.1): sys.args, sys.exit, sys.platform, sys.version.
#include <cstdint>
#include <string>

#include "runtime/interp.hpp"
#include "runtime/natives.hpp"
#include "runtime/object.hpp"
#include "stdlib/modules.hpp"
#include "stdlib/sys_exit.hpp"

namespace weft {

namespace {

Value sys_exit(Thread& t, Args a) {
  int code = 0;
  if (a.n > 0 && !a[0].is_nil()) {
    Value v = a[0];
    if (v.is_bool()) {
      code = v.as.b ? 1 : 0;
    } else if (v.is_int()) {
      // Exit statuses are 8 bits; keep what the shell would see.
      code = static_cast<int>(v.as.i & 0xFF);
    } else {
      raisef("TypeError", "exit() argument must be an int, not {}", type_name(v));
    }
  }
  if (&t == t.interp.main_thread) t.interp.exit_code = code;
  throw SysExit{code};
}

}  // namespace

void register_sys(Interp& in) {
  ObjMap* m = in.heap.make<ObjMap>();
  auto put = [&](const char* name, Value v) { m->set(Value::object(in.heap.intern(name)), v); };
  ObjList* args = in.heap.make<ObjList>();
  for (const std::string& s : in.argv) args->items.push_back(Value::object(in.heap.intern(s)));
  put("args", Value::object(args));
  put("exit", in.native("exit", sys_exit, 0, 1));
  put("platform", Value::object(in.heap.intern("linux")));
  put("version", Value::object(in.heap.intern("0.1.0")));
  in.add_builtin("sys", Value::object(m));
}

}  // namespace weft
