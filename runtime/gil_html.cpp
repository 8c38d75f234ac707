// --gil-html: the GIL recording as one self-contained, interactive page.
//
// The page embeds the same Chrome trace-event JSON that --gil-trace writes
// (slices with args.cause, one flow pair per handoff), so the two can never
// disagree, and a small script draws it on a canvas: a lane per thread, zoom
// (wheel, buttons, + and -) and pan (drag, arrow keys), and a hover box that
// explains each slice and handoff in plain words. Nothing is fetched from the
// network, so the file can be mailed or opened from disk.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>

#include "runtime/gil.hpp"

namespace weft {

namespace {

// The page around the data. `@DATA@` is replaced with the trace JSON and
// `@TITLE@` with a short summary line.
constexpr const char* kPage = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weft GIL timeline</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 20px; color: #1d2330; background: #fff; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .sub { color: #555; margin: 0 0 10px; }
  .bar { display: flex; gap: 8px; align-items: center; margin: 8px 0; flex-wrap: wrap; }
  button { font: inherit; padding: 3px 10px; border: 1px solid #99a; border-radius: 4px; background: #f4f5f8; cursor: pointer; }
  #wrap { position: relative; border: 1px solid #ccd; border-radius: 4px; overflow: hidden; }
  canvas { display: block; cursor: grab; }
  canvas.drag { cursor: grabbing; }
  #tip { position: absolute; pointer-events: none; display: none; max-width: 380px; background: #1d2330; color: #fff;
         padding: 7px 9px; border-radius: 5px; font-size: 13px; box-shadow: 0 2px 8px rgba(0,0,0,.3); z-index: 2; }
  #tip b { color: #ffd479; }
  .legend { display: grid; grid-template-columns: auto 1fr; gap: 6px 10px; margin-top: 14px; max-width: 900px; }
  .sw { width: 28px; height: 14px; border-radius: 2px; margin-top: 3px; }
  .note { color: #555; margin-top: 10px; max-width: 900px; }
</style>
</head>
<body>
<h1>Who held the interpreter lock (GIL), and why it changed hands</h1>
<p class="sub" id="summary">@TITLE@</p>
<div class="bar">
  <button id="zin" title="Zoom in (+)">Zoom in</button>
  <button id="zout" title="Zoom out (-)">Zoom out</button>
  <button id="reset" title="Show everything (0)">Show all</button>
  <span id="view" style="color:#555"></span>
</div>
<div id="wrap"><canvas id="c"></canvas><div id="tip" role="tooltip"></div></div>
<div class="legend" id="legend">
  <div class="sw" style="background:#2f7d32"></div><div><b>Running</b>: this thread holds the lock and runs code. Only one thread can be green at any moment.</div>
  <div class="sw" style="background:#f2b233"></div><div><b>Waiting</b>: the thread is ready to run but another thread holds the lock.</div>
  <div class="sw" style="background:#b7c3d6"></div><div><b>Blocked</b>: the thread is sleeping, reading a file, waiting for the network or for another thread, and does not need the lock.</div>
  <div class="sw" style="background:#d1392b"></div><div><b>Forced handoff</b> (red arrow): the running thread was asked to let go, because another thread had waited a whole switch interval or came back from a blocking call.</div>
  <div class="sw" style="background:#1f6fd1"></div><div><b>I/O handoff</b> (blue arrow): the thread let go by itself to wait for input/output or to sleep.</div>
  <div class="sw" style="background:#8e44ad"></div><div><b>Wait handoff</b> (purple arrow): the thread let go to wait for another thread (a lock, a channel, a join or a job queue).</div>
  <div class="sw" style="background:#555"></div><div><b>Exit handoff</b> (grey arrow): the thread finished.</div>
</div>
<p class="note">Move the mouse over a bar or an arrow to see what happened and for how long. Scroll (or use the buttons, + and -) to zoom, drag (or the arrow keys) to move along time.</p>
<script id="gil-data" type="application/json">@DATA@</script>
<script>
(function () {
  "use strict";
  var trace = JSON.parse(document.getElementById("gil-data").textContent);
  var ev = trace.traceEvents || [];
  var names = {}, order = [];
  ev.forEach(function (e) {
    if (e.ph === "M" && e.name === "thread_name") { names[e.tid] = e.args.name; order.push(e.tid); }
  });
  order.sort(function (a, b) { return a - b; });
  var laneOf = {};
  order.forEach(function (tid, i) { laneOf[tid] = i; });
  var lanes = order.map(function (tid) { return { tid: tid, name: names[tid], slices: [] }; });
  var end = 0;
  ev.forEach(function (e) {
    if (e.ph === "X" && laneOf[e.tid] !== undefined) {
      var kind = e.name === "running" ? 0 : e.name === "waiting" ? 1 : 2;
      lanes[laneOf[e.tid]].slices.push({ ts: e.ts, dur: e.dur, kind: kind, name: e.name, args: e.args || {} });
      end = Math.max(end, e.ts + e.dur);
    }
  });
  lanes.forEach(function (l) { l.slices.sort(function (a, b) { return a.ts - b.ts; }); });
  var starts = {}, handoffs = [];
  ev.forEach(function (e) {
    if (e.ph === "s") starts[e.id] = e;
  });
  ev.forEach(function (e) {
    if (e.ph === "f" && starts[e.id] && laneOf[e.tid] !== undefined && laneOf[starts[e.id].tid] !== undefined) {
      var s = starts[e.id];
      handoffs.push({ from: laneOf[s.tid], to: laneOf[e.tid], t0: s.ts, t1: e.ts,
                      cause: (e.args || {}).cause || "?", by: (e.args || {}).requested_by || null });
      end = Math.max(end, e.ts);
    }
  });
  if (end <= 0) end = 1;

  var COLORS = ["#2f7d32", "#f2b233", "#b7c3d6"];
  var CAUSE_COLOR = { forced: "#d1392b", io: "#1f6fd1", wait: "#8e44ad", exit: "#555" };
  var CAUSE_TEXT = {
    forced: "was made to let go: another thread had waited a whole switch interval, or came back from a blocking call and asked for the lock",
    io: "let go by itself to wait for input/output or to sleep",
    wait: "let go by itself to wait for another thread (a lock, a channel, a join or a job queue)",
    exit: "finished, so it let go"
  };
  var LABEL_W = 130, LANE_H = 34, TOP = 26, PAD = 6;
  var canvas = document.getElementById("c"), ctx = canvas.getContext("2d");
  var tip = document.getElementById("tip"), wrap = document.getElementById("wrap");
  var view = { t0: 0, t1: end };
  var W = 0, H = 0;

  function fmtDur(us) {
    if (us >= 1e6) return (us / 1e6).toFixed(3) + " s";
    if (us >= 1000) return (us / 1000).toFixed(2) + " ms";
    return us.toFixed(1) + " \u00b5s";
  }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }
  function x(t) { return LABEL_W + (t - view.t0) / (view.t1 - view.t0) * (W - LABEL_W - PAD); }
  function tAt(px) { return view.t0 + (px - LABEL_W) / (W - LABEL_W - PAD) * (view.t1 - view.t0); }
  function laneY(i) { return TOP + i * LANE_H; }

  function resize() {
    var dpr = window.devicePixelRatio || 1;
    W = Math.max(400, wrap.clientWidth || 900);
    H = TOP + lanes.length * LANE_H + 8;
    canvas.width = W * dpr; canvas.height = H * dpr;
    canvas.style.width = W + "px"; canvas.style.height = H + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    draw();
  }

  function niceStep(span) {
    var raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m < 2 ? 1 : m < 5 ? 2 : 5) * p;
  }

  function draw() {
    ctx.clearRect(0, 0, W, H);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    // Time axis.
    var step = niceStep(view.t1 - view.t0);
    ctx.fillStyle = "#666"; ctx.strokeStyle = "#e4e6ec";
    for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      var px = x(t);
      ctx.beginPath(); ctx.moveTo(px, TOP - 4); ctx.lineTo(px, H); ctx.stroke();
      ctx.fillText(fmtDur(t), px + 2, 10);
    }
    // Lanes.
    lanes.forEach(function (l, i) {
      var y = laneY(i);
      ctx.fillStyle = i % 2 ? "#fafbfc" : "#fff";
      ctx.fillRect(0, y, W, LANE_H);
      ctx.fillStyle = "#1d2330";
      ctx.fillText(l.name.length > 17 ? l.name.slice(0, 16) + "\u2026" : l.name, 6, y + LANE_H / 2);
      l.slices.forEach(function (s) {
        if (s.ts + s.dur < view.t0 || s.ts > view.t1) return;
        var a = Math.max(x(s.ts), LABEL_W), b = Math.min(x(s.ts + s.dur), W - PAD);
        ctx.fillStyle = COLORS[s.kind];
        var h = s.kind === 0 ? LANE_H - 10 : LANE_H - 18;
        ctx.fillRect(a, y + (LANE_H - h) / 2, Math.max(b - a, 0.6), h);
      });
    });
    // Handoff arrows.
    handoffs.forEach(function (h) {
      if (h.t1 < view.t0 || h.t0 > view.t1) return;
      var x0 = x(h.t0), x1 = x(h.t1), y0 = laneY(h.from) + LANE_H / 2, y1 = laneY(h.to) + LANE_H / 2;
      ctx.strokeStyle = CAUSE_COLOR[h.cause] || "#000"; ctx.fillStyle = ctx.strokeStyle;
      ctx.lineWidth = 1.4;
      ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
      var dir = y1 > y0 ? 1 : -1;
      ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x1 - 3.5, y1 - 6 * dir); ctx.lineTo(x1 + 3.5, y1 - 6 * dir); ctx.fill();
    });
    ctx.lineWidth = 1;
    document.getElementById("view").textContent =
      "showing " + fmtDur(view.t0) + " \u2013 " + fmtDur(view.t1) + " of " + fmtDur(end);
  }

