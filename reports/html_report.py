"""``report.html``: the run in one self-contained file that opens offline.

On top the run at a glance — the verdict of each gate, whether the API and the simulated
clock held, what data was produced (``reports.verdict``); then charts over *simulated*
time, drawn by matplotlib as inline SVG (no script, no CDN, no external file): active
agents and the ramp, sessions/orders/failures per simulated hour, slip p50/p99 per hour
against its threshold, HTTP latency and throughput over the run and per endpoint (HTTP
only), with offer cycles and breaker, outage, pause and resume events marked on every
time axis; and, when the run directory holds ``loadsim realism``'s ``realism.json`` (or
``realism/realism.json``), each statistic's score with the simulated and real sides
overlaid.

The figures the page shows are also in a JSON data block (``<script
type="application/json" id="loadsim-data">``) and each headline cell carries
``data-key``/``data-value`` naming its ``summary.json`` key, so a test (or a script)
checks the page against ``summary.json`` without scraping text.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from reports.summary import RunReport
from reports.timing import parse_instant

DATA_ID = "loadsim-data"
EVENT_STYLE = {
    "offer_cycle": ("tab:green", "--", "offer cycle"),
    "breaker_trip": ("tab:red", "-", "breaker trip"),
    "outage": ("darkred", "-", "outage"),
    "pause": ("tab:gray", ":", "pause"),
    "resume": ("tab:purple", ":", "resume"),
}
"""Colour, line style and legend label of each event kind marked on the time axes."""


# ------------------------------------------------------------------ data


def hourly_series(report: RunReport) -> dict[str, list[Any]]:
    """The per-simulated-hour series the charts draw (``hours.csv`` as the report read it,
    slip in milliseconds): one list per column, aligned on ``sim_hour``."""
    h = report.hours
    if not len(h):
        return {"sim_hour": []}
    h = h.sort_values("sim_hour")

    def col(name: str, scale: float = 1.0) -> list[Any]:
        if name not in h:
            return [None] * len(h)
        return [_num(v, scale) for v in pd.to_numeric(h[name], errors="coerce")]

    shopped, idle = col("shopped"), col("idle")
    return {
        "sim_hour": [int(x) for x in h["sim_hour"]],
        "target_users": col("target_users"),
        "live_users": col("live_users"),
        "stage_fraction": col("stage_fraction"),
        "acted": col("acted"),
        "sessions": [_add(a, b) for a, b in zip(shopped, idle, strict=True)],
        "shop_sessions": shopped,
        "completed": col("completed"),
        "orders": col("orders"),
        "failed": col("failed"),
        "missed": col("missed"),
        "slip_p50_ms": col("slip_p50_s", 1000.0),
        "slip_p99_ms": col("slip_p99_s", 1000.0),
        "offer_cycle": col("offer_cycle"),
    }


def _num(v: Any, scale: float = 1.0) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    x = float(v) * scale
    return int(x) if scale == 1.0 and x.is_integer() else x


def _add(a: Any, b: Any) -> Any:
    return None if a is None and b is None else (a or 0) + (b or 0)


def timeline(
    report: RunReport, events: list[dict[str, Any]], hours: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    """Offer cycles and breaker/outage/pause/resume events placed on the simulated-hour
    axis: from the event's ``sim_hour``, else its ``sim_time``, else its real ``ts``
    against the hours' real start times. Offer cycles come from the run log when it
    recorded them, else from where ``hours.csv``'s ``offer_cycle`` changes."""
    sim_start = parse_instant(report.manifest.get("sim_start"))
    real = _real_starts(report.hours)
    out: list[dict[str, Any]] = []
    for e in events:
        kind = e.get("event")
        if kind not in EVENT_STYLE:
            continue
        hour = _hour_of(e, sim_start, real)
        if hour is None:
            continue
        label = EVENT_STYLE[kind][2]
        detail = e.get("reason") or e.get("detail") or e.get("was") or ""
        if kind == "breaker_trip" and e.get("failed") is not None:
            detail = f"{e.get('failed')} of {e.get('active')} active agents failed"
        out.append({"kind": kind, "sim_hour": hour, "label": label, "detail": str(detail)})
    if not any(x["kind"] == "offer_cycle" for x in out):
        prev = None
        for h, c in zip(hours.get("sim_hour", []), hours.get("offer_cycle", []), strict=True):
            if c is not None and prev is not None and c != prev:
                out.append(
                    {"kind": "offer_cycle", "sim_hour": float(h), "label": "offer cycle",
                     "detail": f"cycle {c} begins"}
                )  # fmt: skip
            prev = c if c is not None else prev
    return sorted(out, key=lambda x: (x["sim_hour"], x["kind"]))


