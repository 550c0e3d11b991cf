"""Realism statistics and their scores: simulated vs real shopping, one number each.

Both sides are :class:`personas.derive.sources.TxData` (the real source, or the simulated
orders put in the same shape), so one definition of a basket, a week and a trip serves
both (``personas.derive.baskets``).

Scores (1 = indistinguishable):
- distributions: **KS complement** ``1 − D``, ``D`` = ``scipy.stats.ks_2samp`` statistic
  (sdmetrics' ``KSComplement``, the measure RetailSynth reports);
- shares: **TV complement** ``1 − ½‖p − q‖₁`` (``scipy.spatial.distance.cityblock``).

RetailSynth (arXiv 2312.14095) figures are shown where it reports the same quantity:
store-visit probability, time since last purchase (our days between trips), categories
per customer-week, items per customer-week (our lines per household-week).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import cityblock
from scipy.stats import ks_2samp

from personas.derive.baskets import SAME_TRIP_MINUTES, baskets, week_index
from personas.derive.categories import OTHER
from personas.derive.sources import TxData
from personas.model import WEEKDAYS
from personas.vocab import CATEGORIES

RETAILSYNTH = {
    "store visit per household-week": 0.680,
    "days between trips": 0.869,
    "categories per household-week": 0.692,
    "lines per household-week": 0.486,
}


@dataclass(frozen=True)
class Sample:
    """One side of one statistic: raw values (distribution) or a share vector."""

    values: np.ndarray
    labels: tuple[str, ...] = ()

    @property
    def is_share(self) -> bool:
        return bool(self.labels)


@dataclass(frozen=True)
class StatSpec:
    name: str
    unit: str
    gated: bool
    note: str = ""


SPECS: tuple[StatSpec, ...] = (
    StatSpec("baskets per household-week", "baskets", True),
    StatSpec("store visit per household-week", "share", True),
    StatSpec("days between trips", "days", True, f"trips ≥ {SAME_TRIP_MINUTES} min apart"),
    StatSpec("lines per basket", "lines", True),
    StatSpec("lines per household-week", "lines", True),
    StatSpec("categories per household-week", "categories", True),
    StatSpec("basket value", "$", True, "real at catalog price level"),
    StatSpec("day-of-week share", "share", True),
    StatSpec("hour-of-day share", "share", True, "real shifted to local time"),
    StatSpec("category share of lines", "share", True),
    StatSpec("baskets with a coupon", "share", False, "reported, not gated"),
    StatSpec("basket value, unadjusted", "$", False, "no price-level adjustment"),
    StatSpec("hour-of-day share, unshifted", "share", False, "real timestamps as recorded"),
)


@dataclass(frozen=True)
class Observed:
    """Everything one side contributes: basket frame, household-weeks, trip gaps."""

    b: pd.DataFrame
    weeks: pd.DataFrame
    gaps: np.ndarray
    lines: pd.DataFrame


def observe(tx: TxData, *, window_weeks: int, weeks: dict[str, range] | None = None) -> Observed:
    """Summarise one side.

    Args:
        tx: the transactions.
        window_weeks: trip gaps are counted inside consecutive windows of this many of a
            household's observed weeks (the simulated period's length), so a year of real
            data is compared with N simulated weeks without longer gaps on one side only.
        weeks: household → its observed weeks when known (simulated personas live every
            simulated week); else from its first to its last basket.
    """
    b = baskets(tx)
    b["week"] = week_index(b["ts"]) if len(b) else pd.Series(dtype=int)
    per = b.groupby(["household", "week"]).agg(baskets=("basket", "size"), lines=("lines", "sum"))
    ln = tx.lines.merge(b[["basket", "week"]], on="basket")
    ln = ln[ln["category"] != OTHER]
    per["categories"] = ln.groupby(["household", "week"])["category"].nunique()
    per = per.fillna(0)
    if weeks is None:
        span = b.groupby("household")["week"].agg(["min", "max"])
        weeks = {str(h): range(int(lo), int(hi) + 1) for h, lo, hi in span.itertuples()}
    idx = pd.MultiIndex.from_tuples(
        [(h, w) for h, r in weeks.items() for w in r], names=["household", "week"]
    )
    full = per.reindex(idx, fill_value=0).reset_index()
    start = {h: r.start for h, r in weeks.items()}
    b["window"] = (b["week"] - b["household"].map(start)) // max(1, window_weeks)
    gaps = b.groupby(["household", "window"])["ts"].diff().dt.total_seconds() / 86400.0
    gaps = gaps.dropna()
    gaps = gaps[gaps >= SAME_TRIP_MINUTES / 1440.0].to_numpy()
    return Observed(b, full, gaps, tx.lines)


def _share(counts: pd.Series, labels: tuple[str, ...]) -> Sample:
    v = counts.reindex(list(labels), fill_value=0).to_numpy(dtype=float)
    total = v.sum()
    return Sample(v / total if total else v, labels)


def samples(o: Observed, *, value_scale: float = 1.0) -> dict[str, Sample]:
    """Every statistic's sample for one side (``value_scale`` converts basket values)."""
    b, w = o.b, o.weeks
    hours = tuple(f"{h:02d}" for h in range(24))
    cats = o.lines[o.lines["category"] != OTHER]["category"].value_counts()
    value = b["value_cents"].to_numpy(dtype=float) / 100.0
    return {
        "baskets per household-week": Sample(w["baskets"].to_numpy(dtype=float)),
        "store visit per household-week": _share(
            (w["baskets"] > 0).map({True: "visit", False: "none"}).value_counts(),
            ("visit", "none"),
        ),
        "days between trips": Sample(o.gaps),
        "lines per basket": Sample(b["lines"].to_numpy(dtype=float)),
        "lines per household-week": Sample(w["lines"].to_numpy(dtype=float)),
        "categories per household-week": Sample(w["categories"].to_numpy(dtype=float)),
        "basket value": Sample(value * value_scale),
        "day-of-week share": _share(
            b["ts"].dt.day_of_week.map(dict(enumerate(WEEKDAYS))).value_counts(), WEEKDAYS
        ),
        "hour-of-day share": _share(
            b["ts"].dt.hour.map(lambda h: f"{h:02d}").value_counts(), hours
        ),
        "category share of lines": _share(cats, CATEGORIES),
        "baskets with a coupon": _share(
            b["coupon"].map({True: "coupon", False: "none"}).value_counts(), ("coupon", "none")
        ),
        "basket value, unadjusted": Sample(value),
    }


