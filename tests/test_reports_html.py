"""``report.html``: one self-contained file whose numbers are ``summary.json``'s, that
renders in headless Chromium offline without a console error.

The run directory is a fixture (Locust's real CSV format, ``hours.csv``, a run log with a
breaker trip, a pause and a resume): no locust run needed for a static page.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from reports.build import build_run_report
from reports.html_report import DATA_ID
from tests.report_fixture import ORDERS, SESSIONS, make_run, write_locust_template
from tests.test_webui_support import Browser, require_chromium, wait_for

EVENTS = [
    {"ts": "2025-01-01T10:08:00+00:00", "event": "breaker_trip", "sim_hour": 6,
     "active": 40, "failed": 9, "failed_pct": 22.5, "threshold_pct": 5.0},
    {"ts": "2025-01-01T10:08:01+00:00", "event": "pause", "reason": "circuit breaker",
     "sim_time": "2025-01-06T06:30:00+00:00"},
    {"ts": "2025-01-01T10:09:00+00:00", "event": "resume", "was": "circuit breaker",
     "sim_time": "2025-01-06T06:30:00+00:00"},
    {"ts": "2025-01-01T10:09:30+00:00", "event": "errors", "sim_hour": 7, "http_5xx": 3},
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    write_locust_template(tmp / "tpl")
    d = make_run(
        tmp / "tpl",
        tmp / "runs" / "h1",
        events=EVENTS,
        options={"thresholds": ["p95<800ms", "slip_p99<2s", "error_rate<1%"]},
    )
    build_run_report(d, engine=None)
    return d


class _Page(HTMLParser):
    """Every ``data-key``/``data-value`` pair, the data block, and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, Any] = {}
        self.refs: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()
        self._in_data = False
        self.data_block = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if "data-key" in a:
            self.cells[str(a["data-key"])] = json.loads(a["data-value"] or "null")
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action"):
                self.refs.append((tag, name, value or ""))
        self._in_data = tag == "script" and a.get("id") == DATA_ID

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data_block += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_data = False


def _lookup(summary: dict[str, Any], key: str) -> Any:
    v: Any = summary
    for part in key.split("."):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v


def _page(run: Path) -> _Page:
    p = _Page()
    p.feed((run / "report.html").read_text(encoding="utf-8"))
    return p


def test_headline_numbers_are_summary_json_s(run: Path) -> None:
    summary = json.loads((run / "summary.json").read_text())
    assert summary["outputs"]["html"] == "report.html"
    page = _page(run)
    # The glance: verdict cards, each gate row (threshold, value, unit, result), API,
    # clock and data rows — every one names its summary.json key.
    assert len(page.cells) == 4 + 3 * 6 + 13
    for key, value in page.cells.items():
        assert value == _lookup(summary, key), key
    assert page.cells["verdict.gates.1.expr"] == "slip_p99<2s"
    assert (page.cells["verdict.gates.1.threshold"], page.cells["verdict.gates.1.pass"]) == (
        2000.0,
        False,
    )
    assert page.cells["verdict.api.held"] is False and page.cells["verdict.clock.held"] is False


def test_data_block_carries_the_charts_figures(run: Path) -> None:
    summary = json.loads((run / "summary.json").read_text())
    data = json.loads(_page(run).data_block)
    assert data["verdict"] == summary["verdict"]
    assert data["run_id"] == "h1"
    h = data["hours"]
    assert h["sim_hour"] == list(range(24))
    assert sum(h["sessions"]) == SESSIONS == summary["behavior"]["overall"]["sessions"]
    assert sum(h["orders"]) == ORDERS == summary["behavior"]["overall"]["orders"]
    assert sum(h["failed"]) == summary["time"]["failed_flows"]
    assert sum(h["missed"]) == summary["time"]["missed_sessions"]
    assert set(h["slip_p99_ms"]) == {summary["time"]["slip_p99_s"] * 1000.0}
    assert data["slip_threshold_ms"] == 2000.0  # the run's own slip gate, in ms
    assert data["endpoints"] == summary["load"]["endpoints"]
    assert {k: data["load"][k] for k in ("requests", "p95_ms", "error_rate")} == {
        k: summary["load"][k] for k in ("requests", "p95_ms", "error_rate")
    }
    # Events on the simulated-hour axis; the run log's "errors" line is not an event.
    assert [(e["kind"], e["sim_hour"]) for e in data["events"]] == [
        ("breaker_trip", 6.0),
        ("pause", 6.5),
        ("resume", 6.5),
    ]
    assert data["events"][0]["detail"] == "9 of 40 active agents failed"


def test_page_is_self_contained(run: Path) -> None:
    page = _page(run)
    text = (run / "report.html").read_text(encoding="utf-8")
    assert page.tags >= {"svg", "table"} and "link" not in page.tags and "img" not in page.tags
    assert text.count("<svg") == 6
    # No file, script, stylesheet or font fetched: the only references are in-page ones.
    assert page.refs and all(v.startswith("#") for _, _, v in page.refs), page.refs
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert "url(http" not in text and "@import" not in text


