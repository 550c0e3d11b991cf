"""Coupon pricing: the one rule set the reference API and the agents' world share.

These rules were once written twice (``behaviors/pricing.py`` for the agents and
the in-memory shop, ``reference_api/pricing.py`` for the server) and could drift. Both now
call these pure functions (no SQL, no HTTP, no clock). They live in ``offer_engine``, the
package that issues the coupons, because it sits below both users (docs/ARCHITECTURE.md, Rooms:
``reference_api → offer_engine`` and ``behaviors`` may import it; neither may import the
other).

Rules (the owner's business rules; docs/ARCHITECTURE.md, HTTP contract):
- a *frontstore* coupon applies to any non-empty cart; a *category_brand* coupon needs at
  least one line matching its category and/or brand (both, when both are set; one with
  neither matches nothing); any other kind never applies;
- the coupon must cover the cart before the minimum spend is judged, then the cart
  subtotal must reach ``min_spend_cents`` (a cart failing both is told "no matching item",
  the reference API's order);
- the discount base is the whole subtotal for frontstore, the matching lines for
  category_brand; a percent discount (capped at 100 %) rounds down to the cent, an amount
  discount is capped at the base, so a discount is never negative and never exceeds the
  base.

The wallet state — coupon status, expiry, a withdrawn offer, whose wallet it is — is the
caller's business: the server and the in-memory shop keep it differently.

Inputs are duck-typed (:class:`PricedLine`, :class:`CouponRule`) so each side passes its own
frozen dataclasses without converting them per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, Protocol

Ineligibility = Literal["empty_cart", "no_matching_item", "min_spend", "unknown_kind"]
"""Why a coupon does not apply — the reasons the in-memory shop rejects with; the reference
API words them for its 409 ``detail``."""


class PricedLine(Protocol):
    """A cart line as pricing needs it."""

    @property
    def quantity(self) -> int: ...
    @property
    def unit_price_cents(self) -> int: ...
    @property
    def category(self) -> str: ...
    @property
    def brand(self) -> str: ...


class CouponRule(Protocol):
    """A coupon's terms as pricing needs them."""

    @property
    def kind(self) -> str: ...
    @property
    def discount_type(self) -> str: ...
    @property
    def discount_value(self) -> int: ...
    @property
    def min_spend_cents(self) -> int: ...
    @property
    def category(self) -> str | None: ...
    @property
    def brand(self) -> str | None: ...


def subtotal_cents(lines: Iterable[PricedLine]) -> int:
    """Sum of quantity × unit price over the lines."""
    return sum(line.quantity * line.unit_price_cents for line in lines)


def line_matches(coupon: CouponRule, line: PricedLine) -> bool:
    """Whether ``coupon`` covers ``line`` (frontstore: every line; category_brand: lines of
    its category and/or brand; other kinds: none)."""
    if coupon.kind == "frontstore":
        return True
    if coupon.kind != "category_brand":
        return False
    if coupon.category is None and coupon.brand is None:
        return False
    if coupon.category is not None and line.category != coupon.category:
        return False
    return coupon.brand is None or line.brand == coupon.brand


def ineligibility(coupon: CouponRule, lines: Sequence[PricedLine]) -> Ineligibility | None:
    """Why ``coupon`` cannot apply to a cart of ``lines``, or ``None`` when it can."""
    if not lines:
        return "empty_cart"
    if coupon.kind not in ("frontstore", "category_brand"):
        return "unknown_kind"
    if not any(line_matches(coupon, line) for line in lines):
        return "no_matching_item"
    if subtotal_cents(lines) < coupon.min_spend_cents:
        return "min_spend"
    return None


def discount_cents(coupon: CouponRule, lines: Sequence[PricedLine]) -> int:
    """The discount ``coupon`` gives a cart of ``lines`` (0 when it is not eligible)."""
    if ineligibility(coupon, lines) is not None:
        return 0
    base = subtotal_cents(line for line in lines if line_matches(coupon, line))
    if coupon.discount_type == "percent":
        value = base * min(coupon.discount_value, 100) // 100
    else:
        value = coupon.discount_value
    return max(0, min(value, base))
