"""Simulation-only routes (registered only when ``SIMULATION_MODE=true``; 404 otherwise):
the server's offer cycles, one user's wallet refresh, and the server's simulated time.

They carry no dev token: they act on the server, not on behalf of an agent, and exist only
on a simulation server (the owner's "Offer Engine Routes").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from sqlalchemy import text

from offer_engine import cycles as engine_cycles
from offer_engine.calendar import cycle_of, cycle_zero_start
from offer_engine.state import set_server_time
from reference_api.context import CtxDep, check_sim_time
from reference_api.errors import Conflict, NotFound
from reference_api.refresh import run_refresh
from reference_api.routes import SHED
from reference_api.schemas import (
    BIGINT_MAX,
    AssignOut,
    CycleCreateIn,
    CycleOut,
    CyclesOut,
    ErrorOut,
    TimeAdvanceIn,
    TimeOut,
)

router = APIRouter(tags=["simulation"], responses=SHED)
_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}
_409: dict[int | str, dict[str, Any]] = {409: {"model": ErrorOut}}


def _out(row: engine_cycles.CycleRow) -> CycleOut:
    return CycleOut(
        id=row.id,
        run_id=row.run_id,
        cycle_number=row.cycle_number,
        simulated_start_date=row.simulated_start_date,
        simulated_end_date=row.simulated_end_date,
        status=row.status,
        stats=row.stats,
    )


@router.get("/cycles", response_model=CyclesOut)
def list_cycles(ctx: CtxDep) -> CyclesOut:
    """The server's own offer cycles (``run_id`` NULL), by number."""
    with ctx.tx() as conn:
        rows = engine_cycles.list_cycles(conn, run_id=None)
    return CyclesOut(items=[_out(r) for r in rows])


@router.post("/cycles", response_model=CycleOut, responses=_409)
def create_cycle(ctx: CtxDep, body: Annotated[CycleCreateIn | None, Body()] = None) -> CycleOut:
    """Create the next server cycle at the simulated now: cycle 0 starts there; later
    ones keep cycle 0's grid, numbered ``max(last + 1, the cycle containing now)``."""
    with ctx.tx() as conn:
        now = ctx.now(conn)
        # Serialize creators so two concurrent POSTs cannot both pick "last + 1" from
        # different snapshots and skip a number.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('reference_api.cycles'))"))
        existing = engine_cycles.list_cycles(conn, run_id=None)
        days = ctx.settings.offer_cycle_days
        try:
            if existing:
                first = existing[0]
                anchor = cycle_zero_start(first.simulated_start_date, first.cycle_number, days)
                number = max(existing[-1].cycle_number + 1, cycle_of(anchor, now, days))
            else:
                anchor, number = now, 0
            if body is not None and body.cycle_number is not None:
                number = body.cycle_number
            row = engine_cycles.ensure_cycle(
                conn, run_id=None, cycle_number=number, sim_start=anchor, settings=ctx.settings
            )
        except OverflowError:
            raise Conflict("cycle falls outside the supported simulated time range") from None
    return _out(row)


@router.get("/cycles/{cycle_id}", response_model=CycleOut, responses=_404)
def get_cycle(ctx: CtxDep, cycle_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)]) -> CycleOut:
    """One offer cycle (any run)."""
    with ctx.tx() as conn:
        row = engine_cycles.get_cycle(conn, cycle_id=cycle_id)
    if row is None:
        raise NotFound(f"offer cycle {cycle_id} not found")
    return _out(row)


@router.post("/refresh/user/{user_id}", response_model=AssignOut, responses={**_404, **_409})
def refresh_user(ctx: CtxDep, user_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)]) -> AssignOut:
    """Refresh one simulated user's wallet at the simulated now (if due)."""
    with ctx.tx() as conn:
        simulated = conn.execute(
            text("SELECT is_simulated FROM users WHERE id = :id"), {"id": user_id}
        ).scalar()
        if not simulated:  # never touch a real user's wallet
            raise NotFound(f"simulated user {user_id} not found")
        return run_refresh(conn, user_id=user_id, sim_now=ctx.now(conn), settings=ctx.settings)


@router.post("/time/advance", response_model=TimeOut)
def advance_time(ctx: CtxDep, body: TimeAdvanceIn) -> TimeOut:
    """Set the server's simulated time (used when a request has no ``X-Simulated-Time``)."""
    sim = check_sim_time(body.simulated_time, loc=("body", "simulated_time"))
    with ctx.tx() as conn:
        set_server_time(conn, sim_time=sim)
    return TimeOut(simulated_time=sim)
