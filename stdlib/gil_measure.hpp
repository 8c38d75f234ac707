// The GIL figures of one window of time (a gil.measure call, one test of
// `weft test`): the difference of two Gil::total_stats() snapshots, limited
// to the threads that belong to the window. The global statistics are never
// reset, so measurements nest and run from any thread.
#pragma once

#include <functional>
#include <string>

#include "runtime/gil.hpp"

namespace weft {

struct GilWindow {
  // Interpreter-wide count: ownership changes cannot be attributed to one
  // thread, so this is every switch during the window.
  std::uint64_t switches = 0;
  std::uint64_t forced = 0;
  std::uint64_t io_releases = 0;
  std::uint64_t acquisitions = 0;
  std::uint64_t contended = 0;
  std::uint64_t wait_ns = 0;
  std::uint64_t hold_ns = 0;
  std::uint64_t max_wait_ns = 0;
  // Wake-to-run latency of the window's threads (from the difference of the
  // two snapshots' histograms; wake_count 0 when no blocking call ended in
  // the window). A thread that ended inside the window has its histogram
  // folded into the run's total, so its wakes are not counted.
  std::uint64_t wake_count = 0;
  std::uint64_t wake_p50_ns = 0;
  std::uint64_t wake_p99_ns = 0;
  // Per thread, in thread-id order (max_wait_ns is the whole-run maximum:
  // the GIL does not keep a maximum per window).
  std::vector<GilThreadStats> threads;
};

// after - before for the threads `include` accepts (by thread id); threads
// that appear only in `after` count in full.
GilWindow gil_window(const GilStats& before, const GilStats& after, const std::function<bool(int)>& include);

// "switches=3 forced=1 io_releases=0 acquisitions=9 contended=4 wait_s=0.012 hold_s=0.210"
std::string format_gil_window(const GilWindow& w);

// The recording between t0 and t1 (now_ns values): the events in that
// window, each thread's state at t0 carried in as an event at t0, and only
// the threads that were seen. For --trace-failed.
GilRecording gil_recording_window(const GilRecording& rec, std::uint64_t t0, std::uint64_t t1);

}  // namespace weft
