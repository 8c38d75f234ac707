// The 0.2 methods of list, map and str (SPEC §4 "Methods") and the
// built-ins sorted, sum, zip, enumerate, round, chr, ord and hex (SPEC §6).
#pragma once

#include "runtime/interp.hpp"
#include "runtime/object.hpp"

namespace weft {

// Add (or replace, for sort and split) entries of the method tables that
// builtins.cpp builds.
void add_list_methods(MethodTable& m);
void add_map_methods(MethodTable& m);
void add_str_methods(MethodTable& m);

// Adds sorted (replacing the 0.1 one), sum, zip, enumerate, round, chr, ord
// and hex to Interp::builtins.
void register_collection_builtins(Interp& in);

}  // namespace weft
