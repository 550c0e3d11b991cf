"""The readout of an offer experiment (pure: no SQL, no HTTP): per arm and stratum, each
treatment against control, with uncertainty that respects the unit of randomization.

Input: one :class:`PersonaOutcome` per randomized persona — a persona that never shopped is
a row of zeros, not a missing row (dropping it would bias every per-persona rate).

Every metric is a ratio of per-persona sums, ``R = Σy / Σx`` over an arm's personas:

==================================  =========================  ===========================
metric                              y (per persona)            x (per persona)
==================================  =========================  ===========================
orders_per_persona_week             orders                     simulated weeks in the run
conversion                          shop sessions with order   shop sessions
redemption_rate_per_coupon          coupons redeemed           coupons offered
redemption_rate_per_persona_cycle   cycles with a redemption   cycles with offers
basket_value                        order value (subtotal)     orders
revenue_per_persona_week            revenue (after discount)   weeks
discount_cost_per_persona_week      discount given             weeks
==================================  =========================  ===========================

Persona is the unit: orders of one persona are not independent (a frequent shopper orders
often in both arms' eyes), so per-order tests would be far too confident. The variance of
``R`` is the delta method over personas (a cluster-robust, linearized estimator):
``Var(R) ≈ Σ(y_i − R·x_i)² / ((n − 1)·n·x̄²)``; arms are independent, so the difference's
variance is the sum. The 95 % interval is ``diff ± 1.96·se``; the p-value is two-sided
normal, corrected with Holm across every (treatment arm, metric) pair (family-wise 5 %);
``significant`` is the corrected p below 0.05. Power: the minimum detectable effect at 80 %
power and α = 0.05 is ``(z₀.₉₇₅ + z₀.₈)·se ≈ 2.80·se`` (with the observed variance and
persona counts); an arm is *powered* for a metric when that MDE is at most 10 % of the
control's value.

The Complete Journey reference: 12.0 % of household-campaigns had at least one redemption
(1,559 households, 6,589 household-campaigns, 2,102 redemptions) — shown beside
``redemption_rate_per_persona_cycle``, its closest analogue (a cycle's offers ≈ a campaign).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

METRICS: dict[str, tuple[str, str]] = {
    "orders_per_persona_week": ("orders", "weeks"),
    "conversion": ("sessions_with_order", "sessions"),
    "redemption_rate_per_coupon": ("redemptions", "coupons_offered"),
    "redemption_rate_per_persona_cycle": ("cycles_redeemed", "cycles_offered"),
    "basket_value": ("order_value_cents", "orders"),
    "revenue_per_persona_week": ("revenue_cents", "weeks"),
    "discount_cost_per_persona_week": ("discount_cents", "weeks"),
}
"""Metric → (numerator field, denominator field) of :class:`PersonaOutcome`."""
ALPHA = 0.05
Z_975 = 1.959963984540054
Z_80 = 0.8416212335729143
POWERED_RELATIVE_MDE = 0.10
COMPLETE_JOURNEY = {
    "metric": "redemption_rate_per_persona_cycle",
    "value": 0.120,
    "what": "Complete Journey: 12.0 % of 6,589 household-campaigns (1,559 households) had "
    "at least one redemption (2,102 redemptions)",
}
OUTPUT_KEYS = (
    "metric", "arm", "control", "value", "diff", "ci_low", "ci_high", "p_value", "significant",
)  # fmt: skip
"""The keys of each ``metrics`` row of ``experiment.json``, in order."""


@dataclass(frozen=True)
class PersonaOutcome:
    """What one randomized persona did during the run (zeros when it did nothing)."""

    persona_id: str
    arm: str
    stratum: str = "all"
    weeks: float = 0.0
    sessions: int = 0
    sessions_with_order: int = 0
    orders: int = 0
    order_value_cents: int = 0
    revenue_cents: int = 0
    discount_cents: int = 0
    coupons_offered: int = 0
    redemptions: int = 0
    cycles_offered: int = 0
    cycles_redeemed: int = 0


@dataclass(frozen=True)
class RatioEstimate:
    value: float | None
    se: float | None
    n: int


def ratio(y: np.ndarray, x: np.ndarray) -> RatioEstimate:
    """``Σy / Σx`` and its delta-method standard error over the rows (the personas)."""
    n = len(y)
    sx = float(x.sum())
    if n == 0 or sx <= 0:
        return RatioEstimate(None, None, n)
    r = float(y.sum()) / sx
    if n < 2:
        return RatioEstimate(r, None, n)
    resid = y - r * x
    xbar = sx / n
    var = float((resid**2).sum()) / ((n - 1) * n * xbar**2)
    return RatioEstimate(r, math.sqrt(max(var, 0.0)), n)


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values (``None`` stays ``None``, not counted)."""
    idx = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(idx):
        running = max(running, min(1.0, (m - k) * p))
        out[i] = running
    return out


def _columns(rows: Sequence[PersonaOutcome], field: str) -> np.ndarray:
    return np.fromiter((float(getattr(r, field)) for r in rows), dtype=float, count=len(rows))


def estimate(rows: Sequence[PersonaOutcome], metric: str) -> RatioEstimate:
    y_field, x_field = METRICS[metric]
    return ratio(_columns(rows, y_field), _columns(rows, x_field))


@dataclass(frozen=True)
class Comparison:
    metric: str
    arm: str
    control_value: float | None
    value: float | None
    diff: float | None
    se: float | None
    p_raw: float | None

    def ci(self) -> tuple[float | None, float | None]:
        if self.diff is None or self.se is None:
            return None, None
        return self.diff - Z_975 * self.se, self.diff + Z_975 * self.se

    @property
    def mde(self) -> float | None:
        return None if self.se is None else (Z_975 + Z_80) * self.se


