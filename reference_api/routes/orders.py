"""``POST /api/orders/checkout``: the cart becomes an order, exactly once per key."""

from __future__ import annotations

from fastapi import APIRouter

from reference_api.context import UserDep
from reference_api.order_data import place_order
from reference_api.routes import errors
from reference_api.schemas import CheckoutIn, OrderOut

router = APIRouter(prefix="/api/orders", tags=["orders"])


@router.post("/checkout", response_model=OrderOut, responses=errors(409))
def checkout(body: CheckoutIn, ctx: UserDep) -> OrderOut:
    """Order the cart: subtotal, discount, total; coupon redeemed; cart cleared — one
    transaction. The same ``idempotency_key`` returns the same order (``created=false``)."""
    with ctx.user_tx() as (conn, user_id):
        placed = place_order(conn, user_id=user_id, key=body.idempotency_key, sim_now=ctx.now(conn))
    return OrderOut(
        order_id=placed.order_id,
        idempotency_key=placed.idempotency_key,
        subtotal_cents=placed.subtotal_cents,
        discount_cents=placed.discount_cents,
        total_cents=placed.total_cents,
        item_count=placed.item_count,
        user_coupon_id=placed.user_coupon_id,
        simulated_at=placed.simulated_at,
        created=placed.created,
    )
