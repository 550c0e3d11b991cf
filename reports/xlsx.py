"""Render a run report as ``report.xlsx``: a Summary sheet first (the verdict in red and
green, the run's identity), then one sheet per topic.

One unit convention for the whole workbook, named in every header or label:

- latency and slip in milliseconds (``(ms)``; ``summary.json`` keeps slip in seconds),
- money in dollars with two decimals (``($)``; ``summary.json`` keeps cents),
- rates as percents (``(%)``; the cell holds the fraction 0-1, formatted ``0.00%``),
- counts as integers, durations of real time in seconds (``(s)``).

Table sheets have a bold frozen header row and an autofilter; the Hours and Endpoints
sheets carry native Excel charts whose series read the sheet's own cells. A table
without rows says so in a "no data" row instead of being empty.

Other modules add sheets through :func:`extra_sheets` (see there).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports.harness_timings import timings_frame
from reports.hour_table import INSTANT_COLUMNS, INT_COLUMNS, SLIP_COLUMNS
from reports.summary import RunReport, redact_value

log = logging.getLogger("loadsim")

INT = "#,##0"
DEC = "#,##0.00"
MS = "#,##0.0"
PCT = "0.00%"
USD = '"$"#,##0.00'
SECS = "#,##0.00"
SCALE = '#,##0.00"x"'
WHEN = "yyyy-mm-dd hh:mm"
NO_DATA = "no data"

GREEN = PatternFill("solid", fgColor="C6EFCE")
RED = PatternFill("solid", fgColor="FFC7CE")
GREY = PatternFill("solid", fgColor="E7E6E6")
BAND = PatternFill("solid", fgColor="DDEBF7")

SHEETS = (
    "Summary",
    "Load",
    "Endpoints",
    "Errors",
    "Behavior",
    "Segments",
    "Offers",
    "Offer cycles",
    "Time",
    "Hours",
    "Calibration",
    "Harness timings",
    "Manifest",
)
"""The built-in sheets, in workbook order (:func:`extra_sheets` come after them)."""

KVRow = tuple[str, Any, str | None]
SheetWriter = Callable[[Workbook, str, RunReport], Worksheet | None]
"""``(workbook, title, report)``: add the sheet ``title`` (``kv_sheet`` / ``table_sheet``
do the formatting) and return it, or return None to leave it out for this run."""


def extra_sheets() -> list[tuple[str, SheetWriter]]:
    """Sheets added after the built-in ones, in order, as ``(title, writer)`` pairs.

    To add one, import its writer here (lazily, so this module stays light) and append
    the pair, e.g. ``from reports.foo import foo_sheet`` then ``out.append(("Foo",
    foo_sheet))``. A writer that raises costs only its own sheet: the workbook gets a
    one-row sheet saying it was not written, and the error is logged.
    """
    out: list[tuple[str, SheetWriter]] = []
    from reports.llm_report import llm_sheet

    out.append(("LLM", llm_sheet))  # --llm-url runs only
    return out


def _cell_value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if v is pd.NaT or (not isinstance(v, (str, bytes, dict, list, tuple)) and _isna(v)):
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, datetime):
        # Excel has no time zones: write UTC wall time (headers say UTC).
        return v if v.tzinfo is None else v.astimezone(UTC).replace(tzinfo=None)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, default=str)
    if hasattr(v, "item"):  # numpy scalar
        return v.item()
    return v


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _header(ws: Worksheet, names: Sequence[str]) -> None:
    ws.append(list(names))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = BAND
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"


def _widths(ws: Worksheet, *, header_row: int = 1) -> None:
    """Fit columns to their content (the header counts, wrapped at 24 characters)."""
    for idx, col in enumerate(ws.iter_cols(min_row=1, max_row=min(ws.max_row, 200)), start=1):
        longest = 8
        for c in col:
            if c.value is None:
                continue
            text = str(c.value)
            if isinstance(c.value, float):
                text = f"{c.value:,.2f}"
            elif isinstance(c.value, datetime):
                text = "yyyy-mm-dd hh:mm"
            n = min(len(text), 24) if c.row == header_row else len(text)
            longest = max(longest, n)
        ws.column_dimensions[get_column_letter(idx)].width = min(60, longest + 2)


def _filter(ws: Worksheet, ncols: int) -> None:
    ws.auto_filter.ref = f"A1:{get_column_letter(max(1, ncols))}{max(2, ws.max_row)}"


def kv_sheet(wb: Workbook, title: str, rows: Sequence[KVRow]) -> Worksheet:
    """A two-column sheet (metric, value), each value with its own number format; the
    label names the unit."""
    ws = wb.create_sheet(title)
    _header(ws, ["metric", "value"])
    for label, value, fmt in rows:
        ws.append([label, _cell_value(value)])
        if fmt and ws.cell(ws.max_row, 2).value is not None:
            ws.cell(ws.max_row, 2).number_format = fmt
    if not rows:
        ws.append([NO_DATA, None])
    _filter(ws, 2)
    _widths(ws)
    return ws


def table_sheet(
    wb: Workbook, title: str, df: pd.DataFrame, formats: dict[str, str] | None = None
) -> Worksheet:
    """A table sheet from a frame, headers as the frame's column names; ``formats`` maps
    column names to number formats."""
    ws = wb.create_sheet(title)
    formats = formats or {}
    cols = [str(c) for c in df.columns] if len(df.columns) else ["info"]
    _header(ws, cols)
    if not len(df):
        ws.append([NO_DATA])
    for rec in df.itertuples(index=False):
        ws.append([_cell_value(v) for v in rec])
    for j, col in enumerate(cols, start=1):
        fmt = formats.get(col)
        if fmt:
            for i in range(2, ws.max_row + 1):
                if isinstance(ws.cell(i, j).value, (int, float, datetime)):
                    ws.cell(i, j).number_format = fmt
    _filter(ws, len(cols))
    _widths(ws)
    return ws


@dataclass(frozen=True)
class Col:
    """How a frame's column shows in the workbook: its header (with the unit), number
    format and the factor from ``summary.json``'s unit to the workbook's."""

    header: str
    fmt: str | None = None
    factor: float = 1.0


_FRACTIONS = ("rate", "conversion", "abandonment", "fraction")


def column_spec(name: str, dtype: Any = None) -> Col:
    """The workbook's header, format and factor for a ``summary.json``-style column name:
    ``*_ms`` → ms, ``slip_*_s`` → ms (×1000), ``*_cents`` → $ (÷100), ``*_pct_hour`` →
    % of a simulated hour, rates → %, other ``*_s`` → seconds, integers → counts."""
    base = name.replace("_", " ")
    if name.startswith("slip_") and name.endswith("_s"):
        return Col(f"{name[:-2].replace('_', ' ')} (ms)", MS, 1000.0)
    if name.endswith("_pct_hour"):
        return Col(f"{name[: -len('_pct_hour')].replace('_', ' ')} (% of sim hour)", PCT, 0.01)
    if name.endswith("_ms"):
        return Col(f"{name[:-3].replace('_', ' ')} (ms)", MS)
    if name.endswith("_cents"):
        return Col(f"{name[:-6].replace('_', ' ')} ($)", USD, 0.01)
    if name.endswith("_s"):
        return Col(f"{name[:-2].replace('_', ' ')} (s)", SECS)
    if any(name.endswith(f) for f in _FRACTIONS):
        return Col(f"{base} (%)", PCT)
    if dtype is not None and pd.api.types.is_integer_dtype(dtype):
        return Col(base, INT)
    if dtype is not None and pd.api.types.is_float_dtype(dtype):
        return Col(base, DEC)
    return Col(base)


def frame_sheet(
    wb: Workbook, title: str, df: pd.DataFrame, specs: dict[str, Col] | None = None
) -> Worksheet:
    """A table sheet from a frame in the workbook's units: each column through
    ``specs`` (by column name) or :func:`column_spec`."""
    specs = specs or {}
    out = pd.DataFrame(index=df.index)
    formats: dict[str, str] = {}
    for c in df.columns:
        spec = specs.get(str(c)) or column_spec(str(c), df[c].dtype)
        col = df[c]
        if spec.factor != 1.0:
            col = pd.to_numeric(col, errors="coerce") * spec.factor
        out[spec.header] = col
        if spec.fmt:
            formats[spec.header] = spec.fmt
    return table_sheet(wb, title, out, formats)


def _col_of(ws: Worksheet, header: str) -> int | None:
    for cell in ws[1]:
        if cell.value == header:
            return int(cell.column)
    return None


def write_report_xlsx(report: RunReport, path: Path) -> Path:
    """Write ``report.xlsx`` for ``report`` to ``path`` (atomically: tmp file + rename).

    The Summary sheet shows ``report.summary["verdict"]`` when the caller judged the run
    first (``reports.build`` does); without it, it says the run was not judged.
    """
    s = report.summary
    wb = Workbook()
    wb.remove(wb.active)
    summary_sheet(wb, report)
    _load_sheets(wb, report)
    _behavior_sheets(wb, report)
    _time_sheets(wb, report)
    _calibration_sheet(wb, s["calibration"])
    timings = timings_frame(s.get("harness_timings") or [])  # not in Locust's stats
    frame_sheet(wb, "Harness timings", timings, {"count": Col("count", INT)})
    manifest = report.manifest or s["manifest"] or {"run_id": s["run_id"]}
    kv_sheet(wb, "Manifest", [(k, redact_value(k, v), None) for k, v in _flatten(manifest)])
    for title, writer in extra_sheets():
        try:
            writer(wb, title, report)
        except Exception as exc:  # noqa: BLE001 - one extra sheet must not cost the workbook
            log.exception("report: the %s sheet failed", title)
            if title in wb.sheetnames:
                wb.remove(wb[title])
            kv_sheet(wb, title, [(f"not written: {type(exc).__name__}: {exc}"[:200], None, None)])

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".xlsx.tmp")
    wb.save(tmp)
    tmp.replace(path)
    return path


# --- Summary -------------------------------------------------------------------------


def _yes(v: bool | None) -> tuple[str, PatternFill]:
    if v is None:
        return "n/a", GREY
    return ("yes", GREEN) if v else ("NO", RED)


class _Rows:
    """Appends label/value rows to the Summary sheet, a format per value."""

    def __init__(self, ws: Worksheet) -> None:
        self.ws = ws

    def section(self, title: str, *more: str) -> None:
        self.ws.append([])
        self.ws.append([title, *more])
        for cell in self.ws[self.ws.max_row]:
            cell.font = Font(bold=True)
            cell.fill = BAND

    def row(self, label: str, value: Any, fmt: str | None = None, *rest: Any) -> int:
        self.ws.append([label, _cell_value(value), *(_cell_value(v) for v in rest)])
        r = self.ws.max_row
        if fmt and self.ws.cell(r, 2).value is not None:
            self.ws.cell(r, 2).number_format = fmt
        return r

    def flag(self, label: str, held: bool | None, reasons: Sequence[str]) -> int:
        text, fill = _yes(held)
        r = self.row(label, text, None, "; ".join(reasons) if reasons else None)
        self.ws.cell(r, 2).fill = fill
        self.ws.cell(r, 2).font = Font(bold=True)
        return r


def summary_sheet(wb: Workbook, report: RunReport) -> Worksheet:
    """The run at a glance: the verdict (each gate red or green, API held, clock held,
    data produced), then the run's identity (id, scale, agents, seed, simulated span)."""
    s = report.summary
    m = {**(s.get("manifest") or {}), **(report.manifest or {})}
    v = s.get("verdict")
    ws = wb.create_sheet("Summary", 0)
    if v is None:
        ws.append([f"Run {s['run_id']}: not judged (no verdict in this report)"])
        fill = GREY
    else:
        why = _why_not(v)
        ws.append([f"Run {s['run_id']}: verdict " + ("OK" if v["ok"] else "NOT OK — " + why)])
        fill = GREEN if v["ok"] else RED
    ws["A1"].font = Font(bold=True, size=14)
    ws.page_setup.orientation = "landscape"  # printed: one page wide
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    for c in range(1, 8):
        ws.cell(1, c).fill = fill
    ws.freeze_panes = "A2"
    out = _Rows(ws)
    if v is not None:
        _gates(out, v["gates"])
        api, clock, data = v["api"], v["clock"], v["data"]
        out.section("Did the API hold?", "", "why / limit")
        out.flag("API held", api["held"], api["reasons"])
        out.row("HTTP requests", api["requests"], INT)
        limit = api["error_rate_max_fraction"]
        r = out.row("HTTP error rate (%)", api["error_rate_fraction"], PCT, limit)
        ws.cell(r, 3).number_format = PCT
        out.row("HTTP p95 (ms)", api["p95_ms"], MS)
        out.row("HTTP p99 (ms)", api["p99_ms"], MS)
        out.row("breaker trips", api["breaker_trips"], INT)
        out.row("outages", api["outages"], INT)
        out.section("Did the simulated clock hold?", "", "why / limit")
        out.flag("clock held", clock["held"], clock["reasons"])
        out.row("time scale set (x)", clock["time_scale_set"], SCALE)
        tol = clock["time_scale_tolerance_fraction"]
        r = out.row("time scale realized (x)", clock["time_scale_realized"], SCALE, tol)
        ws.cell(r, 3).number_format = '"within ±"0%'
        out.row("real duration (s)", clock["real_seconds"], SECS)
        out.row("slip p99 (ms)", clock["slip_p99_ms"], MS)
        pct = clock["slip_p99_pct_hour"]
        r = out.row(
            "slip p99 (% of sim hour)",
            None if pct is None else pct / 100.0,
            PCT,
            clock["slip_p99_max_pct_hour"] / 100.0,
        )
        ws.cell(r, 3).number_format = PCT
        out.row("missed sessions", clock["missed_sessions"], INT)
        out.section("Data produced")
        out.row("simulated hours", data["sim_hours"], INT)
        out.row("simulated days", data["sim_days"], DEC)
        out.row("sessions", data["sessions"], INT)
        out.row("shop sessions", data["shop_sessions"], INT)
        out.row("orders", data["orders"], INT)
        out.row("HTTP requests", data["http_requests"], INT)
        out.row("database rows", "yes" if data["database_rows"] else "no")
        out.row("behavior from", data["behavior_source"])
        out.row("files read", ", ".join(data["files_read"]) or None)
        out.row("files written", ", ".join(data["files_written"]) or None)
    _identity(out, s, m, report.hours)
    notes = s.get("sources", {}).get("notes") or []
    if notes:
        out.section("Notes")
        for n in notes:
            out.row(n, None)
    widths = {"A": 34, "B": 22, "C": 16, "D": 14, "E": 14, "F": 10, "G": 50}
    for col, w in widths.items():
        ws.column_dimensions[col].width = w
    return ws


