"""Checkout: the cart becomes an order in one transaction, exactly once per key.

Concurrency design (checkout retries never make two orders):
- the caller's ``users`` row is locked first (``FOR UPDATE``), which serializes one user's
  checkouts *and* blocks concurrent cart inserts (their foreign-key check needs a share
  lock on that row) until the cart is cleared;
- an existing order for the key is returned as it is (``created=false``);
- the order insert is ``ON CONFLICT (idempotency_key) DO NOTHING`` — the unique key is the
  last word even between different users;
- the coupon is redeemed by a guarded ``UPDATE … WHERE status = 'active' RETURNING``: if it
  returns nothing the whole checkout is refused and rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from reference_api import cart_data, pricing
from reference_api.errors import Conflict

INT4_MAX = 2**31 - 1

_ORDER_BY_KEY = text(
    "SELECT o.id, o.user_id, o.idempotency_key, o.subtotal_cents, o.discount_cents, "
    "o.total_cents, o.user_coupon_id, o.simulated_at, "
    "(SELECT COALESCE(SUM(oi.quantity), 0) FROM order_items oi WHERE oi.order_id = o.id) "
    "FROM orders o WHERE o.idempotency_key = :key"
)
_INSERT_ORDER = text(
    "INSERT INTO orders (user_id, idempotency_key, subtotal_cents, discount_cents, total_cents, "
    "user_coupon_id, is_simulated, simulated_at) "
    "VALUES (:user_id, :key, :subtotal, :discount, :total, :user_coupon_id, true, :now) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
_INSERT_ITEMS = text(
    "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) "
    "SELECT :order_id, ci.product_id, ci.quantity, p.price_cents "
    "FROM cart_items ci JOIN products p ON p.id = ci.product_id WHERE ci.user_id = :user_id"
)
_REDEEM = text(
    "UPDATE user_coupons SET status = 'redeemed', redeemed_sim_at = :now "
    "WHERE id = :id AND user_id = :user_id AND status = 'active' RETURNING id"
)


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order_id: int
    idempotency_key: str
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    item_count: int
    user_coupon_id: int | None
    simulated_at: datetime
    created: bool


def _existing(conn: Connection, *, user_id: int, key: str) -> PlacedOrder | None:
    row = conn.execute(_ORDER_BY_KEY, {"key": key}).first()
    if row is None:
        return None
    if row[1] != user_id:
        raise Conflict("idempotency_key already used by another user's order")
    return PlacedOrder(
        order_id=row[0],
        idempotency_key=row[2],
        subtotal_cents=row[3],
        discount_cents=row[4],
        total_cents=row[5],
        user_coupon_id=row[6],
        simulated_at=row[7],
        item_count=int(row[8]),
        created=False,
    )


def place_order(conn: Connection, *, user_id: int, key: str, sim_now: datetime) -> PlacedOrder:
    """Order the caller's cart (or return the order already placed with ``key``).

    Args:
        conn: a connection inside the request's transaction.
        user_id: the caller.
        key: the client's idempotency key.
        sim_now: the request's simulated now (``orders.simulated_at``, coupon validity).

    Returns:
        The order; ``created`` is false when ``key`` already had one.

    Raises:
        Conflict: empty cart, a coupon that no longer applies or was redeemed meanwhile,
            a total beyond the schema's range, or a key used by another user.
    """
    conn.execute(text("SELECT 1 FROM users WHERE id = :u FOR UPDATE"), {"u": user_id})
    found = _existing(conn, user_id=user_id, key=key)
    if found is not None:
        return found

    lines = cart_data.load_lines(conn, user_id=user_id)
    if not lines:
        raise Conflict("cart is empty")
    coupon = cart_data.load_applied(conn, user_id=user_id)
    discount = 0
    if coupon is not None:
        reason = pricing.rejection(coupon, lines, now=sim_now)
        if reason is not None:
            raise Conflict(f"applied coupon cannot be redeemed: {reason}")
        discount = pricing.discount(coupon, lines)
    subtotal = pricing.subtotal(lines)
    if subtotal > INT4_MAX:
        raise Conflict("order total too large")

    order_id = conn.execute(
        _INSERT_ORDER,
        {
            "user_id": user_id,
            "key": key,
            "subtotal": subtotal,
            "discount": discount,
            "total": subtotal - discount,
            "user_coupon_id": coupon.user_coupon_id if coupon else None,
            "now": sim_now,
        },
    ).scalar()
    if order_id is None:
        # Another user's concurrent checkout won the key (this user's are serialized).
        raise Conflict("idempotency_key already used by another user's order")
    conn.execute(_INSERT_ITEMS, {"order_id": order_id, "user_id": user_id})
    if coupon is not None:
        redeemed = conn.execute(
            _REDEEM, {"id": coupon.user_coupon_id, "user_id": user_id, "now": sim_now}
        ).first()
        if redeemed is None:
            raise Conflict("applied coupon cannot be redeemed: already redeemed or removed")
    cart_data.clear_cart(conn, user_id=user_id)
    return PlacedOrder(
        order_id=int(order_id),
        idempotency_key=key,
        subtotal_cents=subtotal,
        discount_cents=discount,
        total_cents=subtotal - discount,
        item_count=sum(line.quantity for line in lines),
        user_coupon_id=coupon.user_coupon_id if coupon else None,
        simulated_at=sim_now,
        created=True,
    )
