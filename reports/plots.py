"""Render a run's plots as PNG files (matplotlib, Agg canvas).

Figures are built with ``matplotlib.figure.Figure`` + ``FigureCanvasAgg`` rather than
pyplot: no global state and no backend switch inside the Locust master that calls this.
A plot without data is still written, with a "no data" note, so the set of files is
stable.

What every plot keeps to:

- simulated time on every time axis (simulated hours from the run's start, the start
  named under the axis when the manifest has it);
- no line hidden under another: each series its own colour, marker and dash, and where
  counts only show the ramp, a second panel gives the rate per live agent;
- the units of ``summary.json`` and the workbook: slip and latency in ms, rates in %.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from reports.summary import RunReport

PLOT_NAMES = ("ramp", "load", "sessions_orders", "slip", "funnel")

Draw = Callable[[Figure], bool]
"""Draws a plot's panels on an empty figure; False: no data to draw."""

STYLES: tuple[dict[str, Any], ...] = (
    {"color": "tab:blue", "marker": "o", "linestyle": "-"},
    {"color": "tab:orange", "marker": "^", "linestyle": "--"},
    {"color": "tab:green", "marker": "s", "linestyle": ":"},
    {"color": "tab:red", "marker": "D", "linestyle": "-."},
    {"color": "tab:purple", "marker": "x", "linestyle": (0, (5, 1))},
)
"""One look per series of a panel: colour, marker and dash all differ, so lines that
coincide stay visible (a marker peeks out of a dash)."""

SYMLOG_SPAN = 20.0
"""Slip goes on a symmetric-log axis when its limit is this many times its largest value."""


def figure(draw: Draw, title: str, *, panels: int = 1, horizontal: bool = False) -> Figure:
    """A figure drawn by ``draw`` (or a "no data" note), titled ``title``."""
    fig = Figure(figsize=(8, 4.5 if panels == 1 else 3.2 * panels), dpi=100)
    FigureCanvasAgg(fig)
    if not draw(fig):
        fig.clear()
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=16, color="grey")
        ax.set_axis_off()
    fig.suptitle(title)
    # Fixed margins: tight_layout() draws the figure once more just to measure it.
    fig.subplots_adjust(
        left=0.27 if horizontal else 0.1,
        right=0.95,
        bottom=0.12 if panels == 1 else 0.09,
        top=0.9 if panels == 1 else 0.93,
        hspace=0.35,
    )
    return fig


def _save(path: Path, fig: Figure) -> Path:
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path


def _col(df: pd.DataFrame, name: str) -> pd.Series | None:
    if name in df and df[name].notna().any():
        return df[name].astype(float)
    return None


def _line(ax: Axes, x: Any, y: Any, i: int, label: str, **kw: Any) -> None:
    style = {**STYLES[i % len(STYLES)], "markersize": 4, "linewidth": 1.6, **kw}
    ax.plot(x, y, label=label, **style)


def sim_axis_label(report: RunReport) -> str:
    """``simulated hour`` plus when hour 0 was, in simulated time."""
    start = report.summary.get("manifest", {}).get("sim_start") or report.manifest.get("sim_start")
    try:
        ts = pd.Timestamp(start) if start else None
    except (TypeError, ValueError):
        ts = None
    if ts is None or ts is pd.NaT:
        return "simulated hour"
    return f"simulated hour (0 = {ts:%a %Y-%m-%d %H:%M} simulated)"


def _ramp(report: RunReport) -> Draw:
    def draw(fig: Figure) -> bool:
        ax = fig.add_subplot(1, 1, 1)
        h, scale = report.hours, report.summary["time"]["time_scale"]
        drawn = False
        live, target = _col(h, "live_users"), _col(h, "target_users")
        if len(h) and live is not None:
            # Stages hold for whole hours: steps, not slopes. Live agents as a filled
            # area, the target dashed on top: where they coincide both stay visible.
            ax.fill_between(h["sim_hour"], live, step="post", alpha=0.35, color="tab:blue",
                            label="live agents (held a persona in the hour)")  # fmt: skip
            ax.step(h["sim_hour"], live, where="post", color="tab:blue", linewidth=1.2)
            drawn = True
        if len(h) and target is not None:
            ax.step(h["sim_hour"], target, where="post", color="black", linestyle="--",
                    linewidth=1.6, label="ramp target")  # fmt: skip
            drawn = True
        locust = _col(h, "locust_users") if len(h) else None
        if locust is not None and locust.any():
            ax.plot(h["sim_hour"], locust, color="tab:orange", marker="^", linestyle=":",
                    drawstyle="steps-post", markersize=5,
                    label="Locust users (max in the hour)")  # fmt: skip
        if not drawn and len(report.history) and scale:
            # No per-hour file: place Locust's user count on the simulated time axis.
            x = report.history["elapsed_s"] * scale / 3600.0
            ax.plot(x, report.history["users"], label="users (Locust)")
            drawn = True
        ax.set_xlabel(sim_axis_label(report))
        ax.set_ylabel("agents")
        ax.set_ylim(bottom=0)
        if drawn:
            ax.legend(loc="upper left")
        return drawn

    return draw