def _why_not(v: dict[str, Any]) -> str:
    failed = [g for g in v["gates"] if not g["pass"]]
    why = [f"{len(failed)} of {len(v['gates'])} gates failed"] if failed else []
    why += ["the API did not hold"] if v["api"]["held"] is False else []
    why += ["the clock did not hold"] if v["clock"]["held"] is False else []
    return ", ".join(why)


def _gate_format(unit: str) -> str:
    return {"ms": MS, "fraction": PCT, "% of sim hour": '0.00"%"', "count": INT}.get(unit, DEC)


def _gates(out: _Rows, gates: list[dict[str, Any]]) -> None:
    out.section("Gate", "metric", "threshold", "value", "unit", "result", "detail")
    if not gates:
        out.row("none set (--threshold)", None)
        return
    ws = out.ws
    for g in gates:
        unit = "%" if g["unit"] == "fraction" else g["unit"]
        r = out.row(
            g["expr"], g["metric"], None, g["threshold"], g["value"], unit,
            "PASS" if g["pass"] else "FAIL", g["detail"] or None,
        )  # fmt: skip
        fmt = _gate_format(g["unit"])
        for c in (3, 4):
            if isinstance(ws.cell(r, c).value, (int, float)):
                ws.cell(r, c).number_format = fmt
        ws.cell(r, 6).fill = GREEN if g["pass"] else RED
        ws.cell(r, 6).font = Font(bold=True)


