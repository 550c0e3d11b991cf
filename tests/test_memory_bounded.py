"""What an agent process keeps per agent stays bounded however long the run (issue 15).

A ``--mock-api`` worker grew ~10–17 MB a simulated day (BENCHMARKS.md): an offline replica
of one worker (5,000 agents, 7 days) showed the in-memory shops' orders and the behaviour
caches growing with days, not with agents. These tests live many simulated weeks and
check each structure against its bound, and that what the behaviours need still works.
"""

from __future__ import annotations

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
