#!/usr/bin/env python3
"""Handoff causes, flow arrows and the --gil-html page (SPEC 0.2 §8.7).

Runs a script whose threads hand the GIL over for every cause (forced, io,
wait, exit) with --gil-trace and --gil-html, then checks
  * the trace: one flow start ("s") and finish ("f") per handoff with the
    same id, a cause on every arrow, `args.cause` on the slices;
  * the page: self-contained (nothing fetched), embeds the same data, one
    lane per thread;
  * in headless Chromium (playwright-core): no console errors, hovering an
    arrow and a slice shows its cause, zoom changes the visible range.
The browser part is skipped, saying so, when Chromium or playwright-core is
missing (run.sh installs both).

usage: gil_html_test.py WEFT_BINARY
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SCRIPT = r'''
fn spin(seconds) {
  let t0 = time.monotonic()
  while time.monotonic() - t0 < seconds { }
}
fn sleeper() {
  for i in range(5) {
    time.sleep(0.005)
    spin(0.002)
  }
}
let lock = sync.Lock()
fn locker() {
  for i in range(3) {
    lock.acquire()
    spin(0.002)
    lock.release()
  }
}
let ts = [thread.spawn(spin, 0.08), thread.spawn(spin, 0.08), thread.spawn(sleeper),
  thread.spawn(locker), thread.spawn(locker)]
for t in ts { t.join() }
print("done")
'''

failures = 0


def check(name, ok, detail=""):
    global failures
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else ": " + str(detail)[:400]))
    if not ok:
        failures += 1


def find_playwright():
    dirs = [os.environ.get("WEFT_PLAYWRIGHT_DIR", ""),
            os.path.expanduser("~/.cache/weft-trace-shot"),
            os.path.expanduser("~/.cache/weft-playwright")]
    for d in dirs:
        if d and os.path.isdir(os.path.join(d, "node_modules", "playwright-core")):
            return os.path.join(d, "node_modules")
    return None


BROWSER_JS = r'''
const { chromium } = require('playwright-core');
const [page_path, exe] = process.argv.slice(2);
(async () => {
  const browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox'] });
  const out = { errors: [], requests: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    page.on('console', m => { if (m.type() === 'error') out.errors.push(m.text()); });
    page.on('pageerror', e => out.errors.push(String(e)));
    page.on('request', r => { if (!r.url().startsWith('file:')) out.requests.push(r.url()); });
    await page.goto('file://' + page_path);
    await page.waitForFunction(() => window.gilView !== undefined);
    out.lanes = await page.evaluate(() => window.gilView.lanes.map(l => l.name));
    out.handoffs = await page.evaluate(() => window.gilView.handoffs.length);
    // Zoom in on the first forced handoff so that its arrow is easy to hit.
    const idx = await page.evaluate(() => window.gilView.handoffs.findIndex(h => h.cause === 'forced'));
    out.forced_index = idx;
    await page.evaluate((i) => {
      const h = window.gilView.handoffs[i];
      const v = window.gilView.view, mid = (h.t0 + h.t1) / 2;
      v.t0 = Math.max(0, mid - 300); v.t1 = v.t0 + 600; window.gilView.pan(0);
    }, idx);
    const p = await page.evaluate((i) => window.gilView.handoffPoint(i), idx);
    await page.mouse.move(p.x, p.y);
    out.arrow_tip = await page.evaluate(() => {
      const t = document.getElementById('tip');
      return t.style.display === 'block' ? t.textContent : '';
    });
    // Hover the middle of a `running` slice that started with a handoff.
    const sp = await page.evaluate(() => {
      const g = window.gilView;
      for (let l = 0; l < g.lanes.length; l++) {
        const ss = g.lanes[l].slices;
        for (let i = 0; i < ss.length; i++) {
          if (ss[i].kind === 0 && ss[i].args.cause && ss[i].dur > 500) {
            g.view.t0 = Math.max(0, ss[i].ts - ss[i].dur); g.view.t1 = ss[i].ts + 2 * ss[i].dur; g.pan(0);
            return g.slicePoint(l, i);
          }
        }
      }
      return null;
    });
    if (sp) {
      await page.mouse.move(sp.x, sp.y);
      out.slice_tip = await page.evaluate(() => document.getElementById('tip').textContent);
    }
    await page.click('#reset');
    const before = await page.evaluate(() => window.gilView.view.t1 - window.gilView.view.t0);
    await page.click('#zin');
    const after = await page.evaluate(() => window.gilView.view.t1 - window.gilView.view.t0);
    out.zoom_ratio = after / before;
    await page.mouse.move(600, 150);
    await page.mouse.down(); await page.mouse.move(400, 150, { steps: 4 }); await page.mouse.up();
    out.panned_t0 = await page.evaluate(() => window.gilView.view.t0);
    if (process.env.GIL_HTML_SHOT) {
      await page.click('#reset');
      await page.screenshot({ path: process.env.GIL_HTML_SHOT, fullPage: true });
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.log(JSON.stringify({ fatal: String(e) })); process.exit(0); });
'''


def main():
    weft = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="weft_gil_html_")
    try:
        script = os.path.join(tmp, "handoffs.weft")
        with open(script, "w") as f:
            f.write(SCRIPT)
        trace = os.path.join(tmp, "trace.json")
        page = os.path.join(tmp, "gil.html")
        r = subprocess.run([weft, "--switch-interval=1", "--gil-trace=" + trace, "--gil-html=" + page, script],
                           capture_output=True, text=True, timeout=120)
        check("script runs", r.returncode == 0 and r.stdout.strip() == "done", r.stderr)
        check("the page is announced on stderr", "GIL timeline page written to" in r.stderr, r.stderr)

        data = json.load(open(trace))
        ev = data["traceEvents"]
        starts = {e["id"]: e for e in ev if e["ph"] == "s"}
        finishes = {e["id"]: e for e in ev if e["ph"] == "f"}
        check("a flow arrow per handoff (every start has its finish)",
              len(starts) > 0 and set(starts) == set(finishes), (len(starts), len(finishes)))
        causes = {e["args"]["cause"] for e in starts.values()}
        for c in ("forced", "io", "wait", "exit"):
            check("a handoff with cause " + c, c in causes, causes)
        check("arrows go from one thread to another",
              all(starts[i]["tid"] != finishes[i]["tid"] for i in starts))
        check("arrows never go back in time",
              all(finishes[i]["ts"] >= starts[i]["ts"] for i in starts))
        forced = [e for e in starts.values() if e["args"]["cause"] == "forced"]
        check("forced handoffs name the thread that asked",
              forced and all("requested_by" in e["args"] for e in forced))
        slices = [e for e in ev if e["ph"] == "X"]
        running_with_cause = [e for e in slices if e["name"] == "running" and "cause" in e.get("args", {})]
        check("running slices carry args.cause and args.from",
              running_with_cause and all("from" in e["args"] for e in running_with_cause))
        check("blocked slices carry the cause of the release",
              any(e["name"].startswith("blocked: sync.") and e.get("args", {}).get("cause") == "wait" for e in slices) and
              any(e["name"] == "blocked: time.sleep" and e.get("args", {}).get("cause") == "io" for e in slices))
        # The finish of every arrow is where a `running` slice of its thread starts.
        run_starts = {(e["tid"], e["ts"]) for e in slices if e["name"] == "running"}
        check("each arrow ends where the new holder starts running",
              all((f["tid"], f["ts"]) in run_starts for f in finishes.values()))

        html = open(page, encoding="utf-8").read()
        check("the page fetches nothing (no src/href to the network)",
              not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html, re.I) and "@import" not in html)
        m = re.search(r'<script id="gil-data" type="application/json">(.*?)</script>', html, re.S)
        check("the page embeds the recording", m is not None)
        if m:
            embedded = json.loads(m.group(1))
            lanes = [e["args"]["name"] for e in embedded["traceEvents"] if e.get("name") == "thread_name"]
            check("one lane per thread (main + 5)", len(lanes) == 6, lanes)
            check("the page has the same handoffs as the trace",
                  len([e for e in embedded["traceEvents"] if e["ph"] == "s"]) == len(starts))
        check("a plain-language legend", "Forced handoff" in html and "does not need the lock" in html)

        # ---- the page in a real browser ----
        chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
        node = shutil.which("node")
        modules = find_playwright()
        if not (chromium and node and modules):
            print("SKIP browser test: needs chromium, node and playwright-core "
                  f"(found chromium={chromium}, node={node}, playwright-core={modules}); "
                  "./run.sh test installs them")
        else:
            js = os.path.join(tmp, "browse.js")
            with open(js, "w") as f:
                f.write(BROWSER_JS)
            env = dict(os.environ, NODE_PATH=modules)
            b = subprocess.run([node, js, page, chromium], capture_output=True, text=True, timeout=180, env=env)
            try:
                out = json.loads(b.stdout.strip().splitlines()[-1])
            except Exception:
                out = {"fatal": b.stdout + b.stderr}
            check("the browser loaded the page", "fatal" not in out, out.get("fatal"))
            if "fatal" not in out:
                check("no console errors", out["errors"] == [], out["errors"])
                check("no network requests", out["requests"] == [], out["requests"])
                check("a lane per thread in the browser", len(out["lanes"]) == 6, out["lanes"])
                check("all handoffs drawn", out["handoffs"] == len(starts), out["handoffs"])
                check("hovering a forced arrow shows its cause and who asked",
                      "Cause: forced" in out["arrow_tip"] and "Asked by" in out["arrow_tip"], out["arrow_tip"])
                check("hovering a running slice shows its cause and duration",
                      "Cause:" in out.get("slice_tip", "") and "running" in out.get("slice_tip", ""),
                      out.get("slice_tip"))
                check("zoom in halves the visible range", abs(out["zoom_ratio"] - 0.5) < 1e-6, out["zoom_ratio"])
                check("dragging pans along time", out["panned_t0"] > 0, out["panned_t0"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
