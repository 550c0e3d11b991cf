"""Shared fixtures: a real embedded Postgres per test session, migrated with alembic.

Layers (STYLE row 11): pure tests need nothing; DB tests take ``engine`` (a fresh
database, ``alembic upgrade head``) and ``clean_db`` (truncate after the test).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator

import pytest

warnings.filterwarnings("ignore", module="platformdirs")
logging.getLogger("pgserver").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from db.embedded import EmbeddedPostgres

    home = tmp_path_factory.mktemp("pg")
    server = EmbeddedPostgres(home / "pg", database="postgres")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def db_url(pg_server) -> str:
    from db import migrate

    url = pg_server.create_database(f"test_{os.getpid()}", drop_first=True)
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url):
    from db.engine import create_db_engine

    eng = create_db_engine(db_url, total_connections=20)
    yield eng
    eng.dispose()


@pytest.fixture()
def clean_db(engine) -> Iterator[object]:
    """Yield the engine; truncate every table afterwards so tests stay independent."""
    yield engine
    from sqlalchemy import text

    from db.models import metadata

    names = ", ".join(f'"{t}"' for t in metadata.tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture()
def settings_env(monkeypatch: pytest.MonkeyPatch):
    """Clear the owner's environment variables so each test sets its own."""
    for name in (
        "DATABASE_URL",
        "SIMULATION_MODE",
        "TIME_SCALE",
        "OFFER_CYCLE_DAYS",
        "OFFER_EXPIRATION_DAYS",
        "MAX_WALLET_CAPACITY",
        "FRONTSTORE_PER_CYCLE",
        "CATEGORY_BRAND_PER_CYCLE",
        "WALLET_FULL_POLICY",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
