"""The recorder's one-statement finish (the hot-path fix in BENCHMARKS.md) writes exactly what the
per-event executemany wrote: every event with its columns and payload, the session's and
the hour's outcome — and a retried finish after a lost reply duplicates nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.run import run_agent_hour
from behaviors.synthetic import make_catalog, random_personas, weekly_wallet
from harness.agent.hour import ending_of
from harness.agent.recorder import Recorder
from personas.catalog import generate_catalog, seed_catalog
from personas.seed import seed_personas

SAT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def a_shopping_session(personas):
    """The first hour (from Saturday 09:17) in which one of ``personas`` shops and its
    session has more than three events: (persona, hour, slot, result), played offline."""
    graph = compile_shopping_graph()
    products = make_catalog()
    for h in range(200):
        slot = SAT + timedelta(hours=h, minutes=17)
        for p in personas:
            r = run_agent_hour(
                p, run_seed=1, sim_hour=h, slot_time=slot, graph=graph,
                shop=InMemoryShop(products, weekly_wallet(p, 0)), checkout_key=f"k:{h}",
            )  # fmt: skip
            if r.decision == "shop" and len(r.events) > 3:
                return p, h, slot, r
    raise AssertionError("no shopping session in 200 hours")


def test_finish_writes_events_session_and_hour_once(engine, clean_db):
    personas = random_personas(20, seed=5)
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=42))
        seed_personas(conn, personas=personas)
        conn.execute(
            text("INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES ('r', 96, 1)")
        )
        ids = dict(conn.execute(text("SELECT persona_id, id FROM agents")).all())
    p, h, slot, result = a_shopping_session(personas)
    agent_id = int(ids[p.persona_id])
    rec = Recorder(engine, run_id="r", worker="t")
    sid = rec.claim(
        agent_id=agent_id, sim_hour=h, decision="shop", sim_at=slot, is_replay=False, token="x"
    )
    assert sid is not None
    ending = ending_of(result)
    rec.finish(
        agent_id=agent_id, sim_hour=h, session_id=sid, result=result, slip_s=0.25,
        is_replay=False, **ending,
    )  # fmt: skip
    rec.finish(  # a retry after a lost reply: natural keys, nothing doubles
        agent_id=agent_id, sim_hour=h, session_id=sid, result=result, slip_s=0.25,
        is_replay=False, **ending,
    )  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT seq, event_type, product_id, user_coupon_id, quantity, price_cents, "
                "sim_time, payload, agent_id, run_id, is_replay, is_simulated "
                "FROM shopping_session_events WHERE session_id = :s ORDER BY seq"
            ),
            {"s": sid},
        ).all()
        session = conn.execute(
            text("SELECT * FROM shopping_sessions WHERE id = :s"), {"s": sid}
        ).one()
        hour = conn.execute(
            text("SELECT * FROM agent_hours WHERE run_id = 'r' AND agent_id = :a"), {"a": agent_id}
        ).one()
    assert len(rows) == len(result.events)
    for i, (row, ev) in enumerate(zip(rows, result.events, strict=True)):
        assert row.seq == i
        assert row.event_type == ev.event_type
        assert (row.product_id, row.user_coupon_id) == (ev.product_id, ev.user_coupon_id)
        assert (row.quantity, row.price_cents) == (ev.quantity, ev.price_cents)
        assert row.sim_time == datetime.fromisoformat(ev.sim_time)
        assert row.payload == ev.payload
        assert (row.agent_id, row.run_id, row.is_replay, row.is_simulated) == (
            agent_id, "r", False, True,
        )  # fmt: skip
    expected_status = "completed" if result.outcome == "completed" else "abandoned"
    assert session.status == expected_status
    assert session.item_count == result.item_count
    assert session.cart_value_cents == result.cart_value_cents
    assert session.ended_sim_at == datetime.fromisoformat(result.events[-1].sim_time)
    assert hour.outcome == result.outcome
    assert hour.slip_seconds == 0.25
    assert hour.session_id == sid


def test_each_event_keeps_its_own_real_time(engine, clean_db):
    """Paced runs stamp every event with when it happened; the finish writes that, not
    one transaction time for the whole session."""
    personas = random_personas(20, seed=5)
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=42))
        seed_personas(conn, personas=personas)
        conn.execute(
            text("INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES ('r', 96, 1)")
        )
        ids = dict(conn.execute(text("SELECT persona_id, id FROM agents")).all())
    p, h, slot, result = a_shopping_session(personas)
    t0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC).timestamp()
    for i, e in enumerate(result.events):
        e.real_time = t0 + 1.5 * i
    rec = Recorder(engine, run_id="r", worker="t")
    agent_id = int(ids[p.persona_id])
    sid = rec.claim(
        agent_id=agent_id, sim_hour=h, decision="shop", sim_at=slot, is_replay=False, token="x"
    )
    assert sid is not None
    rec.finish(
        agent_id=agent_id, sim_hour=h, session_id=sid, result=result, slip_s=0.0,
        is_replay=False, **ending_of(result),
    )  # fmt: skip
    with engine.connect() as conn:
        real = conn.execute(
            text("SELECT real_time FROM shopping_session_events WHERE session_id = :s ORDER BY seq"),
            {"s": sid},
        ).scalars().all()  # fmt: skip
    assert [r.timestamp() for r in real] == [t0 + 1.5 * i for i in range(len(result.events))]
