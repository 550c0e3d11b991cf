"""``report.xlsx`` reads like a report: the Summary sheet first (the verdict of
``summary.json``, red/green), one unit convention, autofilters, and native charts whose
series read the right cells — from a run directory in Locust's real CSV format."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.worksheet.worksheet import Worksheet

import reports.xlsx as xlsx
from reports.build import build_run_report, collect_report
from reports.summary import RunReport
from tests.report_fixture import (  # noqa: F401  (the locust_template fixture)
    HOURS,
    locust_template_fixture,
    make_run,
)
from tests.test_reports_support import write_hours, write_manifest

GREEN, RED, GREY = "00C6EFCE", "00FFC7CE", "00E7E6E6"
GATES = ["p95<800ms", "error_rate<1%", "slip_p99<5s"]


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, locust_template: Path
) -> tuple[Path, dict[str, Any]]:
    """One built run the read-only tests share."""
    d = tmp_path_factory.mktemp("runs") / "r48"
    make_run(locust_template, d, options={"thresholds": GATES})
    build_run_report(d, engine=None)
    return d, json.loads((d / "summary.json").read_text())


def _rows(ws: Worksheet) -> dict[str, tuple[Any, ...]]:
    """Summary rows by their label (column A); the first row of a repeated label."""
    out: dict[str, tuple[Any, ...]] = {}
    for r in ws.iter_rows(min_row=2):
        if r[0].value is not None:
            out.setdefault(str(r[0].value), r)
    return out


def _cells(ws: Worksheet, ref: str) -> list[Any]:
    """The values a chart reference (``'Sheet'!$A$2:$A$25``) points at."""
    sheet, rng = ref.rsplit("!", 1)
    assert sheet.strip("'") == ws.title
    c0, r0, c1, r1 = range_boundaries(rng.replace("$", ""))
    return [ws.cell(r, c).value for c in range(c0, c1 + 1) for r in range(r0, r1 + 1)]


def test_summary_sheet_first_shows_the_verdict_in_red_and_green(
    built: tuple[Path, dict[str, Any]],
) -> None:
    d, s = built
    v = s["verdict"]
    wb = load_workbook(d / "report.xlsx")
    assert wb.sheetnames[0] == "Summary" and tuple(wb.sheetnames) == xlsx.SHEETS
    ws = wb["Summary"]
    assert ws["A1"].value == (
        "Run r48: verdict NOT OK — 1 of 3 gates failed, the API did not hold, "
        "the clock did not hold"
    )
    assert ws["A1"].fill.fgColor.rgb == RED and ws.freeze_panes == "A2"
    rows = _rows(ws)
    # Each gate: threshold and value as summary.json has them (canonical unit), the
    # result filled green or red, the cells formatted in the gate's unit.
    for g in v["gates"]:
        row = rows[g["expr"]]
        assert [c.value for c in row[1:6]] == [
            g["metric"], g["threshold"], g["value"],
            "%" if g["unit"] == "fraction" else g["unit"], "PASS" if g["pass"] else "FAIL",
        ]  # fmt: skip
        assert row[5].fill.fgColor.rgb == (GREEN if g["pass"] else RED)
        fmt = {"ms": "#,##0.0", "fraction": "0.00%"}[g["unit"]]
        assert row[2].number_format == row[3].number_format == fmt
    assert [g["pass"] for g in v["gates"]] == [True, False, True]
    api, clock, data = v["api"], v["clock"], v["data"]
    assert (rows["API held"][1].value, rows["API held"][1].fill.fgColor.rgb) == ("NO", RED)
    assert rows["API held"][2].value == "; ".join(api["reasons"])
    assert (rows["clock held"][1].value, rows["clock held"][1].fill.fgColor.rgb) == ("NO", RED)
    assert rows["clock held"][2].value == "; ".join(clock["reasons"])
    expect = {
        "HTTP requests": (api["requests"], "#,##0"),
        "HTTP error rate (%)": (api["error_rate_fraction"], "0.00%"),
        "HTTP p95 (ms)": (api["p95_ms"], "#,##0.0"),
        "slip p99 (ms)": (clock["slip_p99_ms"], "#,##0.0"),
        "slip p99 (% of sim hour)": (clock["slip_p99_pct_hour"] / 100, "0.00%"),
        "time scale realized (x)": (clock["time_scale_realized"], '#,##0.00"x"'),
        "missed sessions": (clock["missed_sessions"], "#,##0"),
        "simulated hours": (data["sim_hours"], "#,##0"),
        "sessions": (data["sessions"], "#,##0"),
        "shop sessions": (data["shop_sessions"], "#,##0"),
        "orders": (data["orders"], "#,##0"),
        "agents (personas)": (30, "#,##0"),
        "peak live agents (per sim hour)": (max(h["live_users"] for h in HOURS), "#,##0"),
    }
    for label, (value, fmt) in expect.items():
        assert (rows[label][1].value, rows[label][1].number_format) == (
            pytest.approx(value),
            fmt,
        ), label
    assert rows["database rows"][1].value == "no"
    assert rows["files written"][1].value == ", ".join(data["files_written"])
    assert "report.xlsx" in data["files_written"]
    # The run's identity: id, scale, seed, the simulated span.
    assert rows["run id"][1].value == "r48" and rows["seed"][1].value == 7
    start = datetime.fromisoformat(s["manifest"]["sim_start"]).replace(tzinfo=None)
    assert rows["simulated start (UTC)"][1].value == start
    assert rows["simulated end (UTC)"][1].value == start + timedelta(hours=24)
    assert rows["simulated start (UTC)"][1].number_format == "yyyy-mm-dd hh:mm"


def test_a_run_that_held_is_green_and_a_mock_api_is_not_judged(
    tmp_path: Path, locust_template: Path
) -> None:
    d = make_run(
        locust_template, tmp_path / "ok", mock_api=True, options={"thresholds": ["p95<800ms"]}
    )
    write_hours(d, [{**h, "missed": 0} for h in HOURS])
    s = build_run_report(d, engine=None)
    assert s["verdict"]["ok"] is True
    ws = load_workbook(d / "report.xlsx")["Summary"]
    assert ws["A1"].value == "Run ok: verdict OK" and ws["A1"].fill.fgColor.rgb == GREEN
    rows = _rows(ws)
    assert (rows["API held"][1].value, rows["API held"][1].fill.fgColor.rgb) == ("n/a", GREY)
    assert (rows["clock held"][1].value, rows["clock held"][1].fill.fgColor.rgb) == ("yes", GREEN)
    assert rows["p95<800ms"][5].fill.fgColor.rgb == GREEN


def test_units_are_one_convention_and_equal_summary_json(
    built: tuple[Path, dict[str, Any]],
) -> None:
    d, s = built
    wb = load_workbook(d / "report.xlsx")
    time = {r[0].value: r[1] for r in wb["Time"].iter_rows(min_row=2)}
    for q in ("p50", "p95", "p99"):
        cell = time[f"slip {q} (ms)"]
        assert cell.value == pytest.approx(1000 * s["time"][f"slip_{q}_s"])
        assert cell.number_format == "#,##0.0"
    cell = time["slip p99 (% of sim hour)"]
    assert cell.value == pytest.approx(s["time"]["slip_p99_pct_hour"] / 100)
    assert cell.number_format == "0.00%"
    assert not any(str(k).endswith("(s)") and "slip" in str(k) for k in time)
    beh = {r[0].value: r[1] for r in wb["Behavior"].iter_rows(min_row=2)}
    conv = beh["conversion: completed / shop sessions (%)"]
    assert conv.value == pytest.approx(s["behavior"]["overall"]["conversion"])
    assert conv.number_format == "0.00%"
    assert beh["orders"].value == s["behavior"]["overall"]["orders"]
    assert beh["orders"].number_format == "#,##0"
    # Hours: hours.csv's columns, slip in ms, counts as integers, the ramp stage in %.
    hours = wb["Hours"]
    head = [c.value for c in hours[1]]
    assert "slip_p99_s" not in head and "slip_p99_ms" in head
    assert head[: len(("sim_hour", "sim_time"))] == ["sim_hour", "sim_time"]
    for i, h in enumerate(HOURS, start=2):
        assert hours.cell(i, head.index("slip_p99_ms") + 1).value == 1000 * h["slip_p99_s"]
        assert hours.cell(i, head.index("orders") + 1).value == h["orders"]
    assert hours.cell(2, head.index("orders") + 1).number_format == "#,##0"
    assert hours.cell(2, head.index("slip_p99_ms") + 1).number_format == "#,##0.0"
    assert hours.cell(2, head.index("stage_fraction") + 1).number_format == "0.00%"
    limit = hours.cell(2, head.index("slip_limit_ms") + 1).value
    assert limit == pytest.approx(0.10 * s["time"]["sim_hour_real_s"] * 1000)
    ep = wb["Endpoints"]
    ep_head = [c.value for c in ep[1]]
    by_name = {f"{e['type']} {e['name']}": e for e in s["load"]["endpoints"]}
    for r in ep.iter_rows(min_row=2):
        e = by_name[r[0].value]
        assert r[ep_head.index("failure rate (%)")].value == pytest.approx(e["failure_rate"])
        assert r[ep_head.index("failure rate (%)")].number_format == "0.00%"
        assert r[ep_head.index("p95 (ms)")].value == e["p95_ms"]
    # Every table sheet: a bold frozen header and an autofilter over the whole table.
    for ws in wb.worksheets[1:]:
        last = get_column_letter(ws.max_column)
        assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}", ws.title
        assert ws["A1"].font.b, ws.title
        assert ws.freeze_panes in ("A2", "B2"), ws.title
    # The calibration note is a readable cell, not a Python list rendered as text.
    cal = wb["Calibration"]
    assert [c.value for c in cal[1]][:6] == [
        "metric", "status", "unit", "configured", "expected low", "expected high",
    ]  # fmt: skip
    assert cal["B2"].value == "not checked"
    assert not any(str(c.value).startswith("[") for r in cal.iter_rows() for c in r if c.value)


def test_native_charts_on_hours_and_endpoints_read_the_right_cells(
    built: tuple[Path, dict[str, Any]],
) -> None:
    d, s = built
    wb = load_workbook(d / "report.xlsx")
    hours = wb["Hours"]
    n = len(HOURS)
    charts = hours._charts
    assert len(charts) == 3
    head = [c.value for c in hours[1]]
    series_heads = []
    for chart in charts:
        heads = []
        for ser in chart.series:
            assert ser.cat.numRef.f == f"'Hours'!$A$2:$A${n + 1}"  # the simulated hour
            assert _cells(hours, ser.cat.numRef.f) == [h["sim_hour"] for h in HOURS]
            (title,) = _cells(hours, ser.tx.strRef.f)
            col = get_column_letter(head.index(title) + 1)
            assert ser.val.numRef.f == f"'Hours'!${col}$2:${col}${n + 1}"
            heads.append(title)
        series_heads.append(heads)
    assert series_heads == [
        ["shopped", "idle", "orders", "failed", "missed"],
        ["slip_p50_ms", "slip_p99_ms", "slip_limit_ms"],
        ["target_users", "live_users"],
    ]
    # The series' cells are summary.json's figures.
    by_title = {
        _cells(hours, ser.tx.strRef.f)[0]: _cells(hours, ser.val.numRef.f)
        for chart in charts
        for ser in chart.series
    }
    assert sum(by_title["orders"]) == s["behavior"]["overall"]["orders"]
    assert sum(by_title["shopped"]) == s["behavior"]["overall"]["shop_sessions"]
    assert sum(by_title["missed"]) == s["time"]["missed_sessions"]
    assert max(by_title["slip_p99_ms"]) == pytest.approx(1000 * s["time"]["slip_p99_s"])
    # No two series of a chart look alike: each its own marker and dash.
    for chart in charts:
        looks = [(x.marker.symbol, x.graphicalProperties.line.prstDash) for x in chart.series]
        assert len(set(looks)) == len(looks)

    ep = wb["Endpoints"]
    assert len(ep._charts) == 2
    m = len(s["load"]["endpoints"])
    ep_head = [c.value for c in ep[1]]
    got = []
    for chart in ep._charts:
        assert chart.type == "bar"
        titles = []
        for ser in chart.series:
            assert ser.cat.strRef.f == f"'Endpoints'!$A$2:$A${m + 1}"
            (title,) = _cells(ep, ser.tx.strRef.f)
            col = get_column_letter(ep_head.index(title) + 1)
            assert ser.val.numRef.f == f"'Endpoints'!${col}$2:${col}${m + 1}"
            titles.append(title)
        got.append(titles)
    assert got == [["requests", "failures"], ["p50 (ms)", "p95 (ms)", "p99 (ms)"]]
    names = _cells(ep, ep._charts[0].series[0].cat.strRef.f)
    requests = _cells(ep, ep._charts[0].series[0].val.numRef.f)
    by_name = {f"{e['type']} {e['name']}": e["requests"] for e in s["load"]["endpoints"]}
    assert dict(zip(names, requests, strict=True)) == by_name


def test_extra_sheets_come_last_and_one_that_fails_costs_only_itself(
    tmp_path: Path, locust_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = make_run(locust_template, tmp_path / "extra")

    def extra(wb: Workbook, title: str, report: RunReport) -> Worksheet:
        return xlsx.kv_sheet(wb, title, [("calls", 3, xlsx.INT)])

    def broken(wb: Workbook, title: str, report: RunReport) -> None:
        wb.create_sheet(title).append(["half"])
        raise RuntimeError("boom")

    def skipped(wb: Workbook, title: str, report: RunReport) -> None:
        return None

    monkeypatch.setattr(
        xlsx, "extra_sheets", lambda: [("LLM", extra), ("Broken", broken), ("None", skipped)]
    )
    report = collect_report(d, engine=None)  # no verdict: the Summary says so
    xlsx.write_report_xlsx(report, d / "report.xlsx")
    wb = load_workbook(d / "report.xlsx")
    assert tuple(wb.sheetnames) == (*xlsx.SHEETS, "LLM", "Broken")
    assert [c.value for c in wb["LLM"][2]] == ["calls", 3]
    assert [[c.value for c in r] for r in wb["Broken"].iter_rows()] == [
        ["metric", "value"],
        ["not written: RuntimeError: boom", None],
    ]
    assert wb["Summary"]["A1"].value == "Run extra: not judged (no verdict in this report)"
    assert wb["Summary"]["A1"].fill.fgColor.rgb == GREY


def test_no_hours_and_no_requests_leave_no_chart_and_no_empty_sheet(tmp_path: Path) -> None:
    d = tmp_path / "bare"
    write_manifest(d, mock_db=True)
    build_run_report(d, engine=None)
    wb = load_workbook(d / "report.xlsx")
    assert wb["Hours"]["A2"].value == xlsx.NO_DATA and not wb["Hours"]._charts
    assert wb["Endpoints"]["A2"].value == xlsx.NO_DATA and not wb["Endpoints"]._charts
    assert all(ws.max_row >= 2 for ws in wb.worksheets)
