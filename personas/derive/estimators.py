"""The 28 persona attributes estimated per household, each estimator next to its attribute.

Input: a household's lines and baskets in the common shape (``personas.derive.sources``).
Every estimate is recorded with its *source* so nothing is invented silently:

- ``transactions``: computed from the household's own baskets (documented below);
- ``demographics``: read from the source's demographics table;
- ``unknown``: the source has no value; the workbook needs one, so a stated fill is written
  and the ``Sources`` sheet says ``unknown (filled: …)``;
- ``assumed``: no source can observe it (abandonment, channel); a stated prior.

Percentile ranks are within the derivation population (so 0.9 means "more than 90 % of the
source's households"), because raw shares of one grocery chain do not transfer to another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from personas import vocab
from personas.derive.categories import OTHER
from personas.model import TIME_OF_DAY_HOURS, TIMES_OF_DAY, WEEKDAYS

ABANDON_PRICE = 0.8
"""Log-odds raise of abandonment per unit of price consciousness without a coupon — the
checkout rule's ``behaviors.offers.ABANDON_PRICE`` (personas may not import behaviors;
tests/test_derive.py checks the two agree)."""
REPEAT_UNIT_SHARE = 0.28
"""The basket rule's share of items that repeat a product already in the basket
(``behaviors.browsing.REPEAT_UNIT_SHARE``, mirrored and tested like ``ABANDON_PRICE``):
``avg_basket_size`` is set so the rule yields the household's mean *lines* per basket."""
ABANDONMENT_PRIOR = 0.08
"""Assumed base cart-abandonment rate: purchase data records no abandoned carts."""
VIEWS_PER_LINE = 1.5
"""Assumed products viewed per line bought (no source records views)."""
BUDGET_HEADROOM = 1.6
"""Budget = headroom × the household's largest basket (price-level adjusted), so the
budget bounds the heavy tail without clipping ordinary baskets."""
MAX_PREFERRED_CATEGORIES = 6
CATEGORY_LIFT = 1.25
"""A category is preferred when the household's share of lines in it is ≥ this × the
population's share (at most ``MAX_PREFERRED_CATEGORIES``, the top one always)."""
DAY_PRIOR = 7.0
"""Pseudo-trips (spread evenly over the week) added to a household's day histogram, so a
household with few trips is not given a sharp day preference by chance."""

AGE_BANDS = {"19-24": 21, "25-34": 30, "35-44": 40, "45-54": 50, "55-64": 60, "65+": 70}
INCOME_BANDS = {
    "Under 15K": "low", "15-24K": "low", "25-34K": "lower_middle", "35-49K": "lower_middle",
    "50-74K": "middle", "75-99K": "upper_middle", "100-124K": "upper_middle",
    "125-149K": "high", "150-174K": "high", "175-199K": "high", "200-249K": "high",
    "250K+": "high",
}  # fmt: skip
FILL = {"age": 45, "income_band": "middle", "household_size": 2}
"""Values written for unknown demographics (the Sources sheet marks them unknown)."""


@dataclass
class Population:
    """Source-wide references the per-household estimators compare against."""

    category_share: dict[str, float]
    price_ratio: float
    """Catalog cents per source cent: a price index over the source's category mix."""
    period_end_week: int
    ranks: dict[str, pd.Series] = field(default_factory=dict)


def time_of_day(hour: int) -> str:
    """The ``TIME_OF_DAY_HOURS`` bin of a local hour."""
    for tod in TIMES_OF_DAY:
        if hour in TIME_OF_DAY_HOURS[tod] or hour + 24 in TIME_OF_DAY_HOURS[tod]:
            return tod
    return "night"


def _unit(x: float, lo: float = 0.01, hi: float = 0.99) -> float:
    return round(min(hi, max(lo, float(x))), 3)


