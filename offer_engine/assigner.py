"""Offer assigner: fills simulated wallets for one offer cycle, set-based.

Per cycle each due user gets ``FRONTSTORE_PER_CYCLE`` frontstore and
``CATEGORY_BRAND_PER_CYCLE`` category/brand coupons (the owner's data flow), never more
than ``MAX_WALLET_CAPACITY`` active at once. The whole cycle is a handful of statements
whatever the number of users (a cycle for 372 users must not be 12,000 round trips).

Concurrency: count-then-insert overfills when two
assigners race, so every assigner first locks the users' ``user_offer_cycles`` rows in
user-id order — the wallet's owner row, which only the offer engine touches, so the lock
cannot deadlock with checkouts. Checkouts only ever *lower* the active count (active →
redeemed), so once other assigners are excluded the count read under the lock is an upper
bound and the cap holds. A final guard query re-checks the cap and aborts the transaction
if anything else overfilled a wallet.

Choice (persona fit): a weighted sample without replacement (Efraimidis–Spirakis: the
``k`` largest ``ln(u) / w``), ``u`` from ``md5(run:cycle:user:coupon)`` so the picks are a
function of (run, cycle, user) in every process — never Python's ``hash()``. Weights:

* category/brand coupon: ``(1 + 4·[category preferred] + 15·brand_loyalty·[brand
  preferred]) · (1 + discount_sensitivity · discount)``
* frontstore coupon: ``1 + discount_sensitivity · discount``

with ``discount`` the percent / 100, or the amount / $10 capped at 1.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import bindparam

from db.settings import SimSettings
from offer_engine import _assign_sql as sql_
from offer_engine.cycles import CycleRow, complete_cycle
from offer_engine.expiration import expire_due

CHUNK_USERS = 1000
"""Users per statement inside one assignment (about 32,000 coupon rows)."""

_SUMMED = (
    "users_assigned",
    "assigned",
    "frontstore",
    "category_brand",
    "replaced",
    "expired",
    "users_short",
)


class WalletCapacityExceeded(RuntimeError):
    """A wallet holds more than ``MAX_WALLET_CAPACITY`` active coupons after assignment.

    Raised so the caller's transaction rolls back instead of committing an overfull
    wallet (only possible if something outside the offer engine inserts coupons).
    """


@dataclass(slots=True)
class AssignStats:
    """What one assignment did.

    Attributes:
        cycle_id: The cycle assigned.
        cycle_number: Its number.
        users_targeted: Active simulated users considered.
        users_due: Of those, users not yet assigned this cycle.
        users_assigned: Users that received at least one coupon.
        assigned: Coupons inserted.
        frontstore: Of which frontstore.
        category_brand: Of which category/brand.
        replaced: Oldest unredeemed coupons removed to make room (``replace_oldest``).
        expired: Coupons expired for the due users before assigning.
        users_short: Due users that got fewer than a full cycle's coupons (``skip`` policy
            with little room, or a catalog too small).
        duration_s: Wall-clock seconds the assignment took.
    """

    cycle_id: int
    cycle_number: int
    users_targeted: int = 0
    users_due: int = 0
    users_assigned: int = 0
    assigned: int = 0
    frontstore: int = 0
    category_brand: int = 0
    replaced: int = 0
    expired: int = 0
    users_short: int = 0
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the counts."""
        return asdict(self)


def pending_users(
    conn: Connection, *, cycle: CycleRow, user_ids: Sequence[int] | None = None
) -> tuple[int, list[int]]:
    """Active simulated users not yet assigned ``cycle`` (read only, no locks).

    Args:
        conn: Connection.
        cycle: The cycle.
        user_ids: Restrict to these users; None for all.

    Returns:
        ``(targeted, due)``: how many active simulated users were considered, and the ids
        of those still due, ascending.
    """
    sql = sql_.TARGETS
    params: dict[str, Any] = {"run_id": cycle.run_id, "n": cycle.cycle_number}
    if user_ids is not None:
        sql += " AND u.id = ANY(CAST(:only AS bigint[]))"
        params["only"] = list(user_ids)
    rows = conn.execute(text(sql_.DUE.format(targets=sql)), params).all()
    targeted = conn.execute(text(f"SELECT count(*) FROM ({sql}) t"), params).scalar_one()
    return int(targeted), [r[0] for r in rows]