def _real_starts(hours: pd.DataFrame) -> list[tuple[datetime, int]]:
    if not len(hours) or "real_time" not in hours:
        return []
    rows = hours.dropna(subset=["real_time"]).sort_values("sim_hour")
    out = []
    for t, h in zip(rows["real_time"], rows["sim_hour"], strict=True):
        inst = parse_instant(t)
        if inst is not None:
            out.append((inst, int(h)))
    return out


def _hour_of(
    e: dict[str, Any], sim_start: datetime | None, real: list[tuple[datetime, int]]
) -> float | None:
    if isinstance(e.get("sim_hour"), (int, float)):
        return float(e["sim_hour"])
    st = parse_instant(e.get("sim_time"))
    if st is not None and sim_start is not None:
        return round((st - sim_start).total_seconds() / 3600.0, 3)
    ts = parse_instant(e.get("ts"))
    if ts is None or len(real) < 2:
        return None
    (t0, h0), (t1, h1) = real[0], real[-1]
    span = (t1 - t0).total_seconds()
    if span <= 0:
        return None
    # Between two hour starts, at the pace the hours were played.
    return round(h0 + (ts - t0).total_seconds() / span * (h1 - h0), 3)


def slip_threshold_ms(summary: dict[str, Any]) -> tuple[float | None, str]:
    """The slip line to draw (ms) and its label: the run's own ``slip_p99`` gate when it
    set one, else the sustainability rule's share of a simulated hour."""
    from reports.compare import SLIP_LIMIT_PCT

    hour_s = summary["time"].get("sim_hour_real_s")
    for g in (summary.get("verdict") or {}).get("gates", []):
        if g["metric"] == "slip_p99" and g["threshold"] is not None:
            if g["unit"] == "ms":
                return float(g["threshold"]), f"gate {g['expr']}"
            if hour_s:
                return g["threshold"] / 100.0 * hour_s * 1000.0, f"gate {g['expr']}"
    if hour_s:
        return SLIP_LIMIT_PCT / 100.0 * hour_s * 1000.0, f"{SLIP_LIMIT_PCT:g} % of a sim hour"
    return None, ""