def _identity(out: _Rows, s: dict[str, Any], m: dict[str, Any], hours: pd.DataFrame) -> None:
    t = s["time"]
    out.section("Run")
    out.row("run id", s["run_id"])
    status = m.get("status")
    out.row("status (exit code)", f"{status or '-'} ({m.get('exit_code', '-')})")
    out.row("time scale set (x)", t.get("time_scale"), SCALE)
    out.row("agents (personas)", m.get("personas_total"), INT)
    peak = None
    if len(hours) and "live_users" in hours and hours["live_users"].notna().any():
        peak = int(hours["live_users"].max())
    out.row("peak live agents (per sim hour)", peak, INT)
    out.row("seed", m.get("seed"))
    start = _instant(m.get("sim_start"))
    out.row("simulated start (UTC)", start, WHEN)
    span = t.get("sim_hours")
    end = start + timedelta(hours=span) if start is not None and span else None
    out.row("simulated end (UTC)", end, WHEN)
    out.row("simulated hours", span, INT)
    out.row("real start (UTC)", _instant(m.get("started_at")), WHEN)
    out.row("real end (UTC)", _instant(m.get("ended_at")), WHEN)
    out.row("processes", m.get("processes"))
    out.row("target", redact_value("target", m.get("target")))
    out.row("database", redact_value("database", m.get("database")))
    out.row("mock API / mock DB", f"{bool(m.get('mock_api'))} / {bool(m.get('mock_db'))}")
    out.row("code version", m.get("code_version"))


