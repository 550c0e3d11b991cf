"""Scheduler entry point: bring the offer engine up to a simulated instant.

The director calls :func:`advance` every simulated hour, concurrently with shopping (seed
002 Q9.6: offers refresh while agents shop). Each call runs every cycle boundary crossed
since the last call — expire, then create and assign the cycle — each cycle in its own
transaction, then expires what came due since. What has been done is read from the
database (``offer_cycles.status``), not remembered in memory, so a restarted master or a
re-run after a crash repeats nothing.

A cycle runs *as of its boundary* (``assigned_sim_at`` = the cycle's simulated start), so
the outcome does not depend on how often or how late ``advance`` is called.

With an Engine a cycle is several transactions: one creates the cycle (and expires at its
boundary), then one per batch of users, then one marks it ``completed``. A crash between
them leaves a ``created`` cycle whose remaining users are still due; the next call finishes
it. Each user's assignment is atomic, and is never repeated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from db.settings import SimSettings
from offer_engine.assigner import AssignStats, assign_cycle, pending_users
from offer_engine.calendar import cycle_bounds, cycle_of
from offer_engine.cycles import CycleRow, complete_cycle, ensure_cycle, list_cycles
from offer_engine.expiration import expire_due

log = logging.getLogger(__name__)

_RETRY_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure
_ATTEMPTS = 3
BATCH_USERS = 1000
"""Users per assignment transaction (about 32,000 coupon rows)."""
WORKERS = 2
"""Batches of one cycle assigned at once, each on its own connection (Engine only)."""
T = TypeVar("T")
J = TypeVar("J")
R = TypeVar("R")


@dataclass(slots=True)
class CycleReport:
    """One cycle run by :func:`advance`.

    Attributes:
        cycle_number: The cycle.
        cycle_id: Its ``offer_cycles.id``.
        sim_time: The simulated instant it ran as of (its start).
        expired: Coupons expired at the boundary, before assignment (all wallets).
        stats: The assignment's counts.
        duration_s: Wall-clock seconds for the whole cycle transaction.
        attempts: 1 unless a deadlock/serialization failure forced a retry.
    """

    cycle_number: int
    cycle_id: int
    sim_time: datetime
    expired: int
    stats: AssignStats
    duration_s: float
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return {
            "cycle_number": self.cycle_number,
            "cycle_id": self.cycle_id,
            "sim_time": self.sim_time.isoformat(),
            "expired": self.expired,
            "stats": self.stats.to_dict(),
            "duration_s": self.duration_s,
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class AdvanceReport:
    """What one :func:`advance` call did.

    Attributes:
        run_id: The run (None: the server's own cycles).
        to_sim_time: The instant advanced to.
        current_cycle: Cycle number that contains ``to_sim_time`` (-1 before the start).
        cycles: The cycles run by this call (empty when none was due).
        expired: Coupons expired at ``to_sim_time`` after the cycles ran.
        duration_s: Wall-clock seconds of the whole call.
    """

    run_id: str | None
    to_sim_time: datetime
    current_cycle: int
    cycles: list[CycleReport] = field(default_factory=list)
    expired: int = 0
    duration_s: float = 0.0

    @property
    def assigned(self) -> int:
        """Coupons assigned across the cycles run."""
        return sum(c.stats.assigned for c in self.cycles)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view (for logs and the director's report)."""
        return {
            "run_id": self.run_id,
            "to_sim_time": self.to_sim_time.isoformat(),
            "current_cycle": self.current_cycle,
            "cycles": [c.to_dict() for c in self.cycles],
            "expired": self.expired,
            "assigned": self.assigned,
            "duration_s": self.duration_s,
        }


def advance(
    engine_or_conn: Engine | Connection,
    *,
    run_id: str | None,
    sim_start: datetime,
    to_sim_time: datetime,
    settings: SimSettings,
    batch_users: int = BATCH_USERS,
    policies: Mapping[Any, tuple[SimSettings, float]] | None = None,
    workers: int = WORKERS,
) -> AdvanceReport:
    """Run every offer cycle that has begun by ``to_sim_time`` and is not yet completed.

    Args:
        engine_or_conn: An Engine (each cycle gets its own transaction, retried on deadlock)
            or a Connection (everything runs in the caller's transaction).
        run_id: The run whose cycles these are; None for the server's own.
        sim_start: The run's simulated start (cycle 0 begins here).
        to_sim_time: The simulated instant reached.
        settings: Offer-engine settings.
        batch_users: Users assigned per transaction (Engine only): keeps each statement far
            below ``statement_timeout`` and row locks short while agents shop.
        policies: Per user id, the offer settings and discount multiplier of its
            experiment arm (``offer_engine.experiment``); users left out get ``settings``
            and the catalog's values. The cycle itself (length, boundaries) is the run's.
        workers: Batches assigned at the same time (Engine only; at most the pool's size).
            A batch is CPU work in the database server (choosing and writing ~32,000
            rows); two at once use both cores of a small server. The batches hold
            disjoint users, so they lock disjoint rows, and meet only on the cycle row
            at the end of each (its stats). 1: one after another.

    Returns:
        Per-cycle counts and durations.
    """
    t0 = time.perf_counter()
    days = settings.offer_cycle_days
    report = AdvanceReport(
        run_id=run_id,
        to_sim_time=to_sim_time,
        current_cycle=max(-1, cycle_of(sim_start, to_sim_time, days)),
    )
    done, _ = _with_retry(engine_or_conn, lambda c: _completed(c, run_id))
    for n in range(report.current_cycle + 1):
        if n in done:
            continue
        report.cycles.append(
            _run_cycle(
                engine_or_conn,
                run_id=run_id,
                n=n,
                sim_start=sim_start,
                settings=settings,
                batch_users=batch_users if isinstance(engine_or_conn, Engine) else 1 << 62,
                policies=policies or {},
                workers=_workers(engine_or_conn, workers),
            )
        )
    report.expired, _ = _with_retry(engine_or_conn, lambda c: expire_due(c, sim_now=to_sim_time))
    report.duration_s = round(time.perf_counter() - t0, 4)
    return report


def _completed(conn: Connection, run_id: str | None) -> set[int]:
    return {c.cycle_number for c in list_cycles(conn, run_id=run_id) if c.status == "completed"}


def _run_cycle(
    target: Engine | Connection,
    *,
    run_id: str | None,
    n: int,
    sim_start: datetime,
    settings: SimSettings,
    batch_users: int,
    policies: Mapping[Any, tuple[SimSettings, float]] | None = None,
    workers: int = 1,
) -> CycleReport:
    t0 = time.perf_counter()
    at, _ = cycle_bounds(sim_start, n, settings.offer_cycle_days)

    def opening(conn: Connection) -> tuple[int, CycleRow, list[int]]:
        expired = expire_due(conn, sim_now=at)
        cycle = ensure_cycle(
            conn, run_id=run_id, cycle_number=n, sim_start=sim_start, settings=settings
        )
        _, due = pending_users(conn, cycle=cycle)
        return expired, cycle, due

    (expired, cycle, due), attempts = _with_retry(target, opening)
    total = AssignStats(cycle_id=cycle.id, cycle_number=n)
    batches = [
        (group[i : i + batch_users], arm_settings, mult)
        for (arm_settings, mult), group in _by_policy(due, settings, policies or {})
        for i in range(0, len(group), batch_users)
    ]

    def assign_batch(job: tuple[list[int], SimSettings, float]) -> tuple[AssignStats, int]:
        users, s, m = job
        return _with_retry(
            target,
            lambda conn: assign_cycle(
                conn, cycle=cycle, sim_now=at, settings=s, user_ids=users,
                record_stats=True, discount_multiplier=m,
            ),
        )  # fmt: skip

    for part, tries in _each(assign_batch, batches, workers):
        attempts += tries - 1
        _add(total, part)
    _with_retry(target, lambda c: complete_cycle(c, cycle_id=cycle.id))
    total.duration_s = round(time.perf_counter() - t0, 4)
    log.info("offer cycle %s of run %s: %s", n, run_id, total.to_dict())
    return CycleReport(
        cycle_number=n,
        cycle_id=cycle.id,
        sim_time=at,
        expired=expired,
        stats=total,
        duration_s=total.duration_s,
        attempts=attempts,
    )


def _workers(target: Engine | Connection, wanted: int) -> int:
    """Concurrent batches: 1 in the caller's transaction, else at most the pool's size —
    its connections kept open, not its overflow: with ``db.engine.plan_pool``'s three
    quarters kept, a pool of two or more connections always has one left for the rest of
    the process (the master's lease log and checkpoints) while a cycle runs."""
    if isinstance(target, Connection) or wanted <= 1:
        return 1
    size = getattr(target.pool, "size", None)
    return max(1, min(wanted, size())) if callable(size) else 1


def _each(fn: Callable[[J], R], jobs: list[J], workers: int) -> Iterator[R]:
    """``fn`` of every job, in the jobs' order; up to ``workers`` at once (threads: under
    gevent's patching they are greenlets, and psycopg waits cooperatively). The first
    failure is raised once the jobs already running have ended; jobs not started are
    dropped (each is its own transaction: what committed stays, the rest stays due)."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="offer-cycle")
    try:
        futures = [pool.submit(fn, job) for job in jobs]
        for f in futures:
            yield f.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _by_policy(
    due: list[int], settings: SimSettings, policies: Mapping[Any, tuple[SimSettings, float]]
) -> list[tuple[tuple[SimSettings, float], list[int]]]:
    """The due users grouped by their (settings, multiplier), in first-seen order; users
    without a policy (no experiment, or an arm that changes nothing) get the run's."""
    groups: dict[tuple[int, float], tuple[tuple[SimSettings, float], list[int]]] = {}
    for user in due:
        policy = policies.get(user, (settings, 1.0))
        key = (id(policy[0]), float(policy[1]))
        groups.setdefault(key, (policy, []))[1].append(user)
    return list(groups.values())


def _add(total: AssignStats, part: AssignStats) -> None:
    for key in (
        "users_targeted",
        "users_due",
        "users_assigned",
        "assigned",
        "frontstore",
        "category_brand",
        "replaced",
        "expired",
        "users_short",
    ):
        setattr(total, key, getattr(total, key) + getattr(part, key))


def _with_retry(target: Engine | Connection, fn: Callable[[Connection], T]) -> tuple[T, int]:
    """Run ``fn`` in the caller's transaction, or in its own one retried on deadlock."""
    if isinstance(target, Connection):
        return fn(target), 1
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with target.begin() as conn:
                return fn(conn), attempt
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in _RETRY_SQLSTATES or attempt == _ATTEMPTS:
                raise
            log.warning("offer engine: %s, retrying (attempt %s)", code, attempt + 1)
    raise AssertionError("unreachable")  # pragma: no cover
