"""End-to-end through a real pooler: ``--processes 2``, headless,
``--mock-api``, the database reached through PgBouncer in transaction mode on a port that
is not 6543 — clean only because ``--db-pooler transaction`` turns prepared statements off
(without it the same run failed with ``prepared statement "_pg3_0" does not exist``)."""

from __future__ import annotations

import csv

import pytest

from db import migrate
from db.engine import create_db_engine, normalize_url
from tests.e2e_support import count, harness_env, run_locust, seed_small_population
from tests.pgbouncer_support import PgBouncer, free_port

pytestmark = pytest.mark.e2e

N = 40
HOURS = 4  # both processes record hours through the pooler from hour 1


@pytest.fixture()
def pooled_db(pg_server):
    direct = pg_server.create_database("e2e_pooler", drop_first=True)
    migrate.upgrade(direct)  # migrations over the direct connection, never the pooler
    eng = create_db_engine(direct, total_connections=4)
    seed_small_population(eng, n=N)
    bouncer = PgBouncer(pg_server.uri("postgres"), pool_mode="transaction").start()
    yield bouncer, eng
    bouncer.stop()
    eng.dispose()


def test_two_processes_through_pgbouncer_transaction_mode(pooled_db, tmp_path):
    bouncer, eng = pooled_db
    url = bouncer.url("e2e_pooler")
    assert normalize_url(url).port not in (6543, None)
    env = harness_env(url, tmp_path)
    env.pop("LOADSIM_DB_POOLER", None)  # the option alone must decide
    port = str(free_port())
    r = run_locust(
        ["--headless", "--mock-api", "--processes", "2", "--master-bind-port", port,
         "--master-port", port, "--db-pooler", "transaction", "--time-scale", "3600",
         "--sim-start", "2026-01-10T09:00:00+00:00", "--ramp", "0:50,1:100",
         "--rate-limit", "0", "--drain-seconds", "3", "--sim-duration", f"{HOURS}h",
         "--run-id", "pooled", "--runs-dir", str(tmp_path / "runs")],
        env=env, cwd=tmp_path,
    )  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "prepared statement" not in out, out[-4000:]
    with open(tmp_path / "runs" / "pooled" / "locust_failures.csv") as fh:
        failures = list(csv.DictReader(fh))
    assert failures == [], failures
    sessions = count(eng, "SELECT count(*) FROM shopping_sessions WHERE run_id = 'pooled'")
    events = count(eng, "SELECT count(*) FROM shopping_session_events WHERE run_id = 'pooled'")
    status = count(
        eng, "SELECT count(*) FROM simulation_runs WHERE run_id = 'pooled' AND status = 'completed'"
    )
    print(f"[figure] through PgBouncer :{bouncer.port} (transaction): {sessions} sessions, "
          f"{events} events, {N} personas, {HOURS} simulated hours, --processes 2")  # fmt: skip
    assert sessions > 0 and events > 0 and status == 1
    # Both worker processes recorded their hours through the pooler.
    workers = count(  # agent_hours.worker is "<process>" or "<process>/<claim token>"
        eng,
        "SELECT count(DISTINCT split_part(worker, '/', 1)) FROM agent_hours "
        "WHERE run_id = 'pooled'",
    )
    assert workers == 2, workers
