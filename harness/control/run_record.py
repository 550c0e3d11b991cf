"""The run's rows in the database, written by the master: the ``simulation_runs`` record
(start, status, end), the lease history (``persona_leases``) and the clean-up of sessions a
run left ``active`` (with their carts). Only simulated rows are ever touched.

A run is **live** while its status is ``running`` or ``paused`` and its master touched
``heartbeat_at`` within :data:`STALE_AFTER_S` (the director does every few seconds). Start-up
clean-up abandons only sessions of runs that are not live: two runs against one
database never clean up each other's sessions, and a run whose master was killed is cleaned
by the next start (or by its own ``--resume``) once its heartbeat is stale."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from harness.config.messages import RunConfig
from harness.config.options import HarnessOptions

if TYPE_CHECKING:
    from harness.control.director import SimulationDirector

log = logging.getLogger("loadsim")

STALE_AFTER_S = 30
"""A running run whose heartbeat is older than this is taken as dead (its master killed)."""
HEARTBEAT_EVERY_S = 5.0

_NOT_LIVE = (
    "(r.status NOT IN ('running', 'paused') OR r.heartbeat_at IS NULL"
    " OR r.heartbeat_at < now() - make_interval(secs => :stale))"
)


def heartbeat(engine: Engine, *, run_id: str) -> None:
    """The run is alive: its master says so every :data:`HEARTBEAT_EVERY_S` seconds."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE simulation_runs SET heartbeat_at = now() WHERE run_id = :r"),
            {"r": run_id},
        )


def start_in_database(director: SimulationDirector) -> bool:
    """The run's start in the database: close the leases a crashed earlier segment left,
    record the run (live from now), abandon only sessions of runs that are not live.
    Returns whether the database is adopted (the owner's)."""
    from db.adopt import is_adopted

    engine, run, files = director.engine, director.run, director.files
    assert engine is not None and run is not None and files is not None  # from start_run
    # A resumed run's previous master died holding leases: close them first.
    release_all_leases(engine, run_id=run.run_id, reason="crashed")
    insert_run(engine, run=run, opts=director.opts)
    n = cleanup_orphans(engine, not_live=True, resumed_run=run.run_id)
    if n:
        log.warning("start-up: %d orphaned active sessions abandoned, carts cleared", n)
        files.log_event("cleanup", orphaned_sessions=n)
    adopted = is_adopted(engine)
    if adopted:  # the app's own engine assigns offers, never ours
        log.info("adopted database: the project's offer engine does not run on it")
    return adopted


def cleanup_orphans(
    engine: Engine,
    *,
    reason: str = "orphaned",
    run_id: str | None = None,
    not_live: bool = False,
    resumed_run: str | None = None,
) -> int:
    """Sessions of simulated agents left ``active`` → ``abandoned`` (``reason``); their
    carts are cleared. Returns how many sessions were cleaned.

    Args:
        run_id: only this run's sessions (the run's own end).
        not_live: only sessions of runs that are not live (start-up; see the module), plus
            those of ``resumed_run`` — the run being resumed, whose master just died.
    """
    where = "s.status = 'active' AND s.is_simulated AND a.is_simulated"
    hours_where = "outcome = 'pending'"
    params: dict[str, Any] = {"reason": reason}
    if run_id is not None:
        where += " AND s.run_id = :run_id"
        hours_where += " AND run_id = :run_id"
        params["run_id"] = run_id
    if not_live:
        dead = f"SELECT r.run_id FROM simulation_runs r WHERE {_NOT_LIVE} OR r.run_id = :resumed"
        where += f" AND (s.run_id IS NULL OR s.run_id IN ({dead}))"
        hours_where += f" AND run_id IN ({dead})"
        params.update(stale=STALE_AFTER_S, resumed=resumed_run or "")
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                f"""
                UPDATE shopping_sessions s SET status = 'abandoned', abandon_reason = :reason,
                    ended_at = now()
                FROM agents a WHERE a.id = s.agent_id AND {where}
                RETURNING a.user_id
                """
            ),
            params,
        ).all()
        users = sorted({r.user_id for r in rows})
        if users:
            sim_users = "SELECT id FROM users WHERE is_simulated AND id = ANY(:u)"
            conn.execute(
                text(f"DELETE FROM cart_coupons WHERE user_id IN ({sim_users})"), {"u": users}
            )
            conn.execute(
                text(f"DELETE FROM cart_items WHERE user_id IN ({sim_users})"), {"u": users}
            )
        conn.execute(
            text(
                "UPDATE agent_hours SET outcome = 'abandoned', error_kind = :reason, "
                f"finished_at = now() WHERE {hours_where}"
            ),
            params,
        )
    return len(rows)


def insert_run(engine: Engine, *, run: RunConfig, opts: HarnessOptions) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO simulation_runs (run_id, time_scale, seed, status, config, sim_start,
                                             heartbeat_at)
                VALUES (:run_id, :scale, :seed, 'running', CAST(:config AS jsonb), :sim_start,
                        now())
                ON CONFLICT (run_id) DO UPDATE SET status = 'running', ended_at = NULL,
                    heartbeat_at = now()
                """
            ),
            dict(
                run_id=run.run_id,
                scale=opts.time_scale,
                seed=opts.seed,
                config=json.dumps(opts.to_json()),
                sim_start=opts.sim_start,
            ),  # fmt: skip
        )


def end_run(engine: Engine, *, run_id: str, status: str, sim_end: datetime | None,
            last_hour: int | None, exit_code: int | None) -> None:  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                UPDATE simulation_runs SET status = :status, ended_at = now(), sim_end = :sim_end,
                    last_sim_hour = :last_hour, exit_code = :exit_code
                WHERE run_id = :run_id
                """
            ),
            dict(
                run_id=run_id,
                status=status,
                sim_end=sim_end,
                last_hour=last_hour,
                exit_code=exit_code,
            ),
        )


def set_run_status(engine: Engine, *, run_id: str, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE simulation_runs SET status = :s WHERE run_id = :r"),
            dict(s=status, r=run_id),
        )


def write_lease_log(
    engine: Engine, *, run_id: str, events: list[tuple[str, int, str, float]]
) -> None:
    """Apply lease/release/reclaim events in order to ``persona_leases`` (the partial
    unique index on open leases makes a double lease impossible in the database too)."""
    if not events:
        return
    with engine.begin() as conn:
        for kind, agent_id, holder, at in events:
            ts = datetime.fromtimestamp(at, UTC)
            if kind == "lease":
                conn.execute(
                    text(
                        "INSERT INTO persona_leases (run_id, agent_id, holder, leased_at) "
                        "VALUES (:r, :a, :h, :t)"
                    ),
                    dict(r=run_id, a=agent_id, h=holder, t=ts),
                )
            else:
                conn.execute(
                    text(
                        "UPDATE persona_leases SET released_at = :t, release_reason = :k "
                        "WHERE run_id = :r AND agent_id = :a AND released_at IS NULL"
                    ),
                    dict(r=run_id, a=agent_id, t=ts, k=kind),
                )


def release_all_leases(engine: Engine, *, run_id: str, reason: str = "run_end") -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE persona_leases SET released_at = now(), release_reason = :k "
                "WHERE run_id = :r AND released_at IS NULL"
            ),
            dict(r=run_id, k=reason),
        )
