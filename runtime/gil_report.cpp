// Rendering of the GIL recording: terminal timeline, statistics table and
// Chrome trace-event JSON. Everything here is a pure function of a
// GilRecording / GilStats snapshot, so the output is deterministic.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>

#include "runtime/gil.hpp"

namespace weft {

namespace {

struct Span {
  std::uint64_t begin, end;
  ThreadActivity state;
  std::uint32_t label;
  const GilEvent* ev;  // the event that started the span
};

// One change of owner: `from` let the lock go at `released` (cause), `to`
// took it at `taken`. Indexes are GilRecording::threads indexes.
struct Handoff {
  std::uint32_t from, to;
  std::uint64_t released, taken;
  GilCause cause;
  std::uint32_t requester;  // index + 1, 0: none
};

// The handoffs of a recording, in time order. The release time is the last
// event of the previous holder at or before the take-over.
std::vector<Handoff> handoffs_of(const GilRecording& rec) {
  std::vector<Handoff> out;
  std::vector<std::uint64_t> last_ts(rec.threads.size(), 0);
  for (const GilEvent& e : rec.events) {
    if (e.thread >= rec.threads.size()) continue;
    if (e.state == ThreadActivity::Running && e.peer != 0 && e.peer - 1 < rec.threads.size() &&
        e.peer - 1 != e.thread) {
      std::uint64_t rel = last_ts[e.peer - 1];
      if (rel == 0 || rel > e.ts) rel = e.ts;
      out.push_back(Handoff{e.peer - 1, e.thread, rel, e.ts, e.cause, e.requester});
    }
    last_ts[e.thread] = e.ts;
  }
  return out;
}

// Time range shown: first event .. end of the recording (or the last event
// when every thread has ended).
struct Range {
  std::uint64_t begin = 0, end = 0;
  bool empty = true;
};

Range range_of(const GilRecording& rec) {
  Range r;
  if (rec.events.empty()) return r;
  r.empty = false;
  r.begin = rec.events.front().ts;
  bool any_alive = std::any_of(rec.threads.begin(), rec.threads.end(),
                               [](const GilThreadStats& t) { return t.alive; });
  r.end = any_alive ? std::max(rec.end_ns, rec.events.back().ts) : rec.events.back().ts;
  if (r.end <= r.begin) r.end = r.begin + 1;
  return r;
}

// The state spans of every thread (index = GilRecording::threads index).
std::vector<std::vector<Span>> spans_of(const GilRecording& rec, const Range& range) {
  std::vector<std::vector<Span>> out(rec.threads.size());
  std::vector<const GilEvent*> last(rec.threads.size(), nullptr);
  auto close = [&](std::size_t ti, std::uint64_t at) {
    const GilEvent* e = last[ti];
    if (e == nullptr || e->state == ThreadActivity::Ended) return;
    out[ti].push_back(Span{e->ts, std::max(at, e->ts), e->state, e->label, e});
  };
  for (const GilEvent& e : rec.events) {
    if (e.thread >= out.size()) continue;
    close(e.thread, e.ts);
    last[e.thread] = &e;
  }
  for (std::size_t ti = 0; ti < out.size(); ++ti) {
    // A thread still alive (or one whose Ended event was cut by truncation)
    // stays in its last state until the end of the range.
    close(ti, range.end);
  }
  return out;
}

std::string fit(const std::string& s, std::size_t w) {
  if (s.size() <= w) return s + std::string(w - s.size(), ' ');
  return s.substr(0, w - 1) + "~";
}

std::string format_duration(std::uint64_t ns) {
  double s = static_cast<double>(ns) / 1e9;
  if (s >= 1.0) return fmt::format("{:.3f} s", s);
  if (ns >= 1'000'000) return fmt::format("{:.1f} ms", static_cast<double>(ns) / 1e6);
  return fmt::format("{:.1f} us", static_cast<double>(ns) / 1e3);
}

std::string format_interval(double seconds) {
  return fmt::format("{:g} ms", seconds * 1e3);
}

void append_json_string(std::string& out, const std::string& s) {
  out += '"';
  std::size_t i = 0;
  auto bad = [&] {
    out += "\\ufffd";
    ++i;
  };
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      out += "\\\"";
      ++i;
    } else if (c == '\\') {
      out += "\\\\";
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // Copy a valid UTF-8 sequence; replace anything else.
      int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (len == 0 || c == 0xC0 || c == 0xC1 || c > 0xF4 || i + len > s.size()) {
        bad();
        continue;
      }
      bool ok = true;
      for (int k = 1; k < len; ++k) {
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) ok = false;
      }
      if (!ok) {
        bad();
        continue;
      }
      out.append(s, i, len);
      i += len;
    }
  }
  out += '"';
}

}  // namespace

