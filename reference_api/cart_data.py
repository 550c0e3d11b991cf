"""Cart data functions: keyword-only, take the connection; the caller owns the transaction.

Each read is one query (lines joined with their products; the applied coupon joined with
its template), so a cart costs two round trips whatever its size — no N+1.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from reference_api.errors import Conflict, NotFound
from reference_api.pricing import CouponTerms, Line
from reference_api.schemas import MAX_LINE_QUANTITY

_LINES = text(
    "SELECT ci.product_id, p.name, p.category, p.brand, ci.quantity, p.price_cents "
    "FROM cart_items ci JOIN products p ON p.id = ci.product_id "
    "WHERE ci.user_id = :user_id ORDER BY ci.id"
)
_TERMS_COLS = (
    "uc.id, c.kind, c.discount_type, coalesce(uc.discount_value, c.discount_value), "
    "c.min_spend_cents, c.category, "
    "c.brand, uc.status, uc.expires_sim_at, c.is_active"
)
_APPLIED = text(
    f"SELECT {_TERMS_COLS} FROM cart_coupons cc "
    "JOIN user_coupons uc ON uc.id = cc.user_coupon_id JOIN coupons c ON c.id = uc.coupon_id "
    "WHERE cc.user_id = :user_id"
)
_USER_COUPON = text(
    f"SELECT {_TERMS_COLS} FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id "
    "WHERE uc.id = :user_coupon_id AND uc.user_id = :user_id"
)
_ADD = text(
    "INSERT INTO cart_items (user_id, product_id, quantity, added_sim_at) "
    "SELECT :user_id, p.id, :quantity, :now FROM products p WHERE p.id = :product_id "
    "ON CONFLICT (user_id, product_id) DO UPDATE "
    "SET quantity = cart_items.quantity + excluded.quantity, added_sim_at = excluded.added_sim_at "
    f"WHERE cart_items.quantity + excluded.quantity <= {MAX_LINE_QUANTITY} "
    "RETURNING quantity"
)


def _terms(row: Sequence[Any]) -> CouponTerms:
    return CouponTerms(
        user_coupon_id=row[0],
        kind=row[1],
        discount_type=row[2],
        discount_value=row[3],
        min_spend_cents=row[4],
        category=row[5],
        brand=row[6],
        status=row[7],
        expires_sim_at=row[8],
        coupon_active=row[9],
    )


def load_lines(conn: Connection, *, user_id: int) -> list[Line]:
    """The caller's cart lines with current product names and prices."""
    return [Line(*row) for row in conn.execute(_LINES, {"user_id": user_id})]


def load_applied(conn: Connection, *, user_id: int) -> CouponTerms | None:
    """The coupon applied to the cart, whatever its state now."""
    row = conn.execute(_APPLIED, {"user_id": user_id}).first()
    return _terms(row) if row else None


def load_user_coupon(conn: Connection, *, user_id: int, user_coupon_id: int) -> CouponTerms | None:
    """A coupon of the caller's wallet (any status); ``None`` if it is not the caller's."""
    row = conn.execute(_USER_COUPON, {"user_id": user_id, "user_coupon_id": user_coupon_id}).first()
    return _terms(row) if row else None


def product_exists(conn: Connection, *, product_id: int) -> bool:
    return (
        conn.execute(text("SELECT 1 FROM products WHERE id = :id"), {"id": product_id}).first()
        is not None
    )


def add_item(
    conn: Connection, *, user_id: int, product_id: int, quantity: int, sim_now: datetime
) -> int:
    """Add ``quantity`` of a product (adding to an existing line); return the line's new
    quantity. ``NotFound`` for an unknown product, ``Conflict`` past the line limit."""
    new_qty = conn.execute(
        _ADD, {"user_id": user_id, "product_id": product_id, "quantity": quantity, "now": sim_now}
    ).scalar()
    if new_qty is None:
        if not product_exists(conn, product_id=product_id):
            raise NotFound(f"unknown product {product_id}")
        raise Conflict(f"a cart line holds at most {MAX_LINE_QUANTITY} units")
    return int(new_qty)


def remove_item(conn: Connection, *, user_id: int, product_id: int) -> None:
    """Remove a product's line (a product not in the cart is a no-op, so retries are
    safe); ``NotFound`` for a product that does not exist at all."""
    deleted = conn.execute(
        text("DELETE FROM cart_items WHERE user_id = :u AND product_id = :p RETURNING 1"),
        {"u": user_id, "p": product_id},
    ).first()
    if deleted is None and not product_exists(conn, product_id=product_id):
        raise NotFound(f"unknown product {product_id}")


def clear_cart(conn: Connection, *, user_id: int) -> None:
    """Empty the cart and drop its applied coupon."""
    conn.execute(text("DELETE FROM cart_coupons WHERE user_id = :u"), {"u": user_id})
    conn.execute(text("DELETE FROM cart_items WHERE user_id = :u"), {"u": user_id})


def set_applied(conn: Connection, *, user_id: int, user_coupon_id: int, sim_now: datetime) -> None:
    """Make ``user_coupon_id`` the cart's coupon (replacing any other)."""
    conn.execute(
        text(
            "INSERT INTO cart_coupons (user_id, user_coupon_id, applied_sim_at) "
            "VALUES (:u, :uc, :now) ON CONFLICT (user_id) DO UPDATE "
            "SET user_coupon_id = excluded.user_coupon_id, applied_sim_at = excluded.applied_sim_at"
        ),
        {"u": user_id, "uc": user_coupon_id, "now": sim_now},
    )
