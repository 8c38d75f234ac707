// The REPL's colon commands that look at concurrency: :threads, :timeline,
// :jobs (SPEC §10), and the :help text. They only read what the GIL and the
// job queues record; none of them runs user code.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "repl_internal.hpp"
#include "runtime/gil.hpp"
#include "runtime/interp.hpp"
#include "stdlib/jobs_view.hpp"

namespace weft {

const char* const kReplHelpText =
    "Type Weft code at the >>> prompt; the value of an expression is printed\n"
    "(nil is not). A line that leaves a bracket or block open continues at ... .\n"
    "\n"
    "See your threads and the GIL while they run:\n"
    "  :threads   every live thread and what it is doing right now: running,\n"
    "             waiting for the GIL, or blocked in a call (time.sleep, ...)\n"
    "  :timeline  a chart of who held the GIL since the previous prompt\n"
    "  :gil       GIL statistics for the whole session, and the full timeline\n"
    "  :jobs      every job queue: jobs queued, running, done, failed; workers busy\n"
    "\n"
    "Other commands:\n"
    "  :help      this text (the bare word help too)\n"
    "  :quit      leave, after waiting for running threads (exit, quit, Ctrl-D)\n"
    "\n"
    "Keys: Tab completes names, keywords, module members (math.sq) and methods\n"
    "(xs.pu); Up/Down recall earlier inputs, a block as a whole (kept in\n"
    "~/.weft_history); Ctrl-C cancels the line or stops running code.\n"
    "\n"
    "Try:\n"
    "  let t = thread.spawn(fn() { time.sleep(5) })\n"
    "  :threads        # thread-2 is blocked in time.sleep\n"
    "  thread.spawn(fn() { time.spin(0.2) })\n"
    "  :timeline       # the GIL passing between the threads\n"
    "\n"
    "Docs: docs/repl.md, docs/language.md, docs/gil.md, docs/jobs.md\n";

std::string repl_duration(std::uint64_t ns) {
  double s = static_cast<double>(ns) / 1e9;
  if (s < 0.001) return fmt::format("{:.2f}ms", s * 1e3);
  if (s < 1) return fmt::format("{:.0f}ms", s * 1e3);
  if (s < 60) return fmt::format("{:.1f}s", s);
  auto whole = static_cast<std::uint64_t>(s);
  return fmt::format("{}m{:02}s", whole / 60, whole % 60);
}

std::string repl_threads_report(Interp& in, int self_id) {
  GilRecording rec = in.gil.recording();
  // The last recorded state change of every thread says what it is doing.
  std::vector<const GilEvent*> last(rec.threads.size(), nullptr);
  for (const GilEvent& e : rec.events)
    if (e.thread < last.size()) last[e.thread] = &e;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < rec.threads.size(); ++i)
    if (rec.threads[i].alive) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return rec.threads[a].id < rec.threads[b].id; });
  std::size_t name_w = 4;
  for (std::size_t i : order) name_w = std::max(name_w, rec.threads[i].name.size());
  std::string out = fmt::format("{} live thread{}\n", order.size(), order.size() == 1 ? "" : "s");
  out += fmt::format("  {:>3}  {:<{}}  {:<36}  {}\n", "id", "name", name_w, "state", "for");
  for (std::size_t i : order) {
    const GilThreadStats& th = rec.threads[i];
    const GilEvent* e = last[i];
    std::string state, since;
    if (th.id == self_id) {
      state = "at the prompt (this REPL)";
    } else if (e == nullptr) {
      state = "starting";
    } else {
      switch (e->state) {
        case ThreadActivity::Running: state = "running (holds the GIL)"; break;
        case ThreadActivity::Waiting: state = "waiting for the GIL"; break;
        case ThreadActivity::Blocked:
          state = "blocked in " + (e->label < rec.labels.size() ? rec.labels[e->label] : std::string("a call"));
          break;
        case ThreadActivity::Ended: state = "ending"; break;
      }
      since = repl_duration(rec.end_ns > e->ts ? rec.end_ns - e->ts : 0);
    }
    out += fmt::format("  {:>3}  {:<{}}  {:<36}  {}\n", th.id, th.name, name_w, state, since);
  }
  return out;
}

std::string repl_timeline_since(Interp& in, std::uint64_t since_ns, int width) {
  GilRecording rec = in.gil.recording();
  GilRecording cut;
  cut.start_ns = since_ns;
  cut.end_ns = rec.end_ns;
  cut.labels = rec.labels;
  cut.truncated = rec.truncated;
  cut.totals = rec.totals;
  // Each thread's state at `since_ns`, then every change after it.
  std::vector<const GilEvent*> before(rec.threads.size(), nullptr);
  std::vector<bool> active(rec.threads.size(), false);
  for (const GilEvent& e : rec.events) {
    if (e.thread >= rec.threads.size()) continue;
    if (e.ts < since_ns)
      before[e.thread] = &e;
    else
      active[e.thread] = true;
  }
  std::vector<std::uint32_t> remap(rec.threads.size(), UINT32_MAX);
  for (std::size_t i = 0; i < rec.threads.size(); ++i) {
    bool open = before[i] && before[i]->state != ThreadActivity::Ended;
    if (!open && !active[i]) continue;
    remap[i] = static_cast<std::uint32_t>(cut.threads.size());
    cut.threads.push_back(rec.threads[i]);
    if (open) {
      GilEvent e = *before[i];
      e.ts = since_ns;
      e.thread = remap[i];
      cut.events.push_back(e);
    }
  }
  for (const GilEvent& e : rec.events) {
    if (e.ts < since_ns || e.thread >= remap.size() || remap[e.thread] == UINT32_MAX) continue;
    GilEvent c = e;
    c.thread = remap[e.thread];
    cut.events.push_back(c);
  }
  return render_timeline(cut, width);
}

std::string repl_jobs_report(Interp& in) {
  std::vector<QueueSnapshot> qs = jobs_snapshot(in);
  if (qs.empty()) return "no job queues are running (jobs.queue() makes one; see docs/jobs.md)\n";
  std::size_t name_w = 5;
  for (const auto& q : qs) name_w = std::max(name_w, q.name.size());
  std::string out = fmt::format("  {:<{}}  {:>7} {:>8} {:>8} {:>7} {:>7} {:>9}  {}\n", "queue", name_w, "queued",
                                "running", "retrying", "done", "failed", "cancelled", "workers busy");
  for (const auto& q : qs) {
    out += fmt::format("  {:<{}}  {:>7} {:>8} {:>8} {:>7} {:>7} {:>9}  {} of {}\n", q.name, name_w, q.queued,
                       q.running, q.retrying, q.done, q.failed, q.cancelled, q.busy_workers, q.live_workers);
  }
  return out;
}

}  // namespace weft
