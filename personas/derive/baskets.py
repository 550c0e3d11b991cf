"""Per-basket and per-household-week summaries of a :class:`TxData` (shared by the
estimators and the realism statistics, so both read one definition of a basket and a week).

A household's *observed weeks* run from the week of its first basket to the week of its
last (weeks start Monday 00:00 local): weeks before it became a customer or after it left
are not zero-shopping weeks. Trips: baskets of one household that start less than
``SAME_TRIP_MINUTES`` apart are one visit paid twice (Complete Journey has 9 % of such
baskets); the simulator's time resolution is one hour, so for the *days between trips*
statistic they count as one trip (every other statistic counts baskets).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from personas.derive.categories import OTHER
from personas.derive.sources import TxData

SAME_TRIP_MINUTES = 60
"""Baskets of one household closer than this count as one trip for trip gaps."""


def baskets(tx: TxData) -> pd.DataFrame:
    """One row per basket: household, basket, ts, lines, value_cents, coupon, categories
    (distinct catalog categories, ``other`` excluded), sorted by household and time."""
    ln = tx.lines
    if ln.empty:
        cols = ["household", "basket", "ts", "lines", "value_cents", "coupon", "categories"]
        return pd.DataFrame(columns=cols)
    g = ln.groupby("basket", sort=False)
    b = pd.DataFrame(
        {
            "household": g["household"].first(),
            "ts": g["ts"].min(),
            "lines": g.size(),
            "value_cents": g["value_cents"].sum(),
            "coupon": g["coupon"].any(),
        }
    )
    cats = ln[ln["category"] != OTHER].groupby("basket")["category"].nunique()
    b["categories"] = cats.reindex(b.index).fillna(0).astype(int)
    b = b.reset_index().sort_values(["household", "ts"], kind="stable")
    return b.reset_index(drop=True)


def week_index(ts: pd.Series) -> pd.Series:
    """Monday-based week number of each timestamp (comparable across sources)."""
    monday = pd.Timestamp("2000-01-03")
    return ((ts - monday).dt.days // 7).astype(int)


def household_weeks(b: pd.DataFrame, ln: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per household-week of each household's observed weeks: ``baskets``,
    ``lines`` and ``categories`` (distinct, ``other`` excluded) bought that week; zeros
    for observed weeks without a basket."""
    if b.empty:
        return pd.DataFrame(columns=["household", "week", "baskets", "lines", "categories"])
    b = b.assign(week=week_index(b["ts"]))
    per = b.groupby(["household", "week"]).agg(baskets=("basket", "size"), lines=("lines", "sum"))
    if ln is not None and not ln.empty:
        lw = ln[["household", "basket", "category"]].merge(b[["basket", "week"]], on="basket")
        lw = lw[lw["category"] != OTHER]
        per["categories"] = lw.groupby(["household", "week"])["category"].nunique()
    per["categories"] = per.get("categories", pd.Series(dtype=float))
    per = per.fillna(0)
    span = b.groupby("household")["week"].agg(["min", "max"])
    idx = [(h, w) for h, lo, hi in span.itertuples() for w in range(int(lo), int(hi) + 1)]
    full = per.reindex(pd.MultiIndex.from_tuples(idx, names=["household", "week"]), fill_value=0)
    return full.reset_index()


def trip_gaps_days(b: pd.DataFrame) -> np.ndarray:
    """Days between consecutive trips of each household (see ``SAME_TRIP_MINUTES``)."""
    if b.empty:
        return np.array([])
    gaps = b.groupby("household")["ts"].diff().dt.total_seconds() / 86400.0
    gaps = gaps.dropna()
    return gaps[gaps >= SAME_TRIP_MINUTES / 1440.0].to_numpy()
