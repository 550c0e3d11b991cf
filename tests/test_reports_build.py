"""Run reports from a run directory (Locust's real CSV format) and the real database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from matplotlib.image import imread
from openpyxl import load_workbook

from db.errors import ConfigError
from harness.agent.timings import GRAPH, HarnessTimings, db_name
from reports.build import build_run_report
from reports.console import render_console
from reports.load import error_kind
from reports.sources import read_run_files
from reports.xlsx import NO_DATA, SHEETS
from tests.report_fixture import CART_MS, CHECKOUT_MS, HOURS, write_locust_template
from tests.test_reports_support import (
    RunSpec,
    populate_run,
    population,
    write_hours,
    write_manifest,
)


@pytest.fixture(scope="module")
def locust_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Locust CSVs written once by Locust's own writer: two HTTP endpoints (all Locust
    ever holds), plus the harness's own timings in their own CSV."""
    d = tmp_path_factory.mktemp("locust") / "tpl"
    write_locust_template(d)
    timings = HarnessTimings()
    for _ in range(40):
        timings.record(db_name("session_commit"), 5.0)
    for _ in range(10):
        timings.record(GRAPH, 20_000.0)
    timings.write_run_csv(d)
    return d


@pytest.fixture()
def mock_db_run(tmp_path: Path, locust_template: Path) -> Path:
    d = tmp_path / "runs" / "r48"
    shutil.copytree(locust_template, d)
    write_manifest(d, mock_db=True)
    write_hours(d, HOURS)
    return d


def test_mock_db_run_report_figures_follow_inputs(mock_db_run: Path) -> None:
    s = build_run_report(mock_db_run, engine=None)

    load = s["load"]
    assert load["requests"] == len(CART_MS) + len(CHECKOUT_MS)
    assert load["failures"] == 5
    assert load["error_rate"] == pytest.approx(5 / 250)
    assert load["errors_by_kind"] == {"http_5xx": 5}
    names = {e["name"] for e in load["endpoints"]}
    assert names == {"/api/cart", "/api/orders/checkout"}
    assert "non_http" not in load  # Locust's stats hold HTTP requests only
    timed = {t["name"]: t for t in s["harness_timings"]}
    assert set(timed) == {"db.session_commit", "graph.shopping_graph"}
    assert timed["db.session_commit"]["count"] == 40
    assert timed["graph.shopping_graph"]["p95_ms"] == pytest.approx(20_000, rel=0.01)
    # API p99 (Locust's Aggregated row) lies in the checkout range.
    assert 300 <= load["p99_ms"] <= 350
    assert 100 <= load["p50_ms"] <= 150

    beh = s["behavior"]
    assert beh["source"] == "hours.csv"
    assert beh["overall"]["shop_sessions"] == sum(r["shopped"] for r in HOURS)
    assert beh["overall"]["completed"] == sum(r["completed"] for r in HOURS)
    assert beh["overall"]["basket_size_mean"] is None
    assert any("hours.csv only" in n for n in s["sources"]["notes"])

    t = s["time"]
    assert t["realized_time_scale"] == pytest.approx(48.0)
    assert t["sim_hours"] == 24 and t["sim_days"] == 1.0
    assert t["slip_p99_pct_hour"] == pytest.approx(3.0 / 75 * 100)
    assert t["missed_sessions"] == 1
    assert t["failed_flows"] == sum(r["failed"] for r in HOURS)
    orders = sum(r["orders"] for r in HOURS)
    assert s["orders_per_real_minute"] == pytest.approx(orders / 30.0)  # 30-min manifest
    assert beh["overall"]["per_sim_day"]["orders"] == pytest.approx(orders)

    on_disk = json.loads((mock_db_run / "summary.json").read_text())
    assert on_disk["load"]["requests"] == 250
    assert on_disk["calibration"]["checked"] is False


