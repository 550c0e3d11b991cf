"""``db.engine.one_statement``: the recorder's commits in one round trip each — no pool
pre-ping, no BEGIN/COMMIT — where the engine allows it, and still correct when the
connection died while idle (the recorder's retry) or a claim's link was lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from behaviors.synthetic import random_personas
from db.engine import create_db_engine, one_statement
from harness.agent.recorder import Recorder
from personas.catalog import generate_catalog, seed_catalog
from personas.seed import seed_personas

SLOT = datetime(2026, 1, 10, 9, 17, tzinfo=UTC)


def _kill_idle_connections(engine, db_url: str) -> int:
    """Terminate, server-side, the one connection ``engine``'s pool holds idle."""
    pids = []
    with engine.connect() as conn:  # the pool's one idle connection
        pids.append(conn.connection.driver_connection.info.backend_pid)
    killer = create_db_engine(db_url, total_connections=1)
    try:
        with killer.begin() as k:
            for pid in pids:
                k.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        killer.dispose()
    return len(pids)


def test_one_statement_is_autocommit_and_skips_the_pre_ping(db_url):
    eng = create_db_engine(db_url, total_connections=1)
    try:
        with one_statement(eng) as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
            raw = conn.connection.driver_connection
            assert raw.autocommit is True
            assert raw.info.transaction_status == TransactionStatus.IDLE  # no BEGIN sent
        assert _kill_idle_connections(eng, db_url) == 1
        # An ordinary checkout would ping, see the dead connection and replace it; this
        # one does not ping, so the statement meets the dead connection itself.
        with pytest.raises(OperationalError) as err, one_statement(eng) as conn:
            conn.execute(text("SELECT 1"))
        assert err.value.connection_invalidated is True
        with one_statement(eng) as conn:  # the caller's retry: a new connection
            assert conn.execute(text("SELECT 2")).scalar_one() == 2
        with eng.connect() as conn:  # outside it the connection is as before
            assert conn.connection.driver_connection.autocommit is False
    finally:
        eng.dispose()


def test_behind_a_transaction_pooler_it_stays_a_transaction(db_url):
    eng = create_db_engine(db_url, total_connections=1, pooler="transaction")
    try:
        with one_statement(eng) as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "30s"
            raw = conn.connection.driver_connection
            assert raw.autocommit is False
            assert raw.info.transaction_status == TransactionStatus.INTRANS
    finally:
        eng.dispose()


def test_on_an_adopted_database_it_stays_a_transaction(pg_server):
    """The harness's schema exists: each transaction starts with ``SET LOCAL search_path``,
    which an autocommit statement would not see."""
    url = pg_server.create_database("one_statement_adopted", drop_first=True)
    setup = create_db_engine(url, total_connections=1)
    with setup.begin() as conn:
        conn.execute(text("CREATE SCHEMA loadsim"))
    setup.dispose()
    eng = create_db_engine(url, total_connections=1)
    try:
        with one_statement(eng) as conn:
            assert conn.execute(text("SHOW search_path")).scalar_one() == "loadsim, public"
            assert conn.connection.driver_connection.autocommit is False
    finally:
        eng.dispose()


def _seed(engine) -> int:
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=42))
        seed_personas(conn, personas=random_personas(1, seed=5))
        conn.execute(
            text("INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES ('r', 96, 1)")
        )
        return int(conn.execute(text("SELECT id FROM agents")).scalar_one())


def test_a_claim_and_finish_on_a_connection_that_died_idle_are_retried(db_url, clean_db):
    eng = create_db_engine(db_url, total_connections=1)
    try:
        a = _seed(eng)
        rec = Recorder(eng, run_id="r", worker="w1")
        assert _kill_idle_connections(eng, db_url) == 1
        sid = rec.claim(agent_id=a, sim_hour=4, decision="shop", sim_at=SLOT, is_replay=False,
                        token="t")  # fmt: skip
        with eng.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT h.session_id, s.status FROM agent_hours h JOIN shopping_sessions s "
                    "ON s.id = h.session_id WHERE h.run_id = 'r'"
                )  # fmt: skip
            ).all()
        assert sid is not None and [tuple(r) for r in rows] == [(sid, "active")]
    finally:
        eng.dispose()


def test_a_claim_whose_link_was_lost_gets_the_hours_session(engine, clean_db):
    """The claim committed on its own (autocommit) with the drawn id, the link to the hour's
    older session was lost: the same claimer's retry returns that session and links it."""
    a = _seed(engine)
    with engine.begin() as conn:
        old = conn.execute(
            text(
                "INSERT INTO shopping_sessions (run_id, agent_id, sim_hour, kind, status, "
                "started_sim_at) VALUES ('r', :a, 4, 'shop', 'active', :t) RETURNING id"
            ),
            {"a": a, "t": SLOT},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO agent_hours (run_id, agent_id, sim_hour, decision, outcome, worker, "
                "is_replay, session_id) VALUES ('r', :a, 4, 'shop', 'pending', 'w1/t', false, "
                "nextval(pg_get_serial_sequence('shopping_sessions', 'id')))"
            ),
            {"a": a},
        )
    rec = Recorder(engine, run_id="r", worker="w1")
    assert rec.claim(agent_id=a, sim_hour=4, decision="shop", sim_at=SLOT, is_replay=False,
                     token="t") == old  # fmt: skip
    with engine.connect() as conn:
        linked = conn.execute(
            text("SELECT session_id FROM agent_hours WHERE run_id = 'r'")
        ).scalar_one()
    assert linked == old
