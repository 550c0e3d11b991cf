"""End-to-end: real ``locust`` processes (standalone, ``--processes 2``) against a real
Postgres and the reference API that the harness starts on loopback. A master with two
separately started workers, one of them killed, is one run in ``tests/test_e2e_control.py``
(its lease checks and its hour accounting share that run); a ``--mock-api --mock-db`` run
needing neither a database nor a server is the clean-end run of ``tests/test_e2e_run_end.py``.

Each run is small and fast (60 personas at 1800x: one simulated hour = 2 real seconds)
and every assertion reads the database, the source of truth.
"""

from __future__ import annotations

import csv
import json
import math
import signal
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from db import migrate
from db.engine import create_db_engine
from tests.distributed_support import zmq_port
from tests.e2e_support import (
    acting_overlaps,
    assert_locust_counts_equal_api,
    count,
    distinct_agents_by_hour,
    harness_env,
    hour_gaps,
    lease_overlaps,
    missed_hours,
    run_locust,
    seed_small_population,
    start_locust,
    stop,
    wait_for,
)
from tests.experiment_files import two_arms
from tests.otlp_support import OtlpReceiver, otel_env, session_traces
from tests.test_alerts import Receiver
from tests.test_webui_support import free_port

pytestmark = pytest.mark.e2e
DATA = Path(__file__).parent / "data"

N = 60
RAMP = "0:10,1:50,2:100"  # three stages, one simulated hour each before the last
FAST = [
    "--headless",
    "--time-scale",
    "1800",
    "--sim-start",
    "2026-01-10T09:00:00+00:00",
    "--ramp",
    RAMP,
    "--rate-limit",
    "0",
    "--drain-seconds",
    "3",
]


@pytest.fixture()
def e2e_db(pg_server, request):
    name = "e2e_" + request.node.name.replace("[", "_").replace("]", "")[:40]
    url = pg_server.create_database(name, drop_first=True)
    migrate.upgrade(url)
    eng = create_db_engine(url, total_connections=4)
    seed_small_population(eng, n=N)
    yield url, eng
    eng.dispose()


