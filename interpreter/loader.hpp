// Loading source code: parse, compile, report errors, run. Used by the CLI,
// the REPL, `weft test` and import().
#pragma once

#include <string>

#include "compiler.hpp"
#include "runtime/interp.hpp"

namespace weft {

// Parses and compiles `source` into `module`. On failure returns nullptr and
// fills `report` with the formatted SyntaxError diagnostic.
ObjClosure* load_source(Thread& t, ObjModule* module, const std::string& source,
                        const CompileOptions& opts, std::string& report);

// import(path): resolves `path` relative to the importing module's file,
// runs the file once (cached by canonical path) and returns a map of its
// globals. Raises IOError if the file can't be read, SyntaxError if it
// doesn't compile.
Value import_module(Thread& t, const std::string& path);

// The module of the innermost running frame of `t` (nullptr if none).
ObjModule* current_module(Thread& t);

// Formats an uncaught error the way SPEC §5 shows it: "Traceback (most recent
// call last):", one line per outer frame, then the diagnostic (file:line:col:
// Type: message, source line, caret). Error values carry their own traceback;
// for any other thrown value `where` (the thread's last throw) is used.
std::string format_uncaught(Interp& in, Value error, const ThrowInfo& where);

// Reads a whole file; returns false (with the system's reason) on failure.
bool read_file(const std::string& path, std::string& out, std::string& error);

}  // namespace weft
