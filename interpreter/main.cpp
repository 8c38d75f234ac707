#include <malloc.h>

#include "cli.hpp"

int main(int argc, char** argv) {
  // Lists keep their items in malloc'ed buffers, and programs make and drop
  // many small ones. glibc's fast bins (no coalescing on free) cover chunks
  // up to 160 bytes only when asked; the default stops at 128, so a list of
  // 8 items (128 bytes of values plus the chunk header) would miss them.
  mallopt(M_MXFAST, 160);
  return weft::weft_main(argc, argv);
}