  function zoom(f, centerT) {
    var span = (view.t1 - view.t0) * f;
    span = Math.max(Math.min(span, end), Math.min(end, 1));
    var c = centerT === undefined ? (view.t0 + view.t1) / 2 : centerT;
    var r = (c - view.t0) / (view.t1 - view.t0);
    view.t0 = c - r * span; view.t1 = view.t0 + span;
    clamp(); draw();
  }
  function pan(dt) { view.t0 += dt; view.t1 += dt; clamp(); draw(); }
  function clamp() {
    var span = view.t1 - view.t0;
    if (view.t0 < 0) { view.t0 = 0; view.t1 = span; }
    if (view.t1 > end) { view.t1 = end; view.t0 = Math.max(0, end - span); }
  }

  // What is under the mouse: an arrow (within 5 px) first, then a slice.
  function hit(mx, my) {
    var best = null, bestD = 5;
    handoffs.forEach(function (h) {
      if (h.t1 < view.t0 || h.t0 > view.t1) return;
      var x0 = x(h.t0), x1 = x(h.t1), y0 = laneY(h.from) + LANE_H / 2, y1 = laneY(h.to) + LANE_H / 2;
      var dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
      var u = len2 ? Math.max(0, Math.min(1, ((mx - x0) * dx + (my - y0) * dy) / len2)) : 0;
      var d = Math.hypot(mx - (x0 + u * dx), my - (y0 + u * dy));
      if (d < bestD) { bestD = d; best = { handoff: h }; }
    });
    if (best) return best;
    var lane = Math.floor((my - TOP) / LANE_H);
    if (lane < 0 || lane >= lanes.length || mx < LABEL_W) return null;
    var t = tAt(mx), tol = (view.t1 - view.t0) / (W - LABEL_W) * 1.5;
    var ss = lanes[lane].slices, found = null;
    for (var i = 0; i < ss.length; i++) {
      if (ss[i].ts - tol <= t && t <= ss[i].ts + ss[i].dur + tol) { found = ss[i]; if (ss[i].ts <= t && t <= ss[i].ts + ss[i].dur) break; }
    }
    return found ? { lane: lane, slice: found } : null;
  }