def estimate(
    hid: str,
    b: pd.DataFrame,
    ln: pd.DataFrame,
    facts: pd.Series | None,
    pop: Population,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Attributes and their sources for one household (``b`` its baskets, ``ln`` its lines).

    Returns ``(values, sources)`` keyed by attribute name.
    """
    v: dict[str, Any] = {}
    src: dict[str, str] = {}
    weeks = (b["week"].max() - b["week"].min()) + 1
    n = len(b)

    # identity ------------------------------------------------------------------
    v["persona_id"], src["persona_id"] = f"H{hid}", "transactions (source household id)"
    v["name"], src["name"] = f"Household {hid}", "assumed (no names in the source)"
    _demographics(v, src, facts)

    # rhythm --------------------------------------------------------------------
    # Completed baskets per observed week, raised by the expected abandonment so that
    # *orders* (what the source records) match: sessions × (1 − p_abandon) = baskets.
    z = math.log(ABANDONMENT_PRIOR / (1 - ABANDONMENT_PRIOR)) + ABANDON_PRICE * _pc(pop, hid)
    p_abandon = 1.0 / (1.0 + math.exp(-z))
    lift = _full_wallet_lift(pop, hid, b)
    v["shopping_frequency"] = round(min(14.0, n / weeks / (1.0 - p_abandon) / (1.0 + lift)), 3)
    src["shopping_frequency"] = (
        "transactions: baskets per observed week / (1 − p_abandon) / (1 + coupon lift)"
    )
    counts = b["ts"].dt.day_of_week.value_counts().reindex(range(7), fill_value=0)
    dow = (counts + DAY_PRIOR / 7) / (n + DAY_PRIOR)  # shrunk towards uniform: few trips
    wd, we = float(dow.iloc[:5].mean()), float(dow.iloc[5:].mean())
    top = max(wd, we)
    v["weekday_affinity"] = _unit(wd / top, 0.0, 1.0)
    v["weekend_affinity"] = _unit(we / top, 0.0, 1.0)
    v["preferred_days"] = _fit_days(dow.to_numpy(), v["weekday_affinity"], v["weekend_affinity"])
    tods = b["ts"].dt.hour.map(time_of_day).value_counts()
    v["preferred_time_of_day"] = str(tods.index[0])
    for k, how in (
        ("weekday_affinity", "mean Mon–Fri share of trips / the larger of weekday, weekend"),
        ("weekend_affinity", "mean Sat–Sun share of trips / the larger of weekday, weekend"),
        ("preferred_days", "the top-k days whose day weights best fit the trip histogram"),
        ("preferred_time_of_day", "modal time of day of trips (local hours)"),
    ):
        src[k] = f"transactions: {how}"

    # basket --------------------------------------------------------------------
    mean_lines = float(b["lines"].mean())
    items = mean_lines / (1.0 - REPEAT_UNIT_SHARE)
    v["avg_basket_size"] = round(min(40.0, max(1.0, items)), 2)
    src["avg_basket_size"] = (
        f"transactions: mean lines per basket / (1 − {REPEAT_UNIT_SHARE:g} repeat units)"
    )
    v["browse_depth"] = int(min(50, max(1, math.ceil(VIEWS_PER_LINE * mean_lines))))
    src["browse_depth"] = f"assumed: {VIEWS_PER_LINE:g} × mean lines (views not recorded)"
    top_basket = float(b["value_cents"].max()) * pop.price_ratio
    v["budget_per_trip"] = int(math.ceil(BUDGET_HEADROOM * top_basket / 500.0)) * 500 or 500
    src["budget_per_trip"] = (
        f"transactions: {BUDGET_HEADROOM:g} × largest basket × price ratio {pop.price_ratio:.3f}"
    )
    counts = ln["product"].value_counts()
    once = float((ln["product"].map(counts) == 1).mean())
    v["impulsivity"] = _unit(once, 0.02, 0.95)
    src["impulsivity"] = "transactions: share of lines of products bought only once"
    v["cart_abandonment_rate"] = ABANDONMENT_PRIOR
    src["cart_abandonment_rate"] = f"assumed: prior {ABANDONMENT_PRIOR:g} (no carts recorded)"

    # preferences ---------------------------------------------------------------
    own = ln[ln["category"] != OTHER]["category"].value_counts(normalize=True)
    cat_lift = {str(c): x / pop.category_share.get(str(c), 1.0) for c, x in own.items()}
    chosen = [
        c for c in sorted(cat_lift, key=lambda c: -cat_lift[c]) if cat_lift[c] >= CATEGORY_LIFT
    ]
    chosen = chosen[:MAX_PREFERRED_CATEGORIES]
    if len(own) and own.index[0] not in chosen:
        chosen = [str(own.index[0]), *chosen][:MAX_PREFERRED_CATEGORIES]
    v["preferred_categories"] = [c for c in chosen if c in vocab.CATEGORY_ITEMS]
    src["preferred_categories"] = (
        f"transactions: categories with ≥ {CATEGORY_LIFT:g}× the population's share of lines"
        " (declared table personas.derive.categories)"
    )
    private = float(ln["private_label"].mean())
    v["preferred_brands"] = [b_ for b_, _ in vocab.STORE_BRANDS] if private >= 0.4 else []
    src["preferred_brands"] = "transactions: store brands when ≥ 40 % of lines are private label"
    v["brand_loyalty"] = _unit(1.0 - len(counts) / len(ln), 0.02, 0.98)
    src["brand_loyalty"] = "transactions: share of lines repeating a product bought before"
    store = str(facts.get("store")) if facts is not None else hid
    if store in vocab.STORE_CODES:  # the database source: already a catalog store
        code = store
    else:
        code = vocab.STORE_CODES[_stable_index(store, len(vocab.STORE_CODES))]
    v["preferred_store"] = code
    v["city"] = next(s.city for s in vocab.STORES if s.code == code)
    src["preferred_store"] = "transactions: most used store (a source store id by a stable hash)"
    src["city"] = "transactions: the city of preferred_store"

    # offers & price ------------------------------------------------------------
    for k, how in (
        ("price_consciousness", "percentile of the share of lines bought on promotion"),
        ("discount_sensitivity", "percentile of the share of lines with any discount"),
        ("deal_seeking", "percentile of the share of lines with a coupon"),
    ):
        v[k] = _unit(pop.ranks[k].get(hid, 0.5))
        src[k] = f"transactions: {how}"
    v["coupon_affinity"] = _unit(float(b["coupon"].mean()), 0.0, 1.0)
    src["coupon_affinity"] = "transactions: share of baskets with a coupon"
    v["churn_risk"] = _churn(b, pop)
    src["churn_risk"] = "transactions: 1 − (rate in the source's last 13 weeks / overall rate)"
    v["channel"] = "app"
    src["channel"] = "assumed: app (the source records in-store trips, no channel)"
    return v, src


def _fit_days(share: Any, weekday_aff: float, weekend_aff: float) -> list[str]:
    """Preferred days = the top-k days (k = 1…7) whose implied day shares under the
    rhythm rule (``personas.expectations``: affinity + floor, × ``PREFERRED_DAY_WEIGHT`` on
    preferred days) are closest (L1) to the household's day shares. k = 7 is "no day
    preference" (every day weighs the same extra)."""
    from personas.expectations import AFFINITY_FLOOR, PREFERRED_DAY_WEIGHT

    order = sorted(range(7), key=lambda d: -share[d])
    base = [(weekend_aff if d >= 5 else weekday_aff) + AFFINITY_FLOOR for d in range(7)]
    best: tuple[float, list[int]] = (float("inf"), order)
    for k in range(1, 8):
        chosen = set(order[:k])
        w = [base[d] * (PREFERRED_DAY_WEIGHT if d in chosen else 1.0) for d in range(7)]
        total = sum(w)
        dist = sum(abs(w[d] / total - share[d]) for d in range(7))
        if dist < best[0] - 1e-12:
            best = (dist, order[:k])
    return [WEEKDAYS[d] for d in sorted(best[1])]


def _full_wallet_lift(pop: Population, hid: str, b: pd.DataFrame) -> float:
    """The coupon lift of the chance to shop (``personas.expectations.coupon_lift``) with a
    wallet of relevant coupons, as the offer engine keeps it: the simulated persona shops
    this much more than its base frequency, so the base is lowered by it."""
    from personas.expectations import COUPON_LIFT_MAX

    ds = float(pop.ranks["discount_sensitivity"].get(hid, 0.5))
    ca = float(b["coupon"].mean())
    churn = _churn(b, pop)
    return COUPON_LIFT_MAX * 0.5 * (ds + ca) * (1.0 - 0.5 * churn)


def _churn(b: pd.DataFrame, pop: Population) -> float:
    weeks = (b["week"].max() - b["week"].min()) + 1
    rate_all = len(b) / weeks
    rate_recent = (b["week"] > pop.period_end_week - 13).sum() / 13.0
    return _unit(1.0 - rate_recent / rate_all if rate_all else 0.5, 0.01, 0.95)


def _pc(pop: Population, hid: str) -> float:
    return float(pop.ranks["price_consciousness"].get(hid, 0.5))


def _stable_index(key: str, n: int) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest()) % n