def test_report_xlsx_sheets_formats_and_plots(mock_db_run: Path) -> None:
    build_run_report(mock_db_run, engine=None)
    wb = load_workbook(mock_db_run / "report.xlsx")
    assert tuple(wb.sheetnames) == SHEETS
    for ws in wb.worksheets:
        assert ws.max_row >= 2, ws.title
        assert ws.freeze_panes == ("B2" if ws.title == "Hours" else "A2"), ws.title
    load = {r[0].value: r[1] for r in wb["Load"].iter_rows(min_row=2)}
    assert load["error rate (%)"].value == pytest.approx(0.02)
    assert load["error rate (%)"].number_format == "0.00%"
    assert load["HTTP requests"].number_format == "#,##0"
    endpoints = [[c.value for c in r] for r in wb["Endpoints"].iter_rows()]
    assert endpoints[0][:3] == ["request", "requests", "failures"]
    assert sorted(r[0] for r in endpoints[1:]) == ["GET /api/cart", "POST /api/orders/checkout"]
    timings = [[c.value for c in r] for r in wb["Harness timings"].iter_rows()]
    assert timings[0] == [
        "name", "count", "p50 (ms)", "p95 (ms)", "p99 (ms)", "max (ms)", "mean (ms)", "errors",
    ]  # fmt: skip
    assert [(r[0], r[1], r[7]) for r in timings[1:]] == [
        ("db.session_commit", 40, 0),
        ("graph.shopping_graph", 10, 0),
    ]
    assert wb["Harness timings"]["D2"].number_format == "#,##0.0"
    assert wb["Hours"].max_row == len(HOURS) + 1
    manifest = {r[0].value: r[1].value for r in wb["Manifest"].iter_rows(min_row=2)}
    assert manifest["time_scale"] == 48.0 and manifest["seed"] == 7

    plots = sorted(p.name for p in (mock_db_run / "plots").glob("*.png"))
    assert plots == ["funnel.png", "load.png", "ramp.png", "sessions_orders.png", "slip.png"]
    for p in (mock_db_run / "plots").glob("*.png"):
        img = imread(p)
        assert img.shape[0] > 100 and img.shape[1] > 100


def test_console_summary_shows_endpoints_and_time(mock_db_run: Path) -> None:
    text = render_console(build_run_report(mock_db_run, engine=None))
    assert "/api/orders/checkout" in text and "session_commit" not in text
    assert "10.00%" in text  # checkout failure rate
    assert "48.00 / 48.00" in text  # time scale set / realized
    assert "slip p99 (% of sim hour)" in text and "4.00%" in text
    t = build_run_report(mock_db_run, engine=None)["time"]
    ms = "/".join(f"{1000 * t[k]:,.0f}" for k in ("slip_p50_s", "slip_p95_s", "slip_p99_s"))
    line = next(ln for ln in text.splitlines() if "slip p50/p95/p99 (ms)" in ln)
    assert line.split("slip p50/p95/p99 (ms)")[1].split()[0] == ms  # 3,000 ms, not 3.00 s
    assert len(text.splitlines()) < 45


def test_missing_optional_files_still_give_a_full_report(tmp_path: Path) -> None:
    d = tmp_path / "bare"
    write_manifest(d, mock_db=True)
    s = build_run_report(d, engine=None)
    assert s["load"]["requests"] == 0 and s["load"]["p95_ms"] is None
    assert any("locust_stats.csv missing" in n for n in s["sources"]["notes"])
    wb = load_workbook(d / "report.xlsx")
    assert wb["Endpoints"]["A2"].value == NO_DATA
    assert all(ws.max_row >= 2 for ws in wb.worksheets)
    assert len(list((d / "plots").glob("*.png"))) == 5


def test_malformed_inputs_are_config_errors_naming_the_file(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    write_manifest(d)
    (d / "hours.csv").write_text("hour,acted\n1,2\n")
    with pytest.raises(ConfigError, match=r"hours\.csv: missing column\(s\) sim_hour"):
        read_run_files(d)
    (d / "hours.csv").unlink()
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"manifest\.json: not valid JSON") as exc:
        build_run_report(d, engine=None)
    assert exc.value.exit_code == 2
    assert not (d / "summary.json").exists() and not (d / "report.xlsx").exists()
    with pytest.raises(ConfigError, match="does not exist"):
        build_run_report(tmp_path / "nope", engine=None)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("HTTPError('500 Server Error: Internal Server Error for url: /api/cart')", "http_5xx"),
        ("HTTPError('429 Client Error: Too Many Requests')", "rate_limited"),
        ("CatchResponseError('409 status: conflict')", "http_4xx"),
        ("ConnectionRefusedError(111, 'Connection refused')", "connection"),
        ("ReadTimeout('timed out')", "timeout"),
        ("ValueError('boom')", "other"),
    ],
)
def test_error_kind(message: str, kind: str) -> None:
    assert error_kind(message) == kind


