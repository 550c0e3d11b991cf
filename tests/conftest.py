"""Shared fixtures: a real embedded Postgres per test session, migrated with alembic.

Layers: pure tests need nothing; DB tests take ``engine`` (a fresh
database, ``alembic upgrade head``) and ``clean_db`` (truncate after the test).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator

import pytest

warnings.filterwarnings("ignore", module="platformdirs")


def _import_schemathesis_report_writers_now() -> None:
    """Import now what schemathesis' pytest plugin imports at session end.

    Its ``pytest_sessionfinish`` imports its report writers, and pytest's assertion rewriter
    compiles them then. By that time tests that switch greenlets in this process have run,
    and on CPython 3.11 the compile can fail with ``SystemError: AST constructor recursion
    depth mismatch`` after every test passed (the run exits 1). Imported here they are
    compiled at start-up; the optional Allure writer, absent unless ``allure-pytest`` is
    installed, is marked missing so the late import fails fast instead of compiling."""
    import importlib
    import sys

    for name in ("schemathesis.reporting.html.writer", "schemathesis.reporting.junitxml"):
        importlib.import_module(name)
    try:
        importlib.import_module("schemathesis.reporting.allure")
    except ImportError:
        sys.modules["schemathesis.reporting.allure"] = None  # type: ignore[assignment]  # marks it missing


_import_schemathesis_report_writers_now()
logging.getLogger("pgserver").setLevel(logging.WARNING)


E2E_GROUP = "e2e"
"""The one xdist group of every test marked ``e2e`` (real locust processes): with
``--dist loadgroup`` (``make test``) they all run on one worker, one after another, so two
locust runs never compete for the box's 2 cores; the other worker takes the rest."""

E2E_GROUPS = int(os.environ.get("LOADSIM_E2E_GROUPS", "2"))
"""2 or more (the default): the e2e modules split into the three groups of ``E2E_SPLIT``,
one per xdist worker of ``make test``'s ``-n 3``, so three locust runs share the 2 cores:
every e2e assertion must hold on a loaded box (the run's end is bounded and owed hours are
counted, so they do). Measured in one whole-suite run each: 9 min 11 s with three groups,
11 min 42 s with two on ``-n 2``, 16–17 min with every e2e test in one group. 1: every e2e
test in ``E2E_GROUP``, one after another (``LOADSIM_E2E_GROUPS=1 make test``, for a box busy
with other work)."""

E2E_SPLIT: dict[str, str] = {
    # Three groups, one per xdist worker (``make test``'s ``-n 3``): a locust run mostly waits
    # on its simulated clock, so three share the 2 cores. Balanced by serial seconds per module
    # (setup + call + teardown) from one whole-suite run of a fresh clone with
    # --durations=0: a 276, b 343, c 133 s before test_e2e_reports moved from b to c
    # (a 276, b 275, c 201; the bench smokes' 34 s are their own group); the rest fill in.
    # Every module with an e2e test is listed (tests/test_suite_rules.py checks it).
    "test_e2e_distributed.py": "e2e-a",  # 148 s
    "test_e2e_control.py": "e2e-a",  # 84
    "test_owner_db_run.py": "e2e-a",  # 44
    "test_webui_auth.py": "e2e-a",  # 4
    "test_e2e_resilience.py": "e2e-b",  # 193
    "test_e2e_pacing.py": "e2e-b",  # 40
    "test_e2e_demo.py": "e2e-b",  # 21
    "test_e2e_pooler.py": "e2e-b",  # 22
    "test_e2e_reports.py": "e2e-c",  # 68
    "test_e2e_target.py": "e2e-c",  # 43
    "test_e2e_harness.py": "e2e-c",  # 46
    "test_e2e_run_end.py": "e2e-c",  # 18
    "test_bench_smoke.py": "e2e-c",  # 34 (its four Locust-starting benches in --smoke mode)
    "test_webui_live.py": "e2e-c",  # 33
    "test_llm_e2e.py": "e2e-c",  # 25 (--processes 2, a loopback model server)
    "test_owner_db_second.py": "e2e-c",  # 19 (its module fixture's 10 s + one 10-s locust run)
    "test_db_connect.py": "e2e-c",  # 11
}


def e2e_group(item: pytest.Item) -> str | None:
    """The xdist group of an ``e2e`` item (``None`` for any other test)."""
    if item.get_closest_marker("e2e") is None:
        return None
    if E2E_GROUPS < 2:
        return E2E_GROUP
    return E2E_SPLIT.get(item.path.name, E2E_GROUP)


def pytest_itemcollected(item: pytest.Item) -> None:
    # Per item as it is collected, before any collection_modifyitems (xdist's worker reads
    # the group markers there to suffix the node id with "@<group>").
    group = e2e_group(item)
    if group is not None:
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` group on pytest ≥ 9.2, where pytest-xdist ≤ 3.8's suffix
    (it assigns the legacy ``item._nodeid``) silently no longer reaches the node id
    (https://github.com/pytest-dev/pytest-xdist/issues/1386): without this the e2e runs go round-robin to both workers.
    ``tests/test_suite_rules.py`` checks that each group really lands on one worker."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        group = e2e_group(item) or _explicit_group(item)
        if group is not None and not item.nodeid.endswith("@" + group):
            item._id = coerce_node_id(f"{item.nodeid}@{group}")  # type: ignore[attr-defined]


def _explicit_group(item: pytest.Item) -> str | None:
    """The group of a test marked ``xdist_group`` itself (tests/test_bench_smoke.py: the
    light benches share one process, made once per module on one worker)."""
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return None
    return str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))


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
