"""The Simulation tab in a real headless Chromium: screenshots, a real click flow, and what
the tab costs Locust's stats endpoint.

    .venv/bin/python bench/webui_screenshot.py [--out /tmp/webui_shots] [--time-scale 120]

Starts ``locust`` (mock API and DB, ``--autostart --processes 1``, web UI on a free
loopback port) in a temporary directory, then:

1. screenshots ``/?tab=simulation`` and ``/simulation`` with Chromium's CLI;
2. over the DevTools protocol (needs ``websocket-client``) clicks **Pause** in the bar on
   Locust's page, shows the clock standing still, screenshots the paused tab, clicks
   **Resume**, and shows the clock moving again;
3. screenshots the tab's hour charts (scrolled into view) after ``--wait-hours``
   simulated hours;
4. times ``GET /stats/requests`` (with the tab's rows), ``GET /simulation/status`` and
   ``GET /simulation/hours`` (the charts' data).

Screenshots go to ``--out`` (not committed). Needs ``/usr/bin/chromium``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/webui_shots")
    ap.add_argument("--time-scale", type=float, default=120)
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--wait-hours", type=int, default=0, help="simulated hours before the shots")
    args = ap.parse_args()

    from tests.test_webui_support import (
        Browser,
        chromium_cli,
        chromium_missing,
        running_locust,
        wait_for,
    )

    reason = chromium_missing()
    if reason:
        print(reason)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="webui_bench_") as tmp_s:
        tmp = Path(tmp_s)
        extra = ("--autostart", "--processes", "1")
        with running_locust(tmp, *extra, time_scale=args.time_scale) as ui:
            wait_for(lambda: ui.tab_rows()["personas"]["raw"], timeout=90, what="leases", ui=ui)
            clock = lambda: datetime.fromisoformat(ui.tab_rows()["sim_time"]["raw"])  # noqa: E731
            print(f"locust web UI at {ui.url}, sim clock {clock().isoformat()}")
            wait_for(lambda: (ui.status()["sim_hour"] or 0) >= args.wait_hours,
                     timeout=60 + args.wait_hours * 3600 / args.time_scale * 2,
                     what=f"{args.wait_hours} simulated hours", ui=ui)  # fmt: skip

            for name, path in (("tab", "/?tab=simulation"), ("page", "/simulation")):
                png = out / f"{name}.png"
                t0 = time.perf_counter()
                chromium_cli(
                    ["--virtual-time-budget=8000", f"--screenshot={png}", ui.url + path],
                    profile=tmp / f"cli-{name}",
                )
                print(f"screenshot {png} ({time.perf_counter() - t0:.1f} s)")

            browser = Browser(tmp / "cdp")
            try:
                browser.goto(ui.url + "/?tab=simulation")
                browser.wait_js("document.body.innerText.includes('Simulated clock')")
                t0 = time.perf_counter()
                browser.click("#loadsim-pause")
                wait_for(lambda: ui.status()["paused"], timeout=10, what="pause")
                print(f"click Pause -> paused in {(time.perf_counter() - t0) * 1000:.0f} ms")
                a = clock()
                time.sleep(3)
                b = clock()
                print(f"paused: clock {a.isoformat()} -> {b.isoformat()} after 3 s")
                browser.wait_js("document.body.innerText.includes('PAUSED')", timeout=10)
                browser.screenshot(out / "tab_paused.png")
                print(f"screenshot {out / 'tab_paused.png'}")
                t0 = time.perf_counter()
                browser.click("#loadsim-resume")
                wait_for(lambda: not ui.status()["paused"], timeout=10, what="resume")
                print(f"click Resume -> running in {(time.perf_counter() - t0) * 1000:.0f} ms")
                a = clock()
                time.sleep(3)
                b = clock()
                print(f"running: clock {a.isoformat()} -> {b.isoformat()} after 3 s")
                n = browser.wait_js(
                    "(() => { const p = document.getElementById('loadsim-hours');"
                    " if (!p || !p.dataset.updates) return null;"
                    " p.scrollIntoView(); return Number(p.dataset.hours); })()",
                    timeout=20,
                )
                time.sleep(0.5)
                browser.screenshot(out / "tab_charts.png")
                print(f"screenshot {out / 'tab_charts.png'} ({n} simulated hours drawn)")
            finally:
                browser.close()

            leased = ui.status()["personas_leased"]
            for path in ("/stats/requests", "/simulation/status", "/simulation/hours"):
                ms = []
                for _ in range(args.samples):
                    t0 = time.perf_counter()
                    ui.get(path)
                    ms.append((time.perf_counter() - t0) * 1000)
                    time.sleep(0.05)
                q = statistics.quantiles(ms, n=20)
                print(
                    f"GET {path}: median {statistics.median(ms):.1f} ms, p95 {q[18]:.1f} ms "
                    f"({args.samples} requests, {leased} personas leased, {args.time_scale:g}x)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
