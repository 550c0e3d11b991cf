"""End to end on an adopted owner database: a real headless ``locust`` run writes its
behavior data into the app's own ``shopping_sessions`` / ``shopping_session_events``
through the map, and not one real row changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from db import migrate
from db.models import EVENT_TYPES
from personas import SAMPLE_PATH
from tests.e2e_support import harness_env, run_locust
from tests.owner_db_support import (
    MAP_FILE,
    PROJECT,
    ROOT,
    SHARED,
    app_tables,
    create_owner_db,
    loadsim,
    real_rows_checksum,
    schema_snapshot,
)

pytestmark = pytest.mark.e2e

PERSONAS = 40
HOURS = 4  # a Saturday morning's shoppers leave sessions and events to mirror
SIM_START = "2026-01-10T09:00:00+00:00"  # a Saturday morning: shoppers are out


@pytest.mark.parametrize(
    ("schema", "topology"),
    [(PROJECT, []), (PROJECT, ["--processes", "2"]), (SHARED, [])],
    ids=["standalone", "processes2", "shared-standalone"],
)
def test_adopted_owner_database_receives_the_runs_sessions_and_events(
    pg_server, tmp_path, schema, topology
):
    """Standalone, and ``--processes 2`` (the owner's uuid user ids travel to the workers
    in Locust's msgpack messages); standalone again on the independent counterpart."""
    url = create_owner_db(pg_server, f"own_e2e_run_{len(topology)}", schema)
    eng = create_engine(url)
    tables = app_tables(eng)
    before_rows = real_rows_checksum(eng, tables)
    before_schema = schema_snapshot(eng)
    with eng.connect() as conn:
        offer_rows = [
            conn.execute(text(f"SELECT count(*) FROM public.{t}")).scalar_one()
            for t in ("offer_cycles", "user_coupons")
        ]

    up = loadsim("db", "upgrade", "--adopt", "--map", str(MAP_FILE), url=url)
    assert up.returncode == 0, up.stderr
    seed = loadsim("personas", "seed", "--test", str(PERSONAS), str(SAMPLE_PATH), url=url)
    assert seed.returncode == 0, seed.stderr
    assert f"users: {PERSONAS} ({PERSONAS} created" in seed.stdout

    env = harness_env(url, tmp_path, LOADSIM_DB_MAP=str(MAP_FILE))
    r = run_locust(
        [*topology, "--headless", "--mock-api", "--time-scale", "3600", "--sim-start", SIM_START,
         "--ramp", "0:100", "--rate-limit", "0", "--drain-seconds", "3",
         "--sim-duration", f"{HOURS}h", "--run-id", "owner", "--runs-dir", str(tmp_path / "runs")],
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    tb = r.stderr.find("Traceback")
    assert tb < 0, r.stderr[max(0, tb - 500) : tb + 3000]

    with eng.connect() as conn:
        q = lambda sql, **kw: conn.execute(text(sql), kw).all()  # noqa: E731
        # Personas became simulated users and agents of the app, through the map.
        assert q("SELECT count(*) FROM public.users WHERE is_simulated")[0][0] == PERSONAS
        assert q(
            "SELECT count(*) FROM public.agents a JOIN public.users u ON u.id = a.user_id"
            " WHERE u.is_simulated AND a.persona_key IS NOT NULL AND a.persona <> '{}'"
        )[0][0] == PERSONAS  # fmt: skip
        # Every harness session has its mirror in the app's table, mapped and simulated.
        ours = q("SELECT count(*) FROM loadsim.shopping_sessions WHERE run_id = 'owner'")[0][0]
        assert ours > 0
        app = q(
            "SELECT s.id, s.user_id, s.agent_id, s.status, s.started_at, s.ended_at,"
            " s.is_simulated, s.is_replay, u.is_simulated AS user_sim"
            " FROM public.shopping_sessions s JOIN public.users u ON u.id = s.user_id"
            " WHERE s.run_id = 'owner'"
        )
        assert len(app) == ours
        start = datetime.fromisoformat(SIM_START)
        for s in app:
            assert s.is_simulated and s.user_sim and s.is_replay is False
            assert s.status in ("completed", "abandoned"), s
            # The app's times are the simulated ones (its ML data lives in simulated time).
            assert start <= s.started_at <= start + timedelta(hours=HOURS), s
            assert s.ended_at is not None and s.ended_at >= s.started_at
        harness_events = q(
            "SELECT count(*) FROM loadsim.shopping_session_events WHERE run_id = 'owner'"
        )[0][0]
        events = q(
            "SELECT e.event_name, e.properties, e.occurred_at FROM public.shopping_session_events e"
            " JOIN public.shopping_sessions s ON s.id = e.session_id WHERE s.run_id = 'owner'"
        )
        assert len(events) == harness_events > 0
        assert {e.event_name for e in events} <= set(EVENT_TYPES)
        assert "session_start" in {e.event_name for e in events}
        for e in events:
            # Fields without an app column travel in properties, the decision under payload.
            assert e.properties["run_id"] == "owner" and "seq" in e.properties
            assert "payload" in e.properties
        # The project's offer engine never ran on the owner's tables: no row was added.
        assert [
            q(f"SELECT count(*) FROM public.{t}")[0][0] for t in ("offer_cycles", "user_coupons")
        ] == offer_rows

    # Not one real row changed; the app schema gained exactly the two additive columns.
    assert real_rows_checksum(eng, tables) == before_rows
    after_schema = schema_snapshot(eng)
    assert sorted(set(after_schema["columns"]) - set(before_schema["columns"])) == [
        ("shopping_sessions", "is_replay", "boolean", "YES", None),
        ("shopping_sessions", "run_id", "text", "YES", None),
    ]
    assert after_schema["triggers"] == before_schema["triggers"]
    migrate.harness_check(url)  # alembic check of the harness's own schema: clean
    # … and the same through alembic's own command line (alembic.ini section [harness]).
    ck = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "-n", "harness", "check"],
        capture_output=True, text=True, env={**os.environ, "DATABASE_URL": url}, timeout=120,
    )  # fmt: skip
    assert ck.returncode == 0 and "No new upgrade operations detected" in ck.stdout + ck.stderr
    eng.dispose()