def assign_cycle(
    conn: Connection,
    *,
    cycle: CycleRow,
    sim_now: datetime,
    settings: SimSettings,
    user_ids: Sequence[int] | None = None,
    record_stats: bool | None = None,
    discount_multiplier: float = 1.0,
) -> AssignStats:
    """Assign ``cycle``'s coupons to every due active simulated user (or to ``user_ids``).

    Idempotent: a user whose ``user_offer_cycles.current_cycle_id`` is this cycle (or a later
    one of the same run) is not due, so a re-run after a crash changes nothing.

    Args:
        conn: Connection; the caller owns the transaction (locks are held until it ends).
        cycle: The cycle to assign (from :func:`offer_engine.cycles.ensure_cycle`).
        sim_now: Simulated instant of the assignment (``assigned_sim_at``; expiry is
            ``sim_now + OFFER_EXPIRATION_DAYS``).
        settings: Quotas, capacity, expiry and ``WALLET_FULL_POLICY``.
        user_ids: Only these users (still only active simulated ones); None for all, which
            also marks the cycle ``completed``.
        record_stats: Add the counts to ``offer_cycles.stats``; default: only when
            ``user_ids`` is None (a per-user refresh must not serialize on the cycle row).
        discount_multiplier: × the catalog's coupon values, written on each wallet copy
            (an experiment arm's, ``offer_engine.experiment``); 1: the catalog's own.

    Returns:
        The counts of what was done.

    Raises:
        WalletCapacityExceeded: a wallet would end above capacity (transaction must roll back).
    """
    t0 = time.perf_counter()
    stats = AssignStats(cycle_id=cycle.id, cycle_number=cycle.cycle_number)
    whole_cycle = user_ids is None
    record = whole_cycle if record_stats is None else record_stats

    stats.users_targeted, candidates = pending_users(conn, cycle=cycle, user_ids=user_ids)
    due: list[int] = []
    if candidates:
        conn.execute(sql_.ENSURE_OWNER_ROWS, {"ids": candidates})
        conn.execute(sql_.LOCK_OWNER_ROWS, {"ids": candidates}).all()
        # A new statement sees what a concurrent assigner committed before we got the locks.
        _, due = pending_users(conn, cycle=cycle, user_ids=candidates)
    stats.users_due = len(due)
    # Chunks keep each statement far below statement_timeout for a whole 10,000-user cycle;
    # they share the caller's transaction, so the cycle is still all or nothing.
    for i in range(0, len(due), CHUNK_USERS):
        part = AssignStats(cycle_id=cycle.id, cycle_number=cycle.cycle_number)
        chunk = due[i : i + CHUNK_USERS]
        _assign_to(
            conn, due=chunk, cycle=cycle, sim_now=sim_now, settings=settings, stats=part,
            multiplier=discount_multiplier,
        )  # fmt: skip
        for key in _SUMMED:
            setattr(stats, key, getattr(stats, key) + getattr(part, key))
    stats.duration_s = round(time.perf_counter() - t0, 4)
    if record:
        # NO KEY UPDATE: serializes recording runs without blocking the FK (KEY SHARE)
        # checks of concurrent per-user refreshes inserting rows that point at this cycle.
        # Taken last, so concurrent batches of one cycle (offer_engine.scheduler) wait on
        # each other only for this read-modify-write, not for their whole assignment.
        previous: dict[str, Any] | None = conn.execute(sql_.LOCK_CYCLE, {"id": cycle.id}).scalar()
        if due or (whole_cycle and previous is None):
            _record(conn, cycle=cycle, previous=previous, stats=stats, settings=settings)
    if whole_cycle:
        complete_cycle(conn, cycle_id=cycle.id)
    return stats