def _instant(v: Any) -> datetime | None:
    if not v:
        return None
    try:
        ts = pd.Timestamp(v)
    except (TypeError, ValueError):
        return None
    if ts is pd.NaT:
        return None
    out = ts.to_pydatetime()
    return out if out.tzinfo is None else out.astimezone(UTC).replace(tzinfo=None)


# --- Load --------------------------------------------------------------------------


def _load_sheets(wb: Workbook, report: RunReport) -> None:
    s = report.summary
    load = s["load"]
    kv_sheet(
        wb,
        "Load",
        [
            ("HTTP requests", load["requests"], INT),
            ("HTTP failures", load["failures"], INT),
            ("error rate (%)", load["error_rate"], PCT),
            ("requests/s", load["rps"], DEC),
            ("p50 (ms)", load["p50_ms"], MS),
            ("p95 (ms)", load["p95_ms"], MS),
            ("p99 (ms)", load["p99_ms"], MS),
            ("exceptions", load["exceptions"], INT),
            ("orders per real minute", s["orders_per_real_minute"], DEC),
        ]
        + [(f"errors: {k}", v, INT) for k, v in sorted(load["errors_by_kind"].items())],
    )
    ep = report.endpoints
    if len(ep):
        ep = ep.copy()
        ep.insert(0, "request", ep["type"].astype(str) + " " + ep["name"].astype(str))
        ep = ep.drop(columns=["type", "name"])
    ws = frame_sheet(wb, "Endpoints", ep, {"rps": Col("requests/s", DEC)})
    if len(ep):
        _endpoint_charts(ws, len(ep))
    frame_sheet(wb, "Errors", report.errors)


