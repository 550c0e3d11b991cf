"""Render a comparison (``reports.compare``): console table, ``comparison.xlsx``, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from openpyxl import Workbook
from tabulate import tabulate

from reports.console import fmt
from reports.summary import RunReport
from reports.xlsx import DEC, PCT, kv_sheet, table_sheet

_RATE_ROWS = {"conversion", "abandonment", "error rate"}


def _label(run: dict[str, Any]) -> str:
    scale = run.get("time_scale")
    return f"{run['run_id']} ({scale:g}x)" if scale else run["run_id"]


def _cell(metric: str, v: Any) -> str:
    return fmt(v, "pct") if metric in _RATE_ROWS else fmt(v)


def render_comparison(result: dict[str, Any]) -> str:
    """The side-by-side console table: behavior rows (with z vs the baseline and a flag),
    load/time rows, then each time scale's sustainability verdict."""
    labels = [_label(r) for r in result["runs"]]
    rows = []
    for b in result["behavior"]:
        zs = [z for z in b["z"][1:] if z is not None]
        zmax = max(zs, key=abs) if zs else None
        rows.append(
            [
                b["metric"],
                *(_cell(b["metric"], v) for v in b["values"]),
                fmt(zmax),
                "DIFFERS" if b["flagged"] else "",
            ]
        )
    out = [
        tabulate(
            rows,
            headers=["behavior (per sim day)", *labels, "z vs first", "flag"],
            tablefmt="simple",
            disable_numparse=True,
        )
    ]
    load_rows = [
        [r["metric"], *(_cell(r["metric"], v) for v in r["values"])] for r in result["load"]
    ]
    out.append(
        tabulate(
            load_rows, headers=["load / time", *labels], tablefmt="simple", disable_numparse=True
        )
    )
    for label, s in zip(labels, result["sustainability"], strict=True):
        out.append(f"{label}: {s['verdict']}")
    if result["flags"]:
        out.append(
            f"behavior differs beyond sampling error (|z| > {result['z_tolerance']:g}): "
            + ", ".join(result["flags"])
            + " — the time scale may distort behavior"
        )
    else:
        out.append(
            f"behavior: no metric differs beyond sampling error (|z| ≤ {result['z_tolerance']:g})"
        )
    out.extend(f"note: {n}" for n in result["notes"])
    return "\n\n".join(out[:2]) + "\n\n" + "\n".join(out[2:]) + "\n"


def _comparison_frames(result: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    labels = [_label(r) for r in result["runs"]]
    beh = []
    for b in result["behavior"]:
        row: dict[str, Any] = {"metric": b["metric"]}
        row.update(dict(zip(labels, b["values"], strict=True)))
        for lab, z in zip(labels[1:], b["z"][1:], strict=True):
            row[f"z {lab}"] = z
        row["flagged"] = "yes" if b["flagged"] else "no"
        beh.append(row)
    load = [
        {"metric": r["metric"], **dict(zip(labels, r["values"], strict=True))}
        for r in result["load"]
    ]
    sus = [
        {"run": lab, **{k: (", ".join(v) if isinstance(v, list) else v) for k, v in s.items()}}
        for lab, s in zip(labels, result["sustainability"], strict=True)
    ]
    return pd.DataFrame(beh), pd.DataFrame(load), pd.DataFrame(sus)


def _bar_plot(
    path: Path,
    title: str,
    metrics: list[str],
    labels: list[str],
    values: list[list[Any]],
    ylabel: str,
) -> None:
    fig = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(labels))
    for j, lab in enumerate(labels):
        xs = [i + j * width for i in range(len(metrics))]
        ax.bar(xs, [float(v[j]) if v[j] is not None else 0.0 for v in values], width, label=lab)
    ax.set_xticks([i + width * (len(labels) - 1) / 2 for i in range(len(metrics))])
    ax.set_xticklabels(metrics, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")


def _slip_plot(path: Path, labels: list[str], reports: list[RunReport]) -> None:
    fig = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    drawn = False
    for lab, rep in zip(labels, reports, strict=True):
        h, hour_s = rep.hours, rep.summary["time"].get("sim_hour_real_s")
        if len(h) and "slip_p99_s" in h and h["slip_p99_s"].notna().any() and hour_s:
            ax.plot(h["sim_hour"], 100 * h["slip_p99_s"].astype(float) / hour_s, label=lab)
            drawn = True
    if drawn:
        ax.axhline(10, color="red", linestyle=":", label="10 % of a sim hour")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=16, color="grey")
        ax.set_axis_off()
    ax.set_xlabel("simulated hour")
    ax.set_ylabel("slip p99, % of a simulated hour")
    ax.set_title("Slip p99 per simulated hour")
    fig.tight_layout()
    fig.savefig(path, format="png")


def write_comparison_outputs(
    result: dict[str, Any], reports: list[RunReport], out_dir: Path
) -> None:
    """Write ``comparison.xlsx`` and ``plots/compare_*.png`` into ``out_dir``."""
    beh, load, sus = _comparison_frames(result)
    labels = [_label(r) for r in result["runs"]]
    wb = Workbook()
    wb.remove(wb.active)
    fmts = {lab: DEC for lab in labels} | {f"z {lab}": DEC for lab in labels}
    ws = table_sheet(wb, "Behavior", beh, fmts)
    for row in ws.iter_rows(min_row=2):
        if row[0].value in _RATE_ROWS:
            for cell in row[1 : 1 + len(labels)]:
                cell.number_format = PCT
    table_sheet(wb, "Load", load, {lab: DEC for lab in labels})
    table_sheet(wb, "Sustainability", sus, {"slip_p99_pct_hour": DEC, "latency_share_pct": DEC})
    kv_sheet(
        wb, "Runs", [(lab, r["dir"], None) for lab, r in zip(labels, result["runs"], strict=True)]
    )
    tmp = out_dir / "comparison.xlsx.tmp"
    wb.save(tmp)
    tmp.replace(out_dir / "comparison.xlsx")

    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    per_day = [b for b in result["behavior"] if b["metric"].endswith("/ sim day")]
    _bar_plot(
        plots / "compare_behavior_per_day.png",
        "Behavior per simulated day",
        [b["metric"].replace(" / sim day", "") for b in per_day],
        labels,
        [b["values"] for b in per_day],
        "per simulated day",
    )
    rates = [b for b in result["behavior"] if b["metric"] in _RATE_ROWS]
    _bar_plot(
        plots / "compare_rates.png",
        "Conversion and abandonment",
        [b["metric"] for b in rates],
        labels,
        [b["values"] for b in rates],
        "share",
    )
    shares = [
        ("API p95", [s["api_p95_share_pct"] for s in result["sustainability"]]),
        ("flow p95", [s["flow_p95_share_pct"] for s in result["sustainability"]]),
        ("slip p99", [s["slip_p99_pct_hour"] for s in result["sustainability"]]),
    ]
    _bar_plot(
        plots / "compare_sustainability.png",
        "Share of a simulated hour (%)",
        [n for n, _ in shares],
        labels,
        [v for _, v in shares],
        "% of a sim hour",
    )
    _slip_plot(plots / "compare_slip.png", labels, reports)