int terminal_width() {
  struct winsize ws {};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* cols = std::getenv("COLUMNS")) {
    int n = std::atoi(cols);
    if (n > 0) return n;
  }
  return 80;
}

std::string render_timeline(const GilRecording& rec, int width) {
  if (width <= 0) width = terminal_width();
  const GilStats& tot = rec.totals;
  std::string out;
  Range range = range_of(rec);
  if (range.empty) {
    out += "GIL timeline: no activity recorded\n";
    return out;
  }
  const std::uint64_t duration = range.end - range.begin;

  auto hs = handoffs_of(rec);
  std::size_t name_w = hs.empty() ? 4 : 8;
  for (const auto& t : rec.threads) name_w = std::max(name_w, t.name.size());
  name_w = std::min<std::size_t>(name_w, 20);
  int cells = width - static_cast<int>(name_w) - 3;  // "name │bar│"
  cells = std::max(cells, 10);

  out += fmt::format("GIL timeline: {} total, {} threads, policy {}, interval {}, 1 cell = {}\n",
                     format_duration(duration), rec.threads.size(), policy_name(tot.policy),
                     format_interval(tot.interval_s),
                     format_duration(duration / static_cast<std::uint64_t>(cells)));
  if (rec.truncated) {
    out += fmt::format("(timeline truncated: showing the last {} only; older events were dropped)\n",
                       format_duration(duration));
  }

  auto spans = spans_of(rec, range);
  static const char* const glyph[3] = {"\u2588", "\u2591", "\u00b7"};  // █ ░ ·
  const auto n = static_cast<std::uint64_t>(cells);
  auto cell_begin = [&](std::uint64_t i) {
    return range.begin + static_cast<std::uint64_t>(
                             (static_cast<unsigned __int128>(duration) * i) / n);
  };
  auto cell_of = [&](std::uint64_t ts) -> std::uint64_t {
    if (ts <= range.begin) return 0;
    auto c = static_cast<std::uint64_t>(
        (static_cast<unsigned __int128>(ts - range.begin) * n) / duration);
    return std::min(c, n - 1);
  };

  struct Summary {
    std::array<std::uint64_t, 3> ns{};
  };
  std::vector<Summary> summaries(rec.threads.size());

  // Rows in thread-id order (registration order is not deterministic).
  std::vector<std::size_t> order(rec.threads.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return rec.threads[a].id < rec.threads[b].id;
  });

  for (std::size_t ti : order) {
    std::vector<std::array<std::uint64_t, 3>> acc(cells, std::array<std::uint64_t, 3>{});
    std::vector<bool> alive(cells, false);
    for (const Span& sp : spans[ti]) {
      auto st = static_cast<std::size_t>(sp.state);
      if (st > 2) continue;
      std::uint64_t b = std::max(sp.begin, range.begin), e = std::min(sp.end, range.end);
      if (e < b) continue;
      summaries[ti].ns[st] += e - b;
      std::uint64_t c0 = cell_of(b), c1 = cell_of(e);
      for (std::uint64_t c = c0; c <= c1; ++c) {
        std::uint64_t cb = cell_begin(c), ce = c + 1 == n ? range.end : cell_begin(c + 1);
        std::uint64_t lo = std::max(b, cb), hi = std::min(e, ce);
        if (hi > lo) {
          acc[c][st] += hi - lo;
          alive[c] = true;
        }
      }
    }
    out += fit(rec.threads[ti].name, name_w);
    out += " \u2502";  // │
    for (int c = 0; c < cells; ++c) {
      if (!alive[c]) {
        out += ' ';
        continue;
      }
      std::size_t best = 0;
      for (std::size_t s = 1; s < 3; ++s) {
        if (acc[c][s] > acc[c][best]) best = s;
      }
      out += glyph[best];
    }
    out += "\u2502\n";
  }
  // One row marking the cells where the lock changed owner, by cause: a
  // forced handoff (F) wins over the others in a cell.
  if (!hs.empty()) {
    static const char cause_glyph[kGilCauses] = {'?', 'F', 'i', 'w', 'x'};
    static const int rank[kGilCauses] = {0, 4, 3, 2, 1};
    std::vector<int> mark(cells, -1);
    for (const Handoff& h : hs) {
      auto c = static_cast<int>(h.cause);
      auto cell = cell_of(h.taken);
      if (mark[cell] < 0 || rank[c] > rank[mark[cell]]) mark[cell] = c;
    }
    out += fit("handoffs", name_w);
    out += " \u2502";
    for (int c = 0; c < cells; ++c) out += mark[c] < 0 ? ' ' : cause_glyph[mark[c]];
    out += "\u2502\n";
  }
  out += fmt::format("{} {} running   {} waiting for the GIL   {} blocked in a call   "
                     "(blank) not alive\n",
                     std::string(name_w, ' '), glyph[0], glyph[1], glyph[2]);
  if (!hs.empty()) {
    std::uint64_t n_by[kGilCauses] = {};
    for (const Handoff& h : hs) ++n_by[static_cast<std::size_t>(h.cause)];
    out += fmt::format("{} handoffs: F forced ({})   i I/O ({})   w wait ({})   x exit ({})\n",
                       std::string(name_w, ' '), n_by[1], n_by[2], n_by[3], n_by[4]);
  }
  for (std::size_t ti : order) {
    const auto& s = summaries[ti].ns;
    std::uint64_t life = s[0] + s[1] + s[2];
    auto pct = [&](std::uint64_t v) {
      return life == 0 ? 0.0 : 100.0 * static_cast<double>(v) / static_cast<double>(life);
    };
    out += fmt::format("{}  running {:5.1f}%  waiting {:5.1f}%  blocked {:5.1f}%  (alive {})\n",
                       fit(rec.threads[ti].name, name_w), pct(s[0]), pct(s[1]), pct(s[2]),
                       format_duration(life));
  }
  return out;
}