def _endpoint_charts(ws: Worksheet, n: int) -> None:
    """Requests and failures per endpoint; latency percentiles per endpoint."""
    anchor = get_column_letter(ws.max_column + 2)
    height = max(7.5, 0.6 * n + 3)
    cats = str(Reference(ws, min_col=1, min_row=2, max_row=n + 1))
    specs = (
        ("HTTP requests per endpoint", ("requests", "failures"), "requests", INT),
        ("HTTP latency per endpoint (ms)", ("p50 (ms)", "p95 (ms)", "p99 (ms)"), "ms", INT),
    )
    row = 1
    for title, headers, axis, fmt in specs:
        chart = BarChart()
        chart.type = "bar"  # horizontal: endpoint names stay readable
        chart.grouping = "clustered"
        chart.title = title
        chart.y_axis.title = axis
        chart.y_axis.numFmt = fmt
        for h in headers:
            c = _col_of(ws, h)
            if c is not None:
                chart.add_data(
                    Reference(ws, min_col=c, min_row=1, max_row=n + 1), titles_from_data=True
                )
        for ser in chart.series:  # endpoint names are text: a string reference
            ser.cat = AxDataSource(strRef=StrRef(f=cats))
        chart.x_axis.scaling.orientation = "maxMin"  # first endpoint on top, as in the table
        _axes_visible(chart)
        chart.height, chart.width = height, 18
        ws.add_chart(chart, f"{anchor}{row}")
        row += int(height * 2) + 2