  function describe(o) {
    if (o.handoff) {
      var h = o.handoff;
      var s = "<b>Handoff</b> " + esc(lanes[h.from].name) + " \u2192 " + esc(lanes[h.to].name) +
              "<br>Cause: <b>" + esc(h.cause) + "</b> \u2014 " + esc(lanes[h.from].name) + " " + esc(CAUSE_TEXT[h.cause] || h.cause) + ".";
      if (h.by) s += "<br>Asked by: " + esc(h.by);
      s += "<br>At " + fmtDur(h.t1) + "; the lock was free for " + fmtDur(Math.max(0, h.t1 - h.t0)) + ".";
      return s;
    }
    var sl = o.slice, who = esc(lanes[o.lane].name), a = sl.args || {};
    var s2;
    if (sl.kind === 0) {
      s2 = "<b>" + who + " running</b> for " + fmtDur(sl.dur) + " (holds the lock).";
      if (a.cause) s2 += "<br>Cause: <b>" + esc(a.cause) + "</b> \u2014 it took over from " + esc(a.from || "another thread") +
                         ", which " + esc(CAUSE_TEXT[a.cause] || a.cause) + ".";
      if (a.requested_by) s2 += "<br>Asked by: " + esc(a.requested_by);
    } else if (sl.kind === 1) {
      s2 = "<b>" + who + " waiting</b> for the lock for " + fmtDur(sl.dur) + ".";
      if (a.cause) s2 += "<br>Cause: <b>" + esc(a.cause) + "</b> \u2014 it " + esc(CAUSE_TEXT[a.cause] || a.cause) + ".";
    } else {
      s2 = "<b>" + who + " " + esc(sl.name) + "</b> for " + fmtDur(sl.dur) + " (does not need the lock).";
      if (a.cause) s2 += "<br>Cause: <b>" + esc(a.cause) + "</b> \u2014 it " + esc(CAUSE_TEXT[a.cause] || a.cause) + ".";
    }
    return s2 + "<br>From " + fmtDur(sl.ts) + " to " + fmtDur(sl.ts + sl.dur) + ".";
  }