def _load(report: RunReport) -> Draw:
    """Three panels over simulated time: requests/s and failures/s; requests/s per
    Locust user (a count only shows the ramp); p95 latency in ms."""

    def draw(fig: Figure) -> bool:
        hist, t = report.history, report.summary["time"]
        scale = t.get("realized_time_scale") or t.get("time_scale")
        if not len(hist) or not scale:
            return False
        x = hist["elapsed_s"] * float(scale) / 3600.0
        top, mid, low = (fig.add_subplot(3, 1, i) for i in (1, 2, 3))
        _line(top, x, hist["rps"], 0, "requests/s", markersize=2)
        _line(top, x, hist["fail_s"], 3, "failures/s", markersize=2)
        top.set_ylabel("per second")
        top.legend(loc="upper left", fontsize=8)
        users = hist["users"].where(hist["users"] > 0)
        _line(mid, x, hist["rps"] / users, 1, "requests/s per Locust user", markersize=2)
        mid.set_ylabel("per user")
        mid.legend(loc="upper left", fontsize=8)
        _line(low, x, hist["p95_ms"], 2, "p95 (ms), all HTTP requests", markersize=2)
        low.set_ylabel("ms")
        low.set_ylim(bottom=0)
        low.legend(loc="upper left", fontsize=8)
        for ax in (top, mid):
            ax.sharex(low)
            ax.tick_params(labelbottom=False)
        low.set_xlabel(sim_axis_label(report) + ", from real seconds × realized scale")
        return True

    return draw


def per_live_agent(hours: pd.DataFrame, column: str) -> pd.Series | None:
    """``column`` per live agent in each hour, in % (None: no such column or no agents)."""
    y, live = _col(hours, column), _col(hours, "live_users")
    if y is None or live is None or not live.any():
        return None
    return 100.0 * y / live.where(live > 0)


def _sessions(report: RunReport) -> Draw:
    """Counts per simulated hour on top; below, the same as a share of the hour's live
    agents, which a ramp cannot inflate."""

    def draw(fig: Figure) -> bool:
        h = report.hours
        if not len(h):
            return False
        series = [
            (name, label)
            for name, label in (
                ("shopped", "shop sessions"),
                ("idle", "idle browses"),
                ("orders", "orders"),
                ("failed", "failed flows"),
                ("missed", "missed sessions"),
            )
            if _col(h, name) is not None
        ]
        if not series:
            return False
        top, low = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2, sharex=None)
        for i, (name, label) in enumerate(series):
            y = _col(h, name)
            _line(top, h["sim_hour"], y, i, label)
            rate = per_live_agent(h, name)
            if rate is not None:
                _line(low, h["sim_hour"], rate, i, label)
        top.set_ylabel("per simulated hour")
        top.set_ylim(bottom=0)
        top.legend(loc="upper left", fontsize=8, ncol=3)
        low.set_ylabel("% of live agents")
        low.set_ylim(bottom=0)
        low.set_xlabel(sim_axis_label(report))
        low.set_title("per live agent (the ramp taken out)", fontsize=9)
        low.sharex(top)
        top.tick_params(labelbottom=False)
        return True

    return draw


def slip_limit_ms(report: RunReport) -> float | None:
    """The sustainability line: 10 % of a simulated hour, in ms at this run's scale."""
    from reports.compare import SLIP_LIMIT_PCT

    hour_s = report.summary["time"].get("sim_hour_real_s")
    return SLIP_LIMIT_PCT / 100.0 * float(hour_s) * 1000.0 if hour_s else None


