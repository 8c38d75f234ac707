// libFuzzer target: json.parse on arbitrary bytes (through the json module's
// natives, as scripts call it). Valid input must round-trip:
// stringify(parse(s)) parses again to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "stdlib/json_convert.hpp"

using namespace weft;

static Session* session() {
  static Session* s = [] {
    weft_fuzz::silence_stdout();
    return new Session(RuntimeOptions{});
  }();
  return s;
}

// json.parse / json.stringify as a script sees them: the natives of the
// `json` global.
static Value json_native(Interp& in, const char* name) {
  Value mod = in.builtins.at("json");
  if (!is_obj_type(mod, ObjType::Module)) std::abort();
  auto* m = as<ObjModule>(mod);
  int slot = m->member_slot(name);
  if (slot < 0) std::abort();
  return m->values[static_cast<std::size_t>(slot)];
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Session& s = *session();
  Interp& in = s.interp();
  Thread& t = s.main();
  static Value parse = json_native(in, "parse");
  static Value stringify = json_native(in, "stringify");
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Value arg = str_value(t, text);
  Value out, err;
  if (guarded_call(t, parse, &arg, 1, out, err)) {
    Value text1, text2, again, err2;
    if (!guarded_call(t, stringify, &out, 1, text1, err2)) std::abort();  // parsed JSON always converts back
    if (!guarded_call(t, parse, &text1, 1, again, err2)) std::abort();
    if (!guarded_call(t, stringify, &again, 1, text2, err2)) std::abort();
    if (as<ObjString>(text1)->view() != as<ObjString>(text2)->view()) std::abort();
    // indented output parses too
    Value args[2] = {out, Value::integer(2)};
    Value pretty;
    if (!guarded_call(t, stringify, args, 2, pretty, err2)) std::abort();
  } else {
    // Errors are ValueError (bad JSON) or MemoryError/RecursionError-like
    // limits; never anything else.
    if (!is_obj_type(err, ObjType::Error)) std::abort();
    std::string_view type = as<ObjError>(err)->type_name->view();
    if (type != "ValueError" && type != "MemoryError" && type != "RecursionError") std::abort();
  }
  static unsigned n = 0;
  if (++n % 256 == 0) in.heap.collect();
  return 0;
}
