"""Render a run's plots as PNG files (matplotlib, Agg canvas).

Figures are built with ``matplotlib.figure.Figure`` + ``FigureCanvasAgg`` rather than
pyplot: no global state and no backend switch inside the Locust master that calls this.
A plot without data is still written, with a "no data" note, so the set of files is
stable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.summary import RunReport

PLOT_NAMES = ("ramp", "load", "sessions_orders", "slip", "funnel")


def _save(
    path: Path, draw: Callable[[Axes], bool], title: str, *, horizontal: bool = False
) -> Path:
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if not draw(ax):
        ax.cla()
        ax.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=16, color="grey")
        ax.set_axis_off()
    ax.set_title(title)
    # Fixed margins: tight_layout() draws the figure once more just to measure it.
    fig.subplots_adjust(left=0.1 if not horizontal else 0.22, right=0.9, bottom=0.12, top=0.9)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path


def _col(df: pd.DataFrame, name: str) -> pd.Series | None:
    if name in df and df[name].notna().any():
        return df[name].astype(float)
    return None


def _ramp(report: RunReport) -> Callable[[Axes], bool]:
    def draw(ax: Axes) -> bool:
        h, scale = report.hours, report.summary["time"]["time_scale"]
        drawn = False
        if len(h):
            # Active agents first, the ramp's target dashed on top: when every target
            # agent is active the two coincide and neither hides the other.
            styles: tuple[tuple[str, dict[str, Any]], ...] = (
                ("live_users", {"color": "tab:blue", "linewidth": 2.5}),
                ("target_users", {"color": "black", "linestyle": "--", "zorder": 3}),
            )
            for name, kw in styles:
                y = _col(h, name)
                if y is not None:
                    # Stages hold for whole hours: draw them as steps, not slopes.
                    ax.plot(
                        h["sim_hour"],
                        y,
                        drawstyle="steps-post",
                        label=name.replace("_", " "),
                        **kw,
                    )
                    drawn = True
        if not drawn and len(report.history) and scale:
            # No per-hour file: place Locust's user count on the simulated time axis.
            x = report.history["elapsed_s"] * scale / 3600.0
            ax.plot(x, report.history["users"], label="users (Locust)")
            drawn = True
        ax.set_xlabel("simulated hour")
        ax.set_ylabel("users")
        if drawn:
            ax.legend()
        return drawn

    return draw


def _load(report: RunReport) -> Callable[[Axes], bool]:
    def draw(ax: Axes) -> bool:
        hist, t = report.history, report.summary["time"]
        scale = t.get("realized_time_scale") or t.get("time_scale")
        if not len(hist) or not scale:
            return False
        # Simulated time on the axis, like every other plot of the run.
        x = hist["elapsed_s"] * float(scale) / 3600.0
        ax.plot(x, hist["rps"], color="tab:blue", label="requests/s")
        ax.plot(x, hist["fail_s"], color="tab:red", label="failures/s")
        ax.set_xlabel("simulated hour (real seconds × realized time scale)")
        ax.set_ylabel("requests/s (all types)")
        ax.legend(loc="upper left")
        ax2 = ax.twinx()
        ax2.plot(x, hist["p95_ms"], color="tab:orange", label="p95 (ms)")
        ax2.set_ylabel("p95 ms")
        ax2.legend(loc="upper right")
        return True

    return draw


def _sessions(report: RunReport) -> Callable[[Axes], bool]:
    def draw(ax: Axes) -> bool:
        h = report.hours
        if not len(h):
            return False
        drawn = False
        for name in ("shopped", "idle", "completed", "orders"):
            y = _col(h, name)
            if y is not None:
                ax.plot(h["sim_hour"], y, label=name)
                drawn = True
        ax.set_xlabel("simulated hour")
        ax.set_ylabel("per simulated hour")
        if drawn:
            ax.legend()
        return drawn

    return draw


def _slip(report: RunReport) -> Callable[[Axes], bool]:
    """Slip in milliseconds (the unit of the verdict and report.html), against the
    sustainability line: 10 % of a simulated hour, in ms at this run's time scale."""

    def draw(ax: Axes) -> bool:
        h, hour_s = report.hours, report.summary["time"]["sim_hour_real_s"]
        if not len(h):
            return False
        drawn = False
        for q in ("p50", "p95", "p99"):
            y = _col(h, f"slip_{q}_s")
            if y is not None:
                ax.plot(h["sim_hour"], 1000.0 * y, label=f"slip {q}")
                drawn = True
        if drawn and hour_s:
            from reports.compare import SLIP_LIMIT_PCT

            limit_ms = SLIP_LIMIT_PCT / 100.0 * hour_s * 1000.0
            ax.axhline(limit_ms, color="red", linestyle=":",
                       label=f"{SLIP_LIMIT_PCT:g} % of a sim hour ({limit_ms:,.0f} ms)")  # fmt: skip
        ax.set_xlabel("simulated hour")
        ax.set_ylabel("slip (ms)")
        if drawn:
            ax.legend()
        return drawn

    return draw


def _funnel(steps: Sequence[tuple[str, int]]) -> Callable[[Axes], bool]:
    def draw(ax: Axes) -> bool:
        if not steps or not steps[0][1]:
            return False
        labels = [s for s, _ in steps][::-1]
        values = [v for _, v in steps][::-1]
        first = steps[0][1]
        bars = ax.barh(labels, values, color="tab:green")
        for bar, v in zip(bars, values, strict=True):
            # Each step as a count and a share of the first step.
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f" {v:,} ({100 * v / first:.1f}%)", va="center")  # fmt: skip
        ax.set_xlim(0, first * 1.3)
        ax.set_xlabel(f"sessions (share of {steps[0][0]})")
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
        _save(out_dir / "ramp.png", _ramp(report), "Users vs simulated time (ramp)"),
        _save(out_dir / "load.png", _load(report), "Requests/s and p95 over time"),
        _save(
            out_dir / "sessions_orders.png",
            _sessions(report),
            "Sessions and orders per simulated hour",
        ),
        _save(out_dir / "slip.png", _slip(report), "Slip per simulated hour"),
        _save(out_dir / "funnel.png", _funnel(report.funnel), "Shopping funnel", horizontal=True),
    ]
