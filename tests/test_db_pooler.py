"""An explicit pooler mode (``--db-pooler`` / ``LOADSIM_DB_POOLER``), proven through a
real PgBouncer in transaction mode on a port that is not 6543."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from db import migrate
from db.engine import create_db_engine, normalize_url, resolve_pooler
from db.errors import ConfigError
from db.settings import load_settings
from tests.pgbouncer_support import PgBouncer


@pytest.fixture(scope="module")
def bouncer(pg_server):
    pg_server.create_database("pooler_unit", drop_first=True)
    b = PgBouncer(pg_server.uri("postgres"), pool_mode="transaction").start()
    yield b
    b.stop()


def _prepared_after_repeats(eng, repeats: int = 12) -> int:
    with eng.connect() as conn:
        for i in range(repeats):  # psycopg prepares a statement after 5 executions
            conn.execute(text("SELECT CAST(:x AS int) + 1"), {"x": i})
            conn.commit()
        return conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()


def test_transaction_mode_on_a_non_6543_port_prepares_nothing(bouncer):
    url = bouncer.url("pooler_unit")
    assert normalize_url(url).port != 6543
    eng = create_db_engine(url, total_connections=4, pooler="transaction")
    try:
        assert eng.info_pooler_mode == "transaction"
        assert _prepared_after_repeats(eng) == 0
    finally:
        eng.dispose()


def test_without_the_setting_the_same_port_is_taken_as_direct(bouncer, monkeypatch):
    """The counterpart: unset, a 6432-like port is not guessed as a pooler, psycopg
    prepares — which is what broke runs through PgBouncer."""
    monkeypatch.delenv("LOADSIM_DB_POOLER", raising=False)
    eng = create_db_engine(bouncer.url("pooler_unit"), total_connections=4)
    try:
        assert eng.info_pooler_mode == "none"
        with eng.connect() as conn:
            for i in range(8):
                conn.execute(text("SELECT CAST(:x AS int) + 1"), {"x": i})
            # same client connection, one transaction: still on one server connection
            n = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
        assert n >= 1
    finally:
        eng.dispose()


def test_the_environment_sets_the_mode_for_every_engine(bouncer, monkeypatch):
    monkeypatch.setenv("LOADSIM_DB_POOLER", "Transaction")
    eng = create_db_engine(bouncer.url("pooler_unit"), total_connections=4)
    try:
        assert eng.info_pooler_mode == "transaction"
        assert _prepared_after_repeats(eng) == 0
    finally:
        eng.dispose()
    assert load_settings().db_pooler == "transaction"


def test_statement_timeout_holds_per_transaction_through_the_pooler(bouncer):
    eng = create_db_engine(
        bouncer.url("pooler_unit"), total_connections=4, pooler="transaction",
        statement_timeout_ms=4321,
    )  # fmt: skip
    try:
        for _ in range(3):
            with eng.begin() as conn:
                assert conn.execute(text("SHOW statement_timeout")).scalar() == "4321ms"
    finally:
        eng.dispose()


def test_migrations_run_through_a_session_pooler(pg_server):
    """``session`` keeps prepared statements and session state: alembic works through it."""
    pg_server.create_database("pooler_session", drop_first=True)
    b = PgBouncer(pg_server.uri("postgres"), pool_mode="session").start()
    try:
        url = b.url("pooler_session")
        migrate.upgrade(url)
        eng = create_db_engine(url, total_connections=2, pooler="session")
        try:
            assert eng.info_pooler_mode == "session"
            assert _prepared_after_repeats(eng) >= 1
        finally:
            eng.dispose()
    finally:
        b.stop()


def test_guess_and_bad_values(monkeypatch):
    monkeypatch.delenv("LOADSIM_DB_POOLER", raising=False)
    assert resolve_pooler(normalize_url("postgresql://u:p@h:6543/d")) == "transaction"
    assert resolve_pooler(normalize_url("postgresql://u:p@h:6432/d")) == "none"
    assert resolve_pooler(normalize_url("postgresql://u:p@h:6543/d"), "none") == "none"
    assert resolve_pooler(normalize_url("postgresql://u:p@h:6432/d"), True) == "transaction"
    monkeypatch.setenv("LOADSIM_DB_POOLER", "session")
    assert resolve_pooler(normalize_url("postgresql://u:p@h:6543/d")) == "session"
    monkeypatch.setenv("LOADSIM_DB_POOLER", "txn")
    with pytest.raises(ConfigError, match=r"LOADSIM_DB_POOLER 'txn': expected one of"):
        resolve_pooler(normalize_url("postgresql://u:p@h:5432/d"))
    with pytest.raises(ConfigError, match="LOADSIM_DB_POOLER"):
        load_settings()
