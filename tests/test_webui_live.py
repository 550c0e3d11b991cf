"""The Simulation tab against a real ``locust`` master (``--processes 1``: a MasterRunner with
one worker, so a pause must also reach the worker) with the web UI on a loopback port.

The master is started once for the module (mock API and DB, ``--autostart``); the tests
run in file order and leave it running (not paused) for the next one.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.test_webui_support import (
    Browser,
    LocustUI,
    chromium_cli,
    require_chromium,
    running_locust,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("webui_live")
    with running_locust(tmp, "--autostart", "--processes", "1", time_scale=120) as running:
        wait_for(
            lambda: running.tab_rows()["sim_time"]["raw"],
            timeout=90, what="the Simulation tab to show the clock", ui=running,
        )  # fmt: skip
        yield running


def _sim_time(ui: LocustUI) -> datetime:
    return datetime.fromisoformat(ui.tab_rows()["sim_time"]["raw"])


def _post_json(ui: LocustUI, action: str, **body: str) -> tuple[int, dict]:
    return ui.post(
        f"/simulation/{action}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )


def test_tab_rows_show_the_running_clock(ui: LocustUI) -> None:
    rows = ui.tab_rows()
    assert rows["state"]["raw"] == "running"
    assert rows["time_scale"]["raw"] == 120
    assert rows["time_scale"]["value"].startswith("120x")
    t = datetime.fromisoformat(rows["sim_time"]["raw"])
    assert rows["sim_time"]["value"] == t.strftime("%a %Y-%m-%d %H:%M:%S UTC")
    # Personas are leased to the worker once its users start.
    wait_for(lambda: ui.tab_rows()["personas"]["raw"], timeout=30, what="leases", ui=ui)
    # Rows arrive in reading order for Locust's table (which sorts by ``name``).
    names = [r["name"] for r in sorted(rows.values(), key=lambda r: r["name"])]
    assert list(rows)[:2] == ["state", "sim_time"]
    assert names == sorted(names) and len(set(names)) == len(names)
    # The tab itself is declared in the page's template args.
    code, html = ui.get("/", headers={"Accept": "text/html"})
    assert code == 200
    assert '"extended_tabs": [{"key": "simulation", "title": "Simulation"}]' in html
    assert "loadsim-sim-bar" in html  # the button bar is added to Locust's page


def test_pause_stops_the_clock_and_resume_restarts_it(ui: LocustUI) -> None:
    code, body = _post_json(ui, "pause", reason="checking the\nweb UI")
    assert code == 200, body
    assert body["changed"] is True
    assert body["status"]["paused"] is True
    rows = ui.tab_rows()
    assert rows["state"]["raw"] == "paused"
    assert rows["state"]["value"] == "PAUSED — checking the web UI"  # one line, as logged
    first = _sim_time(ui)
    time.sleep(2.5)  # > Locust's 2 s stats cache and > 5 simulated minutes at 120x
    assert _sim_time(ui) == first
    assert ui.status()["paused"] is True

    code, again = _post_json(ui, "pause")
    assert (code, again["changed"], again["message"]) == (200, False, "already paused")

    code, body = _post_json(ui, "resume")
    assert code == 200 and body["changed"] is True and body["status"]["paused"] is False
    a = _sim_time(ui)
    assert a >= first
    # The clock runs again: more than a simulated minute passes (0.5 real s at 120x).
    # Waited for, not slept for: a busy box or Locust's 2 s stats cache may delay it.
    wait_for(
        lambda: (_sim_time(ui) - a).total_seconds() > 60,
        timeout=20, what="the clock to advance after resume", ui=ui,
    )  # fmt: skip
    assert ui.tab_rows()["state"]["raw"] == "running"

    code, body = _post_json(ui, "resume")
    assert (code, body["changed"], body["message"]) == (200, False, "not paused")


def test_controls_page_csv_and_form_posts(ui: LocustUI) -> None:
    code, html = ui.get("/simulation", headers={"Accept": "text/html"})
    assert code == 200
    assert '<tr data-key="sim_time">' in html
    assert 'action="/simulation/pause"' in html

    # A browser form without JavaScript gets the page back with the outcome.
    code, html = ui.post(
        "/simulation/pause",
        data=b"reason=form",
        headers={"Accept": "text/html", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert code == 200
    assert "<div id=msg>paused: form</div>" in html
    assert "PAUSED — form" in html
    code, html = ui.post("/simulation/resume", data=b"", headers={"Accept": "text/html"})
    assert code == 200 and "<div id=msg>resumed</div>" in html

    code, text = ui.get("/simulation/status.csv", headers={"Accept": "text/csv"})
    assert code == 200
    table = {r["key"]: r for r in csv.DictReader(io.StringIO(text))}
    assert table["state"]["raw"] == "running"
    assert datetime.fromisoformat(table["sim_time"]["raw"]).year >= 2000

    code, _ = ui.get("/simulation/pause")  # state changes are POST only
    assert code == 405
    assert ui.status()["paused"] is False


def test_checkpoint_writes_a_file(ui: LocustUI) -> None:
    code, body = _post_json(ui, "checkpoint")
    assert code == 200, body
    path = Path(body["path"])
    if not path.is_absolute():
        path = ui.log.parent / path  # locust runs with the test's tmp dir as cwd
    assert path.is_file()
    assert body["message"] == f"checkpoint written: {body['path']}"


def test_tab_renders_in_headless_chromium(ui: LocustUI, tmp_path: Path) -> None:
    require_chromium()
    url = ui.url + "/?tab=simulation"
    dom = chromium_cli(["--virtual-time-budget=8000", "--dump-dom", url], profile=tmp_path / "p1")
    day = _sim_time(ui).strftime("%a %Y-%m-%d")
    # React rendered the tab: its table with the clock row, filled from /stats/requests.
    assert "Simulated clock" in dom
    assert day in dom
    assert "Pause / Resume / Checkpoint" in dom
    # The hour charts, drawn by the page's own script above the tab's table.
    assert '<svg id="loadsim-chart-counts"' in dom and '<svg id="loadsim-chart-slip"' in dom
    png = tmp_path / "tab.png"
    chromium_cli(
        ["--virtual-time-budget=8000", f"--screenshot={png}", url], profile=tmp_path / "p2"
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_buttons_pause_and_resume_in_a_real_browser(ui: LocustUI, tmp_path: Path) -> None:
    require_chromium()
    pytest.importorskip("websocket", reason="websocket-client drives Chromium's DevTools")
    browser = Browser(tmp_path / "profile")
    try:
        browser.goto(ui.url + "/?tab=simulation")
        browser.wait_js("document.body.innerText.includes('Simulated clock')", what="the tab")
        _assert_hour_charts(browser, ui, "the tab")
        browser.click("#loadsim-pause")
        wait_for(lambda: ui.status()["paused"], timeout=10, what="pause by a click")
        assert ui.status()["paused_reason"] == "paused from the web UI"
        # The bar shows the simulation's own state (Locust's header still says RUNNING).
        browser.wait_js(
            "document.getElementById('loadsim-sim-bar').innerText"
            ".includes('Simulation PAUSED: paused from the web UI')",
            timeout=15,
            what="the bar to show the pause",
        )
        browser.click("#loadsim-resume")
        wait_for(lambda: not ui.status()["paused"], timeout=10, what="resume by a click")

        browser.goto(ui.url + "/simulation")
        _assert_hour_charts(browser, ui, "/simulation")
        browser.click("#btn-pause")
        wait_for(lambda: ui.status()["paused"], timeout=10, what="pause from /simulation")
        browser.wait_js(
            "document.getElementById('msg').textContent.startsWith('paused')",
            what="the page to show the outcome",
        )
        browser.click("#btn-resume")
        wait_for(lambda: not ui.status()["paused"], timeout=10, what="resume from /simulation")
    finally:
        browser.close()


_CHART_STATE = """(() => {
  const panel = document.getElementById("loadsim-hours");
  if (!panel || !panel.dataset.updates || panel.style.display === "none") return null;
  const pts = (id, series) => [...document.querySelectorAll(
    `#${id} g[data-series="${series}"] circle.pt`)].map((c) => Number(c.dataset.hour));
  return {
    updates: Number(panel.dataset.updates),
    table: [...panel.querySelectorAll("#loadsim-hours-table tbody tr")].map(
      (tr) => [...tr.children].map((td) => td.textContent)),
    sessions: pts("loadsim-chart-counts", "sessions"),
    orders: pts("loadsim-chart-counts", "orders"),
    failed: pts("loadsim-chart-counts", "failed"),
    p99: pts("loadsim-chart-slip", "slip_p99_ms"),
    above_table: !!panel.nextElementSibling &&
      panel.nextElementSibling.innerText.includes("Simulated clock"),
  };
})()"""


def _assert_hour_charts(browser, ui: LocustUI, where: str) -> None:
    """The simulated clock's story drawn as SVG: one point per simulated hour the table
    under the charts shows (the hours so far, from /simulation/hours), redrawn as the run
    goes on."""
    first = browser.wait_js(_CHART_STATE, timeout=20, what=f"the hour charts on {where}")
    hours = [r[0] for r in first["table"]]
    assert hours and hours == [str(h) for h in range(int(hours[0]), int(hours[-1]) + 1)]
    for series in ("sessions", "orders", "failed"):
        assert [str(h) for h in first[series]] == hours, (series, first)
    # Slip is drawn for each hour that has one, as the table says.
    assert [str(h) for h in first["p99"]] == [r[0] for r in first["table"] if r[6] != "—"]
    code, body = ui.get("/simulation/hours", headers={"Accept": "application/json"})
    assert code == 200
    live = body["hours"]
    assert [h["hour"] for h in live][: len(hours)] == [int(h) for h in hours]
    if where == "the tab":  # above the tab's own table, outside React's nodes
        assert first["above_table"] is True, first
    # Refreshing as the run goes: redrawn from new data every 5 s.
    again = browser.wait_js(
        f"(() => {{ const s = {_CHART_STATE}; return s && s.updates > {first['updates']} ? s : null; }})()",
        timeout=20, what=f"the hour charts on {where} to redraw",
    )  # fmt: skip
    assert len(again["sessions"]) == len(again["table"]) >= len(hours)
