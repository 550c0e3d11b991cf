"""Cart pricing as the server answers it: the shared coupon rules plus the wallet state.

The coupon rules themselves (what a coupon covers, minimum spend, how a discount is
computed) are ``offer_engine.pricing``, the one rule set the agents' in-memory shop uses
too. This module adds what only the server has: the coupon's status, expiry and whether
the offer is still active, and the wording of the 409 ``detail``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from offer_engine import pricing as rules


@dataclass(frozen=True, slots=True)
class Line:
    """One cart line as pricing sees it."""

    product_id: int
    name: str
    category: str
    brand: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True, slots=True)
class CouponTerms:
    """A wallet coupon's terms and state, as pricing sees them."""

    user_coupon_id: int
    kind: str
    discount_type: str
    discount_value: int
    min_spend_cents: int
    category: str | None
    brand: str | None
    status: str
    expires_sim_at: datetime | None
    coupon_active: bool = True


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal_cents: int
    discount_cents: int
    total_cents: int


def subtotal(lines: list[Line]) -> int:
    """Sum of the line totals, in cents."""
    return rules.subtotal_cents(lines)


def rejection(coupon: CouponTerms, lines: list[Line], *, now: datetime) -> str | None:
    """Why ``coupon`` cannot apply to ``lines`` at simulated ``now``, or ``None`` if it can.

    Args:
        coupon: the wallet coupon (already known to belong to the caller).
        lines: the caller's cart.
        now: the request's simulated now.

    Returns:
        A short reason for the 409's ``detail``, or ``None``.
    """
    if coupon.status != "active":
        return f"coupon is {coupon.status}"
    if coupon.expires_sim_at is not None and coupon.expires_sim_at <= now:
        return "coupon expired"
    if not coupon.coupon_active:
        return "coupon is no longer offered"
    reason = rules.ineligibility(coupon, lines)
    if reason is None:
        return None
    if reason == "empty_cart":
        return "cart is empty"
    if reason == "no_matching_item":
        target = " / ".join(v for v in (coupon.category, coupon.brand) if v)
        return f"coupon does not match the cart (needs an item of {target})"
    if reason == "min_spend":
        spent = subtotal(lines)
        return f"below minimum spend ({spent} < {coupon.min_spend_cents} cents)"
    return f"coupon kind {coupon.kind!r} is not supported"


def discount(coupon: CouponTerms, lines: list[Line]) -> int:
    """The discount in cents ``coupon`` gives on ``lines`` (0 when it does not apply)."""
    return rules.discount_cents(coupon, lines)


def totals(lines: list[Line], coupon: CouponTerms | None, *, now: datetime) -> Totals:
    """Subtotal, discount and total of a cart; an applied coupon that no longer applies
    (expired, cart changed) gives no discount — checkout then refuses it explicitly."""
    sub = subtotal(lines)
    disc = 0
    if coupon is not None and rejection(coupon, lines, now=now) is None:
        disc = discount(coupon, lines)
    return Totals(subtotal_cents=sub, discount_cents=disc, total_cents=sub - disc)
