"""Collect one run's rows from the database as frames (the source of truth for counts).

Only rows of the given ``run_id`` are read (simulated rows by construction: sessions,
events, agent hours and offer cycles carry the run id; orders are reached through the
run's sessions). Events are aggregated in SQL — a long run has millions of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select, text

from db.models import (
    Agent,
    AgentHour,
    OfferCycle,
    Order,
    ShoppingSession,
    ShoppingSessionEvent,
    SimulationRun,
    UserCoupon,
)


@dataclass
class RunRows:
    """A run's database rows. ``run`` is None when the database does not know the run."""

    run: dict[str, Any] | None
    sessions: pd.DataFrame
    event_counts: pd.DataFrame
    orders: pd.DataFrame
    agents: pd.DataFrame
    agent_hours: pd.DataFrame
    cycles: pd.DataFrame
    coupons: pd.DataFrame
    session_facts: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per session, from the rules' event payloads: ``planned_items``, ``p_abandon``."""
    notes: list[str] = field(default_factory=list)


# What the rules recorded (event payloads, docs/ARCHITECTURE.md, Data): the planned basket after the budget
# (``items`` of add_to_cart) and the checkout decision's ``p_abandon``. Type-checked so a
# payload of another shape is ignored rather than failing the cast.
_FACTS_SQL = """
SELECT session_id,
  max(CASE WHEN event_type = 'cart_add_item' AND jsonb_typeof(payload->'items') = 'number'
      THEN (payload->>'items')::float8 END) AS planned_items,
  max(CASE WHEN event_type IN ('checkout_complete', 'abandon', 'checkout_failed')
       AND jsonb_typeof(payload->'p_abandon') = 'number'
      THEN (payload->>'p_abandon')::float8 END) AS p_abandon
FROM shopping_session_events
WHERE run_id = :run_id
GROUP BY session_id
"""


def _frame(conn: Connection, stmt: Any, columns: list[str]) -> pd.DataFrame:
    rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def collect_run_rows(conn: Connection, *, run_id: str) -> RunRows:
    """Read everything the reports need for ``run_id``.

    Args:
        conn: an open connection; the caller owns the transaction.
        run_id: the run to read.

    Returns:
        The rows as frames (empty frames when the run wrote nothing).
    """
    r = SimulationRun
    run_cols = [
        "run_id",
        "time_scale",
        "seed",
        "status",
        "sim_start",
        "sim_end",
        "started_at",
        "ended_at",
        "exit_code",
        "last_sim_hour",
    ]
    run_row = conn.execute(
        select(*(getattr(r, c) for c in run_cols)).where(r.run_id == run_id)
    ).first()
    run = dict(zip(run_cols, run_row, strict=True)) if run_row is not None else None
    s = ShoppingSession
    session_cols = [
        "id",
        "agent_id",
        "sim_hour",
        "kind",
        "status",
        "abandon_reason",
        "item_count",
        "cart_value_cents",
        "discount_cents",
        "coupon_applied",
        "order_id",
        "is_replay",
        "started_sim_at",
    ]
    sessions = _frame(
        conn,
        select(*(getattr(s, c) for c in session_cols)).where(s.run_id == run_id),
        session_cols,
    )
    e = ShoppingSessionEvent
    event_counts = _frame(
        conn,
        select(e.session_id, e.agent_id, e.event_type, func.count())
        .where(e.run_id == run_id)
        .group_by(e.session_id, e.agent_id, e.event_type),
        ["session_id", "agent_id", "event_type", "count"],
    )
    o = Order
    orders = _frame(
        conn,
        select(
            o.id,
            s.agent_id,
            s.sim_hour,
            o.total_cents,
            o.discount_cents,
            o.user_coupon_id,
            o.simulated_at,
            o.created_at,
        )
        .join(s, s.order_id == o.id)
        .where(s.run_id == run_id, o.is_simulated.is_(True)),
        [
            "id",
            "agent_id",
            "sim_hour",
            "total_cents",
            "discount_cents",
            "user_coupon_id",
            "simulated_at",
            "created_at",
        ],
    )
    h = AgentHour
    hour_cols = ["agent_id", "sim_hour", "decision", "outcome", "slip_seconds", "error_kind"]
    agent_hours = _frame(
        conn,
        select(*(getattr(h, c) for c in hour_cols), h.is_replay).where(h.run_id == run_id),
        [*hour_cols, "is_replay"],
    )
    agent_ids = sorted(set(sessions["agent_id"].tolist()) | set(agent_hours["agent_id"].tolist()))
    agents = pd.DataFrame(columns=["agent_id", "persona_id", "persona"])
    if agent_ids:
        agents = _frame(
            conn,
            select(Agent.id, Agent.persona_id, Agent.persona).where(Agent.id.in_(agent_ids)),
            ["agent_id", "persona_id", "persona"],
        )
    c = OfferCycle
    cycles = _frame(
        conn,
        select(c.id, c.cycle_number, c.status, c.stats, c.simulated_start_date)
        .where(c.run_id == run_id)
        .order_by(c.cycle_number),
        ["id", "cycle_number", "status", "stats", "simulated_start_date"],
    )
    coupons = pd.DataFrame(columns=["status", "removed_reason", "count"])
    if len(cycles):
        u = UserCoupon
        coupons = _frame(
            conn,
            select(u.status, u.removed_reason, func.count())
            .where(u.offer_cycle_id.in_(cycles["id"].tolist()), u.is_simulation.is_(True))
            .group_by(u.status, u.removed_reason),
            ["status", "removed_reason", "count"],
        )
    session_facts = _frame(
        conn,
        text(_FACTS_SQL).bindparams(run_id=run_id),
        ["session_id", "planned_items", "p_abandon"],
    )
    notes = [] if run is not None else [f"database has no simulation_runs row for {run_id}"]
    return RunRows(
        run,
        sessions,
        event_counts,
        orders,
        agents,
        agent_hours,
        cycles,
        coupons,
        session_facts=session_facts,
        notes=notes,
    )
