"""The caller's cart: read, add, remove, clear, apply a wallet coupon.

Every route answers with the whole cart, priced at the request's simulated now.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import Connection

from reference_api import cart_data, pricing
from reference_api.context import UserDep
from reference_api.errors import Conflict
from reference_api.routes import errors
from reference_api.schemas import ApplyCouponIn, CartAddIn, CartLineOut, CartOut, CartRemoveIn

router = APIRouter(prefix="/api/cart", tags=["cart"])


def cart_out(conn: Connection, *, user_id: int, now: datetime) -> CartOut:
    """Read and price the caller's cart (two queries whatever its size)."""
    lines = cart_data.load_lines(conn, user_id=user_id)
    applied = cart_data.load_applied(conn, user_id=user_id)
    totals = pricing.totals(lines, applied, now=now)
    return CartOut(
        items=[
            CartLineOut(
                product_id=line.product_id,
                name=line.name,
                category=line.category,
                brand=line.brand,
                quantity=line.quantity,
                unit_price_cents=line.unit_price_cents,
                line_total_cents=line.total_cents,
            )
            for line in lines
        ],
        subtotal_cents=totals.subtotal_cents,
        discount_cents=totals.discount_cents,
        total_cents=totals.total_cents,
        applied_user_coupon_id=applied.user_coupon_id if applied else None,
    )


@router.get("", response_model=CartOut, responses=errors())
def get_cart(ctx: UserDep) -> CartOut:
    """The caller's cart."""
    with ctx.user_tx() as (conn, user_id):
        return cart_out(conn, user_id=user_id, now=ctx.now(conn))


@router.post("/add", response_model=CartOut, responses=errors(404, 409))
def add(body: CartAddIn, ctx: UserDep) -> CartOut:
    """Add a product; adding one already in the cart increases its quantity."""
    with ctx.user_tx() as (conn, user_id):
        now = ctx.now(conn)
        cart_data.add_item(
            conn, user_id=user_id, product_id=body.product_id, quantity=body.quantity, sim_now=now
        )
        return cart_out(conn, user_id=user_id, now=now)


@router.post("/remove", response_model=CartOut, responses=errors(404))
def remove(body: CartRemoveIn, ctx: UserDep) -> CartOut:
    """Remove a product's line (no-op when it is not in the cart)."""
    with ctx.user_tx() as (conn, user_id):
        cart_data.remove_item(conn, user_id=user_id, product_id=body.product_id)
        return cart_out(conn, user_id=user_id, now=ctx.now(conn))


@router.delete("", response_model=CartOut, responses=errors())
def clear(ctx: UserDep) -> CartOut:
    """Empty the cart and drop its coupon."""
    with ctx.user_tx() as (conn, user_id):
        cart_data.clear_cart(conn, user_id=user_id)
        return cart_out(conn, user_id=user_id, now=ctx.now(conn))


@router.post("/apply-coupon", response_model=CartOut, responses=errors(409))
def apply_coupon(body: ApplyCouponIn, ctx: UserDep) -> CartOut:
    """Apply a coupon of the caller's wallet: active, unexpired at simulated now, matching
    the cart and its minimum spend — else 409 with the reason."""
    with ctx.user_tx() as (conn, user_id):
        now = ctx.now(conn)
        coupon = cart_data.load_user_coupon(
            conn, user_id=user_id, user_coupon_id=body.user_coupon_id
        )
        if coupon is None:
            raise Conflict("coupon not in wallet")
        reason = pricing.rejection(coupon, cart_data.load_lines(conn, user_id=user_id), now=now)
        if reason is not None:
            raise Conflict(reason)
        cart_data.set_applied(
            conn, user_id=user_id, user_coupon_id=coupon.user_coupon_id, sim_now=now
        )
        return cart_out(conn, user_id=user_id, now=now)
