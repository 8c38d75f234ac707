// Standard input and output for scripts: print, input, io.write,
// io.write_err, io.flush and io.read_line all go through here, so their
// output interleaves in program order and every system call runs with the
// GIL released (SPEC §6, §7.6).
#pragma once

#include <string>
#include <string_view>

#include "runtime/interp.hpp"
#include "runtime/object.hpp"

namespace weft {

// Writes `bytes` to stdout (buffered by stdio). The GIL is released only when
// the write reaches the operating system (the stdio buffer would overflow, or
// stdout is a terminal); a buffered append is a memcpy under the GIL, as in
// CPython. Raises IOError when the system refuses the bytes.
void console_write_stdout(Thread& t, std::string_view bytes, const char* label);

// Reads one line from stdin without its newline (a trailing "\r" is dropped
// too); nil at end of input. The GIL is released while waiting, and Ctrl-C
// or a job deadline interrupts the wait. `fn` names the caller in errors.
Value console_read_line(Thread& t, const char* fn);

// io.write, io.write_err and io.flush (registered by register_io).
Value console_io_write(Thread& t, Args a);
Value console_io_write_err(Thread& t, Args a);
Value console_io_flush(Thread& t, Args a);

// Flushes stdout when the interpreter exits. A failure (a full disk, a closed
// pipe) is reported once on stderr ("weft: cannot write to standard output:
// ...") and makes this return false, so the exit status can say so instead
// of 0. Safe to call more than once.
bool console_flush_at_exit();

// Replaces the global `print` with the GIL-releasing one above and adds
// `input(prompt?)`. Called after register_builtins.
void register_console(Interp& in);

}  // namespace weft
