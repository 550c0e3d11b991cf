"""Coupons and the checkout decision: ``open_wallet``, ``choose_coupon``,
``count_relevant_coupons``, ``decide_checkout``.

- Opening the wallet: ``P = OPEN_BASE + OPEN_AFFINITY × coupon_affinity + OPEN_DEAL ×
  deal_seeking`` (≤ 0.95).
- Applying: among the coupons that apply to the cart (``offer_engine.pricing``, the same
  rules as the shop), the agent applies one with ``P = APPLY_BASE + APPLY_SENSITIVITY ×
  discount_sensitivity``; which one is drawn with weight ``(value / best) ** (1 +
  PICK_SHARPNESS × discount_sensitivity)`` — a sensitive shopper nearly always takes the
  best value, an indifferent one takes whatever.
- Depth: when a wallet copy's value differs from the catalog's (an experiment arm's
  ``discount_multiplier``; ``WalletCoupon.catalog_value``), the apply probability moves on
  the log-odds scale by ``DEPTH_ELASTICITY × (price_consciousness + discount_sensitivity) / 2
  × ln(depth_ratio)``, where ``depth_ratio`` is the best eligible coupon's discount on this
  cart over what the catalog's value would give on it (so: its value relative to the
  cart's prices). At the catalog's own values the ratio is exactly 1 and nothing is
  computed differently: the probability, the draws and the payload are today's.
- Checkout: the base is ``cart_abandonment_rate``, moved on the log-odds scale: up by
  ``ABANDON_PRICE × price_consciousness`` without a coupon, down by ``ABANDON_COUPON ×
  (price_consciousness + discount_sensitivity) / 2`` with one. Rates of exactly 0 and 1 stay
  0 and 1.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Any

from behaviors.sampling import logistic_shift
from behaviors.shop import CartLine, WalletCoupon
from offer_engine.pricing import discount_cents
from personas.model import Persona

OPEN_BASE = 0.05
OPEN_AFFINITY = 0.6
OPEN_DEAL = 0.3
OPEN_MAX = 0.95
APPLY_BASE = 0.2
APPLY_SENSITIVITY = 0.75
PICK_SHARPNESS = 9.0
ABANDON_PRICE = 0.8
ABANDON_COUPON = 1.2
MAX_VIEWS = 5
"""Coupons an agent looks at in one visit to its wallet."""
DEPTH_ELASTICITY = 2.0
"""Log-odds of applying a coupon per unit of ln(depth ratio), for a shopper whose price
consciousness and discount sensitivity average 1; the shipped sample's average shopper
(both ≈ 0.51) gets about half, ≈ 1: doubling a coupon's depth doubles the odds that the
average shopper uses it (the shipped sample's mean apply probability moves from 0.58 to
0.69), a price-indifferent one barely moves. The level is calibrated, the slope is stated: the
control arm's cycles with a redemption (11.5 % offline, ``BENCHMARKS.md``) sit at Complete
Journey's 12.0 % of household-campaigns with at least one redemption
(``reports.experiment.COMPLETE_JOURNEY``), but Complete Journey records a coupon's value
only on the lines where it was redeemed (``coupon_disc``), so depths nobody redeemed are
unseen and it cannot identify how redemption moves with depth. Unit odds elasticity is
the assumption (the readout of a planted ×2 arm in ``BENCHMARKS.md`` measures its effect
on the experiment's metrics)."""


@dataclass(frozen=True, slots=True)
class WalletDecision:
    """Whether the agent opens its wallet this session."""

    p_open: float
    draw: float

    @property
    def open(self) -> bool:
        return self.draw < self.p_open

    def as_payload(self) -> dict[str, Any]:
        return {
            "rule": "open_wallet",
            "p_open": round(self.p_open, 6),
            "draw": round(self.draw, 6),
            "open": self.open,
        }


@dataclass(frozen=True, slots=True)
class CouponDecision:
    """Which coupons were looked at and which one (if any) to apply."""

    viewed: tuple[int, ...]
    eligible: tuple[tuple[int, int], ...]  # (user_coupon_id, discount cents), best first
    p_apply: float
    draw: float
    chosen: int | None
    chosen_value: int
    depth_ratio: float = 1.0

    def as_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": "choose_coupon",
            "eligible": [[cid, v] for cid, v in self.eligible],
            "p_apply": round(self.p_apply, 6),
            "draw": round(self.draw, 6),
            "chosen": self.chosen,
            "chosen_value_cents": self.chosen_value,
        }
        if self.depth_ratio != 1.0:
            out["depth_ratio"] = round(self.depth_ratio, 6)
        return out


