"""``loadsim export-events``: a run's behavior events joined with persona attributes, as
CSV for training (one row per event, the decision's inputs in ``payload``, the session's
experiment ``arm`` when the run had one)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Text, cast, exists, select

from db.errors import ConfigError
from db.models import Agent, ShoppingSession, ShoppingSessionEvent, SimulationRun
from personas.model import PERSONA_FIELDS, Persona

EVENT_COLUMNS = (
    "run_id",
    "session_id",
    "seq",
    "agent_id",
    "persona_id",
    "event_type",
    "sim_time",
    "real_time",
    "product_id",
    "user_coupon_id",
    "quantity",
    "price_cents",
    "is_replay",
    "session_kind",
    "session_status",
    "sim_hour",
    "arm",
    "payload",
)
PERSONA_COLUMNS = tuple(f"persona_{f}" for f in PERSONA_FIELDS if f != "persona_id")
COLUMNS = (*EVENT_COLUMNS, *PERSONA_COLUMNS, "segment")


def _persona_cells(raw: dict[str, Any] | None) -> list[Any]:
    raw = raw or {}
    cells = []
    for f in PERSONA_FIELDS:
        if f == "persona_id":
            continue
        v = raw.get(f)
        cells.append(",".join(str(x) for x in v) if isinstance(v, (list, tuple)) else v)
    try:
        segment = Persona(**raw).segment
    except Exception:  # noqa: BLE001 - an old persona row still exports, segment unknown
        segment = "unknown"
    return [*cells, segment]


def export_events(conn: Connection, *, run_id: str, out: Path) -> int:
    """Write the run's events with persona attributes to ``out`` (CSV).

    The file is written to a temporary name and renamed at the end, so a failure never
    leaves a partial CSV behind.

    Args:
        conn: an open connection; the caller owns the transaction.
        run_id: the run whose events to export.
        out: the CSV path.

    Returns:
        The number of event rows written.

    Raises:
        ConfigError: the database knows no such run.
    """
    e, s, a = ShoppingSessionEvent, ShoppingSession, Agent
    known = conn.execute(
        select(exists().where(SimulationRun.run_id == run_id) | exists().where(e.run_id == run_id))
    ).scalar()
    if not known:
        raise ConfigError(f"--run {run_id}: no such run in the database")
    stmt = (
        select(
            e.run_id,
            e.session_id,
            e.seq,
            e.agent_id,
            a.persona_id,
            e.event_type,
            e.sim_time,
            e.real_time,
            e.product_id,
            e.user_coupon_id,
            e.quantity,
            e.price_cents,
            e.is_replay,
            s.kind,
            s.status,
            s.sim_hour,
            s.arm,  # --experiment: the agent's arm (empty without one)
            # jsonb rendered by Postgres: no decode/encode round trip per row.
            cast(e.payload, Text),
        )
        .join(s, s.id == e.session_id)
        .outerjoin(a, a.id == e.agent_id)
        .where(e.run_id == run_id)
        .order_by(e.session_id, e.seq)
    )
    # Personas once per agent, not once per event row.
    agent_ids = select(e.agent_id).where(e.run_id == run_id).distinct().scalar_subquery()
    persona_cells = {
        agent_id: _persona_cells(persona)
        for agent_id, persona in conn.execute(select(a.id, a.persona).where(a.id.in_(agent_ids)))
    }
    blank = _persona_cells(None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            # Stream: a long run has millions of events.
            result = conn.execution_options(stream_results=True, yield_per=5000).execute(stmt)
            for row in result:
                event = list(row)
                event[6] = event[6].isoformat() if event[6] else ""
                event[7] = event[7].isoformat() if event[7] else ""
                w.writerow(event + persona_cells.get(event[3], blank))
                n += 1
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return n
