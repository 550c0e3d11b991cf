"""The caller's wallet: read it, refresh it (``offer_engine``), record coupon views."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import text

from reference_api.context import UserDep
from reference_api.errors import NotFound
from reference_api.refresh import run_refresh
from reference_api.routes import errors
from reference_api.schemas import BIGINT_MAX, AssignOut, ViewOut, WalletItemOut, WalletOut

router = APIRouter(prefix="/api/offers", tags=["offers"])

_WALLET = text(
    "SELECT uc.id, uc.coupon_id, c.code, c.title, c.kind, c.discount_type, "
    "coalesce(uc.discount_value, c.discount_value), "
    "c.min_spend_cents, c.category, c.brand, uc.status, uc.assigned_sim_at, uc.expires_sim_at, "
    "CASE WHEN uc.discount_value IS NOT NULL THEN c.discount_value END "
    "FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id "
    "WHERE uc.user_id = :user_id AND uc.status = 'active' "
    "AND (uc.expires_sim_at IS NULL OR uc.expires_sim_at > :now) ORDER BY uc.id"
)
_FIELDS = tuple(WalletItemOut.model_fields)


@router.get("/wallet", response_model=WalletOut, responses=errors())
def wallet(ctx: UserDep) -> WalletOut:
    """The caller's active coupons, unexpired at the request's simulated now (one query)."""
    with ctx.user_tx() as (conn, user_id):
        rows = conn.execute(_WALLET, {"user_id": user_id, "now": ctx.now(conn)}).all()
    items = [WalletItemOut(**dict(zip(_FIELDS, row, strict=True))) for row in rows]
    return WalletOut(items=items, count=len(items))


@router.post("/assign", response_model=AssignOut, responses=errors(409))
def assign(ctx: UserDep) -> AssignOut:
    """Refresh the caller's wallet if its refresh is due in the current offer cycle
    (idempotent per cycle) — the offer engine decides and writes."""
    with ctx.user_tx() as (conn, user_id):
        return run_refresh(conn, user_id=user_id, sim_now=ctx.now(conn), settings=ctx.settings)


@router.post("/{user_coupon_id}/view", response_model=ViewOut, responses=errors(404))
def view(ctx: UserDep, user_coupon_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)]) -> ViewOut:
    """Count one view of a coupon of the caller's wallet (404 if it is not theirs)."""
    with ctx.user_tx() as (conn, user_id):
        count = conn.execute(
            text(
                "UPDATE user_coupons SET viewed_count = viewed_count + 1 "
                "WHERE id = :id AND user_id = :user_id RETURNING viewed_count"
            ),
            {"id": user_coupon_id, "user_id": user_id},
        ).scalar()
    if count is None:
        raise NotFound(f"coupon {user_coupon_id} not in wallet")
    return ViewOut(user_coupon_id=user_coupon_id, viewed_count=count)
