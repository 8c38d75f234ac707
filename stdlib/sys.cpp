// The sys module (SPEC §7.1): sys.args, sys.exit, sys.platform, sys.version,
// sys.env, sys.cpu_count, sys.memory.
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

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

// The processors this process may run on (its affinity mask, as Python's
// os.process_cpu_count), else the machine's count.
Value sys_cpu_count(Thread&, Args) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return Value::integer(n);
  }
  unsigned n = std::thread::hardware_concurrency();
  return Value::integer(n ? static_cast<std::int64_t>(n) : 1);
}

// The collector's own figures: bytes it accounts for now, bytes that
// survived the last collection, how many collections ran and their total
// pause. Read under the GIL, which also guards the heap.
Value sys_memory(Thread& t, Args) {
  Heap& h = t.interp.heap;
  ObjMap* m = new_map(t);
  map_put(t, m, "heap_bytes", Value::integer(static_cast<std::int64_t>(h.bytes_allocated())));
  map_put(t, m, "live_bytes", Value::integer(static_cast<std::int64_t>(h.live_bytes())));
  map_put(t, m, "collections", Value::integer(static_cast<std::int64_t>(h.collections())));
  map_put(t, m, "pause_s", Value::number(static_cast<double>(h.pause_ns()) / 1e9));
  return Value::object(m);
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
  put("version", Value::object(in.heap.intern(WEFT_VERSION)));
  // The environment as it was at start-up; later changes are not seen.
  ObjMap* env = in.heap.make<ObjMap>();
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env->set(Value::object(in.heap.intern(kv.substr(0, eq))), Value::object(in.heap.new_string(kv.substr(eq + 1))));
  }
  put("env", Value::object(env));
  put("cpu_count", in.native("cpu_count", sys_cpu_count, 0, 0));
  put("memory", in.native("memory", sys_memory, 0, 0));
  in.add_builtin("sys", Value::object(m));
}

}  // namespace weft