@pytest.fixture()
def db_run(tmp_path: Path, clean_db, locust_template: Path):
    d = tmp_path / "runs" / "db48"
    shutil.copytree(locust_template, d)
    write_manifest(d, sim_duration_hours=168)
    with clean_db.begin() as conn:
        truth = populate_run(conn, RunSpec(run_id="db48", agents=population(30), missed_every=97))
    return d, truth, clean_db


def test_db_run_behavior_offers_time_and_calibration(db_run) -> None:
    d, truth, engine = db_run
    s = build_run_report(d, engine=engine)
    beh = s["behavior"]["overall"]
    assert s["behavior"]["source"] == "database" and s["sources"]["database"] is True
    assert beh["shop_sessions"] == truth.shop_sessions
    assert beh["idle_browses"] == truth.idle_browses
    assert (beh["completed"], beh["abandoned"]) == (truth.completed, truth.abandoned)
    assert beh["conversion"] == pytest.approx(truth.completed / truth.shop_sessions)
    assert beh["abandonment"] == pytest.approx(truth.abandoned / truth.shop_sessions)
    assert beh["basket_size_mean"] == pytest.approx(truth.items / truth.shop_sessions)
    assert beh["order_value_mean_cents"] == pytest.approx(truth.order_total_cents / truth.completed)
    assert (beh["coupon_views"], beh["coupon_applies"]) == (
        truth.coupon_views,
        truth.coupon_applies,
    )
    assert beh["coupon_redemptions"] == truth.redemptions
    assert {seg["segment"].split("/")[0] for seg in s["behavior"]["segments"]} == {"app", "voice"}
    assert sum(seg["shop_sessions"] for seg in s["behavior"]["segments"]) == truth.shop_sessions

    assert s["offers"]["cycles"] == 1 and s["offers"]["assigned"] == 40
    assert s["offers"]["redeemed"] == truth.redemptions

    t = s["time"]
    assert t["slip_source"] == "agent_hours"
    assert t["missed_sessions"] == truth.missed > 0
    assert 0.5 <= t["slip_p50_s"] <= 1.5  # generated slips are uniform in [0.5, 1.5]

    cal = s["calibration"]
    assert cal["checked"] and cal["ok"], cal
    assert {m["metric"]: m["status"] for m in cal["metrics"]} == {
        "sessions_per_week": "ok",
        "basket_size": "ok",
        "abandonment": "ok",
    }

    wb = load_workbook(d / "report.xlsx")
    segs = [[c.value for c in r] for r in wb["Segments"].iter_rows()]
    assert segs[0][0] == "segment" and len(segs) > 2
    # Money in dollars on every sheet (summary.json keeps cents), named in the header.
    beh_rows = {r[0].value: r[1] for r in wb["Behavior"].iter_rows(min_row=2)}
    value = beh_rows["order value mean ($)"]
    assert value.value == pytest.approx(beh["order_value_mean_cents"] / 100)
    assert value.number_format == '"$"#,##0.00'
    head = segs[0]
    for row, seg in zip(segs[1:], s["behavior"]["segments"], strict=True):
        assert row[0] == seg["segment"]
        assert row[head.index("revenue ($)")] == pytest.approx(seg["revenue_cents"] / 100)
    assert not any("cents" in str(h) for h in head)
    # Calibration: the expected band as two numeric cells in the metric's unit.
    cal_rows = [[c for c in r] for r in wb["Calibration"].iter_rows()]
    cal_head = [c.value for c in cal_rows[0]]
    by_metric = {r[0].value: r for r in cal_rows[1:]}
    for m in s["calibration"]["metrics"]:
        row = by_metric[m["metric"]]
        exp = m["expected"] if isinstance(m["expected"], list) else [m["expected"]] * 2
        low, high = row[cal_head.index("expected low")], row[cal_head.index("expected high")]
        assert (low.value, high.value) == pytest.approx(exp)
        assert row[cal_head.index("realized")].value == pytest.approx(m["realized"])
        pct = m["metric"] == "abandonment"
        assert low.number_format == ("0.00%" if pct else "#,##0.00")
        assert row[1].value == "ok" and row[1].fill.fgColor.rgb == "00C6EFCE"


