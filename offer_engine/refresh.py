"""Per-user refresh: one wallet brought up to date for the current cycle.

Behind ``POST /api/offers/assign`` (the caller's own wallet) and ``POST /refresh/user/{id}``.
It runs the same set-based assignment as a whole cycle, restricted to one user, so the
capacity rule and the lock order are the same, and it is idempotent within a cycle: the
second call in a cycle finds ``user_offer_cycles.current_cycle_id`` already set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection

from db.settings import SimSettings
from offer_engine.assigner import assign_cycle
from offer_engine.cycles import current_cycle
from offer_engine.expiration import expire_due

RefreshStatus = Literal["assigned", "not_due", "no_cycle"]


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """Outcome of :func:`refresh_user`.

    Attributes:
        status: ``assigned`` (this call assigned the cycle's offers), ``not_due`` (already
            assigned this cycle, or not an active simulated user) or ``no_cycle`` (no offer
            cycle contains ``sim_now``).
        assigned: Coupons added to the wallet.
        expired: Coupons that left the wallet because they reached their expiry.
        replaced: Oldest unredeemed coupons removed to make room (``replace_oldest``).
        cycle_number: The current cycle's number, when there is one.
        cycle_id: The current cycle's id, when there is one.
    """

    status: RefreshStatus
    assigned: int = 0
    expired: int = 0
    replaced: int = 0
    cycle_number: int | None = None
    cycle_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the API's response body)."""
        return asdict(self)


def refresh_user(
    conn: Connection, *, user_id: int, sim_now: datetime, settings: SimSettings
) -> RefreshResult:
    """Expire the user's due coupons, then assign the current cycle's offers if due.

    Args:
        conn: Connection; the caller owns the transaction.
        user_id: The wallet's owner (``users.id``).
        sim_now: The caller's simulated time (the request's ``X-Simulated-Time`` or the
            server's time).
        settings: Offer-engine settings.

    Returns:
        What happened; see :class:`RefreshResult`.
    """
    expired = expire_due(conn, sim_now=sim_now, user_ids=[user_id])
    cycle = current_cycle(conn, sim_now=sim_now)
    if cycle is None:
        return RefreshResult(status="no_cycle", expired=expired)
    stats = assign_cycle(conn, cycle=cycle, sim_now=sim_now, settings=settings, user_ids=[user_id])
    common = {"cycle_number": cycle.cycle_number, "cycle_id": cycle.id}
    if stats.users_due == 0:
        return RefreshResult(status="not_due", expired=expired, **common)
    return RefreshResult(
        status="assigned",
        assigned=stats.assigned,
        expired=expired + stats.expired,
        replaced=stats.replaced,
        **common,
    )
