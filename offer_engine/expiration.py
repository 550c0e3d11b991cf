"""Expiration handler: coupons past ``expires_sim_at`` leave the wallet (reason ``expired``).

Only *active simulated* wallet rows are touched (``is_simulation``); redeemed coupons stay
redeemed because the update requires ``status = 'active'`` and, under READ COMMITTED, a
row redeemed concurrently is re-checked after its lock is released and skipped.

``removed_sim_at`` is the coupon's own ``expires_sim_at``, the instant it expired, so an
expiry that runs late (a sweep each simulated hour, a catch-up after a crash) still
records when the coupon really left the wallet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, text


def expire_due(
    conn: Connection,
    *,
    sim_now: datetime,
    user_ids: Sequence[int] | None = None,
    skip_locked: bool | None = None,
) -> int:
    """Mark active simulated coupons with ``expires_sim_at <= sim_now`` as expired.

    Args:
        conn: Connection; the caller owns the transaction.
        sim_now: Expire what has expired by this simulated instant.
        user_ids: Restrict to these users' wallets; None means every wallet.
        skip_locked: Leave rows another transaction holds for a later call instead of
            waiting. Default: true for the all-wallets sweep, which takes no owner locks and
            so must never wait on an assigner or a checkout (no deadlock); false for the
            listed wallets an assigner has locked, which must be exact before it counts room.

    Returns:
        How many coupons were expired.
    """
    params: dict[str, object] = {"now": sim_now}
    where = "status = 'active' AND is_simulation AND expires_sim_at <= :now"
    if user_ids is not None:
        if not user_ids:
            return 0
        where += " AND user_id = ANY(CAST(:ids AS bigint[]))"
        params["ids"] = list(user_ids)
    if skip_locked is None:
        skip_locked = user_ids is None
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    sql = (
        f"WITH due AS MATERIALIZED (SELECT id FROM user_coupons WHERE {where}{lock})"
        " UPDATE user_coupons uc SET status = 'expired', removed_reason = 'expired',"
        " removed_sim_at = uc.expires_sim_at"
        " FROM due WHERE uc.id = due.id AND uc.status = 'active'"
    )
    return conn.execute(text(sql), params).rowcount