def test_renders_in_headless_chromium_offline_without_console_errors(
    run: Path, tmp_path: Path
) -> None:
    require_chromium()
    browser = _RecordingBrowser(tmp_path / "profile")
    try:
        for domain in ("Runtime.enable", "Log.enable", "Network.enable"):
            browser.send(domain)
        browser.send("Emulation.setDeviceMetricsOverride", width=1150, height=2600,
                     deviceScaleFactor=1, mobile=False)  # fmt: skip
        url = (run / "report.html").as_uri()
        browser.goto(url)
        browser.wait_js("document.readyState === 'complete'", what="the page to load")
        assert browser.js("document.querySelectorAll('svg').length") == 6
        assert browser.js("document.querySelector('.glance .card .v').innerText") == "NOT OK"
        # The charts laid out at width: each is drawn, not a zero-size box.
        widths = browser.js("[...document.querySelectorAll('svg')].map(s => s.clientWidth)")
        assert min(widths) > 500, widths
        png = tmp_path / "report.png"
        browser.screenshot(png)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
        wait_for(lambda: browser.js("1") == 1, timeout=5, what="events to drain")
    finally:
        browser.close()
    errors = [
        e
        for e in browser.events
        if e["method"] == "Runtime.exceptionThrown"
        or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []
    fetched = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e["method"] == "Network.requestWillBeSent"
    ]
    assert fetched == [url]  # the page itself, nothing else: it opens offline


class _RecordingBrowser(Browser):
    """``Browser`` that keeps the DevTools events (console, exceptions, requests)."""

    def __init__(self, profile: Path) -> None:
        super().__init__(profile)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)


def test_loadsim_report_rewrites_the_page_with_the_command_line_gates(
    run: Path, tmp_path: Path
) -> None:
    import shutil

    from harness.cli import main

    run = Path(shutil.copytree(run, tmp_path / "runs" / run.name))  # the fixture stays as built
    (run / "report.html").unlink()
    code = main(["report", run.name, "--runs-dir", str(run.parent), "--no-db",
                 "--threshold", "rps>0"])  # fmt: skip
    assert code == 0
    page = _page(run)
    assert page.cells["verdict.gates.0.expr"] == "rps>0"
    assert page.cells["verdict.gates.0.pass"] is True
    assert (
        json.loads(page.data_block)["verdict"]
        == json.loads((run / "summary.json").read_text())["verdict"]
    )


def _realism_report() -> Any:
    import numpy as np

    from reports.realism import RealismReport
    from reports.realism_stats import Sample, compare

    rng = np.random.default_rng(5)
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    sim = {
        "baskets per household-week": Sample(rng.poisson(1.2, 400).astype(float)),
        "basket value": Sample(rng.lognormal(3.4, 0.6, 300)),
        "day-of-week share": Sample(np.array([0.12, 0.13, 0.14, 0.13, 0.15, 0.18, 0.15]), days),
    }
    real = {
        "baskets per household-week": Sample(rng.poisson(1.0, 500).astype(float)),
        "basket value": Sample(rng.lognormal(3.5, 0.7, 350)),
        "day-of-week share": Sample(np.array([0.13, 0.12, 0.13, 0.13, 0.16, 0.19, 0.14]), days),
    }
    return RealismReport(compare(sim, real), header=["real: 120 held-out households"],
                         sim=sim, real=real)  # fmt: skip


def test_realism_results_in_the_run_are_overlaid_in_the_page(run: Path, tmp_path: Path) -> None:
    """``loadsim realism RUN -o runs/RUN/realism`` then ``loadsim report RUN``: the page
    shows each statistic's score and means as ``realism.json``/``realism.csv`` have them,
    and both sides overlaid per statistic (CDFs for distributions, bars for shares)."""
    import csv
    import shutil

    from harness.cli import main
    from reports.realism_render import write_outputs

    run = Path(shutil.copytree(run, tmp_path / "runs" / run.name))
    before = (run / "report.html").read_text()
    assert "Realism: simulated vs real households" not in before  # no results, no section
    written = write_outputs(_realism_report(), run / "realism")
    assert run / "realism" / "realism.json" in written
    code = main(["report", run.name, "--runs-dir", str(run.parent), "--no-db"])
    assert code == 0
    page = _page(run)
    text = (run / "report.html").read_text()
    stored = json.loads((run / "realism" / "realism.json").read_text())
    with open(run / "realism" / "realism.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["statistic"] for r in table] == [r["statistic"] for r in stored["rows"]] == [
        "baskets per household-week", "basket value", "day-of-week share",
    ]  # fmt: skip
    for r in table:
        key = f"realism.{r['statistic']}"
        assert round(page.cells[f"{key}.score"], 4) == float(r["score"])
        assert round(page.cells[f"{key}.sim_mean"], 4) == float(r["sim_mean"])
        assert round(page.cells[f"{key}.real_mean"], 4) == float(r["real_mean"])
    block = json.loads(page.data_block)["realism"]
    assert block == {"source": "realism/realism.json", "rows": stored["rows"]}
    # One overlay per statistic, titled with its score, in one inline SVG.
    section = text[text.index("<h2>Realism: simulated vs real households</h2>") :]
    section = section[: section.index("</section>")]
    assert section.count("<svg") == 1
    for r in stored["rows"]:
        assert f"{r['statistic']} — score {r['score']:.3f}" in section
    assert stored["overlays"]["day-of-week share"]["labels"][0] == "Mon"
    assert len(stored["overlays"]["basket value"]["probs"]) == 51
    assert "real (held out)" in section and "simulated" in section


def test_an_unreadable_realism_file_is_named_and_the_page_still_written(
    run: Path, tmp_path: Path
) -> None:
    import shutil

    from harness.cli import main

    run = Path(shutil.copytree(run, tmp_path / "runs" / run.name))
    (run / "realism.json").write_text("{not json")
    assert main(["report", run.name, "--runs-dir", str(run.parent), "--no-db"]) == 0
    text = (run / "report.html").read_text()
    assert '<p class="muted">not shown: realism.json: Expecting property name' in text
    assert "realism" not in json.loads(_page(run).data_block)
