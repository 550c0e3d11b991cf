"""Pure rule tests: fast, parametrized, each asserting a property of the decision."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest

from behaviors import rules
from behaviors.browsing import browse_target
from behaviors.offers import OPEN_MAX
from behaviors.pricing import discount_cents, ineligibility
from behaviors.rhythm import COUPON_LIFT_MAX, HOURS_PER_WEEK, profile_for, water_fill
from behaviors.shop import CartLine, Product, WalletCoupon
from behaviors.synthetic import make_catalog, make_persona

MONDAY = datetime(2025, 1, 6, tzinfo=UTC)
CATALOG = make_catalog()


def _week_sum(persona) -> float:
    p_shop, _ = profile_for(persona)
    return sum(p_shop)


# decide_shop ---------------------------------------------------------------------------
@pytest.mark.parametrize("freq", [0.0, 0.3, 1.0, 3.0, 7.5, 14.0])
@pytest.mark.parametrize(
    "rhythm",
    [
        {},
        {"preferred_days": ("Sun",), "preferred_time_of_day": "morning", "weekday_affinity": 0.0},
        {"preferred_days": ("Tue",), "preferred_time_of_day": "night", "weekend_affinity": 0.0},
        {"weekday_affinity": 0.0, "weekend_affinity": 0.0, "churn_risk": 1.0},
        {"weekday_affinity": 1.0, "weekend_affinity": 1.0, "churn_risk": 0.0},
    ],
)
def test_expected_sessions_per_week_equal_frequency(freq, rhythm):
    persona = make_persona(shopping_frequency=freq, **rhythm)
    p_shop, p_idle = profile_for(persona)
    assert len(p_shop) == HOURS_PER_WEEK
    assert all(0.0 <= p <= 1.0 for p in p_shop)
    assert all(0.0 <= p <= 1.0 for p in p_idle)
    assert sum(p_shop) == pytest.approx(freq, abs=1e-9)


@pytest.mark.parametrize("total", [0.5, 5.0, 40.0, 100.0])
def test_water_fill_caps_at_one_and_keeps_the_total(total):
    weights = [100.0] * 10 + [1.0] * 90
    probs = water_fill(weights, total)
    assert max(probs) <= 1.0
    assert sum(probs) == pytest.approx(total)
    assert probs[0] >= probs[-1]


def test_preferred_day_and_time_raise_the_chance():
    persona = make_persona(preferred_days=("Wed",), preferred_time_of_day="evening")
    p_shop, _ = profile_for(persona)
    wed_evening, thu_evening, wed_morning = 2 * 24 + 19, 3 * 24 + 19, 2 * 24 + 9
    assert p_shop[wed_evening] > p_shop[thu_evening]
    assert p_shop[wed_evening] > p_shop[wed_morning]


@pytest.mark.parametrize("churn_low,churn_high", [(0.0, 0.5), (0.5, 1.0)])
def test_churn_risk_weakens_the_habit(churn_low, churn_high):
    def spread(c: float) -> float:
        p, _ = profile_for(make_persona(churn_risk=c))
        return max(p) / min(p)

    assert spread(churn_high) < spread(churn_low)


def test_weekend_affinity_moves_sessions_to_the_weekend():
    def weekend_share(aff: float) -> float:
        p, _ = profile_for(make_persona(weekend_affinity=aff, preferred_days=("Mon",)))
        return sum(p[120:]) / sum(p)

    assert weekend_share(0.0) < weekend_share(0.5) < weekend_share(1.0)


@pytest.mark.parametrize("imp_low,imp_high", [(0.0, 0.3), (0.3, 1.0)])
def test_impulsivity_drives_idle_browsing(imp_low, imp_high):
    _, low = profile_for(make_persona(impulsivity=imp_low))
    _, high = profile_for(make_persona(impulsivity=imp_high))
    assert sum(high) > sum(low)


@pytest.mark.parametrize("attr", ["discount_sensitivity", "coupon_affinity"])
def test_coupon_lift_is_monotone_and_bounded(attr):
    lifts = [rules.coupon_lift(make_persona(**{attr: v}), 5) for v in (0.0, 0.5, 1.0)]
    assert lifts[0] < lifts[1] < lifts[2] <= COUPON_LIFT_MAX
    assert rules.coupon_lift(make_persona(**{attr: 1.0}), 0) == 0.0
    assert rules.coupon_lift(make_persona(), 1) < rules.coupon_lift(make_persona(), 3)


@pytest.mark.parametrize("relevant", [0, 1, 3, 30])
def test_decide_shop_probabilities_stay_in_range(relevant):
    persona = make_persona(shopping_frequency=14, discount_sensitivity=1, coupon_affinity=1)
    for h in range(HOURS_PER_WEEK):
        d = rules.decide_shop(
            persona,
            sim_time=MONDAY + timedelta(hours=h, minutes=5),
            rng=random.Random(h),
            relevant_coupons=relevant,
        )
        assert 0.0 <= d.p_shop_base <= d.p_shop <= 1.0
        assert 0.0 <= d.p_idle <= 1.0
        assert d.hour_of_week == h
        expected = (
            "shop"
            if d.draw < d.p_shop
            else "idle"
            if d.draw < d.p_shop + (1 - d.p_shop) * d.p_idle
            else "none"
        )
        assert d.kind == expected


def test_frequency_zero_never_shops_even_with_coupons():
    persona = make_persona(shopping_frequency=0, discount_sensitivity=1, coupon_affinity=1)
    kinds = {
        rules.decide_shop(
            persona, sim_time=MONDAY + timedelta(hours=h), rng=random.Random(h), relevant_coupons=9
        ).kind
        for h in range(HOURS_PER_WEEK)
    }
    assert "shop" not in kinds


def test_same_rng_seed_same_decision():
    persona = make_persona()
    a = rules.decide_shop(persona, sim_time=MONDAY, rng=random.Random("1:p:5"))
    b = rules.decide_shop(persona, sim_time=MONDAY, rng=random.Random("1:p:5"))
    assert a == b


# browsing ------------------------------------------------------------------------------
def _pages(categories=("produce", "dairy", "snacks")) -> list[list[Product]]:
    return [[p for p in CATALOG if p.category == c][:50] for c in categories]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("target", [1, 7, 40, 500])
def test_browse_views_distinct_products_up_to_target(seed, target):
    pages = _pages()
    d = rules.browse_products(make_persona(), pages, random.Random(seed), target=target)
    ids = [p.id for p in d.products]
    assert len(ids) == len(set(ids))
    assert len(ids) == min(target, sum(len(p) for p in pages))


@pytest.mark.parametrize("depth", [1, 5, 20, 50])
def test_browse_target_mean_is_browse_depth(depth):
    persona = make_persona(browse_depth=depth)
    rng = random.Random(depth)
    draws = [browse_target(persona, rng) for _ in range(4000)]
    assert min(draws) >= 1
    assert mean(draws) == pytest.approx(depth, rel=0.05, abs=0.05)


def _mean_viewed_price(pc: float) -> float:
    persona = make_persona(price_consciousness=pc)
    rng = random.Random(11)
    prices = []
    for _ in range(300):
        d = rules.browse_products(persona, _pages(), rng, target=5)
        prices += [p.price_cents for p in d.products]
    return mean(prices)


def test_price_consciousness_favours_cheaper_products():
    assert _mean_viewed_price(1.0) < _mean_viewed_price(0.5) < _mean_viewed_price(0.0)


def test_brand_loyalty_favours_preferred_brands():
    def share(loyalty: float) -> float:
        persona = make_persona(brand_loyalty=loyalty, preferred_brands=("produce_brand_1",))
        rng = random.Random(5)
        views = [
            p.brand
            for _ in range(300)
            for p in rules.browse_products(persona, _pages(), rng, target=5).products
        ]
        return views.count("produce_brand_1") / len(views)

    assert share(0.0) < share(0.5) < share(1.0)


@pytest.mark.parametrize("loyalty", [0.0, 1.0])
def test_next_category_prefers_preferred_and_never_repeats(loyalty):
    persona = make_persona(brand_loyalty=loyalty, preferred_categories=("dairy",))
    cats = sorted({p.category for p in CATALOG})
    rng = random.Random(3)
    firsts = [rules.next_category(persona, cats, [], rng) for _ in range(2000)]
    assert firsts.count("dairy") / len(firsts) > rules.category_preference(persona, cats) - 0.05
    opened: list[str] = []
    while (c := rules.next_category(persona, cats, opened, rng)) is not None:
        assert c not in opened
        opened.append(c)
    assert sorted(opened) == cats


# basket --------------------------------------------------------------------------------
VIEWED = tuple(p for p in CATALOG if p.category in ("produce", "snacks"))[:30]


@pytest.mark.parametrize("budget", [1, 100, 600, 3_000, 50_000])
@pytest.mark.parametrize("basket", [1.0, 4.0, 25.0, 40.0])
def test_budget_is_never_exceeded(budget, basket):
    persona = make_persona(budget_per_trip=budget, avg_basket_size=basket, impulsivity=1.0)
    rng = random.Random(budget)
    for _ in range(50):
        d = rules.add_to_cart(persona, VIEWED, rng)
        spend = sum(ln.product.price_cents * ln.quantity for ln in d.lines)
        assert spend == d.spend_cents <= budget
        if not d.budget_cut:
            assert d.item_count == d.target_items
        else:
            assert d.item_count < d.target_items


def test_tiny_budget_buys_nothing():
    cheapest = min(p.price_cents for p in VIEWED)
    d = rules.add_to_cart(make_persona(budget_per_trip=cheapest - 1), VIEWED, random.Random(1))
    assert d.lines == () and d.budget_cut


@pytest.mark.parametrize("avg", [1.0, 3.5, 12.0, 40.0])
def test_intended_basket_mean_is_avg_basket_size(avg):
    persona = make_persona(avg_basket_size=avg, budget_per_trip=10**9)
    rng = random.Random(int(avg * 10))
    sizes = [rules.add_to_cart(persona, VIEWED, rng).target_items for _ in range(3000)]
    assert min(sizes) >= 1
    assert mean(sizes) == pytest.approx(avg, rel=0.05, abs=0.02)


def test_impulsivity_adds_unplanned_items_not_more_items():
    def stats(imp: float) -> tuple[float, float]:
        persona = make_persona(impulsivity=imp, avg_basket_size=10, budget_per_trip=10**9)
        rng = random.Random(9)
        ds = [rules.add_to_cart(persona, VIEWED, rng) for _ in range(1500)]
        return mean(d.unplanned_target for d in ds), mean(d.target_items for d in ds)

    (u0, n0), (u1, n1) = stats(0.0), stats(1.0)
    assert u0 == 0 and u1 > 2
    assert n1 == pytest.approx(n0, rel=0.06)


# coupons -------------------------------------------------------------------------------
def _line(cat="produce", brand="b", qty=1, price=1_000) -> CartLine:
    return CartLine(1, qty, price, cat, brand)


FRONT = WalletCoupon(1, 1, "frontstore", "percent", 10, 0)
CAT = WalletCoupon(2, 2, "category_brand", "amount", 300, 0, category="produce")
BRAND_MIN = WalletCoupon(3, 3, "category_brand", "percent", 50, 5_000, brand="b")


@pytest.mark.parametrize(
    "coupon,lines,reason,value",
    [
        (FRONT, (_line(),), None, 100),
        (FRONT, (), "empty_cart", 0),
        (CAT, (_line(cat="dairy"),), "no_matching_item", 0),
        (CAT, (_line(), _line(cat="dairy")), None, 300),
        (CAT, (_line(price=200),), None, 200),  # amount capped at the eligible value
        (BRAND_MIN, (_line(price=1_000),), "min_spend", 0),
        (BRAND_MIN, (_line(qty=6),), None, 3_000),
    ],
)
def test_coupon_pricing_rules(coupon, lines, reason, value):
    assert ineligibility(coupon, lines) == reason
    assert discount_cents(coupon, lines) == value


@pytest.mark.parametrize("attr", ["coupon_affinity", "deal_seeking"])
def test_open_wallet_is_monotone(attr):
    ps = [
        rules.open_wallet(make_persona(**{attr: v}), random.Random(0)).p_open for v in (0, 0.5, 1)
    ]
    assert ps[0] < ps[1] < ps[2] <= OPEN_MAX


def test_choose_coupon_applies_only_eligible_and_prefers_value_when_sensitive():
    wallet = [
        FRONT,
        CAT,
        BRAND_MIN,
        WalletCoupon(4, 4, "category_brand", "amount", 50, 0, category="produce"),
    ]
    lines = (_line(price=2_000),)
    picks = []
    for seed in range(400):
        d = rules.choose_coupon(
            make_persona(discount_sensitivity=1.0), wallet, lines, random.Random(seed)
        )
        assert {cid for cid, _ in d.eligible} == {1, 2, 4}
        assert d.chosen is None or d.chosen in {1, 2, 4}
        if d.chosen is not None:
            picks.append(d.chosen)
    assert picks.count(2) / len(picks) > 0.9  # 300 c off beats 200 c and 50 c
    none = rules.choose_coupon(make_persona(), [CAT], (_line(cat="dairy"),), random.Random(1))
    assert none.p_apply == 0 and none.chosen is None


def test_apply_probability_rises_with_discount_sensitivity():
    ps = [
        rules.choose_coupon(
            make_persona(discount_sensitivity=v), [FRONT], (_line(),), random.Random(0)
        ).p_apply
        for v in (0.0, 0.5, 1.0)
    ]
    assert 0 < ps[0] < ps[1] < ps[2] <= 1


# checkout ------------------------------------------------------------------------------
@pytest.mark.parametrize("applied", [False, True])
@pytest.mark.parametrize("pc", [0.0, 0.5, 1.0])
def test_abandonment_extremes_are_kept(applied, pc):
    for rate, expected in ((0.0, 0.0), (1.0, 1.0)):
        persona = make_persona(cart_abandonment_rate=rate, price_consciousness=pc)
        d = rules.decide_checkout(persona, coupon_applied=applied, rng=random.Random(0))
        assert d.p_abandon == expected


@pytest.mark.parametrize("applied", [False, True])
def test_abandonment_is_monotone_in_the_configured_rate(applied):
    ps = [
        rules.decide_checkout(
            make_persona(cart_abandonment_rate=r), coupon_applied=applied, rng=random.Random(0)
        ).p_abandon
        for r in (0.05, 0.2, 0.5, 0.9)
    ]
    assert ps == sorted(ps) and len(set(ps)) == 4 and all(0 < p < 1 for p in ps)


def test_coupon_lowers_and_price_consciousness_raises_abandonment():
    def p(pc: float, applied: bool) -> float:
        persona = make_persona(cart_abandonment_rate=0.3, price_consciousness=pc)
        return rules.decide_checkout(
            persona, coupon_applied=applied, rng=random.Random(0)
        ).p_abandon

    assert p(1.0, True) < p(1.0, False)
    assert p(0.0, False) < p(0.5, False) < p(1.0, False)
    assert p(0.0, False) == pytest.approx(0.3)