def _axes_visible(chart: Any) -> None:
    # openpyxl 3.1 leaves ``delete`` unset, which some readers take as a hidden axis.
    chart.x_axis.delete = False
    chart.y_axis.delete = False


# --- Behavior and offers ---------------------------------------------------------------


def _behavior_sheets(wb: Workbook, report: RunReport) -> None:
    s = report.summary
    beh = s["behavior"]["overall"]
    offers = s["offers"]
    per_day = beh.get("per_sim_day", {})
    rows: list[KVRow] = [(f"behavior source: {s['behavior']['source']}", None, None)]
    for key, label, fmt in (
        ("sessions", "sessions", INT),
        ("shop_sessions", "shop sessions", INT),
        ("idle_browses", "idle browses", INT),
        ("completed", "completed checkouts", INT),
        ("abandoned", "abandoned carts", INT),
        ("orders", "orders", INT),
        ("conversion", "conversion: completed / shop sessions (%)", PCT),
        ("orders_per_session", "orders / all sessions (%)", PCT),
        ("orders_per_shop_session", "orders / shop sessions (%)", PCT),
        ("abandonment", "abandonment: abandoned / checkouts reached (%)", PCT),
        ("basket_size_mean", "basket size mean (items)", DEC),
        ("coupon_views", "coupon views", INT),
        ("coupon_applies", "coupon applies", INT),
        ("coupon_redemptions", "coupon redemptions", INT),
    ):
        rows.append((label, beh.get(key), fmt))
    rows.append(("order value mean ($)", _dollars(beh.get("order_value_mean_cents")), USD))
    rows += [
        (f"{k.replace('_', ' ')} per sim day", v, DEC) for k, v in per_day.items() if v is not None
    ]
    kv_sheet(wb, "Behavior", rows)
    frame_sheet(wb, "Segments", report.segments, {"agents": Col("agents", INT)})
    kv_sheet(
        wb,
        "Offers",
        [
            ("cycles", offers["cycles"], INT),
            ("coupons assigned", offers["assigned"], INT),
            ("coupons expired", offers["expired"], INT),
            ("coupons replaced", offers["replaced"], INT),
            ("coupons redeemed", offers["redeemed"], INT),
            ("cycle duration mean (s)", offers["cycle_duration_s_mean"], SECS),
            ("cycle duration max (s)", offers["cycle_duration_s_max"], SECS),
        ],
    )
    cycles = report.cycles
    specs = {
        c: Col(c.replace("_", " "), INT)
        for c in ("cycle_number", "assigned", "expired", "replaced")
    }
    specs["simulated_start"] = Col("simulated start (UTC)", WHEN)
    frame_sheet(wb, "Offer cycles", cycles, specs)