def test_a_run_on_an_owner_database_not_yet_adopted_stops_with_one_line(pg_server, tmp_path):
    """Before adoption the harness has no tables there: exit 2 naming the next command,
    no traceback, and nothing written to the app's tables."""
    url = create_owner_db(pg_server, "own_e2e_not_adopted")
    eng = create_engine(url)
    tables = app_tables(eng)
    before = real_rows_checksum(eng, tables), schema_snapshot(eng)
    r = run_locust(
        ["--headless", "--mock-api", "--time-scale", "1800", "--sim-start", SIM_START,
         "--sim-duration", "2h", "--run-id", "early", "--runs-dir", str(tmp_path / "runs")],
        env=harness_env(url, tmp_path), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    assert "not adopted yet" in r.stderr and "loadsim db adopt" in r.stderr
    assert (real_rows_checksum(eng, tables), schema_snapshot(eng)) == before
    eng.dispose()


def test_a_run_with_a_map_file_other_than_the_adopted_one_stops_with_one_line(pg_server, tmp_path):
    """The views are what the adopted map made: a run given an edited map file says to
    adopt it first instead of running against views the file does not describe."""
    url = create_owner_db(pg_server, "own_e2e_drift")
    assert loadsim("db", "adopt", "--map", str(MAP_FILE), url=url).returncode == 0
    edited = tmp_path / "owner.toml"
    edited.write_text(MAP_FILE.read_text().replace('title = "code"', 'title = "brand"'))
    r = run_locust(
        ["--headless", "--mock-api", "--time-scale", "1800", "--sim-start", SIM_START,
         "--sim-duration", "2h", "--run-id", "drift", "--runs-dir", str(tmp_path / "runs")],
        env=harness_env(url, tmp_path, LOADSIM_DB_MAP=str(edited)), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    assert "differs from the map" in r.stderr and f"loadsim db adopt --map {edited}" in r.stderr
    with create_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM loadsim.simulation_runs")).scalar() == 0
    ck = loadsim("db", "check", "--map", str(edited), url=url)
    assert ck.returncode == 2 and "[FAIL] adopted" in ck.stdout