@dataclass(frozen=True, slots=True)
class CheckoutDecision:
    """Complete or abandon, with the probability used."""

    base: float
    delta: float
    p_abandon: float
    draw: float
    coupon_applied: bool

    @property
    def abandon(self) -> bool:
        return self.draw < self.p_abandon

    def as_payload(self) -> dict[str, Any]:
        return {
            "rule": "decide_checkout",
            "base_abandon": round(self.base, 6),
            "logit_delta": round(self.delta, 6),
            "p_abandon": round(self.p_abandon, 6),
            "draw": round(self.draw, 6),
            "coupon_applied": self.coupon_applied,
            "decision": "abandon" if self.abandon else "complete",
        }


def open_wallet(persona: Persona, rng: random.Random) -> WalletDecision:
    """Whether to look at the wallet (driven by coupon affinity and deal seeking)."""
    p = OPEN_BASE + OPEN_AFFINITY * persona.coupon_affinity + OPEN_DEAL * persona.deal_seeking
    return WalletDecision(min(OPEN_MAX, p), rng.random())


def is_relevant(persona: Persona, coupon: WalletCoupon) -> bool:
    """A coupon the persona cares about: frontstore, or a preferred category/brand."""
    if coupon.kind == "frontstore":
        return True
    return (coupon.category is not None and coupon.category in persona.preferred_categories) or (
        coupon.brand is not None and coupon.brand in persona.preferred_brands
    )


def count_relevant_coupons(persona: Persona, wallet: list[WalletCoupon] | None) -> int:
    """How many coupons of a (last seen) wallet are relevant — ``decide_shop``'s input."""
    return sum(1 for c in wallet or () if is_relevant(persona, c))


def depth_ratio(coupon: WalletCoupon, lines: tuple[CartLine, ...]) -> float:
    """The coupon's discount on ``lines`` over what its catalog value would give: exactly
    1.0 when the wallet copy has the catalog's value (or the catalog's would give nothing)."""
    if coupon.catalog_value is None or coupon.catalog_value == coupon.discount_value:
        return 1.0
    base = discount_cents(replace(coupon, discount_value=coupon.catalog_value), lines)
    if base <= 0:
        return 1.0
    return discount_cents(coupon, lines) / base


def depth_shift(persona: Persona, ratio: float) -> float:
    """The log-odds shift of the apply probability for a depth ratio: 0.0 at 1.0, rising
    with the ratio (falling below 1), steeper for a price-conscious, discount-sensitive
    shopper."""
    if ratio == 1.0 or ratio <= 0.0:
        return 0.0
    care = 0.5 * (persona.price_consciousness + persona.discount_sensitivity)
    return DEPTH_ELASTICITY * care * math.log(ratio)


def choose_coupon(
    persona: Persona,
    wallet: list[WalletCoupon],
    lines: tuple[CartLine, ...],
    rng: random.Random,
) -> CouponDecision:
    """Which coupons to look at and which to apply to a cart of ``lines``.

    Args:
        persona: The shopper.
        wallet: The coupons in the wallet (``Shop.wallet()``).
        lines: The cart's lines.
        rng: The hour's random stream (one draw, two when a coupon is applied).
    """
    values = [(c.user_coupon_id, discount_cents(c, lines)) for c in wallet]
    eligible = sorted(((cid, v) for cid, v in values if v > 0), key=lambda x: (-x[1], x[0]))
    others = [cid for cid, v in values if v <= 0]
    viewed = tuple([cid for cid, _ in eligible] + others)[:MAX_VIEWS]
    p_apply = APPLY_BASE + APPLY_SENSITIVITY * persona.discount_sensitivity if eligible else 0.0
    ratio = 1.0
    if eligible:
        by_id = {c.user_coupon_id: c for c in wallet}
        ratio = depth_ratio(by_id[eligible[0][0]], lines)
        if ratio != 1.0:
            p_apply = logistic_shift(p_apply, depth_shift(persona, ratio))
    draw = rng.random()
    chosen: int | None = None
    value = 0
    if draw < p_apply:
        best = eligible[0][1]
        sharp = 1.0 + PICK_SHARPNESS * persona.discount_sensitivity
        weights = [(v / best) ** sharp for _, v in eligible]
        pick = rng.random() * sum(weights)
        for (cid, v), w in zip(eligible, weights, strict=True):
            pick -= w
            if pick <= 0:
                chosen, value = cid, v
                break
        else:
            chosen, value = eligible[-1]
    return CouponDecision(viewed, tuple(eligible), p_apply, draw, chosen, value, ratio)


def decide_checkout(
    persona: Persona, *, coupon_applied: bool, rng: random.Random
) -> CheckoutDecision:
    """Complete or abandon the cart.

    Args:
        persona: The shopper.
        coupon_applied: Whether a coupon discounts this cart.
        rng: The hour's random stream; one draw.
    """
    if coupon_applied:
        delta = -ABANDON_COUPON * 0.5 * (persona.price_consciousness + persona.discount_sensitivity)
    else:
        delta = ABANDON_PRICE * persona.price_consciousness
    base = persona.cart_abandonment_rate
    p = logistic_shift(base, delta)
    return CheckoutDecision(base, delta, p, rng.random(), coupon_applied)