def _dollars(cents: Any) -> float | None:
    return None if cents is None else cents / 100.0


# --- Time and hours --------------------------------------------------------------------


def _time_sheets(wb: Workbook, report: RunReport) -> None:
    time = report.summary["time"]
    kv_sheet(
        wb,
        "Time",
        [
            ("time scale (configured, x)", time["time_scale"], SCALE),
            ("time scale (realized, x)", time["realized_time_scale"], SCALE),
            ("real seconds per sim hour (s)", time["sim_hour_real_s"], SECS),
            ("simulated hours", time["sim_hours"], INT),
            ("real duration (s)", time["real_seconds"], SECS),
            ("slip p50 (ms)", _ms(time["slip_p50_s"]), MS),
            ("slip p95 (ms)", _ms(time["slip_p95_s"]), MS),
            ("slip p99 (ms)", _ms(time["slip_p99_s"]), MS),
            ("slip p99 (% of sim hour)", _frac(time["slip_p99_pct_hour"]), PCT),
            ("slip p99 worst hour (% of sim hour)", _frac(time["slip_p99_worst_hour_pct"]), PCT),
            ("missed sessions", time["missed_sessions"], INT),
            ("failed flows", time["failed_flows"], INT),
            (f"slip source: {time['slip_source']}", None, None),
        ],
    )
    hours = report.hours.copy()
    for c in ("real_start", "real_end"):
        if c in hours and len(hours):
            hours[c] = pd.to_datetime(hours[c], utc=True, errors="coerce", format="ISO8601")
    hour_s = time.get("sim_hour_real_s")
    if len(hours) and hour_s:
        from reports.compare import SLIP_LIMIT_PCT

        hours["slip_limit_ms"] = SLIP_LIMIT_PCT / 100.0 * float(hour_s) * 1000.0
    # The Hours sheet keeps hours.csv's column names (tools read it by them); the slip
    # columns become milliseconds and say so (``slip_p99_s`` → ``slip_p99_ms``).
    specs = {c: Col(c, INT) for c in INT_COLUMNS} | {c: Col(c, WHEN) for c in INSTANT_COLUMNS}
    specs |= {c: Col(c[:-2] + "_ms", MS, 1000.0) for c in SLIP_COLUMNS}
    specs |= {
        "slip_p99_pct_hour": Col("slip_p99_pct_hour", '0.00"%"'),
        "stage_fraction": Col("stage_fraction", PCT),
        "slip_limit_ms": Col("slip_limit_ms", MS),
    }
    ws = frame_sheet(wb, "Hours", hours, specs)
    ws.freeze_panes = "B2"  # the hour stays in view while scrolling right
    if len(hours):
        _hour_charts(ws, len(hours))


HOUR_CHARTS = (
    (
        "Sessions, orders and failures per simulated hour",
        ("shopped", "idle", "orders", "failed", "missed"),
        "per simulated hour",
        INT,
    ),
    (
        "Slip p50/p99 per simulated hour (ms) vs its limit, 10% of a sim hour",
        ("slip_p50_ms", "slip_p99_ms", "slip_limit_ms"),
        "ms",
        "#,##0",
    ),
    ("Agents per simulated hour (ramp)", ("target_users", "live_users"), "agents", INT),
)
"""The Hours sheet's line charts: title, the headers of their series, y axis, format."""

_STYLES = (
    ("circle", "solid"),
    ("triangle", "dash"),
    ("square", "sysDot"),
    ("diamond", "lgDash"),
    ("x", "dashDot"),
)


