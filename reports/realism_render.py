"""The realism table (console) and its files: one PNG per statistic, the table as CSV, and
both as data (``realism.json``, drawn in a run's ``report.html``).

PNGs overlay the two sides: empirical CDFs for distributions (what the KS statistic
measures: the largest vertical gap), side-by-side bars for shares (what TV sums).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
from tabulate import tabulate

from reports.realism import RealismReport
from reports.realism_stats import Sample


def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def render(report: RealismReport, *, threshold: float | None = None) -> str:
    """Header lines, then one row per statistic, then the verdict."""
    rows = []
    for r in report.rows:
        rs = r.retailsynth
        beat = "" if rs is None else (" ✓" if r.score > rs else " ✗")
        gate = "gated" if r.spec.gated else "reported"
        status = ""
        if threshold is not None and r.spec.gated:
            status = "ok" if r.score >= threshold else "BELOW"
        rows.append(
            [
                r.spec.name,
                "KS" if not r.spec.unit == "share" else "TV",
                _f(r.score),
                _f(r.sim_mean),
                _f(r.real_mean),
                _f(rs) + beat,
                gate + (f" {status}" if status else ""),
                r.spec.note,
            ]
        )
    out = list(report.header)
    out.append(
        tabulate(
            rows,
            headers=["statistic", "", "score", "sim mean", "real mean", "RetailSynth", "", "note"],
            tablefmt="simple",
            disable_numparse=True,
        )
    )
    out.append(
        "score: KS = 1 − KS statistic (scipy.stats.ks_2samp), TV = 1 − total variation; "
        "shares' means are the first share (visit, coupon) or the largest one."
    )
    gated = [r for r in report.rows if r.spec.gated]
    if gated:
        low = min(gated, key=lambda r: r.score)
        out.append(f"lowest gated score: {low.score:.3f} ({low.spec.name})")
    if threshold is not None:
        bad = report.failures(threshold)
        out.append(
            f"realism >= {threshold:g}: "
            + ("PASS" if not bad else "FAIL (" + ", ".join(r.spec.name for r in bad) + ")")
        )
    return "\n".join(out)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _plot(name: str, sim: Sample, real: Sample, score: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if sim.is_share:
        x = np.arange(len(sim.labels))
        ax.bar(x - 0.2, real.values, 0.4, label="real (held out)", color="#4c72b0")
        ax.bar(x + 0.2, sim.values, 0.4, label="simulated", color="#dd8452")
        ax.set_xticks(x, sim.labels, rotation=45 if len(x) > 7 else 0, ha="right")
        ax.set_ylabel("share")
    else:
        for values, label, color in (
            (real.values, "real (held out)", "#4c72b0"),
            (sim.values, "simulated", "#dd8452"),
        ):
            v = np.sort(values)
            ax.step(
                v, np.arange(1, len(v) + 1) / max(1, len(v)), where="post", label=label, color=color
            )
        ax.set_ylabel("cumulative share")
        hi = np.quantile(np.concatenate([sim.values, real.values]), 0.99) if len(real.values) else 1
        ax.set_xlim(left=min(0, float(np.min(real.values, initial=0))), right=float(hi))
    ax.set_title(f"{name} — score {score:.3f}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


REALISM_JSON = "realism.json"
"""The scores and both sides' overlays as data; ``report.html`` draws them when the run
directory (or its ``realism/``) holds this file (``reports.html_report``)."""

CDF_POINTS = 51
"""Quantiles kept per distribution in ``realism.json`` (0, 2 %, …, 100 %)."""


def realism_data(report: RealismReport) -> dict[str, object]:
    """``realism.json``'s content: each row's figures and the two sides overlaid — a
    distribution as its quantiles (the CDF the KS statistic reads), a share vector as is."""
    rows = [
        {"statistic": r.spec.name, "unit": r.spec.unit, "score": _finite(r.score),
         "sim_mean": _finite(r.sim_mean), "real_mean": _finite(r.real_mean),
         "retailsynth": r.retailsynth, "gated": r.spec.gated, "note": r.spec.note,
         "n_sim": int(r.n_sim), "n_real": int(r.n_real)}
        for r in report.rows
    ]  # fmt: skip
    overlays: dict[str, object] = {}
    for r in report.rows:
        s, q = report.sim.get(r.spec.name), report.real.get(r.spec.name)
        if s is None or q is None:
            continue
        if s.is_share:
            overlays[r.spec.name] = {"kind": "share", "labels": list(s.labels),
                                     "sim": _floats(s.values), "real": _floats(q.values)}  # fmt: skip
        elif len(s.values) and len(q.values):
            probs = np.linspace(0.0, 1.0, CDF_POINTS)
            overlays[r.spec.name] = {
                "kind": "cdf", "probs": _floats(probs),
                "sim": _floats(np.quantile(s.values, probs)),
                "real": _floats(np.quantile(q.values, probs)),
            }  # fmt: skip
    return {"header": list(report.header), "rows": rows, "overlays": overlays}


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 6)


def _floats(values: object) -> list[float | None]:
    return [_finite(float(v)) for v in np.asarray(values, dtype=float)]


def write_outputs(report: RealismReport, directory: Path) -> list[Path]:
    """``realism.csv``, ``realism.json`` and one ``<statistic>.png`` per row in
    ``directory``."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    table = directory / "realism.csv"
    with table.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["statistic", "score", "sim_mean", "real_mean", "retailsynth", "gated", "note"])
        for r in report.rows:
            w.writerow([r.spec.name, f"{r.score:.4f}", f"{r.sim_mean:.4f}", f"{r.real_mean:.4f}",
                        r.retailsynth if r.retailsynth is not None else "", r.spec.gated,
                        r.spec.note])  # fmt: skip
    written.append(table)
    data = directory / REALISM_JSON
    data.write_text(json.dumps(realism_data(report), allow_nan=False, indent=1), encoding="utf-8")
    written.append(data)
    for r in report.rows:
        s, q = report.sim.get(r.spec.name), report.real.get(r.spec.name)
        if s is None or q is None:
            continue
        path = directory / f"{_slug(r.spec.name)}.png"
        _plot(r.spec.name, s, q, r.score, path)
        written.append(path)
    return written
