"""What an agent process keeps per agent stays bounded however long the run.

A ``--mock-api`` worker grew ~10–17 MB a simulated day (BENCHMARKS.md): an offline replica
of one worker (5,000 agents, 7 days) showed the in-memory shops' orders and the behaviour
caches growing with days, not with agents. These tests live many simulated weeks and
check each structure against its bound, and that what the behaviours need still works.
"""

from __future__ import annotations

import random
import sys
from array import array
from datetime import datetime, timedelta
from itertools import accumulate
from types import SimpleNamespace

from behaviors.memory_shop import ORDERS_KEPT, InMemoryShop, order_id_for
from behaviors.shop import Product, WalletCoupon

PRODUCTS = [
    Product(1, "apple", "produce", "orchard", 300, store_id=1),
    Product(2, "milk", "dairy", "moo", 250, store_id=1),
]
WEEKS = 52


def week_wallet(week: int) -> list[WalletCoupon]:
    """An offer cycle's wallet: new coupon ids every week (as the offer engine assigns)."""
    base = 1000 + 10 * week
    return [
        WalletCoupon(base, 1, "frontstore", "percent", 10, 0),
        WalletCoupon(base + 1, 2, "category_brand", "amount", 100, 0, category="dairy"),
    ]


def test_a_year_of_orders_keeps_a_bounded_shop():
    s = InMemoryShop(PRODUCTS, [])
    for week in range(WEEKS):
        wallet = week_wallet(week)
        s.set_wallet(wallet)
        for c in wallet:
            s.view_coupon(c.user_coupon_id)
        for visit in range(3):  # three orders a week, the first with a coupon
            s.cart_add(2, 1)
            if visit == 0:
                s.apply_coupon(wallet[1].user_coupon_id)
            s.checkout(f"run:agent:{week}:{visit}")
    assert len(s._orders) == len(s.orders) == ORDERS_KEPT
    assert len(s.redeemed) == ORDERS_KEPT
    assert s.orders_placed == 3 * WEEKS and s.redeemed_count == WEEKS
    assert s.redeemed[-1] == week_wallet(WEEKS - 1)[1].user_coupon_id  # the newest kept
    assert set(s.viewed_coupons) == {week_wallet(WEEKS - 1)[0].user_coupon_id}  # in the wallet
    # The newest orders are the ones kept, oldest first, and a retry of a kept key is still
    # the same order (no second one).
    assert [o.idempotency_key for o in s.orders][-1] == f"run:agent:{WEEKS - 1}:2"
    s.cart_add(1, 1)
    again = s.checkout(f"run:agent:{WEEKS - 1}:2")
    assert again.order_id == order_id_for(f"run:agent:{WEEKS - 1}:2")
    assert s.orders_placed == 3 * WEEKS and s.cart().item_count == 1


def _cache_bytes(cache: dict) -> int:
    """Keys, values and the floats in them (what the cache itself holds)."""
    total = sys.getsizeof(cache)
    for k, v in cache.items():
        total += sys.getsizeof(k) + sys.getsizeof(v)
        if isinstance(v, (tuple, list)):
            total += sum(sys.getsizeof(x) for x in v if isinstance(x, float))
    return total


def test_page_weight_tables_stay_bounded_and_keep_the_same_floats():
    """Every (persona, page) pair browsed gets a table; a long run meets ever more pairs."""
    from behaviors import browsing

    page = [
        Product(i, f"p{i}", "dairy", "moo" if i % 3 else "other", 100 + 7 * i, store_id=1)
        for i in range(1, 51)
    ]
    browsing._PAGE_TABLES.clear()
    try:
        for n in range(40_000):  # ~8 pages for each of 5,000 agents (one worker, 2 days)
            who = SimpleNamespace(
                persona_id=f"P{n:05d}", brand_loyalty=0.5, price_consciousness=0.4,
                preferred_brands=("moo",),
            )  # fmt: skip
            table = browsing._page_table(who, page)
        assert _cache_bytes(browsing._PAGE_TABLES) < 16 * 2**20
        med = browsing._median([p.price_cents for p in page])
        expected = list(accumulate(browsing.product_weight(who, p, med) for p in page))
        assert list(table) == expected  # bit-identical: decisions cannot change
    finally:
        browsing._PAGE_TABLES.clear()


def test_day_draws_keep_only_the_last_days_and_the_same_draws():
    from behaviors import rhythm

    rhythm._DAY_DRAWS.clear()
    agents = [f"7:P{n:05d}" for n in range(100)]
    first = rhythm._day_draws(f"{agents[0]}:0", "2026-01-05")
    for day in range(60):
        date = (datetime(2026, 1, 5) + timedelta(days=day)).date().isoformat()
        for a in agents:
            for hour in (day * 24 + 9, day * 24 + 18):  # two decisions of the day
                rhythm._day_draws(f"{a}:{hour}", date)
    held = sum(len(v) if isinstance(v, dict) else 1 for v in rhythm._DAY_DRAWS.values())
    assert held <= 2 * len(agents)  # two days of agents, not 60
    r = random.Random(f"{agents[0]}:day:2026-01-05")
    assert rhythm._day_draws(f"{agents[0]}:5", "2026-01-05") == first == (r.random(), r.random())
    rhythm._DAY_DRAWS.clear()


def test_day_cumulative_is_compact_and_the_same_floats():
    from behaviors import rhythm

    p_tab = array("d", [((h * 37) % 11) / 400 for h in range(168)])
    table = rhythm._day_cumulative(p_tab)
    cum: list[float] = []
    for how in range(168):
        cum.append(0.0 if how % 24 == 0 else cum[-1] + p_tab[how - 1])
    assert list(table) == cum
    held = sys.getsizeof(table) + sum(sys.getsizeof(x) for x in table if type(table) is list)
    assert held < 2_000  # a list of 168 floats held 5.4 KB; one per agent