def _slip(report: RunReport) -> Draw:
    """Slip in milliseconds (the unit of the verdict and report.html), against the
    sustainability line. When the line is far above the slips (a target that keeps
    up), the axis is symmetric-log — linear below 1 ms — so both can be read."""

    def draw(fig: Figure) -> bool:
        ax = fig.add_subplot(1, 1, 1)
        h = report.hours
        if not len(h):
            return False
        top = 0.0
        drawn = False
        for i, q in enumerate(("p50", "p95", "p99")):
            y = _col(h, f"slip_{q}_s")
            if y is not None:
                _line(ax, h["sim_hour"], 1000.0 * y, i, f"slip {q} (ms)")
                top = max(top, float(np.nanmax(1000.0 * y)))
                drawn = True
        limit = slip_limit_ms(report)
        if drawn and limit:
            from reports.compare import SLIP_LIMIT_PCT

            ax.axhline(limit, color="red", linestyle=(0, (1, 1)), linewidth=1.5,
                       label=f"limit: {SLIP_LIMIT_PCT:g} % of a sim hour ({limit:,.0f} ms)")  # fmt: skip
            if limit > SYMLOG_SPAN * max(top, 1.0):
                ax.set_yscale("symlog", linthresh=1.0)
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
                ax.set_ylim(0, limit * 2)
                ax.set_ylabel("slip (ms, log scale above 1 ms)")
            else:
                ax.set_ylim(0, max(top, limit) * 1.15)
                ax.set_ylabel("slip (ms)")
        else:
            ax.set_ylabel("slip (ms)")
        ax.set_xlabel(sim_axis_label(report))
        if drawn:
            ax.legend(loc="center left", fontsize=8)
        return drawn

    return draw


OPTIONAL_STEPS = ("viewed a coupon", "applied a coupon")
"""Funnel steps a session may skip on its way to checkout: shown beside the funnel."""


def funnel_rows(steps: Sequence[tuple[str, int]]) -> list[tuple[str, int, float, float | None]]:
    """``(step, sessions, % of the first step, % of the previous main step)``; optional
    steps (:data:`OPTIONAL_STEPS`) get no "% of previous" and are not a previous step."""
    if not steps or not steps[0][1]:
        return []
    first = steps[0][1]
    out: list[tuple[str, int, float, float | None]] = []
    prev: int | None = None
    for name, v in steps:
        if name in OPTIONAL_STEPS:
            out.append((name, v, 100.0 * v / first, None))
            continue
        share_prev = None if prev is None else (100.0 * v / prev if prev else 0.0)
        out.append((name, v, 100.0 * v / first, share_prev))
        prev = v
    return out


def _funnel(steps: Sequence[tuple[str, int]]) -> Draw:
    """Centred bars, widest first: each main step with its share of the first step and
    of the step before; optional coupon steps below, hatched, as a share of the first."""

    def draw(fig: Figure) -> bool:
        rows = funnel_rows(steps)
        if not rows:
            return False
        ax = fig.add_subplot(1, 1, 1)
        main = [r for r in rows if r[0] not in OPTIONAL_STEPS]
        side = [r for r in rows if r[0] in OPTIONAL_STEPS]
        ordered = main + side
        first = rows[0][1]
        ys = list(range(len(ordered)))[::-1]
        for y, (name, v, of_first, of_prev) in zip(ys, ordered, strict=True):
            optional = name in OPTIONAL_STEPS
            ax.barh(
                y, v, left=(first - v) / 2.0, height=0.7,
                color="white" if optional else "tab:green",
                edgecolor="tab:green", hatch="//" if optional else None,
            )  # fmt: skip
            text = f"{v:,} = {of_first:.1f}% of {rows[0][0]}"
            if of_prev is not None and name != rows[0][0]:
                text += f"\n{of_prev:.1f}% of the step above"
            ax.text(first * 1.03, y, text, va="center", fontsize=8.5)
        ax.set_yticks(ys, [r[0] + (" (optional)" if r[0] in OPTIONAL_STEPS else "")
                           for r in ordered])  # fmt: skip
        ax.set_xlim(0, first * 1.75)
        ax.set_xticks([])
        for side_name in ("top", "right", "bottom"):
            ax.spines[side_name].set_visible(False)
        ax.set_xlabel(f"sessions reaching each step (bar width: count; % of {rows[0][0]})")
        return True

    return draw


def write_plots(report: RunReport, out_dir: Path) -> list[Path]:
    """Write ``ramp``, ``load``, ``sessions_orders``, ``slip`` and ``funnel`` PNGs.

    Args:
        report: the assembled run report.
        out_dir: ``runs/<run_id>/plots``.

    Returns:
        The files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _save(out_dir / f"{name}.png", fig)
        for name, fig in zip(PLOT_NAMES, figures(report), strict=True)
    ]


def figures(report: RunReport) -> list[Figure]:
    """The run's figures, in :data:`PLOT_NAMES` order."""
    return [
        figure(_ramp(report), "Agents per simulated hour (ramp)"),
        figure(_load(report), "HTTP load over simulated time", panels=3),
        figure(_sessions(report), "Sessions, orders and failures per simulated hour", panels=2),
        figure(_slip(report), "Slip per simulated hour"),
        figure(_funnel(report.funnel), "Shopping funnel", horizontal=True),
    ]