  var drag = null;
  canvas.addEventListener("mousemove", function (e) {
    var r = canvas.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
    if (drag) {
      pan((drag - mx) / (W - LABEL_W - PAD) * (view.t1 - view.t0));
      drag = mx; tip.style.display = "none"; return;
    }
    var o = hit(mx, my);
    if (!o) { tip.style.display = "none"; return; }
    tip.innerHTML = describe(o);
    tip.style.display = "block";
    var left = mx + 14, top = my + 14;
    if (left + tip.offsetWidth > W) left = Math.max(0, mx - tip.offsetWidth - 10);
    tip.style.left = left + "px"; tip.style.top = top + "px";
  });
  canvas.addEventListener("mouseleave", function () { tip.style.display = "none"; drag = null; canvas.classList.remove("drag"); });
  canvas.addEventListener("mousedown", function (e) { drag = e.clientX - canvas.getBoundingClientRect().left; canvas.classList.add("drag"); });
  window.addEventListener("mouseup", function () { drag = null; canvas.classList.remove("drag"); });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = canvas.getBoundingClientRect();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, tAt(e.clientX - r.left));
  }, { passive: false });
  document.getElementById("zin").onclick = function () { zoom(0.5); };
  document.getElementById("zout").onclick = function () { zoom(2); };
  document.getElementById("reset").onclick = function () { view.t0 = 0; view.t1 = end; draw(); };
  window.addEventListener("keydown", function (e) {
    var span = view.t1 - view.t0;
    if (e.key === "+" || e.key === "=") zoom(0.5);
    else if (e.key === "-") zoom(2);
    else if (e.key === "0") { view.t0 = 0; view.t1 = end; draw(); }
    else if (e.key === "ArrowLeft") pan(-span / 5);
    else if (e.key === "ArrowRight") pan(span / 5);
  });
  window.addEventListener("resize", resize);

  // For tests and curious readers: the parsed data and page coordinates.
  window.gilView = {
    lanes: lanes, handoffs: handoffs, end: end, view: view,
    zoom: zoom, pan: pan,
    // Client coordinates of the middle of a handoff arrow (or null).
    handoffPoint: function (i) {
      var h = handoffs[i], r = canvas.getBoundingClientRect();
      if (!h) return null;
      return { x: r.left + (x(h.t0) + x(h.t1)) / 2, y: r.top + (laneY(h.from) + laneY(h.to)) / 2 + LANE_H / 2 };
    },
    // Client coordinates of the middle of a slice of a lane (or null).
    slicePoint: function (lane, i) {
      var s = lanes[lane] && lanes[lane].slices[i], r = canvas.getBoundingClientRect();
      if (!s) return null;
      return { x: r.left + x(s.ts + s.dur / 2), y: r.top + laneY(lane) + LANE_H / 2 };
    }
  };
  resize();
})();
</script>
</body>
</html>
)HTML";

std::string html_summary(const GilRecording& rec) {
  const GilStats& t = rec.totals;
  std::string s = fmt::format(
      "{} threads, policy {}, switch interval {:g} ms; the lock changed hands {} times ({} forced).",
      rec.threads.size(), policy_name(t.policy), t.interval_s * 1e3, t.switches, t.forced);
  if (rec.truncated) s += " Only the most recent part of the run is shown.";
  return s;
}

}  // namespace

std::string render_html(const GilRecording& rec) {
  std::string data = render_trace_json(rec);
  // Inside <script> the only sequence that must not appear is "</": JSON
  // allows "\/" for "/", so escape it.
  std::string safe;
  safe.reserve(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '<' && i + 1 < data.size() && data[i + 1] == '/') {
      safe += "<\\/";
      ++i;
    } else {
      safe += data[i];
    }
  }
  std::string page = kPage;
  auto put = [&](const char* key, const std::string& value) {
    auto p = page.find(key);
    if (p != std::string::npos) page.replace(p, std::strlen(key), value);
  };
  // The summary is plain text from numbers and the policy name: no markup.
  put("@TITLE@", html_summary(rec));
  put("@DATA@", safe);
  return page;
}

bool Gil::write_html(const std::string& path, std::string& error) const {
  std::string page = render_html(recording());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  bool ok = std::fwrite(page.data(), 1, page.size(), f) == page.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace weft
