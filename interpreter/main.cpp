#include <malloc.h>

#include "cli.hpp"

int main(int argc, char** argv) {
  // Lists keep their items in malloc'ed buffers, and programs make and drop
  // many small ones. glibc's fast bins (no coalescing on free) cover chunks
  // up to 160 bytes only when asked; the default stops at 128, so a list of
  // 8 items (128 bytes of values plus the chunk header) would miss them.
  mallopt(M_MXFAST, 160);
  // Big buffers (a list of 200 k items is 3 MB) are malloc'ed, grown and
  // freed as programs run. By default glibc maps each one afresh with mmap
  // and unmaps it on free, so every reuse pays for the kernel zeroing new
  // pages (a third of the run time of string-building programs). Keep them
  // in the heap and keep freed memory for reuse instead.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  return weft::weft_main(argc, argv);
}