std::string render_stats_table(const GilStats& st) {
  constexpr std::size_t kCols = 10;
  std::vector<std::array<std::string, kCols>> rows;
  rows.push_back({"thread", "run (s)", "wait (s)", "waits", "forced", "I/O rel", "max wait (ms)",
                  "contention %", "gave F/i/w/x", "wake p50/p99/max (ms)"});
  auto ms = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  auto wake = [&](std::uint64_t n, std::uint64_t p50, std::uint64_t p99, std::uint64_t mx) {
    if (n == 0) return std::string("-");
    return fmt::format("{:.2f}/{:.2f}/{:.2f}", ms(p50), ms(p99), ms(mx));
  };
  std::uint64_t gave[kGilCauses] = {};
  auto causes = [](const std::uint64_t* h) {
    return fmt::format("{}/{}/{}/{}", h[1], h[2], h[3], h[4]);
  };
  auto contention = [](std::uint64_t wait, std::uint64_t run) {
    return wait + run == 0 ? 0.0
                           : 100.0 * static_cast<double>(wait) / static_cast<double>(wait + run);
  };
  std::uint64_t max_wait = 0;
  for (const auto& t : st.threads) {
    max_wait = std::max(max_wait, t.max_wait_ns);
    for (std::size_t c = 0; c < kGilCauses; ++c) gave[c] += t.handoffs[c];
    rows.push_back({fmt::format("{} [{}]{}", t.name, t.id, t.alive ? "" : " (ended)"),
                    fmt::format("{:.3f}", static_cast<double>(t.hold_ns) / 1e9),
                    fmt::format("{:.3f}", static_cast<double>(t.wait_ns) / 1e9),
                    fmt::format("{}", t.contended), fmt::format("{}", t.forced),
                    fmt::format("{}", t.io_releases),
                    fmt::format("{:.2f}", static_cast<double>(t.max_wait_ns) / 1e6),
                    fmt::format("{:.1f}", contention(t.wait_ns, t.hold_ns)), causes(t.handoffs),
                    wake(t.wake_count, t.wake_p50_ns, t.wake_p99_ns, t.wake_max_ns)});
  }
  rows.push_back({"total", fmt::format("{:.3f}", static_cast<double>(st.hold_ns) / 1e9),
                  fmt::format("{:.3f}", static_cast<double>(st.wait_ns) / 1e9),
                  fmt::format("{}", st.contended), fmt::format("{}", st.forced),
                  fmt::format("{}", st.io_releases),
                  fmt::format("{:.2f}", static_cast<double>(max_wait) / 1e6),
                  fmt::format("{:.1f}", contention(st.wait_ns, st.hold_ns)), causes(gave),
                  wake(st.wake_count, st.wake_p50_ns, st.wake_p99_ns, st.wake_max_ns)});
  std::array<std::size_t, kCols> w{};
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < kCols; ++c) w[c] = std::max(w[c], r[c].size());
  }
  std::string out = fmt::format("GIL statistics (policy {}, interval {})\n",
                                policy_name(st.policy), format_interval(st.interval_s));
  std::size_t total_w = 0;
  for (std::size_t c = 0; c < kCols; ++c) total_w += w[c] + (c ? 2 : 0);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (r + 1 == rows.size()) out += std::string(total_w, '-') + "\n";
    std::string line = fmt::format("{:<{}}", rows[r][0], w[0]);
    for (std::size_t c = 1; c < kCols; ++c) line += fmt::format("  {:>{}}", rows[r][c], w[c]);
    out += line + "\n";
    if (r == 0) out += std::string(total_w, '-') + "\n";
  }
  out += fmt::format("switches: {}  acquisitions: {}  contended: {}  forced: {}  I/O releases: {}\n",
                     st.switches, st.acquisitions, st.contended, st.forced, st.io_releases);
  out += "gave F/i/w/x: handoffs to another thread, by cause: Forced after the interval, "
         "I/O (blocking call), wait (lock, channel, join), exit.\n"
         "wake: from the end of a blocking call to holding the GIL again.\n";
  return out;
}

