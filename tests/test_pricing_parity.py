"""One pricing rule set: the agents' in-memory shop and the reference API price
the same carts identically — same eligibility, same reason, same discount and total.

Both sides are driven through their own entry points (``InMemoryShop.apply_coupon`` /
``cart`` and ``reference_api.pricing.rejection`` / ``totals``) over carts and coupons that
satisfy the database's coupon constraints, plus the hand-picked edge cases.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from behaviors.memory_shop import InMemoryShop
from behaviors.shop import Product, ShopRejected, WalletCoupon
from offer_engine import pricing as rules
from reference_api import pricing as api

NOW = datetime(2025, 1, 8, tzinfo=UTC)
CATEGORIES = ("produce", "dairy", "bakery")
BRANDS = ("acme", "bolt", "")
PRODUCTS = [
    Product(i + 1, f"p{i + 1}", CATEGORIES[i % 3], BRANDS[(i // 3) % 3], 50 + 175 * i)
    for i in range(9)
]
API_WORDS = {  # the in-memory shop's reason → a phrase of the API's 409 detail
    "empty_cart": "cart is empty",
    "no_matching_item": "does not match",
    "min_spend": "below minimum spend",
}


def _coupon(rng: random.Random, uc_id: int) -> WalletCoupon:
    kind = rng.choice(["frontstore", "category_brand"])
    category = brand = None
    if kind == "category_brand":  # CHECK: category_brand needs a category or a brand
        category, brand = rng.choice(
            [(rng.choice(CATEGORIES), None), (None, rng.choice(BRANDS[:2])),
             (rng.choice(CATEGORIES), rng.choice(BRANDS[:2]))]
        )  # fmt: skip
    dtype = rng.choice(["percent", "amount"])
    value = rng.randint(1, 100) if dtype == "percent" else rng.randint(1, 3_000)
    min_spend = rng.choice([0, 0, 500, 2_000, 6_000])
    return WalletCoupon(uc_id, uc_id, kind, dtype, value, min_spend, category, brand)


def _terms(c: WalletCoupon) -> api.CouponTerms:
    return api.CouponTerms(
        user_coupon_id=c.user_coupon_id, kind=c.kind, discount_type=c.discount_type,
        discount_value=c.discount_value, min_spend_cents=c.min_spend_cents,
        category=c.category, brand=c.brand, status="active", expires_sim_at=None,
    )  # fmt: skip


def _api_lines(shop: InMemoryShop) -> list[api.Line]:
    by_id = {p.id: p for p in PRODUCTS}
    return [
        api.Line(ln.product_id, by_id[ln.product_id].name, ln.category, ln.brand,
                 ln.quantity, ln.unit_price_cents)
        for ln in shop.cart().lines
    ]  # fmt: skip


def _price_both(coupon: WalletCoupon, cart: list[tuple[int, int]]) -> tuple[tuple, tuple]:
    shop = InMemoryShop(PRODUCTS, [coupon])
    for pid, qty in cart:
        shop.cart_add(pid, qty)
    try:
        mem = shop.apply_coupon(coupon.user_coupon_id)
        mine = (None, mem.subtotal_cents, mem.discount_cents, mem.total_cents)
    except ShopRejected as exc:
        c = shop.cart()
        mine = (exc.reason, c.subtotal_cents, c.discount_cents, c.total_cents)
    lines = _api_lines(shop)
    detail = api.rejection(_terms(coupon), lines, now=NOW)
    t = api.totals(lines, _terms(coupon), now=NOW)
    return mine, (detail, t.subtotal_cents, t.discount_cents, t.total_cents)


def _assert_same(mine: tuple, theirs: tuple) -> None:
    reason, detail = mine[0], theirs[0]
    if reason is None:
        assert detail is None
    else:
        assert detail is not None and API_WORDS[reason] in detail
    assert mine[1:] == theirs[1:]


def test_both_sides_price_random_valid_carts_identically():
    rng = random.Random(13)
    outcomes = set()
    for i in range(600):
        coupon = _coupon(rng, i + 1)
        cart = [(rng.randint(1, 9), rng.randint(1, 4)) for _ in range(rng.randint(0, 4))]
        mine, theirs = _price_both(coupon, cart)
        _assert_same(mine, theirs)
        outcomes.add(mine[0])
    # The sample exercised every outcome, so agreement is not agreement on one branch.
    assert outcomes == {None, "empty_cart", "no_matching_item", "min_spend"}


@pytest.mark.parametrize(
    "coupon,cart,reason,discount",
    [
        # amount capped at the matching lines' value (p1 is produce, 50 cents)
        (WalletCoupon(1, 1, "category_brand", "amount", 3_000, 0, "produce"), [(1, 1)], None, 50),
        # percent of the matching lines only, rounded down: 10 % of 2 × 225 = 45
        (WalletCoupon(1, 1, "category_brand", "percent", 10, 0, "dairy"), [(2, 2), (1, 1)],
         None, 45),
        # frontstore: percent of the whole subtotal; 100 % makes the total 0, never negative
        (WalletCoupon(1, 1, "frontstore", "percent", 100, 0), [(1, 1), (2, 1)], None, 275),
        # brand and category both required
        (WalletCoupon(1, 1, "category_brand", "amount", 10, 0, "dairy", "bolt"), [(2, 1)],
         "no_matching_item", 0),
        # minimum spend counts the whole cart, exactly reaching it is enough
        (WalletCoupon(1, 1, "frontstore", "amount", 10, 275), [(1, 1), (2, 1)], None, 10),
        (WalletCoupon(1, 1, "frontstore", "amount", 10, 276), [(1, 1), (2, 1)], "min_spend", 0),
        # failing both the target and the minimum spend: the target is reported
        (WalletCoupon(1, 1, "category_brand", "amount", 10, 9_999, "bakery"), [(1, 1)],
         "no_matching_item", 0),
        (WalletCoupon(1, 1, "frontstore", "amount", 10, 0), [], "empty_cart", 0),
    ],
)  # fmt: skip
def test_edge_cases_agree_and_have_the_stated_outcome(coupon, cart, reason, discount):
    mine, theirs = _price_both(coupon, cart)
    _assert_same(mine, theirs)
    assert mine[0] == reason and mine[2] == discount


def test_terms_the_database_forbids_still_price_safely():
    """CHECK constraints forbid these; the rule set still never gives a negative total."""
    line = [api.Line(1, "p1", "produce", "acme", 2, 100)]
    over = api.CouponTerms(1, "frontstore", "percent", 150, 0, None, None, "active", None)
    assert api.totals(line, over, now=NOW).total_cents == 0
    neither = WalletCoupon(1, 1, "category_brand", "amount", 10, 0)
    assert rules.ineligibility(neither, line) == "no_matching_item"
    odd = WalletCoupon(1, 1, "mystery", "amount", 10, 0)
    assert rules.ineligibility(odd, line) == "unknown_kind"
    assert "not supported" in api.rejection(_terms(odd), line, now=NOW)
