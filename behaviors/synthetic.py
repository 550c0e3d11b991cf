"""Deterministic synthetic personas, catalog and wallets for rule tests, the benchmark and
calibration.

The real sample population and catalog come from ``personas`` (the shipped workbook and
``personas.catalog.generate_catalog``); these builders keep the behaviors package testable
on its own and supply the wallets calibration needs (a weekly "offer cycle" per persona).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from behaviors.shop import Product, WalletCoupon
from personas.model import CHANNELS, INCOME_BANDS, TIMES_OF_DAY, WEEKDAYS, Persona

CATEGORIES: tuple[str, ...] = (
    "produce",
    "dairy",
    "bakery",
    "meat",
    "seafood",
    "frozen",
    "pantry",
    "snacks",
    "beverages",
    "household",
    "personal_care",
    "baby",
)
BRANDS_PER_CATEGORY = 8


def make_catalog(*, seed: int = 7, per_category: int = 60) -> list[Product]:
    """A catalog of ``len(CATEGORIES) × per_category`` products with log-normal prices."""
    rng = random.Random(f"catalog:{seed}")
    out: list[Product] = []
    pid = 1
    for c in CATEGORIES:
        median = rng.choice((249, 399, 599, 899, 1299))
        for i in range(per_category):
            brand = f"{c}_brand_{i % BRANDS_PER_CATEGORY}"
            price = max(49, int(median * rng.lognormvariate(0.0, 0.45)))
            out.append(Product(pid, f"{c} item {i}", c, brand, price, store_id=1))
            pid += 1
    return out


def make_persona(persona_id: str = "p-test", **overrides: Any) -> Persona:
    """A middle-of-the-road persona; ``overrides`` set any of the 28 attributes."""
    base: dict[str, Any] = {
        "persona_id": persona_id,
        "name": "Test Shopper",
        "age": 40,
        "gender": "female",
        "income_band": "middle",
        "city": "Springfield",
        "household_size": 3,
        "occupation": "teacher",
        "shopping_frequency": 3.0,
        "preferred_days": ("Sat", "Wed"),
        "preferred_time_of_day": "evening",
        "weekday_affinity": 0.5,
        "weekend_affinity": 0.7,
        "browse_depth": 12,
        "avg_basket_size": 8.0,
        "budget_per_trip": 12_000,
        "impulsivity": 0.3,
        "cart_abandonment_rate": 0.25,
        "preferred_categories": ("produce", "dairy", "snacks"),
        "preferred_brands": ("produce_brand_1", "dairy_brand_2"),
        "brand_loyalty": 0.5,
        "preferred_store": "S001",
        "discount_sensitivity": 0.5,
        "price_consciousness": 0.5,
        "coupon_affinity": 0.5,
        "deal_seeking": 0.4,
        "churn_risk": 0.2,
        "channel": "app",
    }
    base.update(overrides)
    return Persona(**base)


def random_personas(n: int, *, seed: int = 1) -> list[Persona]:
    """``n`` varied personas covering every enum value and the attributes' ranges."""
    rng = random.Random(f"personas:{seed}")
    out = []
    for i in range(n):
        out.append(
            make_persona(
                f"syn-{i:04d}",
                income_band=INCOME_BANDS[i % len(INCOME_BANDS)],
                channel=CHANNELS[i % len(CHANNELS)],
                shopping_frequency=round(
                    rng.choice((0.5, 1, 2, 3, 4, 6, 9)) * rng.uniform(0.7, 1.3), 2
                ),
                preferred_days=tuple(rng.sample(WEEKDAYS, rng.randint(1, 3))),
                preferred_time_of_day=TIMES_OF_DAY[i % len(TIMES_OF_DAY)],
                weekday_affinity=round(rng.random(), 2),
                weekend_affinity=round(rng.random(), 2),
                browse_depth=rng.randint(3, 40),
                avg_basket_size=round(rng.uniform(1, 25), 1),
                budget_per_trip=rng.choice((2_000, 6_000, 12_000, 25_000, 60_000)),
                impulsivity=round(rng.random(), 2),
                cart_abandonment_rate=round(rng.uniform(0, 0.6), 2),
                preferred_categories=tuple(rng.sample(CATEGORIES, rng.randint(1, 4))),
                brand_loyalty=round(rng.random(), 2),
                discount_sensitivity=round(rng.random(), 2),
                price_consciousness=round(rng.random(), 2),
                coupon_affinity=round(rng.random(), 2),
                deal_seeking=round(rng.random(), 2),
                churn_risk=round(rng.random(), 2),
            )
        )
    return out


def weekly_wallet(persona: Persona, week: int, *, seed: int = 0) -> list[WalletCoupon]:
    """A wallet like one offer cycle's (2 frontstore + 6 category/brand coupons).

    Deterministic per persona and week; ids are unique per persona and week.
    """
    digest = hashlib.blake2b(f"{seed}:{persona.persona_id}".encode(), digest_size=4).digest()
    base_id = int.from_bytes(digest) * 1000 + week * 10
    rng = random.Random(f"wallet:{seed}:{persona.persona_id}:{week}")
    coupons = [
        WalletCoupon(base_id + 0, 1, "frontstore", "percent", rng.choice((5, 10)), 3_000),
        WalletCoupon(base_id + 1, 2, "frontstore", "amount", rng.choice((200, 500)), 5_000),
    ]
    cats = list(persona.preferred_categories) + list(CATEGORIES)
    for k in range(6):
        cat = cats[int(rng.random() * len(cats))] if k < 3 else rng.choice(CATEGORIES)
        pct = rng.random() < 0.5
        coupons.append(
            WalletCoupon(
                base_id + 2 + k,
                10 + k,
                "category_brand",
                "percent" if pct else "amount",
                rng.choice((10, 15, 20)) if pct else rng.choice((100, 150, 300)),
                rng.choice((0, 0, 1_000)),
                category=cat,
            )
        )
    return coupons