def _demographics(v: dict[str, Any], src: dict[str, str], facts: pd.Series | None) -> None:
    def raw(col: str) -> str | None:
        if facts is None:
            return None
        x = facts.get(col)
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)

    age, income, size = raw("age"), raw("income"), raw("size")
    if age in AGE_BANDS:
        v["age"], src["age"] = AGE_BANDS[age], f"demographics: band {age} (midpoint)"
    else:
        v["age"], src["age"] = FILL["age"], f"unknown (filled: {FILL['age']})"
    if income in INCOME_BANDS:
        v["income_band"], src["income_band"] = INCOME_BANDS[income], f"demographics: {income}"
    else:
        v["income_band"] = FILL["income_band"]
        src["income_band"] = f"unknown (filled: {FILL['income_band']})"
    if size is not None and size.rstrip("+").isdigit():
        v["household_size"] = min(8, max(1, int(size.rstrip("+"))))
        src["household_size"] = f"demographics: {size}"
    else:
        v["household_size"] = FILL["household_size"]
        src["household_size"] = f"unknown (filled: {FILL['household_size']})"
    v["gender"], src["gender"] = "unspecified", "unknown (the model's own unknown value)"
    v["occupation"], src["occupation"] = "unknown", "unknown (not in the source)"


def population(
    tx_lines: pd.DataFrame, b: pd.DataFrame, catalog_cents: dict[str, float]
) -> Population:
    """Source-wide references: category shares, price index, percentile ranks.

    ``catalog_cents``: the typical price per category the personas will shop at."""
    ln = tx_lines
    cats = ln[ln["category"] != OTHER]["category"].value_counts(normalize=True)
    g = ln.groupby("household")
    promo = g["promo"].mean()
    coupon = g["coupon"].mean()
    disc = (ln["promo"] | ln["coupon"]).groupby(ln["household"]).mean()
    # Price index: catalog vs source mean line value per category, both weighted by the
    # source's category mix (the same basket priced in both places).
    real_line = ln[ln["category"] != OTHER].groupby("category")["value_cents"].mean()
    shared = [c for c in cats.index if c in catalog_cents and c in real_line.index]
    num = sum(cats[c] * catalog_cents[c] for c in shared)
    den = sum(cats[c] * real_line[c] for c in shared)

    def rank(s: pd.Series) -> pd.Series:
        return s.rank(pct=True, method="average") if s.nunique() > 1 else s * 0 + 0.5

    return Population(
        category_share={str(k): float(x) for k, x in cats.items()},
        price_ratio=num / den if den else 1.0,
        period_end_week=int(b["week"].max()) if len(b) else 0,
        ranks={
            "price_consciousness": rank(promo),
            "discount_sensitivity": rank(disc),
            "deal_seeking": rank(coupon),
        },
    )
