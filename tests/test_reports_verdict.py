"""The verdict block of ``summary.json``, ``summary.txt`` and the rate names that say
what they divide — from a run directory in Locust's real CSV format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports.build import build_run_report
from reports.console import render_console
from tests.report_fixture import (
    COMPLETED,
    ORDERS,
    SESSIONS,
    SHOPPED,
    locust_template_fixture,  # noqa: F401  (the locust_template fixture)
    make_run,
)
from tests.test_reports_support import write_manifest


@pytest.fixture()
def mock_db_run(tmp_path: Path, locust_template: Path) -> Path:
    return make_run(locust_template, tmp_path / "runs" / "r48")


def _gates(d: Path, *exprs: str, **manifest: object) -> None:
    write_manifest(d, mock_db=True, options={"thresholds": list(exprs)}, **manifest)


def test_verdict_names_each_gate_with_threshold_value_unit_and_outcome(mock_db_run: Path) -> None:
    _gates(mock_db_run, "p95<800ms", "error_rate<1%", "conversion>99%", "slip_p99<5s")
    build_run_report(mock_db_run, engine=None)
    s = json.loads((mock_db_run / "summary.json").read_text())
    v = s["verdict"]
    gates = {g["expr"]: g for g in v["gates"]}
    assert list(gates) == ["p95<800ms", "error_rate<1%", "conversion>99%", "slip_p99<5s"]

    p95 = gates["p95<800ms"]
    assert (p95["threshold"], p95["unit"], p95["pass"], p95["kind"]) == (800.0, "ms", True, "load")
    assert p95["value"] == s["load"]["p95_ms"]
    err = gates["error_rate<1%"]
    assert (err["threshold"], err["unit"], err["pass"]) == (0.01, "fraction", False)
    assert err["value"] == pytest.approx(5 / 250)
    conv = gates["conversion>99%"]
    assert conv["value"] == pytest.approx(COMPLETED / SHOPPED)
    assert (conv["pass"], conv["kind"]) == (False, "behavior")
    slip = gates["slip_p99<5s"]  # hours.csv gives 3.0 s every hour
    assert (slip["threshold"], slip["unit"], slip["value"], slip["pass"]) == (
        5000.0,
        "ms",
        3000.0,
        True,
    )
    assert v["gates_ok"] is False and v["gates_exit_code"] == 3 and v["ok"] is False

    # API: 10 % of the checkouts failed (2 % of all HTTP requests) — over the 1 % line.
    assert v["api"]["held"] is False
    assert v["api"]["reasons"] == ["error rate 2.00% > 1%"]
    assert v["api"]["error_rate_fraction"] == pytest.approx(0.02)
    # Clock: realized 48x of 48x, slip p99 4 % of an hour, but one missed session.
    c = v["clock"]
    assert (c["time_scale_set"], c["time_scale_realized"]) == (48.0, 48.0)
    assert c["slip_p99_ms"] == pytest.approx(3000.0)
    assert c["slip_p99_pct_hour"] == pytest.approx(4.0)
    assert (c["held"], c["reasons"]) == (False, ["1 missed sessions"])
    data = v["data"]
    assert (data["sim_hours"], data["sessions"], data["orders"], data["http_requests"]) == (
        24,
        SESSIONS,
        ORDERS,
        250,
    )
    assert data["database_rows"] is False
    assert {"summary.json", "summary.txt", "report.xlsx", "plots/slip.png"} <= set(
        data["files_written"]
    )
    # Rates under names that say what they divide; units named.
    beh = s["behavior"]["overall"]
    assert (
        beh["completed_per_shop_session"] == beh["conversion"] == pytest.approx(COMPLETED / SHOPPED)
    )
    assert beh["orders_per_session"] == pytest.approx(ORDERS / SESSIONS)
    assert beh["orders_per_shop_session"] == pytest.approx(ORDERS / SHOPPED)
    assert s["units"]["money"] == "cents (*_cents)"
    assert s["units"]["latency"] == "milliseconds (*_ms)"


def test_summary_txt_is_the_console_summary_verdict_first(mock_db_run: Path) -> None:
    _gates(mock_db_run, "p95<800ms")
    summary = build_run_report(mock_db_run, engine=None)
    text = (mock_db_run / "summary.txt").read_text(encoding="utf-8")
    on_disk = json.loads((mock_db_run / "summary.json").read_text())
    assert text == render_console(on_disk)
    lines = text.splitlines()
    assert lines[:3] == [
        "Run r48",
        "verdict: NOT OK — the API did not hold, the clock did not hold",
        f"  [PASS] load gate p95<800ms: {summary['load']['p95_ms']:.4g} (limit 800 ms)",
    ]
    assert lines[3].startswith("  API held: NO — error rate 2.00% > 1%")
    assert lines[4] == "  clock held: NO — 1 missed sessions"
    assert lines[5] == (
        f"  data: 24 sim hours, {SESSIONS:,} sessions, {ORDERS} orders, 250 HTTP requests, "
        "database rows: no"
    )
    assert "completed / shop sessions" in text and "orders / all sessions" in text


def test_command_line_gates_replace_the_runs_own(mock_db_run: Path) -> None:
    _gates(mock_db_run, "p95<1ms")
    s = build_run_report(mock_db_run, engine=None, thresholds=["rps>0"])
    assert [g["expr"] for g in s["verdict"]["gates"]] == ["rps>0"]
    assert s["verdict"]["gates"][0]["pass"] is True
    s = build_run_report(mock_db_run, engine=None)
    assert [(g["expr"], g["pass"]) for g in s["verdict"]["gates"]] == [("p95<1ms", False)]


def test_breaker_trip_in_the_run_log_means_the_api_did_not_hold(mock_db_run: Path) -> None:
    log = mock_db_run / "simulation_runs.log"
    rec = {"ts": "2025-01-01T10:05:00+00:00", "event": "breaker_trip", "sim_hour": 6,
           "active": 40, "failed": 9}  # fmt: skip
    log.write_text("not json\n" + json.dumps(rec) + "\n", encoding="utf-8")
    api = build_run_report(mock_db_run, engine=None)["verdict"]["api"]
    assert api["held"] is False and api["breaker_trips"] == 1 and api["outages"] == 0
    assert "breaker_trip at sim hour 6" in api["reasons"]


def test_mock_api_run_has_no_api_verdict_and_no_gates_is_said(mock_db_run: Path) -> None:
    write_manifest(mock_db_run, mock_db=True, mock_api=True)
    s = build_run_report(mock_db_run, engine=None)
    assert s["verdict"]["api"]["held"] is None
    assert s["verdict"]["gates"] == [] and s["verdict"]["gates_ok"] is True
    assert "  gates: none set (--threshold)" in (mock_db_run / "summary.txt").read_text()
