"""Per-basket summaries of a :class:`TxData` and the week numbering (shared by the
estimators and the realism statistics, so both read one definition of a basket and a week;
household-weeks and trip gaps are built in ``reports.realism_stats.observe``).

A household's *observed weeks* run from the week of its first basket to the week of its
last (weeks start Monday 00:00 local): weeks before it became a customer or after it left
are not zero-shopping weeks. Trips: baskets of one household that start less than
``SAME_TRIP_MINUTES`` apart are one visit paid twice (Complete Journey has 9 % of such
baskets); the simulator's time resolution is one hour, so for the *days between trips*
statistic they count as one trip (every other statistic counts baskets).
"""

from __future__ import annotations

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