std::string render_trace_json(const GilRecording& rec) {
  Range range = range_of(rec);
  std::string out = "{\"traceEvents\":[\n";
  bool first = true;
  auto sep = [&] {
    if (!first) out += ",\n";
    first = false;
  };
  sep();
  out += "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"weft\"}}";
  for (const auto& t : rec.threads) {
    sep();
    out += fmt::format("{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{},\"args\":{{\"name\":",
                       t.id);
    append_json_string(out, t.name);
    out += "}}";
    sep();
    out += fmt::format(
        "{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":{},\"args\":{{\"sort_index\":{}}}}}",
        t.id, t.id);
  }
  if (!range.empty) {
    auto spans = spans_of(rec, range);
    for (std::size_t ti = 0; ti < spans.size(); ++ti) {
      for (const Span& sp : spans[ti]) {
        if (sp.end <= sp.begin) continue;
        std::string name;
        switch (sp.state) {
          case ThreadActivity::Running: name = "running"; break;
          case ThreadActivity::Waiting: name = "waiting"; break;
          case ThreadActivity::Blocked:
            name = "blocked: " + (sp.label < rec.labels.size() ? rec.labels[sp.label] : std::string("?"));
            break;
          case ThreadActivity::Ended: continue;
        }
        sep();
        out += "{\"name\":";
        append_json_string(out, name);
        out += fmt::format(",\"cat\":\"gil\",\"ph\":\"X\",\"pid\":1,\"tid\":{},\"ts\":{:.3f},\"dur\":{:.3f}",
                           rec.threads[ti].id,
                           static_cast<double>(sp.begin - range.begin) / 1e3,
                           static_cast<double>(sp.end - sp.begin) / 1e3);
        // args.cause: on `running`, why the previous holder let go (the
        // handoff that started this slice); elsewhere why this thread let go.
        const GilEvent* e = sp.ev;
        if (e != nullptr && e->cause != GilCause::None) {
          out += fmt::format(",\"args\":{{\"cause\":\"{}\"", cause_name(e->cause));
          if (sp.state == ThreadActivity::Running && e->peer != 0 && e->peer - 1 < rec.threads.size()) {
            out += ",\"from\":";
            append_json_string(out, rec.threads[e->peer - 1].name);
          }
          if (e->requester != 0 && e->requester - 1 < rec.threads.size()) {
            out += ",\"requested_by\":";
            append_json_string(out, rec.threads[e->requester - 1].name);
          }
          out += "}";
        }
        out += "}";
      }
    }
    // One flow arrow per handoff, from the slice that let go to the slice
    // that took over. The start sits 1 ns before the release so that it
    // binds to the releasing thread's `running` slice.
    std::uint64_t id = 0;
    for (const Handoff& h : handoffs_of(rec)) {
      ++id;
      std::uint64_t s_ts = std::max(h.released, range.begin + 1) - 1;
      std::uint64_t f_ts = std::max(h.taken, range.begin);
      std::string args = fmt::format("{{\"cause\":\"{}\"", cause_name(h.cause));
      if (h.requester != 0 && h.requester - 1 < rec.threads.size()) {
        args += ",\"requested_by\":";
        append_json_string(args, rec.threads[h.requester - 1].name);
      }
      args += "}";
      sep();
      out += fmt::format(
          "{{\"name\":\"handoff\",\"cat\":\"gil.handoff\",\"ph\":\"s\",\"id\":{},\"pid\":1,"
          "\"tid\":{},\"ts\":{:.3f},\"args\":{}}}",
          id, rec.threads[h.from].id, static_cast<double>(s_ts - range.begin) / 1e3, args);
      sep();
      out += fmt::format(
          "{{\"name\":\"handoff\",\"cat\":\"gil.handoff\",\"ph\":\"f\",\"bp\":\"e\",\"id\":{},"
          "\"pid\":1,\"tid\":{},\"ts\":{:.3f},\"args\":{}}}",
          id, rec.threads[h.to].id, static_cast<double>(f_ts - range.begin) / 1e3, args);
    }
  }
  out += "\n],\"displayTimeUnit\":\"ms\"";
  out += fmt::format(",\"otherData\":{{\"policy\":\"{}\",\"interval_ms\":{},\"truncated\":{}}}",
                     policy_name(rec.totals.policy), rec.totals.interval_s * 1e3,
                     rec.truncated ? "true" : "false");
  out += "}\n";
  return out;
}

std::string Gil::timeline(int width) const { return render_timeline(recording(), width); }

std::string Gil::stats_table() const { return render_stats_table(total_stats()); }

bool Gil::write_trace(const std::string& path, std::string& error) const {
  std::string json = render_trace_json(recording());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  bool ok = std::fwrite(json.data(), 1, json.size(), f) == json.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace weft
