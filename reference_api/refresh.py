"""The one call into ``offer_engine.refresh`` shared by ``/api/offers/assign`` and
``/refresh/user/{id}``: the engine decides and writes; this only shapes the answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from db.settings import SimSettings
from reference_api.errors import Conflict
from reference_api.schemas import AssignOut


def run_refresh(
    conn: Connection, *, user_id: int, sim_now: datetime, settings: SimSettings
) -> AssignOut:
    """Refresh one wallet at ``sim_now`` if due (idempotent per cycle).

    Args:
        conn: a connection inside the request's transaction.
        user_id: whose wallet.
        sim_now: the request's simulated now.
        settings: offer-engine settings (capacity, per-cycle counts, wallet-full policy).

    Returns:
        What the engine did, in the contract's shape.

    Raises:
        Conflict: the wallet would exceed ``MAX_WALLET_CAPACITY`` (409 "wallet full").
    """
    from offer_engine.assigner import WalletCapacityExceeded
    from offer_engine.refresh import refresh_user

    try:
        result = refresh_user(conn, user_id=user_id, sim_now=sim_now, settings=settings)
    except WalletCapacityExceeded as exc:
        # The engine refused to overfill the wallet and the transaction rolls back.
        raise Conflict(f"wallet full: {exc}") from None
    return AssignOut(
        status=result.status,
        assigned=result.assigned,
        expired=result.expired,
        replaced=result.replaced,
        cycle_number=result.cycle_number,
    )