def page_data(report: RunReport, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the page shows, as the JSON data block carries it."""
    s = report.summary
    hours = hourly_series(report)
    limit, limit_label = slip_threshold_ms(s)
    return {
        "summary_version": s["summary_version"],
        "run_id": s["run_id"],
        "verdict": s.get("verdict"),
        "units": s.get("units"),
        "hours": hours,
        "events": timeline(report, events, hours),
        "slip_threshold_ms": limit,
        "slip_threshold_label": limit_label,
        "endpoints": s["load"]["endpoints"],
        "load": {
            k: s["load"].get(k)
            for k in ("requests", "failures", "error_rate", "rps", "p50_ms", "p95_ms", "p99_ms")
        },  # fmt: skip
        "behavior": {
            k: s["behavior"]["overall"].get(k)
            for k in (
                "sessions",
                "shop_sessions",
                "completed",
                "orders",
                "completed_per_shop_session",
                "orders_per_session",
                "abandonment",
            )
        },  # fmt: skip
        "time": {
            k: s["time"].get(k)
            for k in (
                "time_scale",
                "realized_time_scale",
                "sim_hours",
                "slip_p50_s",
                "slip_p99_s",
                "slip_p99_pct_hour",
                "missed_sessions",
                "failed_flows",
            )
        },  # fmt: skip
        "offers": {"cycles": s["offers"].get("cycles")},
        "funnel": [[k, v] for k, v in report.funnel],
    }


# ------------------------------------------------------------------ charts


def _svg(draw: Callable[[Axes], bool], *, height: float = 3.4, left: float = 0.08) -> str:
    fig = Figure(figsize=(10.5, height), dpi=100)
    FigureCanvasSVG(fig)
    ax = fig.add_subplot(1, 1, 1)
    if not draw(ax):
        ax.cla()
        ax.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=14, color="grey")
        ax.set_axis_off()
    # The section's heading is the title; the legend sits right of the plot.
    bottom = min(0.45, 0.55 / height)
    fig.subplots_adjust(left=left, right=0.74, bottom=bottom, top=0.96)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "loadsim"}):
        fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg") :]  # inline: no XML prolog or DOCTYPE


def _legend(ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for hnd, lab in zip(handles, labels, strict=True):
        seen.setdefault(lab, hnd)
    if seen:
        ax.legend(seen.values(), seen.keys(), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize=8, frameon=False)  # fmt: skip


def _mark(ax: Axes, events: list[dict[str, Any]]) -> None:
    for e in events:
        color, style, label = EVENT_STYLE[e["kind"]]
        ax.axvline(e["sim_hour"], color=color, linestyle=style, linewidth=1.2, label=label)


def _line(ax: Axes, x: list[Any], y: list[Any], label: str, **kw: Any) -> bool:
    pts = [(a, b) for a, b in zip(x, y, strict=True) if b is not None]
    if not pts:
        return False
    ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, **kw)
    return True


def _time_chart(
    data: dict[str, Any], series: list[tuple[str, str, dict[str, Any]]], ylabel: str,
    *, extra: Callable[[Axes], None] | None = None,
) -> Callable[[Axes], bool]:  # fmt: skip
    def draw(ax: Axes) -> bool:
        x = data["hours"]["sim_hour"]
        drawn = False
        for key, label, kw in series:
            drawn = _line(ax, x, data["hours"][key], label, **kw) or drawn
        if not drawn:
            return False
        if extra is not None:
            extra(ax)
        _mark(ax, data["events"])
        ax.set_xlabel("simulated hour")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        _legend(ax)
        return True

    return draw


def _latency_over_time(report: RunReport, data: dict[str, Any]) -> Callable[[Axes], bool]:
    def draw(ax: Axes) -> bool:
        hist, scale = report.history, report.summary["time"].get("realized_time_scale")
        scale = scale or report.summary["time"].get("time_scale")
        if not len(hist) or not scale:
            return False
        x = list(hist["elapsed_s"] * float(scale) / 3600.0)
        ax.plot(x, list(hist["p95_ms"]), color="tab:orange", label="p95 ms (all HTTP)")
        ax.set_ylabel("p95 ms")
        ax.set_xlabel("simulated hour (real seconds × realized time scale)")
        ax2 = ax.twinx()
        ax2.plot(x, list(hist["rps"]), color="tab:blue", linewidth=1, label="requests/s")
        ax2.plot(x, list(hist["fail_s"]), color="tab:red", linewidth=1, label="failures/s")
        ax2.set_ylabel("per real second")
        _mark(ax, data["events"])
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        seen: dict[str, Any] = {}
        for hnd, lab in zip(h1 + h2, l1 + l2, strict=True):
            seen.setdefault(lab, hnd)
        ax.legend(seen.values(), seen.keys(), loc="upper left", bbox_to_anchor=(1.12, 1.0),
                  fontsize=8, frameon=False)  # fmt: skip
        ax.grid(alpha=0.3)
        return True

    return draw


def _endpoint_latency(endpoints: list[dict[str, Any]]) -> Callable[[Axes], bool]:
    def draw(ax: Axes) -> bool:
        eps = sorted(endpoints, key=lambda e: -e["requests"])[:15]
        if not eps:
            return False
        names = [f"{e['type']} {e['name']}" for e in eps][::-1]
        ys = range(len(eps))
        for i, (q, color) in enumerate((("p50", "tab:green"), ("p95", "tab:orange"),
                                        ("p99", "tab:red"))):  # fmt: skip
            vals = [e[f"{q}_ms"] or 0 for e in eps][::-1]
            ax.barh([y + (i - 1) * 0.27 for y in ys], vals, height=0.27, color=color,
                    label=f"{q} ms")  # fmt: skip
        ax.set_yticks(list(ys), names, fontsize=8)
        ax.set_xlabel("milliseconds")
        ax.grid(axis="x", alpha=0.3)
        _legend(ax)
        return True

    return draw


def _endpoint_rps(endpoints: list[dict[str, Any]]) -> Callable[[Axes], bool]:
    def draw(ax: Axes) -> bool:
        eps = sorted(endpoints, key=lambda e: -e["requests"])[:15]
        if not eps:
            return False
        names = [f"{e['type']} {e['name']}" for e in eps][::-1]
        rps = [e["rps"] or 0 for e in eps][::-1]
        bars = ax.barh(names, rps, color="tab:blue", label="requests/s")
        for bar, e in zip(bars, eps[::-1], strict=True):
            fail = e["failure_rate"] or 0
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f" {e['requests']:,} req, {100 * fail:.1f}% failed", va="center",
                    fontsize=8)  # fmt: skip
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlabel("requests per real second (whole run)")
        ax.grid(axis="x", alpha=0.3)
        return True

    return draw


def charts(report: RunReport, data: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, inline SVG) for each chart, in page order."""
    limit, limit_label = data["slip_threshold_ms"], data["slip_threshold_label"]

    def slip_line(ax: Axes) -> None:
        if limit is not None:
            ax.axhline(limit, color="red", linestyle="-.", label=f"threshold: {limit_label}")

    agents: list[tuple[str, str, dict[str, Any]]] = [
        # Drawn last and dashed on top: when every target agent is active the two coincide.
        (
            "target_users",
            "target agents (ramp)",
            {"drawstyle": "steps-post", "linestyle": "--", "color": "black", "zorder": 3},
        ),  # fmt: skip
        ("live_users", "active agents", {"drawstyle": "steps-post"}),
        ("acted", "agents that acted", {"alpha": 0.7}),
    ]
    flows: list[tuple[str, str, dict[str, Any]]] = [
        ("sessions", "sessions", {}),
        ("orders", "orders", {}),
        ("failed", "failed flows", {"color": "tab:red"}),
        ("missed", "missed sessions", {"color": "black", "linestyle": ":"}),
    ]
    slip: list[tuple[str, str, dict[str, Any]]] = [
        ("slip_p50_ms", "slip p50", {}),
        ("slip_p99_ms", "slip p99", {}),
    ]
    n_eps = max(1, min(15, len(data["endpoints"])))
    ep_height = 1.4 + 0.35 * n_eps
    wide, labelled = 0.08, 0.3  # left margins: plain axis, endpoint names
    specs: list[tuple[str, Callable[[Axes], bool], float, float]] = [
        ("Active agents and the ramp", _time_chart(data, agents, "agents"), 3.4, wide),
        (
            "Sessions, orders and failures per simulated hour",
            _time_chart(data, flows, "per simulated hour"),
            3.4,
            wide,
        ),
        (
            "Slip per simulated hour (how late agents acted)",
            _time_chart(data, slip, "milliseconds", extra=slip_line),
            3.4,
            wide,
        ),
        ("HTTP latency and throughput over the run", _latency_over_time(report, data), 3.4, wide),
        (
            "HTTP latency per endpoint (p50 / p95 / p99)",
            _endpoint_latency(data["endpoints"]),
            ep_height,
            labelled,
        ),
        ("HTTP throughput per endpoint", _endpoint_rps(data["endpoints"]), ep_height, labelled),
    ]
    return [(title, _svg(draw, height=h, left=left)) for title, draw, h, left in specs]


# ------------------------------------------------------------------ page


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2733;
background:#f5f7fa}
header{background:#1d2733;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px} header p{margin:4px 0 0;color:#b8c4d2}
main{padding:16px 24px;max-width:1100px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:12px 16px;
margin:0 0 16px}
h2{font-size:16px;margin:0 0 8px}
.glance{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin-bottom:12px}
.card{border-radius:6px;padding:10px 12px;border:1px solid #dde3ea}
.card .k{font-size:12px;color:#5a6776;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600}
.pass{background:#e7f6ec;border-color:#9fd5b0}.fail{background:#fdeaea;border-color:#eca5a5}
.na{background:#f0f2f5}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef1f4}
th{color:#5a6776;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fdeaea} tr.pass td{background:#f3fbf5}
.chart svg{width:100%;height:auto} .muted{color:#5a6776;font-size:12px}
"""


def _cell(key: str, value: Any, shown: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return (f'<td{c} data-key="{html.escape(key)}" '
            f"data-value='{html.escape(json.dumps(value), quote=True)}'>{html.escape(shown)}</td>")  # fmt: skip


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit == "fraction":
        return f"{100 * v:.2f}%"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        text = f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    elif isinstance(v, int):
        text = f"{v:,}"
    else:
        text = str(v)
    return f"{text} {unit}".strip() if unit and unit != "count" else text


def _held(v: bool | None) -> tuple[str, str]:
    return ("n/a", "na") if v is None else (("yes", "pass") if v else ("NO", "fail"))


def _glance(data: dict[str, Any]) -> str:
    v = data["verdict"] or {}
    api, clock, d = v.get("api", {}), v.get("clock", {}), v.get("data", {})
    gates = v.get("gates", [])
    failed = sum(1 for g in gates if not g["pass"])
    cards = [
        ("verdict", "OK" if v.get("ok") else "NOT OK", "pass" if v.get("ok") else "fail",
         "verdict.ok", v.get("ok")),
        ("gates", f"{len(gates) - failed} of {len(gates)} pass" if gates else "none set",
         "na" if not gates else ("pass" if not failed else "fail"), "verdict.gates_ok",
         v.get("gates_ok")),
        ("API held", *_held(api.get("held")), "verdict.api.held", api.get("held")),
        ("clock held", *_held(clock.get("held")), "verdict.clock.held", clock.get("held")),
    ]  # fmt: skip
    out = ['<div class="glance">']
    for label, shown, cls, key, value in cards:
        out.append(
            f'<div class="card {cls}" data-key="{key}" '
            f"data-value='{html.escape(json.dumps(value), quote=True)}'>"
            f'<div class="k">{html.escape(label)}</div><div class="v">{html.escape(shown)}</div>'
            "</div>"
        )
    out.append("</div>")
    # Gates.
    out.append("<table><tr><th>gate</th><th>kind</th><th>threshold</th><th>value</th>"
               "<th>unit</th><th>result</th><th>detail</th></tr>")  # fmt: skip
    for i, g in enumerate(gates):
        k = f"verdict.gates.{i}"
        out.append(
            f'<tr class="{"pass" if g["pass"] else "fail"}">'
            + _cell(f"{k}.expr", g["expr"], g["expr"])
            + _cell(f"{k}.kind", g["kind"], g["kind"])
            + _cell(f"{k}.threshold", g["threshold"], _fmt(g["threshold"], g["unit"]), "num")
            + _cell(f"{k}.value", g["value"], _fmt(g["value"], g["unit"]), "num")
            + _cell(f"{k}.unit", g["unit"], g["unit"])
            + _cell(f"{k}.pass", g["pass"], "PASS" if g["pass"] else "FAIL")
            + f"<td>{html.escape(g['detail'])}</td></tr>"
        )
    if not gates:
        out.append('<tr><td colspan="7" class="muted">no --threshold gates were set</td></tr>')
    out.append("</table>")
    # API, clock, data.
    rows = [
        ("API: HTTP requests", "verdict.api.requests", api.get("requests"), ""),
        ("API: error rate", "verdict.api.error_rate_fraction", api.get("error_rate_fraction"),
         "fraction"),
        ("API: p95", "verdict.api.p95_ms", api.get("p95_ms"), "ms"),
        ("API: breaker trips / outages", "verdict.api.breaker_trips", api.get("breaker_trips"),
         ""),
        ("clock: time scale set", "verdict.clock.time_scale_set", clock.get("time_scale_set"),
         "x"),
        ("clock: time scale realized", "verdict.clock.time_scale_realized",
         clock.get("time_scale_realized"), "x"),
        ("clock: slip p99", "verdict.clock.slip_p99_ms", clock.get("slip_p99_ms"), "ms"),
        ("clock: slip p99 share of a sim hour", "verdict.clock.slip_p99_pct_hour",
         clock.get("slip_p99_pct_hour"), "%"),
        ("clock: missed sessions", "verdict.clock.missed_sessions",
         clock.get("missed_sessions"), ""),
        ("data: simulated hours", "verdict.data.sim_hours", d.get("sim_hours"), ""),
        ("data: sessions", "verdict.data.sessions", d.get("sessions"), ""),
        ("data: orders", "verdict.data.orders", d.get("orders"), ""),
        ("data: database rows", "verdict.data.database_rows", d.get("database_rows"), ""),
    ]  # fmt: skip
    out.append('<table style="margin-top:10px">')
    for label, key, value, unit in rows:
        out.append(f"<tr><th>{html.escape(label)}</th>" + _cell(key, value, _fmt(value, unit),
                                                               "num") + "</tr>")  # fmt: skip
    why = [*(f"API: {r}" for r in api.get("reasons", [])),
           *(f"clock: {r}" for r in clock.get("reasons", []))]  # fmt: skip
    out.append("</table>")
    if why:
        out.append('<p class="muted">' + "<br>".join(html.escape(w) for w in why) + "</p>")
    files = ", ".join(d.get("files_written", []))
    out.append(f'<p class="muted">files written: {html.escape(files)}</p>')
    return "\n".join(out)


def _events_table(events: list[dict[str, Any]]) -> str:
    if not events:
        return '<p class="muted">no offer cycles, breaker trips, outages or pauses</p>'
    rows = "".join(
        f"<tr><td class='num'>{e['sim_hour']:g}</td><td>{html.escape(e['label'])}</td>"
        f"<td>{html.escape(e['detail'])}</td></tr>"
        for e in events
    )
    return f"<table><tr><th>sim hour</th><th>event</th><th>detail</th></tr>{rows}</table>"


# ------------------------------------------------------------------ realism

REALISM_PLACES = ("realism.json", "realism/realism.json")
"""Where a run's ``loadsim realism RUN -o DIR`` results are looked for, in the run
directory (``reports.realism_render.REALISM_JSON``)."""


def read_realism(run_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The run's realism results and where they were read, else ``(None, None)``; an
    unreadable file is ``(None, "<file>: <why>")`` (the page says so, nothing else fails)."""
    for rel in REALISM_PLACES:
        path = Path(run_dir) / rel
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
                raise ValueError("expected an object with rows")
            if not isinstance(data.get("overlays", {}), dict):
                raise ValueError("overlays: expected an object")
        except (OSError, ValueError) as exc:
            return None, f"{rel}: {exc}"
        return {**data, "source": rel}, None
    return None, None


def _realism_svg(realism: dict[str, Any]) -> str:
    """Each statistic's two sides overlaid, small multiples: a distribution's CDFs (the
    largest vertical gap is the KS statistic), a share vector's bars side by side."""
    overlays = realism.get("overlays") or {}
    scores = {r.get("statistic"): r.get("score") for r in realism["rows"]}
    names = [n for n in overlays if isinstance(overlays[n], dict)]
    if not names:
        return ""
    cols = 3
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(10.5, 2.7 * rows), dpi=100)
    FigureCanvasSVG(fig)
    for i, name in enumerate(names):
        o = overlays[name]
        ax = fig.add_subplot(rows, cols, i + 1)
        sim, real = o.get("sim") or [], o.get("real") or []
        if o.get("kind") == "share":
            labels = [str(x) for x in o.get("labels") or []]
            x = list(range(len(labels)))
            ax.bar([v - 0.2 for v in x], real, 0.4, label="real (held out)", color="#4c72b0")
            ax.bar([v + 0.2 for v in x], sim, 0.4, label="simulated", color="#dd8452")
            step = max(1, math.ceil(len(labels) / 8))
            ax.set_xticks(x[::step], labels[::step], fontsize=7)
            ax.set_ylabel("share", fontsize=8)
        else:
            probs = o.get("probs") or []
            ax.step(real, probs, where="post", label="real (held out)", color="#4c72b0")
            ax.step(sim, probs, where="post", label="simulated", color="#dd8452")
            ax.set_ylabel("cumulative share", fontsize=8)
        score = scores.get(name)
        ax.set_title(f"{name}" + (f" — score {score:.3f}" if score is not None else ""),
                     fontsize=9)  # fmt: skip
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "loadsim"}):
        fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _realism_section(realism: dict[str, Any] | None, problem: str | None) -> str:
    if realism is None:
        if problem is None:
            return ""
        return (f"<section><h2>Realism: simulated vs real households</h2>"
                f'<p class="muted">not shown: {html.escape(problem)}</p></section>')  # fmt: skip
    body = []
    for r in realism["rows"]:
        name = str(r.get("statistic"))
        key = f"realism.{name}"
        body.append(
            "<tr>"
            f"<td>{html.escape(name)}</td>"
            + _cell(f"{key}.score", r.get("score"), _fmt(r.get("score")), "num")
            + _cell(f"{key}.sim_mean", r.get("sim_mean"), _fmt(r.get("sim_mean")), "num")
            + _cell(f"{key}.real_mean", r.get("real_mean"), _fmt(r.get("real_mean")), "num")
            + f"<td>{html.escape(str(r.get('unit') or ''))}</td>"
            + f"<td>{'yes' if r.get('gated') else 'no'}</td>"
            + f"<td class='muted'>{html.escape(str(r.get('note') or ''))}</td></tr>"
        )
    header = "".join(f"<li>{html.escape(str(h))}</li>" for h in realism.get("header") or [])
    table = ("<table><tr><th>statistic</th><th>score</th><th>simulated mean</th>"
             "<th>real mean</th><th>unit</th><th>gated</th><th>note</th></tr>"
             + "".join(body) + "</table>")  # fmt: skip
    svg = _realism_svg(realism)
    return (
        '<section class="chart"><h2>Realism: simulated vs real households</h2>'
        f'<p class="muted">from {html.escape(str(realism["source"]))} '
        "(<code>loadsim realism RUN -o DIR</code>; score 1 = the same distribution)</p>"
        + (f"<ul class='muted'>{header}</ul>" if header else "")
        + table
        + svg
        + "</section>"
    )


def render_html(
    report: RunReport,
    events: list[dict[str, Any]],
    *,
    realism: dict[str, Any] | None = None,
    realism_problem: str | None = None,
) -> str:
    """The whole page as one string; ``realism``: :func:`read_realism`'s results, drawn
    after the charts when the run has them."""
    data = page_data(report, events)
    if realism is not None:
        data["realism"] = {"source": realism["source"], "rows": realism["rows"]}
    s = report.summary
    m = report.manifest
    sub = (f"time scale {_fmt(s['time'].get('time_scale'))}x · "
           f"{_fmt(s['time'].get('sim_hours'))} simulated hours · "
           f"started {m.get('started_at') or '-'} · status {m.get('status') or '-'}")  # fmt: skip
    blob = json.dumps(data, default=str, allow_nan=False).replace("</", "<\\/")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>loadsim run {html.escape(str(s['run_id']))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>Run {html.escape(str(s['run_id']))}</h1>"
        f"<p>{html.escape(sub)}</p></header><main>",
        f"<section><h2>At a glance</h2>{_glance(data)}</section>",
    ]
    for title, svg in charts(report, data):
        parts.append(f'<section class="chart"><h2>{html.escape(title)}</h2>{svg}</section>')
    parts.append(f"<section><h2>Events on the simulated clock</h2>{_events_table(data['events'])}"
                 "</section>")  # fmt: skip
    realism_html = _realism_section(realism, realism_problem)
    if realism_html:
        parts.append(realism_html)
    notes = s["sources"].get("notes") or []
    if notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        parts.append(f"<section><h2>Notes</h2><ul>{items}</ul></section>")
    parts.append(f'<script type="application/json" id="{DATA_ID}">{blob}</script>')
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def write_html_report(report: RunReport, path: Path, *, events: list[dict[str, Any]]) -> Path:
    """Write ``report.html`` atomically."""
    import dataclasses

    from reports.build import _clean

    # numpy scalars and NaN as summary.json has them (JSON-safe), the report untouched
    realism, problem = read_realism(path.parent)
    text = render_html(
        dataclasses.replace(report, summary=_clean(report.summary)), events,
        realism=realism, realism_problem=problem,
    )  # fmt: skip
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
