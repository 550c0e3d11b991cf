"""Cart arithmetic and coupon eligibility: one pure implementation shared by the rules
(an agent judging which coupon is worth applying) and ``InMemoryShop`` (the mock API).

The rules mirror the reference API's contract (ARCHITECTURE §7, issue 5): a frontstore
coupon applies to any non-empty cart; a category_brand coupon needs at least one cart
item matching its category and/or brand; the cart subtotal must reach ``min_spend_cents``.
A percent discount is taken on the eligible value (the whole subtotal for frontstore, the
matching items for category_brand); an amount discount is capped at that value, so a
discount never makes a total negative.
"""

from __future__ import annotations

from collections.abc import Iterable

from behaviors.shop import CartLine, WalletCoupon


def line_matches(coupon: WalletCoupon, line: CartLine) -> bool:
    """Whether one cart line is covered by a category_brand coupon's target."""
    if coupon.category is not None and line.category != coupon.category:
        return False
    if coupon.brand is not None and line.brand != coupon.brand:
        return False
    return coupon.category is not None or coupon.brand is not None


def subtotal_cents(lines: Iterable[CartLine]) -> int:
    """Sum of quantity × unit price over the lines."""
    return sum(line.quantity * line.unit_price_cents for line in lines)


def ineligibility(coupon: WalletCoupon, lines: tuple[CartLine, ...]) -> str | None:
    """Why ``coupon`` cannot apply to a cart of ``lines``, or ``None`` when it can.

    Returns one of ``"empty_cart"``, ``"min_spend"``, ``"no_matching_item"``,
    ``"unknown_kind"`` — the same reasons the mock shop rejects with.
    """
    if not lines:
        return "empty_cart"
    if subtotal_cents(lines) < coupon.min_spend_cents:
        return "min_spend"
    if coupon.kind == "frontstore":
        return None
    if coupon.kind == "category_brand":
        return None if any(line_matches(coupon, ln) for ln in lines) else "no_matching_item"
    return "unknown_kind"


def discount_cents(coupon: WalletCoupon, lines: tuple[CartLine, ...]) -> int:
    """The discount ``coupon`` gives a cart of ``lines`` (0 when it is not eligible)."""
    if ineligibility(coupon, lines) is not None:
        return 0
    if coupon.kind == "frontstore":
        base = subtotal_cents(lines)
    else:
        base = subtotal_cents(ln for ln in lines if line_matches(coupon, ln))
    if coupon.discount_type == "percent":
        value = base * min(coupon.discount_value, 100) // 100
    else:
        value = coupon.discount_value
    return max(0, min(value, base))