def _calibration(tmp_path: Path, engine, spec: RunSpec) -> dict:
    d = tmp_path / spec.run_id
    write_manifest(d)
    with engine.begin() as conn:
        populate_run(conn, spec)
    return build_run_report(d, engine=engine)


def test_db_run_distorted_behavior_fails_calibration(tmp_path: Path, clean_db) -> None:
    s = _calibration(
        tmp_path, clean_db, RunSpec(run_id="distorted", agents=population(30), abandon_factor=2.5)
    )
    status = {m["metric"]: m["status"] for m in s["calibration"]["metrics"]}
    assert status["abandonment"] == "fail" and not s["calibration"]["ok"]
    assert status["sessions_per_week"] == "ok"
    # No hours.csv: the per-hour table is rebuilt from the database.
    wb = load_workbook(tmp_path / "distorted" / "report.xlsx")
    assert wb["Hours"].max_row == 168 + 1


def test_calibration_uses_the_rules_recorded_probabilities(tmp_path: Path, clean_db) -> None:
    s = _calibration(
        tmp_path, clean_db, RunSpec(run_id="rules", agents=population(30), rule_payloads=True)
    )
    by = {m["metric"]: m for m in s["calibration"]["metrics"]}
    assert by["abandonment"]["basis"] == "p_abandon recorded by decide_checkout"
    assert by["basket_size"]["basis"] == "planned basket (rule payload)"
    assert by["basket_size"]["realized"] == pytest.approx(by["basket_size"]["expected"])
    assert s["calibration"]["ok"], by


def test_calibration_flags_a_target_that_turns_checkouts_into_abandons(
    tmp_path: Path, clean_db
) -> None:
    # The rule recorded the persona's p_abandon, but many more sessions ended abandoned.
    s = _calibration(
        tmp_path,
        clean_db,
        RunSpec(run_id="rej", agents=population(30), rule_payloads=True, abandon_factor=2.5),
    )
    by = {m["metric"]: m for m in s["calibration"]["metrics"]}
    assert by["abandonment"]["status"] == "fail"
    assert (
        by["abandonment"]["realized"]
        > by["abandonment"]["expected"] + by["abandonment"]["tolerance"]
    )


def test_calibration_flags_sessions_beyond_the_coupon_lift(tmp_path: Path, clean_db) -> None:
    s = _calibration(
        tmp_path, clean_db, RunSpec(run_id="busy", agents=population(30), shop_factor=3.0)
    )
    by = {m["metric"]: m for m in s["calibration"]["metrics"]}
    assert by["sessions_per_week"]["status"] == "fail"
    lo, hi = by["sessions_per_week"]["expected"]
    assert lo < hi < by["sessions_per_week"]["realized"]


def test_manifest_sheet_has_options_and_never_a_password(tmp_path: Path) -> None:
    d = tmp_path / "secret"
    write_manifest(
        d,
        mock_db=True,
        database="postgresql://sim:hunter2@db.example.com:6543/postgres",
        options={"rate_limit": 50, "breaker_threshold": 5.0, "api_token": "abc"},
    )
    s = build_run_report(d, engine=None)
    rows = {
        r[0].value: r[1].value
        for r in load_workbook(d / "report.xlsx")["Manifest"].iter_rows(min_row=2)
    }
    assert rows["options.rate_limit"] == 50 and rows["options.breaker_threshold"] == 5.0
    assert rows["options.api_token"] == "***"
    assert "hunter2" not in rows["database"] and "db.example.com" in rows["database"]
    assert "hunter2" not in (d / "summary.json").read_text()
    assert "hunter2" not in render_console(s)
