"""The recorder's one-statement claim: the hour's row and its session, linked; a second
claimer gets nothing; the same claimer after a lost reply gets its own session back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from behaviors.synthetic import random_personas
from harness.agent.recorder import Recorder
from personas.catalog import generate_catalog, seed_catalog
from personas.seed import seed_personas

SLOT = datetime(2026, 1, 10, 9, 17, tzinfo=UTC)


def _seed(engine) -> list[int]:
    personas = random_personas(3, seed=5)
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=42))
        seed_personas(conn, personas=personas)
        conn.execute(
            text("INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES ('r', 96, 1)")
        )
        return [int(x) for x in conn.execute(text("SELECT id FROM agents ORDER BY id")).scalars()]


def _claim(rec: Recorder, agent: int, *, decision: str = "shop", token: str = "x", hour: int = 4):
    return rec.claim(
        agent_id=agent, sim_hour=hour, decision=decision, sim_at=SLOT, is_replay=False, token=token
    )


def test_claim_writes_the_hour_and_its_session_linked(engine, clean_db):
    a, b, _ = _seed(engine)
    rec = Recorder(engine, run_id="r", worker="w1")
    rec.arms[b] = "treatment"
    sid_a = _claim(rec, a)
    sid_b = _claim(rec, b, decision="idle")
    assert sid_a is not None and sid_b is not None and sid_a != sid_b
    with engine.connect() as conn:
        hours = conn.execute(
            text(
                "SELECT agent_id, decision, outcome, worker, session_id, is_replay FROM agent_hours"
                " WHERE run_id = 'r' ORDER BY agent_id"
            )
        ).all()
        sessions = conn.execute(
            text(
                "SELECT id, agent_id, sim_hour, kind, status, started_sim_at, arm "
                "FROM shopping_sessions WHERE run_id = 'r' ORDER BY agent_id"
            )
        ).all()
    assert [tuple(h) for h in hours] == [
        (a, "shop", "pending", "w1/x", sid_a, False),
        (b, "idle", "pending", "w1/x", sid_b, False),
    ]
    assert [tuple(s) for s in sessions] == [
        (sid_a, a, 4, "shop", "active", SLOT, None),
        (sid_b, b, 4, "idle_browse", "active", SLOT, "treatment"),
    ]


def test_a_claimed_hour_is_nobody_elses_but_its_claimer_gets_it_back(engine, clean_db):
    a, _, _ = _seed(engine)
    rec = Recorder(engine, run_id="r", worker="w1")
    sid = _claim(rec, a, token="t1")
    assert _claim(Recorder(engine, run_id="r", worker="w2"), a, token="t9") is None
    assert _claim(rec, a, token="t2") is None  # same process, another claim: not ours
    assert _claim(rec, a, token="t1") == sid  # our reply was lost after commit: ours
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM shopping_sessions WHERE run_id = 'r'")).scalar()
    assert n == 1


def test_an_hour_whose_session_exists_links_that_session(engine, clean_db):
    a, _, _ = _seed(engine)
    with engine.begin() as conn:  # a session of the hour left without its hour row
        old = conn.execute(
            text(
                "INSERT INTO shopping_sessions (run_id, agent_id, sim_hour, kind, status, "
                "started_sim_at) VALUES ('r', :a, 4, 'idle_browse', 'active', :t) RETURNING id"
            ),
            {"a": a, "t": SLOT},
        ).scalar_one()
    sid = _claim(Recorder(engine, run_id="r", worker="w1"), a)
    assert sid == old
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT session_id FROM agent_hours WHERE run_id = 'r' AND agent_id = :a"),
            {"a": a},
        ).one()
        kind = conn.execute(
            text("SELECT kind FROM shopping_sessions WHERE id = :s"), {"s": old}
        ).scalar_one()
    assert row.session_id == old and kind == "shop"
