"""Cycle manager: offer cycles of ``OFFER_CYCLE_DAYS`` simulated days, numbered from the
run's simulated start.

``(run_id, cycle_number)`` is the natural key (a unique constraint with NULLS NOT
DISTINCT, so ``run_id`` NULL — the server's own cycles — is one key space too). Creating
cycle *n* is ``INSERT … ON CONFLICT DO NOTHING RETURNING`` and then a read, so a crash and
a re-run, or two processes racing, never create two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from db.settings import SimSettings
from offer_engine.calendar import cycle_bounds

_COLUMNS = (
    "id, run_id, cycle_number, started_at, ends_at, simulated_start_date, "
    "simulated_end_date, is_simulation, status, stats"
)


@dataclass(frozen=True, slots=True)
class CycleRow:
    """One ``offer_cycles`` row.

    Attributes:
        id: Primary key (``user_coupons.offer_cycle_id`` points here).
        run_id: The run that owns the cycle; None for the server's own cycles.
        cycle_number: 0 for the cycle that starts at the run's simulated start.
        simulated_start_date: Simulated start (inclusive).
        simulated_end_date: Simulated end (exclusive); the next cycle starts here.
        status: ``created`` until assignment finished, then ``completed``.
        stats: What running the cycle did (counts, duration), or None before.
        started_at: Real time the row was created.
        ends_at: Real time the cycle ends, when known.
        is_simulation: Always true for rows the engine writes.
    """

    id: int
    run_id: str | None
    cycle_number: int
    simulated_start_date: datetime
    simulated_end_date: datetime
    status: str
    stats: dict[str, Any] | None
    started_at: datetime | None = None
    ends_at: datetime | None = None
    is_simulation: bool = True

    def contains(self, sim_time: datetime) -> bool:
        """Whether ``sim_time`` falls in ``[simulated_start_date, simulated_end_date)``."""
        return self.simulated_start_date <= sim_time < self.simulated_end_date

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view (ISO strings for instants), e.g. for ``GET /cycles``."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "cycle_number": self.cycle_number,
            "simulated_start_date": self.simulated_start_date.isoformat(),
            "simulated_end_date": self.simulated_end_date.isoformat(),
            "status": self.status,
            "stats": self.stats,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "is_simulation": self.is_simulation,
        }


def _row(r: Any) -> CycleRow:
    m = r._mapping
    return CycleRow(
        id=m["id"],
        run_id=m["run_id"],
        cycle_number=m["cycle_number"],
        simulated_start_date=m["simulated_start_date"],
        simulated_end_date=m["simulated_end_date"],
        status=m["status"],
        stats=m["stats"],
        started_at=m["started_at"],
        ends_at=m["ends_at"],
        is_simulation=m["is_simulation"],
    )


def ensure_cycle(
    conn: Connection,
    *,
    run_id: str | None,
    cycle_number: int,
    sim_start: datetime,
    settings: SimSettings,
) -> CycleRow:
    """Create cycle ``cycle_number`` of ``run_id`` unless it exists; return the row.

    Args:
        conn: Connection; the caller owns the transaction.
        run_id: Owning run, or None for the server's own cycles.
        cycle_number: Cycle index (>= 0) counted from ``sim_start``.
        sim_start: The run's simulated start (cycle 0 starts here).
        settings: Supplies ``offer_cycle_days``.

    Returns:
        The new row, or the existing one (whose bounds are kept as first created).
    """
    if cycle_number < 0:
        raise ValueError(f"cycle_number must be >= 0 (got {cycle_number})")
    start, end = cycle_bounds(sim_start, cycle_number, settings.offer_cycle_days)
    params = {"run_id": run_id, "n": cycle_number, "start": start, "end": end}
    created = conn.execute(
        text(
            "INSERT INTO offer_cycles (run_id, cycle_number, simulated_start_date,"
            " simulated_end_date, is_simulation, status)"
            " VALUES (:run_id, :n, :start, :end, true, 'created')"
            " ON CONFLICT (run_id, cycle_number) DO NOTHING"
            f" RETURNING {_COLUMNS}"
        ),
        params,
    ).first()
    if created is not None:
        return _row(created)
    existing = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM offer_cycles"
            " WHERE run_id IS NOT DISTINCT FROM :run_id AND cycle_number = :n"
        ),
        params,
    ).first()
    if existing is None:  # pragma: no cover - only if a concurrent tx deleted it
        raise RuntimeError(f"offer cycle {cycle_number} of run {run_id!r} vanished")
    return _row(existing)


def get_cycle(conn: Connection, *, cycle_id: int) -> CycleRow | None:
    """The cycle with primary key ``cycle_id``, or None."""
    r = conn.execute(
        text(f"SELECT {_COLUMNS} FROM offer_cycles WHERE id = :id"), {"id": cycle_id}
    ).first()
    return _row(r) if r is not None else None


def list_cycles(conn: Connection, *, run_id: str | None = None) -> list[CycleRow]:
    """Cycles of ``run_id`` (None: the server's own cycles), by cycle number."""
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM offer_cycles"
            " WHERE run_id IS NOT DISTINCT FROM :run_id ORDER BY cycle_number"
        ),
        {"run_id": run_id},
    )
    return [_row(r) for r in rows]


def current_cycle(conn: Connection, *, sim_now: datetime) -> CycleRow | None:
    """The most recently created cycle (any run) whose simulated window contains ``sim_now``.

    Used by the per-user refresh: the API knows a simulated time, not a run.
    """
    r = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM offer_cycles"
            " WHERE simulated_start_date <= :t AND :t < simulated_end_date"
            " ORDER BY id DESC LIMIT 1"
        ),
        {"t": sim_now},
    ).first()
    return _row(r) if r is not None else None


def complete_cycle(conn: Connection, *, cycle_id: int) -> None:
    """Mark a cycle ``completed``: every user due at its boundary has been assigned.

    :func:`offer_engine.scheduler.advance` skips completed cycles; users who become active
    later get the cycle's offers through the per-user refresh.
    """
    conn.execute(
        text(
            "UPDATE offer_cycles SET status = 'completed', stats = coalesce(stats, '{}'::jsonb)"
            " WHERE id = :id AND status <> 'completed'"
        ),
        {"id": cycle_id},
    )
