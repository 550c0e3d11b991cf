"""The clock's persistence in ``simulation_state``: one row per owner.

``key`` is a run id for the harness (the director saves its anchor at pause, resume and
checkpoints, so ``--resume`` restarts from the simulated instant reached), or ``'server'``
for a server that keeps its own simulated time (``POST /time/advance``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import bindparam

from offer_engine.clock import SimClock

SERVER_KEY = "server"

_UPSERT = text(
    "INSERT INTO simulation_state (key, simulated_date, real_start_time, cycle_number,"
    " time_scale, paused, anchor, updated_at)"
    " VALUES (:key, :sim, :real, :cycle, :scale, :paused, :anchor, now())"
    " ON CONFLICT (key) DO UPDATE SET simulated_date = EXCLUDED.simulated_date,"
    " real_start_time = EXCLUDED.real_start_time, cycle_number = EXCLUDED.cycle_number,"
    " time_scale = EXCLUDED.time_scale, paused = EXCLUDED.paused, anchor = EXCLUDED.anchor,"
    " updated_at = now()"
).bindparams(bindparam("anchor", type_=JSONB))


def save_clock(conn: Connection, *, key: str, clock: SimClock, cycle_number: int) -> None:
    """Store ``clock`` under ``key`` (insert or replace).

    ``simulated_date`` is the instant the clock reads now (what a human looking at the table
    wants); ``anchor`` holds :meth:`SimClock.to_dict`, which is what :func:`load_clock`
    reads back, so a running clock resumes exactly.

    Args:
        conn: Connection; the caller owns the transaction.
        key: A run id, or ``'server'``.
        clock: The anchor to store.
        cycle_number: The offer cycle the owner has reached.
    """
    conn.execute(
        _UPSERT,
        {
            "key": key,
            "sim": clock.now(),
            "real": datetime.fromtimestamp(clock.real_t0, UTC),
            "cycle": cycle_number,
            "scale": clock.scale,
            "paused": clock.paused,
            "anchor": clock.to_dict(),
        },
    )


def load_clock(conn: Connection, *, key: str) -> SimClock | None:
    """The clock stored under ``key``, or None when there is none.

    Rows without an anchor (written by hand or by the owner's older tools) load as a
    paused clock at ``simulated_date``: resuming from it cannot skip time.
    """
    r = conn.execute(
        text(
            "SELECT simulated_date, time_scale, paused, anchor FROM simulation_state"
            " WHERE key = :key"
        ),
        {"key": key},
    ).first()
    if r is None:
        return None
    if r.anchor:
        return SimClock.from_dict(r.anchor)
    return SimClock(
        real_t0=datetime.now(UTC).timestamp(),
        sim_t0=r.simulated_date,
        scale=r.time_scale or 1.0,
        paused=True,
    )


def get_server_time(conn: Connection) -> datetime | None:
    """The server's simulated time (key ``'server'``), or None if never set."""
    return conn.execute(
        text("SELECT simulated_date FROM simulation_state WHERE key = :key"),
        {"key": SERVER_KEY},
    ).scalar()


def set_server_time(conn: Connection, *, sim_time: datetime) -> None:
    """Set the server's simulated time (``POST /time/advance``).

    The server's time moves only when told, so it is stored as a paused clock at
    ``sim_time``; ``cycle_number`` keeps its previous value (the server's cycles are rows in
    ``offer_cycles``).
    """
    if sim_time.tzinfo is None:
        raise ValueError("sim_time must be timezone-aware")
    clock = SimClock(real_t0=datetime.now(UTC).timestamp(), sim_t0=sim_time, scale=1.0, paused=True)
    conn.execute(
        text(
            "INSERT INTO simulation_state (key, simulated_date, paused, anchor, updated_at)"
            " VALUES (:key, :sim, true, :anchor, now())"
            " ON CONFLICT (key) DO UPDATE SET simulated_date = EXCLUDED.simulated_date,"
            " paused = true, anchor = EXCLUDED.anchor, updated_at = now()"
        ).bindparams(bindparam("anchor", type_=JSONB)),
        {"key": SERVER_KEY, "sim": sim_time, "anchor": clock.to_dict()},
    )