def _assert_run_is_sound(eng, run_dir: Path, run_id: str, *, hours: int) -> None:
    """The acceptance checks shared by every topology."""
    assert (run_dir / "manifest.json").exists()
    for f in (
        "locust_stats.csv",
        "locust_stats_history.csv",
        "locust_failures.csv",
        "locust_report.html",
    ):
        assert (run_dir / f).exists(), f
    with open(run_dir / "locust_failures.csv") as fh:
        failures = list(csv.DictReader(fh))
    assert failures == [], failures
    assert (
        count(
            eng,
            "SELECT count(*) FROM simulation_runs WHERE run_id = :r AND status = 'completed'",
            r=run_id,
        )
        == 1
    )
    # No persona was granted twice (the master's book) nor acted as by two processes at
    # once (the rows the agents wrote).
    assert count(eng, "SELECT count(*) FROM persona_leases WHERE run_id = :r", r=run_id) >= N
    assert lease_overlaps(eng, run_id) == 0
    assert acting_overlaps(eng, run_id) == []
    # Every slot of every leased persona is accounted for, from its first hour to the
    # last: acted, or recorded as missed. How many were missed depends on how busy the
    # box is (a benchmark figure, printed), not on correctness.
    assert hour_gaps(eng, run_id, last_hour=hours - 1) == []
    missed, slots = missed_hours(eng, run_id)
    print(f"[figure] {run_id}: missed {missed} of {slots} agent-hours at 1800x")
    assert missed < slots  # the run did act
    # The ramp is never exceeded (10 % of the personas in hour 0, 50 % in hour 1) and the
    # last hour has all of them. Exact counts per stage hour depend on how fast users
    # spawn (a late user starts with its next slot), so they are upper bounds.
    by_hour = distinct_agents_by_hour(eng, run_id)
    for hour, agents in by_hour.items():
        frac = 0.10 if hour < 1 else 0.50 if hour < 2 else 1.0
        assert agents <= math.ceil(frac * N), (hour, by_hour)
    assert by_hour[hours - 1] == N, by_hour
    # Each session's kind agrees with the hour's recorded decision (idle browses included).
    assert count(eng, """SELECT count(*) FROM shopping_sessions s JOIN agent_hours h
                         USING (run_id, agent_id, sim_hour)
                         WHERE s.run_id = :r AND (s.kind = 'shop') <> (h.decision = 'shop')""",
                 r=run_id) == 0  # fmt: skip
    idle_event_not_idle_kind = """SELECT count(*) FROM shopping_sessions s WHERE s.run_id = :r
        AND s.kind <> 'idle_browse' AND EXISTS (SELECT 1 FROM shopping_session_events e
        WHERE e.session_id = s.id AND e.event_type = 'idle_browse')"""
    assert count(eng, idle_event_not_idle_kind, r=run_id) == 0
    idle = count(
        eng, "SELECT count(*) FROM agent_hours WHERE run_id = :r AND decision = 'idle'", r=run_id
    )
    assert idle == count(
        eng,
        "SELECT count(*) FROM shopping_sessions WHERE run_id = :r AND kind = 'idle_browse'",
        r=run_id,
    )
    # Behavior data reached the database, and the API saw the graph's endpoints.
    assert count(eng, "SELECT count(*) FROM shopping_sessions WHERE run_id = :r", r=run_id) > 0
    assert (
        count(eng, "SELECT count(*) FROM shopping_session_events WHERE run_id = :r", r=run_id) > 0
    )
    assert (
        count(
            eng,
            "SELECT count(*) FROM shopping_sessions WHERE run_id = :r AND status = 'active'",
            r=run_id,
        )
        == 0
    )
    with open(run_dir / "locust_stats.csv") as fh:
        names = {row["Name"] for row in csv.DictReader(fh)}
    assert {"/api/cart/add", "/api/orders/checkout", "/time/advance"} <= names, names
    # Every live agent-hour (the master's lease book) is acted, missed or not owed — the
    # ramp's hours included, where users join after their slots — and the realized time
    # scale is measured from when the hours really began and ended.
    with open(run_dir / "hours.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["sim_hour"]) for r in rows] == list(range(hours)), rows
    for r in rows:
        n = {k: int(r[k]) for k in ("acted", "missed", "not_owed", "live_users")}
        assert n["acted"] + n["missed"] + n["not_owed"] == n["live_users"], r
    assert sum(int(r["not_owed"]) for r in rows) > 0  # the ramp's late joiners, named
    assert all(r["real_start"] and r["real_end"] for r in rows[:-1]), rows
    account = json.loads((run_dir / "summary.json").read_text())["time"]
    assert account["agent_hours_account"]["adds_up"] is True, account["agent_hours_account"]
    assert account["realized_time_scale_source"] == "hours.csv real_start/real_end (measured)"


def test_standalone_run(e2e_db, tmp_path):
    url, eng = e2e_db
    hours = 4  # the ramp's stages (hour 0, 1, 2+) and two full hours
    r = run_locust(
        [*FAST, "--sim-duration", f"{hours}h", "--run-id", "solo", "--runs-dir", str(tmp_path / "runs")],
        env=harness_env(url, tmp_path, REFERENCE_API_REQUEST_LOG=str(tmp_path / "api.log")),
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    _assert_run_is_sound(eng, tmp_path / "runs" / "solo", "solo", hours=hours)
    assert_locust_counts_equal_api(tmp_path / "runs" / "solo", tmp_path / "api.log")
    manifest = json.loads((tmp_path / "runs" / "solo" / "manifest.json").read_text())
    assert manifest["time_scale"] == 1800 and manifest["personas_total"] == N
    assert manifest["exit_code"] == 0


TWO_ARMS = two_arms(
    seed=7, treatment="small", wallet_capacity=4, frontstore_per_cycle=1,
    category_brand_per_cycle=3,
)  # fmt: skip


def test_two_processes(e2e_db, tmp_path):
    url, eng = e2e_db
    hours = 4  # the ramp's stages (hour 0, 1, 2+) and two full hours
    (tmp_path / "two_arms.toml").write_text(TWO_ARMS)  # an offer experiment rides along
    r = run_locust(
        [*FAST, "--processes", "2", *zmq_port(), "--sim-duration", f"{hours}h", "--run-id", "procs",
         "--runs-dir", str(tmp_path / "runs"), "--experiment", str(tmp_path / "two_arms.toml")],
        env=harness_env(url, tmp_path, REFERENCE_API_REQUEST_LOG=str(tmp_path / "api.log")),
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    _assert_run_is_sound(eng, tmp_path / "runs" / "procs", "procs", hours=hours)
    # Two workers' and the master's requests, merged by Locust, equal what the API received.
    assert_locust_counts_equal_api(tmp_path / "runs" / "procs", tmp_path / "api.log")
    holders = count(eng, "SELECT count(DISTINCT holder) FROM persona_leases WHERE run_id = 'procs'")
    assert holders == 2  # both worker processes held personas
    _assert_experiment(eng, tmp_path / "runs" / "procs", "procs")


def _assert_experiment(eng, run_dir: Path, run_id: str) -> None:
    """--experiment: every persona in one arm, the arm on every session and event (the
    workers got it with their grants), each arm's wallets filled with its settings, and
    the readout written at the run's end."""
    arms = dict(count_rows(eng, "SELECT arm, count(*) FROM experiment_assignments"
                                " WHERE run_id = :r GROUP BY arm", r=run_id))  # fmt: skip
    assert sum(arms.values()) == N and set(arms) == {"current", "small"}, arms
    assert abs(arms["current"] - arms["small"]) <= 1
    wrong_session = """SELECT count(*) FROM shopping_sessions s JOIN experiment_assignments e
        ON e.run_id = s.run_id AND e.agent_id = s.agent_id
        WHERE s.run_id = :r AND s.arm IS DISTINCT FROM e.arm"""
    assert count(eng, wrong_session, r=run_id) == 0
    wrong_event = """SELECT count(*) FROM shopping_session_events v JOIN experiment_assignments e
        ON e.run_id = v.run_id AND e.agent_id = v.agent_id
        WHERE v.run_id = :r AND v.payload->>'arm' IS DISTINCT FROM e.arm"""
    assert count(eng, wrong_event, r=run_id) == 0
    per_arm_max = dict(count_rows(eng, """SELECT e.arm, max(n) FROM (
        SELECT uc.user_id, count(*) AS n FROM user_coupons uc GROUP BY uc.user_id) w
        JOIN agents a ON a.user_id = w.user_id
        JOIN experiment_assignments e ON e.agent_id = a.id AND e.run_id = :r
        GROUP BY e.arm""", r=run_id))  # fmt: skip
    assert per_arm_max["small"] == 4 and per_arm_max["current"] == 32, per_arm_max
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["experiment"]["personas_per_arm"] == arms
    result = json.loads((run_dir / "experiment.json").read_text())
    assert [a["arm"] for a in result["arms"]] == ["current", "small"]
    assert {m["arm"] for m in result["metrics"]} == {"small"} and len(result["metrics"]) == 7
    assert (run_dir / "plots" / "experiment_forest.png").stat().st_size > 0
    from openpyxl import load_workbook

    assert "experiment" in load_workbook(run_dir / "report.xlsx", read_only=True).sheetnames


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--time-scale", "-1"], "--time-scale"),
        (["--ramp", "5:10"], "--ramp"),
        (["--sim-duration", "soon"], "--sim-duration"),
        (
            ["--experiment", str(DATA / "experiment_bad_key.toml")],
            "experiment_bad_key.toml: line 8: [arms.deeper] discount_multiplyer: unknown parameter",
        ),
        (
            ["--experiment", str(DATA / "experiment_empty_arm.toml")],
            "line 7: [arms.tiny] has no personas after stratification (372 personas",
        ),
    ],
)
def test_bad_options_exit_2_before_anything_starts(tmp_path, args, fragment):
    r = run_locust(
        ["--headless", "--mock-api", "--mock-db", *args],
        env=harness_env(None, tmp_path),
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert fragment in r.stderr
    assert not (tmp_path / "runs").exists()


def test_sigterm_ends_a_headless_run_cleanly(e2e_db, tmp_path):
    url, eng = e2e_db
    hook = Receiver()  # --alert-webhook on loopback (tests/test_alerts.py)
    otlp = OtlpReceiver()  # --otel's real OTLP/HTTP exporters on loopback
    metrics = free_port()
    proc = start_locust(
        [*FAST, "--sim-duration", "200h", "--run-id", "term", "--runs-dir", str(tmp_path / "runs"),
         "--prometheus-port", str(metrics), "--alert-webhook", hook.url, "--otel"],
        env=harness_env(url, tmp_path, **otel_env(otlp.endpoint)), cwd=tmp_path,
        log=tmp_path / "term.log",
    )  # fmt: skip
    try:
        wait_for(
            lambda: _safe_count(eng, "SELECT count(*) FROM agent_hours WHERE run_id = 'term' AND sim_hour >= 2") > 0,
            timeout=90, what="the run to get going",
        )  # fmt: skip
        # Mid-run, the master's /metrics answers with the simulation's state.
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as resp:
            scraped = {s.name: s.value for f in text_string_to_metric_families(resp.read().decode())
                       for s in f.samples if not s.labels}  # fmt: skip
        assert scraped["loadsim_sim_hour"] >= 2 and scraped["loadsim_sessions_total"] > 0
        assert scraped["loadsim_breaker_open"] == 0 and scraped["loadsim_agents_active"] > 0
        # --otel: sessions arrive as traces (graph nodes, their HTTP requests under them)
        # and the harness's metrics beside Locust's.
        wait_for(lambda: session_traces(otlp, with_requests=True) and
                 {"loadsim.sessions", "loadsim.db.session_commit"} <= set(otlp.metrics),
                 timeout=30, what="session traces and loadsim metrics over OTLP")  # fmt: skip
    finally:
        rc = stop(proc, signal.SIGTERM, timeout=90)
        hook.close()
        otlp.close()
    _assert_otel(otlp)
    ended = [m for _, m in hook.got if m["event"] == "run_end"]
    assert [m["run_id"] for m in ended] == ["term"]
    run_dir = tmp_path / "runs" / "term"
    log = (tmp_path / "term.log").read_text()
    assert rc == 0, log[-3000:]  # stopped by the operator: a clean end, not a failure
    assert json.loads((run_dir / "manifest.json").read_text())["exit_code"] == 0
    assert (run_dir / "locust_stats.csv").exists() and (run_dir / "locust_report.html").exists()
    assert json.loads((run_dir / "manifest.json").read_text()).get("ended_at")
    assert (run_dir / "report.html").exists() and (run_dir / "summary.txt").exists()
    assert (
        count(
            eng,
            "SELECT count(*) FROM shopping_sessions WHERE run_id = 'term' AND status = 'active'",
        )
        == 0
    )
    assert (
        count(
            eng,
            "SELECT count(*) FROM simulation_runs WHERE run_id = 'term' AND ended_at IS NOT NULL",
        )
        == 1
    )


def _assert_otel(otlp: OtlpReceiver) -> None:
    traces = session_traces(otlp, with_requests=True)
    root, nodes, requests = traces[0]
    assert root["attrs"]["loadsim.run_id"] == "term" and root["scope"] == "loadsim"
    assert root["attrs"]["loadsim.decision"] in ("shop", "idle")
    assert nodes[0]["name"] == "node decide_shop"
    assert {r["attrs"]["http.response.status_code"] for r in requests} <= {200, 201, 409}
    names = {r["name"] for _, _, rs in traces for r in rs}
    assert "POST /api/cart/add" in names, names
    # Locust's own request histogram, the harness's timings and the run's state.
    m = otlp.metrics
    for name in ("locust.client.duration", "loadsim.graph.shopping_graph", "loadsim.db.claim_hour",
                 "loadsim.sim_hour", "loadsim.sim_time_seconds", "loadsim.agents_active",
                 "loadsim.orders", "loadsim.missed_sessions", "loadsim.slip_p99_ms",
                 "loadsim.breaker_state", "loadsim.offer_cycles"):  # fmt: skip
        assert name in m, (name, sorted(m))
    assert max(p["value"] for p in m["loadsim.sim_hour"]) >= 2
    assert max(p["value"] for p in m["loadsim.sessions"]) > 0
    assert {p["attrs"]["state"] for p in m["loadsim.breaker_state"] if p["value"] == 1} == {
        "closed"
    }


# ------------------------------------------------------------------ helpers


def count_rows(eng, sql: str, **params) -> list[tuple]:
    from sqlalchemy import text

    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _safe_count(eng, sql: str) -> int:
    """A count while the run writes (the tables exist from the start: a failing query is
    a real error, never read as "not yet")."""
    return count(eng, sql)
