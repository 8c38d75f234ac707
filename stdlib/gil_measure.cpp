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
  std::vector<std::uint64_t> all_wakes;
  for (const auto& t : after.threads) {
    if (!include(t.id)) continue;
    GilThreadStats d = t;
    // The window's wakes: after's histogram minus before's.
    std::vector<std::uint64_t> wakes;
    if (t.wake_hist) {
      wakes.assign(t.wake_hist->begin(), t.wake_hist->end());
      if (auto it = old.find(t.id); it != old.end() && it->second->wake_hist) {
        const auto& o = *it->second->wake_hist;
        for (std::size_t i = 0; i < wakes.size() && i < o.size(); ++i) wakes[i] = sub(wakes[i], o[i]);
      }
    }
    d.wake_count = 0;
    for (std::uint64_t c : wakes) d.wake_count += c;
    d.wake_p50_ns = wake_hist_percentile(wakes, 50);
    d.wake_p99_ns = wake_hist_percentile(wakes, 99);
    if (all_wakes.size() < wakes.size()) all_wakes.resize(wakes.size());
    for (std::size_t i = 0; i < wakes.size(); ++i) all_wakes[i] += wakes[i];
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
  // A thread that ended during the window has had its histogram folded into
  // the run's total: the wakes of the interpreter as a whole, less those of
  // every thread still known by its own histogram, are the ended threads'.
  // They belong to the window when every thread that ended in it does.
  if (after.wake_hist) {
    std::vector<std::uint64_t> ended(after.wake_hist->begin(), after.wake_hist->end());
    if (before.wake_hist)
      for (std::size_t i = 0; i < ended.size() && i < before.wake_hist->size(); ++i)
        ended[i] = sub(ended[i], (*before.wake_hist)[i]);
    bool all_ended_included = true;
    for (const auto& t : after.threads) {
      if (t.wake_hist) {
        const std::vector<std::uint32_t>* o = nullptr;
        if (auto it = old.find(t.id); it != old.end() && it->second->wake_hist) o = it->second->wake_hist.get();
        for (std::size_t i = 0; i < ended.size() && i < t.wake_hist->size(); ++i)
          ended[i] = sub(ended[i], sub((*t.wake_hist)[i], o && i < o->size() ? (*o)[i] : 0));
      } else if (!t.alive && !include(t.id)) {
        auto it = old.find(t.id);
        if (it == old.end() || it->second->alive) all_ended_included = false;
      }
    }
    if (all_ended_included) {
      if (all_wakes.size() < ended.size()) all_wakes.resize(ended.size());
      for (std::size_t i = 0; i < ended.size(); ++i) all_wakes[i] += ended[i];
    }
  }
  for (std::uint64_t c : all_wakes) w.wake_count += c;
  w.wake_p50_ns = wake_hist_percentile(all_wakes, 50);
  w.wake_p99_ns = wake_hist_percentile(all_wakes, 99);
  return w;
}

std::string format_gil_window(const GilWindow& w) {
  std::string out = fmt::format(
      "switches={} forced={} io_releases={} acquisitions={} contended={} wait_s={:.4f} hold_s={:.4f} threads={}",
      w.switches, w.forced, w.io_releases, w.acquisitions, w.contended, static_cast<double>(w.wait_ns) / 1e9,
      static_cast<double>(w.hold_ns) / 1e9, w.threads.size());
  if (w.wake_count > 0)
    out += fmt::format(" wake_p50_ms={:.3f} wake_p99_ms={:.3f}", static_cast<double>(w.wake_p50_ns) / 1e6,
                       static_cast<double>(w.wake_p99_ns) / 1e6);
  return out;
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