def _hour_charts(ws: Worksheet, n: int) -> None:
    """Line charts over the simulated hour: one marker and dash per series, so a line
    never hides another; slip on a log axis when its values span decades."""
    hour = _col_of(ws, "sim_hour")
    if hour is None:
        return
    cats = Reference(ws, min_col=hour, min_row=2, max_row=n + 1)
    anchor = get_column_letter(ws.max_column + 2)
    row = 2
    for title, headers, axis, fmt in HOUR_CHARTS:
        cols = [c for c in (_col_of(ws, h) for h in headers) if c is not None]
        if not cols:
            continue
        chart = LineChart()
        chart.title = title
        chart.x_axis.title = "simulated hour"
        chart.y_axis.title = axis
        chart.y_axis.numFmt = fmt
        for i, c in enumerate(cols):
            chart.add_data(
                Reference(ws, min_col=c, min_row=1, max_row=n + 1), titles_from_data=True
            )
            ser = chart.series[-1]
            symbol, dash = _STYLES[i % len(_STYLES)]
            ser.marker.symbol = symbol
            ser.marker.size = 5
            ser.graphicalProperties.line.dashStyle = dash
            ser.graphicalProperties.line.width = 19050  # 1.5 pt
            ser.smooth = False
        chart.set_categories(cats)
        if title.startswith("Slip") and _spans_decades(ws, cols, n):
            chart.y_axis.scaling.logBase = 10
            chart.y_axis.title = "ms (log scale)"
        chart.x_axis.tickLblSkip = max(1, n // 24)
        _axes_visible(chart)
        chart.height, chart.width = 8, 22
        ws.add_chart(chart, f"{anchor}{row}")
        row += 17


def _spans_decades(ws: Worksheet, cols: list[int], n: int) -> bool:
    values = [ws.cell(r, c).value for c in cols for r in range(2, n + 2)]
    nums = [float(v) for v in values if isinstance(v, (int, float))]
    if not nums or min(nums) <= 0:
        return False  # a log axis cannot place zero
    return max(nums) / min(nums) >= 100


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000.0 * seconds


def _frac(pct: float | None) -> float | None:
    return None if pct is None else pct / 100.0


# --- Calibration -----------------------------------------------------------------------

CALIBRATION_UNITS = {
    "sessions_per_week": ("shop sessions per agent-week", DEC),
    "basket_size": ("items per shop session", DEC),
    "abandonment": ("% of shop sessions", PCT),
}


def _calibration_sheet(wb: Workbook, cal: dict[str, Any]) -> Worksheet:
    """One row per calibration check: the expected band as two cells (low, high), the
    realized value, the tolerance, each in the metric's unit; status red/green."""
    headers = [
        "metric", "status", "unit", "configured", "expected low", "expected high",
        "realized", "tolerance (±)", "n", "basis", "note",
    ]  # fmt: skip
    metrics = cal.get("metrics") or []
    ws = wb.create_sheet("Calibration")
    _header(ws, headers)
    if not metrics:
        ws.append(["calibration", "not checked", None, None, None, None, None, None, None,
                   None, cal.get("note", "")])  # fmt: skip
    for mt in metrics:
        unit, fmt = CALIBRATION_UNITS.get(mt["metric"], ("", DEC))
        exp = mt.get("expected")
        lo, hi = (exp[0], exp[1]) if isinstance(exp, (list, tuple)) else (exp, exp)
        ws.append(
            [_cell_value(x) for x in (
                mt["metric"], mt.get("status"), unit, mt.get("configured"), lo, hi,
                mt.get("realized"), mt.get("tolerance"), mt.get("n"), mt.get("basis"),
                mt.get("note"),
            )]
        )  # fmt: skip
        r = ws.max_row
        for c in range(4, 9):
            ws.cell(r, c).number_format = fmt
        ws.cell(r, 9).number_format = INT
        status = mt.get("status")
        ws.cell(r, 2).fill = {"ok": GREEN, "fail": RED}.get(str(status), GREY)
    _filter(ws, len(headers))
    _widths(ws)
    return ws


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.extend(_flatten(v, key + "."))
        else:
            out.append((key, v))
    return out