def score(sim: Sample, real: Sample) -> float:
    """KS complement (distributions) or TV complement (shares); NaN when a side is empty."""
    if sim.is_share:
        if not sim.values.sum() or not real.values.sum():
            return float("nan")
        return 1.0 - 0.5 * float(cityblock(sim.values, real.values))
    if len(sim.values) == 0 or len(real.values) == 0:
        return float("nan")
    return 1.0 - float(ks_2samp(sim.values, real.values).statistic)


def mean_of(s: Sample) -> float:
    """The mean shown in the table: of the values, or the first share (visit, coupon) /
    the modal label's share for multi-label shares."""
    if not s.is_share:
        return float(np.mean(s.values)) if len(s.values) else float("nan")
    return float(s.values[0]) if len(s.labels) == 2 else float(np.max(s.values))


@dataclass(frozen=True)
class Row:
    spec: StatSpec
    score: float
    sim_mean: float
    real_mean: float
    n_sim: int
    n_real: int

    @property
    def retailsynth(self) -> float | None:
        return RETAILSYNTH.get(self.spec.name)


def compare(
    sim: dict[str, Sample],
    real: dict[str, Sample],
    *,
    skip: Callable[[str], bool] = lambda _n: False,
) -> list[Row]:
    """One row per statistic both sides have."""
    rows = []
    for spec in SPECS:
        if skip(spec.name) or spec.name not in sim or spec.name not in real:
            continue
        s, r = sim[spec.name], real[spec.name]
        rows.append(Row(spec, score(s, r), mean_of(s), mean_of(r), len(s.values), len(r.values)))
    return rows