def compare(treatment: Sequence[PersonaOutcome], control: Sequence[PersonaOutcome], metric: str,
            arm: str) -> Comparison:  # fmt: skip
    """One treatment against control on one metric (unadjusted p)."""
    t, c = estimate(treatment, metric), estimate(control, metric)
    if t.value is None or c.value is None:
        return Comparison(metric, arm, c.value, t.value, None, None, None)
    diff = t.value - c.value
    if t.se is None or c.se is None:
        return Comparison(metric, arm, c.value, t.value, diff, None, None)
    se = math.sqrt(t.se**2 + c.se**2)
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
    else:
        p = 2 * (1 - _phi(abs(diff) / se))
    return Comparison(metric, arm, c.value, t.value, diff, se, p)


def readout(
    outcomes: Iterable[PersonaOutcome],
    *,
    control: str,
    arms: Sequence[dict[str, Any]] | None = None,
    metrics: Sequence[str] = tuple(METRICS),
    strata: bool = True,
) -> dict[str, Any]:
    """The experiment's readout, ``experiment.json``'s shape: ``{"arms": [...],
    "metrics": [...]}``; each ``metrics`` row has exactly :data:`OUTPUT_KEYS` (``control``
    is the control arm's value, ``p_value`` Holm-corrected across every treatment × metric).

    Args:
        outcomes: one per randomized persona.
        control: the control arm's name.
        arms: the arms as the experiment describes them (``Arm.describe()``), in order;
            default: the arms seen in ``outcomes``, control first.
        metrics: which metrics (default: all of :data:`METRICS`).
        strata: add the per-stratum values to each arm.
    """
    rows = list(outcomes)
    by_arm: dict[str, list[PersonaOutcome]] = {}
    for r in rows:
        by_arm.setdefault(r.arm, []).append(r)
    described = list(arms) if arms is not None else [{"name": a} for a in sorted(by_arm)]
    names = [a["name"] for a in described]
    if control not in names:
        names.insert(0, control)
        described.insert(0, {"name": control})
    base = by_arm.get(control, [])
    comps = [compare(by_arm.get(a, []), base, m, a) for a in names if a != control for m in metrics]
    adjusted = holm([c.p_raw for c in comps])
    metric_rows = []
    for c, p in zip(comps, adjusted, strict=True):
        lo, hi = c.ci()
        metric_rows.append(dict(zip(OUTPUT_KEYS, (
            c.metric, c.arm, _r(c.control_value), _r(c.value), _r(c.diff), _r(lo), _r(hi),
            _r(p), bool(p is not None and p < ALPHA),
        ), strict=True)))  # fmt: skip
    arm_rows = []
    for desc in described:
        name = desc["name"]
        members = by_arm.get(name, [])
        entry: dict[str, Any] = {
            "arm": name,
            "control": name == control,
            "personas": len(members),
            "persona_weeks": _r(float(sum(r.weeks for r in members))),
            "persona_side": bool(desc.get("persona_side", False)),
            "parameters": {k: v for k, v in desc.items() if k not in ("name", "persona_side")},
            "values": {m: _r(estimate(members, m).value) for m in metrics},
        }
        if "redemption_rate_per_persona_cycle" in metrics:
            entry["reference"] = dict(COMPLETE_JOURNEY)
        if name != control:
            entry["power"] = {
                c.metric: {
                    "mde": _r(c.mde),
                    "relative_mde": _r(c.mde / abs(c.control_value))
                    if c.mde is not None and c.control_value
                    else None,
                    "powered": bool(
                        c.mde is not None and c.control_value
                        and c.mde <= POWERED_RELATIVE_MDE * abs(c.control_value)
                    ),
                }
                for c in comps
                if c.arm == name
            }  # fmt: skip
        if strata:
            groups: dict[str, list[PersonaOutcome]] = {}
            for r in members:
                groups.setdefault(r.stratum, []).append(r)
            entry["strata"] = {
                s: {"personas": len(g), **{m: _r(estimate(g, m).value) for m in metrics}}
                for s, g in sorted(groups.items())
            }
        arm_rows.append(entry)
    return {"arms": arm_rows, "metrics": metric_rows}


def _r(v: float | None, digits: int = 6) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return round(float(v), digits)


def primary_rows(result: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    return [m for m in result["metrics"] if m["metric"] == metric]


def forest_plot(result: dict[str, Any], path: Path, *, title: str = "experiment") -> Path:
    """Each treatment × metric: the difference with its 95 % interval, relative to the
    control's value (%) so metrics of different units share one axis."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [m for m in result["metrics"] if m["diff"] is not None and m["control"]]
    fig = Figure(figsize=(8, max(3.0, 0.45 * len(rows) + 1.5)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if not rows:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", fontsize=16, color="grey")
        ax.set_axis_off()
    else:
        for i, m in enumerate(reversed(rows)):
            scale = 100.0 / abs(m["control"])
            d = m["diff"] * scale
            lo = m["ci_low"] * scale if m["ci_low"] is not None else d
            hi = m["ci_high"] * scale if m["ci_high"] is not None else d
            colour = "tab:red" if m["significant"] else "tab:blue"
            ax.errorbar(d, i, xerr=[[d - lo], [hi - d]], fmt="o", color=colour, capsize=3)
        ax.axvline(0, color="grey", lw=1, ls="--")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{m['arm']}: {m['metric']}" for m in reversed(rows)], fontsize=8)
        ax.set_xlabel("difference vs control, % of control (95 % CI; red: significant, Holm)")
    ax.set_title(title)
    fig.subplots_adjust(left=0.42, right=0.97, bottom=0.15, top=0.9)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path
