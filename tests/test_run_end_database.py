"""Hours the run's own database refused fail the run.

A connection the server refuses (a role's ``CONNECTION LIMIT`` below
``--db-connections``) used to leave no trace in the exit code: the agent's hour was
counted failed (error kind ``db``) in the counters, but the breaker counted only the
database's ``agent_hours`` — where a claim that never got a connection has no row — and
Locust's exit code sees requests to the target only. Now the breaker counts the counters'
failed sessions too, and a run nothing else failed exits 1 naming them
(``harness.control.finish.database_failures``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import gevent
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.synthetic import make_catalog, random_personas, weekly_wallet
from harness.agent.hour import AgentHours
from harness.agent.hourstats import HourAggregate, HourCollector
from harness.agent.recorder import Recorder
from harness.control import finish
from harness.control.run_guard import RunGuard
from harness.control.run_state import RunState
from harness.outputs.run_files import RunFiles
from offer_engine.clock import SimClock

START = datetime(2026, 1, 10, 9, tzinfo=UTC)
ROLE = "rungaps_limit_1"


@pytest.fixture()
def one_connection_role(engine, db_url):
    """A login role the server lets hold one connection; its URL."""
    with engine.begin() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{ROLE}"'))
        conn.execute(text(f'CREATE ROLE "{ROLE}" LOGIN CONNECTION LIMIT 1'))
    yield make_url(db_url).set(username=ROLE, password=None)
    with engine.begin() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
            {"r": ROLE},
        )
        conn.execute(text(f'DROP ROLE IF EXISTS "{ROLE}"'))


def test_an_hour_whose_connection_is_refused_is_a_failed_hour_of_kind_db(
    one_connection_role, monkeypatch
):
    """The real recorder on a real server that refuses its connection: the agent's hour is
    counted failed, error kind ``db`` (nothing reached the target: the claim comes first)."""
    from db.engine import create_db_engine

    monkeypatch.setattr("harness.agent.recorder._sleep", lambda s: None)  # retries at once
    url = one_connection_role
    held = psycopg.connect(url.set(drivername="postgresql").render_as_string(False))
    eng = create_db_engine(url, total_connections=4)
    try:
        collector = HourCollector()
        rt = SimpleNamespace(
            run=SimpleNamespace(seed=3, run_id="r", replay_until_hour=-1),
            recorder=Recorder(eng, run_id="r", worker="w1"), collector=collector,
            graph=compile_shopping_graph(), measure_graph=lambda ms, exc=None: None, llm=None,
        )  # fmt: skip
        persona = max(random_personas(30, seed=11), key=lambda p: p.shopping_frequency)
        shop = InMemoryShop(make_catalog(), weekly_wallet(persona, 0))
        agent = AgentHours(rt, agent_id=1, persona=persona, shop=shop)
        outcomes = [agent.run(h, START + timedelta(hours=h, minutes=17), 0.0) for h in range(24)]
    finally:
        eng.dispose()
        held.close()
    played = [h for h, o in enumerate(outcomes) if o != "none"]
    assert played and all(outcomes[h] == "failed" for h in played), outcomes
    counts = collector.drain()
    for h in played:
        assert counts[str(h)]["errors"] == {"db": 1}
        assert counts[str(h)]["counts"]["failed"] == 1


def _guard(engine, agg: HourAggregate, quits: list[int]) -> RunGuard:
    rt = SimpleNamespace(
        counters=SimpleNamespace(consecutive_unavailable=0, throttled=0), worker_name="master",
        clock=None, opts=SimpleNamespace(breaker_threshold=5.0, mock_api=True, checkpoint_every=100),
    )  # fmt: skip
    events: list[tuple[str, dict]] = []
    state = RunState(
        run=SimpleNamespace(run_id="no-rows-here", api_url=None),
        files=SimpleNamespace(log_event=lambda kind, **kw: events.append((kind, kw))),
    )
    state.started_real = time.time() - 60
    book = SimpleNamespace(agg=agg, current_hour=3, clock_hour=lambda: 3)
    return RunGuard(rt, state, book=book, engine=engine, broadcast=lambda: None,
                    checkpoint=lambda **kw: None, headless=True,
                    quit=lambda: quits.append(1))  # fmt: skip


def test_the_breaker_counts_hours_the_database_refused(clean_db):
    """Hour 3: 40 sessions, 9 of them failed on the database (no ``agent_hours`` row);
    the database itself has no row of the hour. The breaker trips (22.5 % > 5 %) and the
    headless run stops with exit 5; lease time-outs (no session) are not counted."""
    agg = HourAggregate()
    agg.merge({"3": {"counts": {"acted": 40, "shopped": 40, "failed": 9 + 50},
                     "errors": {"db": 9, "lease": 50}}})  # fmt: skip
    quits: list[int] = []
    guard = _guard(clean_db, agg, quits)
    guard.after_hour(3)
    gevent.sleep(0)
    assert guard.breaker_state == "open" and guard.state.exit_code == 5 and quits == [1]
    # The same hour with only the lease time-outs: no trip.
    calm = HourAggregate()
    calm.merge({"3": {"counts": {"acted": 40, "shopped": 40, "failed": 50},
                      "errors": {"lease": 50}}})  # fmt: skip
    guard = _guard(clean_db, calm, [])
    guard.after_hour(3)
    assert guard.breaker_state == "closed" and guard.state.exit_code is None


class _Files(RunFiles):
    def write_final_stats(self, environment):  # Locust's own stats: no locust here
        pass


def _ended(tmp_path, errors: dict[str, int]):
    files = _Files(tmp_path / "runs" / "r1")
    files.write_manifest({"run_id": "r1", "started_at": START.isoformat(),
                          "time_scale": 1800.0, "mock_db": True, "options": {}})  # fmt: skip
    counts = {"acted": 5, "shopped": 5, "completed": 3, "failed": sum(errors.values())}
    drained = {"0": {"counts": {"acted": 5, "shopped": 5, "completed": 5}, "errors": {}},
               "1": {"counts": counts, "errors": errors},
               "2": {"counts": counts, "errors": errors}}  # fmt: skip
    opts = SimpleNamespace(time_scale=1800.0, ramp=((0, 1.0),), sim_start=START, thresholds=[])
    return SimpleNamespace(
        run=SimpleNamespace(run_id="r1"), files=files, env=None, engine=None, opts=opts,
        rt=SimpleNamespace(clock=SimClock.start(sim_start=START, scale=1800.0).pause(),
                           collector=SimpleNamespace(drain=lambda: drained), sim_end=None,
                           timings=SimpleNamespace(write_run_csv=lambda _d: None),
                           llm_totals=None), agg=HourAggregate(),
        pool=SimpleNamespace(size=5), users_at_hour={}, settings_cycle_days=7.0,
        exit_code=None, stopped_early=False, current_hour=2,
        checkpoint=lambda reason: None, stop_loops=lambda: None,
    )  # fmt: skip


def test_a_run_with_hours_the_database_refused_exits_1_saying_so(tmp_path, capsys):
    d = _ended(tmp_path, {"db": 2})
    assert finish.finish_run(d) == 1
    why = (
        "4 agent-hours failed on the run's database (error kind db, hours 1-2): connections "
        "refused or lost, or statements timed out — see the log"
    )
    assert f"[FAIL] run: {why}" in capsys.readouterr().out.splitlines()
    m = json.loads((d.files.dir / "manifest.json").read_text())
    assert m["exit_code"] == 1 and m["failure"] == why
    # Failures of the target (error kind http) are Locust's to count: not this line.
    other = _ended(tmp_path / "http", {"http": 2})
    assert finish.finish_run(other) is None
    assert "[FAIL] run:" not in capsys.readouterr().out
