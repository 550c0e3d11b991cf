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


E2E_GROUPS = ("e2e-a", "e2e-b")
"""The two xdist groups of the tests marked ``e2e`` (real locust processes). With
``--dist loadgroup`` (``make test``) each group runs on one worker, one test after another,
so at most two locust runs share the box's 2 cores at once. Their assertions are
speed-independent (issue 13), so two at a time is safe; one group alone made the e2e tests
~1,300 s of serial wall time (the other worker idled), over the 10-minute budget."""

_E2E_B = frozenset(
    {"test_e2e_distributed", "test_e2e_control", "test_e2e_pacing", "test_e2e_target",
     "test_owner_db_run"}
)  # fmt: skip
"""Modules of the second group, chosen so both groups take about the same time."""


def e2e_group(item: pytest.Item) -> str:
    """The xdist group of an ``e2e`` test: by module, so one module's runs stay together."""
    module = getattr(item, "module", None)
    name = module.__name__.rsplit(".", 1)[-1] if module is not None else ""
    return E2E_GROUPS[1] if name in _E2E_B else E2E_GROUPS[0]


def pytest_itemcollected(item: pytest.Item) -> None:
    # Per item as it is collected, before any collection_modifyitems (xdist's worker reads
    # the group markers there to suffix the node id with "@<group>").
    if item.get_closest_marker("e2e") is not None:
        item.add_marker(pytest.mark.xdist_group(e2e_group(item)))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` group on pytest ≥ 9.2, where pytest-xdist ≤ 3.8's suffix
    (it assigns the legacy ``item._nodeid``) silently no longer reaches the node id
    (pytest-xdist issue #1386): without this the e2e runs go round-robin to both workers.
    ``tests/test_suite_rules.py`` checks that a group really lands on one worker."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        if item.get_closest_marker("e2e") is None:
            continue
        suffix = "@" + e2e_group(item)
        if not item.nodeid.endswith(suffix):
            item._id = coerce_node_id(item.nodeid + suffix)  # type: ignore[attr-defined]


# Session fixtures are per process: under xdist every worker starts its own embedded
# Postgres in its own data directory (its own unix socket). The directory is a private
# temp dir outside pytest's numbered basetemp, which other sessions and tools on a shared
# box prune: once one worker's server vanished mid-run (every later database test of that
# worker errored with "connection refused" on its socket), cause not established.
@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    import shutil
    import tempfile
    from pathlib import Path

    from db.embedded import EmbeddedPostgres

    home = Path(tempfile.mkdtemp(prefix="loadsim-test-pg-"))
    server = EmbeddedPostgres(home / "pg", database="postgres")
    yield server
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


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
