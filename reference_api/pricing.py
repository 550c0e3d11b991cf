"""Cart pricing and coupon eligibility: pure functions over plain values (no SQL, no HTTP).

Rules (issue #5, "Business rules"):
- a *frontstore* coupon applies to any basket; a *category_brand* coupon needs at least one
  line matching its category and/or brand (both, when both are set);
- the cart subtotal must reach the coupon's ``min_spend_cents``;
- the discount base is the whole subtotal for frontstore, the matching lines for
  category_brand; percent discounts round down to the cent, amount discounts are capped at
  the base so a total is never negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
    return sum(line.total_cents for line in lines)


def _matches(coupon: CouponTerms, line: Line) -> bool:
    if coupon.kind == "frontstore":
        return True
    if coupon.category is not None and line.category != coupon.category:
        return False
    return not (coupon.brand is not None and line.brand != coupon.brand)


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
    if not lines:
        return "cart is empty"
    if not any(_matches(coupon, line) for line in lines):
        target = " / ".join(v for v in (coupon.category, coupon.brand) if v)
        return f"coupon does not match the cart (needs an item of {target})"
    spent = subtotal(lines)
    if spent < coupon.min_spend_cents:
        return f"below minimum spend ({spent} < {coupon.min_spend_cents} cents)"
    return None


def discount(coupon: CouponTerms, lines: list[Line]) -> int:
    """The discount in cents ``coupon`` gives on ``lines`` (eligibility not checked)."""
    base = sum(line.total_cents for line in lines if _matches(coupon, line))
    if coupon.discount_type == "percent":
        return base * coupon.discount_value // 100
    return min(coupon.discount_value, base)


def totals(lines: list[Line], coupon: CouponTerms | None, *, now: datetime) -> Totals:
    """Subtotal, discount and total of a cart; an applied coupon that no longer applies
    (expired, cart changed) gives no discount — checkout then refuses it explicitly."""
    sub = subtotal(lines)
    disc = 0
    if coupon is not None and rejection(coupon, lines, now=now) is None:
        disc = discount(coupon, lines)
    return Totals(subtotal_cents=sub, discount_cents=disc, total_cents=sub - disc)
