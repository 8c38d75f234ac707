#include "gil_measure.hpp"

#include <fmt/format.h>

#include <unordered_map>

namespace weft {

GilWindow gil_window(const GilStats& before, const GilStats& after, const std::function<bool(int)>& include) {
  GilWindow w;
  w.switches = after.switches >= before.switches ? after.switches - before.switches : 0;
  std::unordered_map<int, const GilThreadStats*> old;
  for (const auto& t : before.threads) old[t.id] = &t;
  auto sub = [](std::uint64_t a, std::uint64_t b) { return a >= b ? a - b : 0; };
  for (const auto& t : after.threads) {
    if (!include(t.id)) continue;
    GilThreadStats d = t;
    if (auto it = old.find(t.id); it != old.end()) {
      const GilThreadStats& o = *it->second;
      d.acquisitions = sub(t.acquisitions, o.acquisitions);
      d.contended = sub(t.contended, o.contended);
      d.forced = sub(t.forced, o.forced);
      d.io_releases = sub(t.io_releases, o.io_releases);
      d.wait_ns = sub(t.wait_ns, o.wait_ns);
      d.hold_ns = sub(t.hold_ns, o.hold_ns);
    }
    w.forced += d.forced;
    w.io_releases += d.io_releases;
    w.acquisitions += d.acquisitions;
    w.contended += d.contended;
    w.wait_ns += d.wait_ns;
    w.hold_ns += d.hold_ns;
    w.max_wait_ns = std::max(w.max_wait_ns, d.max_wait_ns);
    w.threads.push_back(std::move(d));
  }
  return w;
}

std::string format_gil_window(const GilWindow& w) {
  return fmt::format("switches={} forced={} io_releases={} acquisitions={} contended={} wait_s={:.4f} hold_s={:.4f} threads={}",
                     w.switches, w.forced, w.io_releases, w.acquisitions, w.contended,
                     static_cast<double>(w.wait_ns) / 1e9, static_cast<double>(w.hold_ns) / 1e9, w.threads.size());
}

GilRecording gil_recording_window(const GilRecording& rec, std::uint64_t t0, std::uint64_t t1) {
  GilRecording out;
  out.start_ns = t0;
  out.end_ns = t1;
  out.labels = rec.labels;
  out.truncated = rec.truncated;
  out.totals = rec.totals;
  // Each thread's last state before the window, and whether it shows up.
  std::vector<const GilEvent*> last(rec.threads.size(), nullptr);
  std::vector<bool> seen(rec.threads.size(), false);
  std::vector<GilEvent> inside;
  for (const GilEvent& e : rec.events) {
    if (e.thread >= rec.threads.size()) continue;
    if (e.ts < t0) {
      last[e.thread] = &e;
    } else if (e.ts <= t1) {
      inside.push_back(e);
      seen[e.thread] = true;
    }
  }
  std::vector<std::uint32_t> index(rec.threads.size(), 0);
  for (std::size_t i = 0; i < rec.threads.size(); ++i) {
    bool carried = last[i] && last[i]->state != ThreadActivity::Ended;
    if (!carried && !seen[i]) continue;
    index[i] = static_cast<std::uint32_t>(out.threads.size());
    GilThreadStats ts = rec.threads[i];
    ts.alive = true;
    out.threads.push_back(ts);
    if (carried) {
      GilEvent e = *last[i];
      e.ts = t0;
      e.thread = index[i];
      out.events.push_back(e);
    }
  }
  for (GilEvent e : inside) {
    e.thread = index[e.thread];
    out.events.push_back(e);
  }
  return out;
}

}  // namespace weft
