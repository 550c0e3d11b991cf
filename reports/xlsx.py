"""Render a run report as ``report.xlsx``: one sheet per topic, real number formats,
frozen headers, and a clear "no data" row instead of an empty sheet."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports.harness_timings import timings_frame
from reports.summary import RunReport, redact_value

INT = "#,##0"
DEC = "#,##0.00"
MS = "#,##0.0"
PCT = "0.00%"
USD = '"$"#,##0.00'
SECS = "#,##0.00"
NO_DATA = "no data"

SHEETS = (
    "Load",
    "Endpoints",
    "Errors",
    "Behavior",
    "Segments",
    "Offers",
    "Time",
    "Hours",
    "Calibration",
    "Harness timings",
    "Manifest",
)

KVRow = tuple[str, Any, str | None]


def _cell_value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, datetime):
        # Excel has no time zones: write UTC wall time.
        return v if v.tzinfo is None else v.astimezone(UTC).replace(tzinfo=None)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, default=str)
    if hasattr(v, "item"):  # numpy scalar
        return v.item()
    return v


def _header(ws: Worksheet, names: Sequence[str]) -> None:
    ws.append(list(names))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"


def _widths(ws: Worksheet) -> None:
    for idx, col in enumerate(ws.iter_cols(min_row=1, max_row=min(ws.max_row, 200)), start=1):
        longest = max((len(str(c.value)) for c in col if c.value is not None), default=8)
        ws.column_dimensions[get_column_letter(idx)].width = min(60, max(10, longest + 2))


def kv_sheet(wb: Workbook, title: str, rows: Sequence[KVRow]) -> Worksheet:
    """A two-column sheet (metric, value), each value with its own number format."""
    ws = wb.create_sheet(title)
    _header(ws, ["metric", "value"])
    for label, value, fmt in rows:
        ws.append([label, _cell_value(value)])
        if fmt and ws.cell(ws.max_row, 2).value is not None:
            ws.cell(ws.max_row, 2).number_format = fmt
    if not rows:
        ws.append([NO_DATA, None])
    _widths(ws)
    return ws


def table_sheet(
    wb: Workbook, title: str, df: pd.DataFrame, formats: dict[str, str] | None = None
) -> Worksheet:
    """A table sheet from a frame; ``formats`` maps column names to number formats."""
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
                if isinstance(ws.cell(i, j).value, (int, float)):
                    ws.cell(i, j).number_format = fmt
    _widths(ws)
    return ws


def _cents(v: Any) -> float | None:
    return None if v is None else v / 100.0


def write_report_xlsx(report: RunReport, path: Path) -> Path:
    """Write ``report.xlsx`` for ``report`` to ``path`` (atomically: tmp file + rename)."""
    s = report.summary
    load, time, offers = s["load"], s["time"], s["offers"]
    beh = s["behavior"]["overall"]
    wb = Workbook()
    wb.remove(wb.active)

    kv_sheet(
        wb,
        "Load",
        [
            ("API requests", load["requests"], INT),
            ("API failures", load["failures"], INT),
            ("error rate", load["error_rate"], PCT),
            ("requests/s", load["rps"], DEC),
            ("p50 (ms)", load["p50_ms"], MS),
            ("p95 (ms)", load["p95_ms"], MS),
            ("p99 (ms)", load["p99_ms"], MS),
            ("exceptions", load["exceptions"], INT),
            ("orders per real minute", s["orders_per_real_minute"], DEC),
        ]
        + [(f"errors: {k}", v, INT) for k, v in sorted(load["errors_by_kind"].items())],
    )
    lat = {c: MS for c in ("avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")}
    table_sheet(
        wb,
        "Endpoints",
        report.endpoints,
        {"requests": INT, "failures": INT, "failure_rate": PCT, "rps": DEC, **lat},
    )
    table_sheet(wb, "Errors", report.errors, {"occurrences": INT})

    per_day = beh.get("per_sim_day", {})
    rows: list[KVRow] = [(f"behavior source: {s['behavior']['source']}", None, None)]
    for key, fmt in (
        ("sessions", INT),
        ("shop_sessions", INT),
        ("idle_browses", INT),
        ("completed", INT),
        ("abandoned", INT),
        ("conversion", PCT),
        ("abandonment", PCT),
        ("basket_size_mean", DEC),
        ("orders", INT),
        ("coupon_views", INT),
        ("coupon_applies", INT),
        ("coupon_redemptions", INT),
    ):
        rows.append((key, beh.get(key), fmt))
    rows.append(("order_value_mean ($)", _cents(beh.get("order_value_mean_cents")), USD))
    rows += [(f"{k} per sim day", v, DEC) for k, v in per_day.items() if v is not None]
    kv_sheet(wb, "Behavior", rows)

    table_sheet(
        wb,
        "Segments",
        report.segments,
        {
            "conversion": PCT,
            "abandonment": PCT,
            "basket_size_mean": DEC,
            "basket_size_std": DEC,
            "order_value_mean_cents": INT,
            "order_value_std_cents": INT,
            "revenue_cents": INT,
        },
    )
    ws = kv_sheet(
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
    if len(report.cycles):
        ws.append([])
        ws.append([str(c) for c in report.cycles.columns])
        for rec in report.cycles.itertuples(index=False):
            ws.append([_cell_value(v) for v in rec])

    kv_sheet(
        wb,
        "Time",
        [
            ("time scale (configured)", time["time_scale"], DEC),
            ("time scale (realized)", time["realized_time_scale"], DEC),
            ("real seconds per sim hour", time["sim_hour_real_s"], SECS),
            ("simulated hours", time["sim_hours"], INT),
            ("real duration (s)", time["real_seconds"], SECS),
            ("slip p50 (s)", time["slip_p50_s"], SECS),
            ("slip p95 (s)", time["slip_p95_s"], SECS),
            ("slip p99 (s)", time["slip_p99_s"], SECS),
            ("slip p99 (% of sim hour)", _frac(time["slip_p99_pct_hour"]), PCT),
            ("slip p99 worst hour (% of sim hour)", _frac(time["slip_p99_worst_hour_pct"]), PCT),
            ("missed sessions", time["missed_sessions"], INT),
            ("failed flows", time["failed_flows"], INT),
            (f"slip source: {time['slip_source']}", None, None),
        ],
    )
    table_sheet(
        wb,
        "Hours",
        report.hours,
        {c: SECS for c in ("slip_p50_s", "slip_p95_s", "slip_p99_s")} | {"stage_fraction": PCT},
    )
    cal = s["calibration"]
    cal_df = pd.DataFrame(cal.get("metrics") or [])
    if not len(cal_df):
        cal_df = pd.DataFrame(
            [{"metric": "calibration", "status": "not checked", "note": cal.get("note", "")}]
        )
    table_sheet(wb, "Calibration", cal_df, {"configured": DEC, "realized": DEC, "z": DEC})
    timings = timings_frame(s.get("harness_timings") or [])  # not in Locust's stats
    lat = {c: MS for c in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")}
    table_sheet(wb, "Harness timings", timings, {"count": INT, "errors": INT} | lat)
    manifest = report.manifest or s["manifest"] or {"run_id": s["run_id"]}
    kv_sheet(wb, "Manifest", [(k, redact_value(k, v), None) for k, v in _flatten(manifest)])

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".xlsx.tmp")
    wb.save(tmp)
    tmp.replace(path)
    return path


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.extend(_flatten(v, key + "."))
        else:
            out.append((key, v))
    return out


def _frac(pct: float | None) -> float | None:
    return None if pct is None else pct / 100.0