def _catalog_quota(conn: Connection, settings: SimSettings) -> tuple[int, int]:
    """Per-kind quotas, lowered to what the catalog can supply at all."""
    kinds: dict[str, int] = {r[0]: r[1] for r in conn.execute(sql_.CATALOG_KINDS)}
    return (
        min(settings.frontstore_per_cycle, kinds.get("frontstore", 0)),
        min(settings.category_brand_per_cycle, kinds.get("category_brand", 0)),
    )


def _assign_to(
    conn: Connection,
    *,
    due: list[int],
    cycle: CycleRow,
    sim_now: datetime,
    settings: SimSettings,
    stats: AssignStats,
    multiplier: float = 1.0,
) -> None:
    cap = settings.max_wallet_capacity
    nf, nc = _catalog_quota(conn, settings)
    stats.expired = expire_due(conn, sim_now=sim_now, user_ids=due)
    if settings.wallet_full_policy == "replace_oldest":
        stats.replaced = conn.execute(
            sql_.REPLACE_OLDEST, {"ids": due, "now": sim_now, "quota": nf + nc, "cap": cap}
        ).rowcount
    seed = f"{cycle.run_id if cycle.run_id is not None else 'server'}:{cycle.cycle_number}:"
    # The three foreign-key triggers of user_coupons were the largest cost of a cycle (three
    # checks per inserted row, ~45 % of the insert). Where it is allowed and nothing else
    # fires, they are off for this one statement, which locks and joins the referenced rows
    # itself (set-based, same KEY SHARE locks); SET LOCAL ends with the transaction anyway.
    batched = bool(conn.execute(sql_.BATCHED_KEY_CHECKS).scalar())
    if batched:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    row = conn.execute(
        sql_.INSERT_PICKS,
        {
            "ids": due,
            "cap": cap,
            "nf": nf,
            "nc": nc,
            "seed": seed,
            "cycle_id": cycle.id,
            "now": sim_now,
            "expires": sim_now + timedelta(days=settings.offer_expiration_days),
            "per_cycle": settings.per_cycle,
            "mult": float(multiplier),
        },
    ).one()
    if batched:
        conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
    stats.assigned = int(row.assigned)
    stats.frontstore = int(row.frontstore)
    stats.category_brand = stats.assigned - stats.frontstore
    stats.users_assigned = int(row.users_assigned)
    stats.users_short = len(due) - int(row.users_full)

    over = conn.execute(
        sql_.GUARD, {"ids": due, "cap": cap, "cycle_id": cycle.id, "now": sim_now}
    ).all()
    if over:
        detail = ", ".join(f"user {r.user_id}: {r.n}" for r in over)
        raise WalletCapacityExceeded(f"wallets above MAX_WALLET_CAPACITY={cap}: {detail}")
    conn.execute(
        sql_.MARK_ASSIGNED,
        {"cid": cycle.id, "now": sim_now, "next": cycle.simulated_end_date, "ids": due},
    )


_COUNTS = (
    "users_targeted",
    "users_due",
    "users_assigned",
    "assigned",
    "frontstore",
    "category_brand",
    "replaced",
    "expired",
    "users_short",
    "duration_s",
)


def _record(
    conn: Connection,
    *,
    cycle: CycleRow,
    previous: dict[str, Any] | None,
    stats: AssignStats,
    settings: SimSettings,
) -> None:
    """Add this run's counts to ``offer_cycles.stats`` (batches and resumed runs add up)."""
    merged: dict[str, Any] = dict(previous or {})
    for key in _COUNTS:
        merged[key] = round(merged.get(key, 0) + getattr(stats, key), 4)
    merged["runs"] = merged.get("runs", 0) + 1
    merged["policy"] = settings.wallet_full_policy
    conn.execute(
        text("UPDATE offer_cycles SET stats = :stats WHERE id = :id").bindparams(
            bindparam("stats", type_=JSONB)
        ),
        {"stats": merged, "id": cycle.id},
    )
