"""A plausible wallet for ``--mock-api`` runs (no offer engine behind an in-memory shop):
two frontstore coupons and up to six category/brand coupons matching the persona, drawn
deterministically from the generated catalog's coupon pool."""

from __future__ import annotations

import random
from functools import lru_cache

from behaviors.shop import WalletCoupon
from personas.model import Persona


@lru_cache(maxsize=4)
def _pool(seed: int) -> tuple:
    from personas.catalog import generate_catalog

    return generate_catalog(seed=seed).coupons


def mock_wallet(persona: Persona, seed: int) -> list[WalletCoupon]:
    coupons = _pool(seed)
    rng = random.Random(f"{seed}:{persona.persona_id}:mock-wallet")
    front = [c for c in coupons if c.kind == "frontstore"]
    cats = set(persona.preferred_categories)
    brands = set(persona.preferred_brands)
    fitting = [
        c for c in coupons if c.kind != "frontstore" and (c.category in cats or c.brand in brands)
    ]
    chosen = rng.sample(front, min(2, len(front))) + rng.sample(fitting, min(6, len(fitting)))
    return [
        WalletCoupon(
            user_coupon_id=i + 1,
            coupon_id=i + 1,
            kind=c.kind,
            discount_type=c.discount_type,
            discount_value=c.discount_value,
            min_spend_cents=c.min_spend_cents,
            category=c.category,
            brand=c.brand,
        )  # fmt: skip
        for i, c in enumerate(chosen)
    ]
