"""Expiration handler: coupons past ``expires_sim_at`` leave the wallet (reason ``expired``).

Only *active simulated* wallet rows are touched (``is_simulation``); redeemed coupons stay
redeemed because the update requires ``status = 'active'`` and, under READ COMMITTED, a
row redeemed concurrently is re-checked after its lock is released and skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, text


def expire_due(
    conn: Connection, *, sim_now: datetime, user_ids: Sequence[int] | None = None
) -> int:
    """Mark active simulated coupons with ``expires_sim_at <= sim_now`` as expired.

    Args:
        conn: Connection; the caller owns the transaction.
        sim_now: The simulated instant to expire at (recorded as ``removed_sim_at``).
        user_ids: Restrict to these users' wallets; None means every wallet.

    Returns:
        How many coupons were expired.
    """
    sql = (
        "UPDATE user_coupons SET status = 'expired', removed_reason = 'expired',"
        " removed_sim_at = :now"
        " WHERE status = 'active' AND is_simulation AND expires_sim_at <= :now"
    )
    params: dict[str, object] = {"now": sim_now}
    if user_ids is not None:
        if not user_ids:
            return 0
        sql += " AND user_id = ANY(CAST(:ids AS bigint[]))"
        params["ids"] = list(user_ids)
    return conn.execute(text(sql), params).rowcount
