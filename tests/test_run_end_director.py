"""A run whose director keeps failing its step ends with exit 3 and one line saying why.

The director's step is the run's bookkeeping (hours written, the lease history, the
heartbeat). It used to log each failure and carry on, and the run exited 0: the lease
history refused by the database at every flush went unnoticed but for the log. Now each
duty of the step runs on its own and counts its failed attempts in a row
(``harness.control.director.StepDuties``); five in a row fail the run at its end
(``harness.control.finish.run_failure``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from harness.agent.hourstats import HourAggregate
from harness.config.messages import RunConfig
from harness.control import finish, lease_broker
from harness.control.director import DUTY_FAILURES_IN_A_ROW, SimulationDirector, StepDuties
from harness.control.lease_broker import LeaseBroker
from harness.control.leases import LeasePool
from harness.control.run_state import RunState
from harness.outputs.run_files import RunFiles
from offer_engine.clock import SimClock


def _boom() -> None:
    raise RuntimeError("refused\nsecond line not shown")


def test_a_duty_failing_five_attempts_in_a_row_fails_the_run():
    duties = StepDuties()
    ran: list[str] = []
    for _ in range(DUTY_FAILURES_IN_A_ROW - 1):
        duties.run("lease history", _boom)
        duties.run("hour book", lambda: ran.append("book"))  # the others still run
        duties.run("lease history", lambda: False)  # not due: neither fails nor clears
    assert duties.failure is None and duties.failing["lease history"] == 4
    assert ran == ["book"] * 4
    duties.run("lease history", _boom)
    assert duties.failure == (
        "the director's lease history failed 5 times in a row (RuntimeError: refused)"
    )
    duties.run("lease history", lambda: True)  # it works again: the failure stands
    assert duties.failing["lease history"] == 0
    assert duties.failure is not None


def test_failures_an_attempt_recovers_from_do_not_fail_the_run():
    duties = StepDuties()
    for _ in range(3):
        for _ in range(DUTY_FAILURES_IN_A_ROW - 1):
            duties.run("heartbeat", _boom)
        duties.run("heartbeat", lambda: None)  # a real attempt that succeeded
    assert duties.failure is None and duties.failing["heartbeat"] == 0


def test_a_lease_history_the_database_refuses_fails_the_director(clean_db, monkeypatch):
    """The real director step, with the real lease broker flushing to a real Postgres that
    refuses every insert (the run is not in ``simulation_runs``: a foreign key violation),
    one flush every 2 s as in a run: the fifth refused flush fails the run, and the events
    are still kept for a later flush (nothing dropped)."""
    now = [time.time()]
    monkeypatch.setattr(lease_broker, "time", SimpleNamespace(time=lambda: now[0]))
    state = RunState()
    state.run = RunConfig(
        run_id="never-started", seed=1, sim_start="2026-01-10T09:00:00+00:00", sim_end=None,
        clock={}, api_url=None, database_url=None, rate_share=0.0, mock_api=True, mock_db=False,
        options={},
    )  # fmt: skip
    broker = LeaseBroker(
        LeasePool([], seed=1), runner=SimpleNamespace(), state=state, engine=clean_db
    )
    director = SimpleNamespace(
        duties=StepDuties(), _check_workers=lambda: None, book=SimpleNamespace(step=lambda: None),
        engine=clean_db, leases=broker, _heartbeat=lambda: False, files=None,
    )  # fmt: skip
    steps = 0
    while director.duties.failure is None and steps < 200:
        broker.lease_log.append(("lease", 1, "w1", now[0]))
        SimulationDirector._step(director)  # type: ignore[arg-type]
        now[0] += 0.25  # the loop's pace: a flush is due every 2 s
        steps += 1
    why = SimulationDirector.step_failure.fget(director)  # type: ignore[attr-defined]
    assert why is not None and why.startswith(
        "the director's lease history failed 5 times in a row (IntegrityError: "
        '(psycopg.errors.ForeignKeyViolation) insert or update on table "persona_leases"'
    ), why
    assert 4 * 8 < steps <= 5 * 8 + 1  # five flushes, 2 s (8 steps) apart
    assert len(broker.lease_log) == steps  # every refused event kept for the next flush


class _Files(RunFiles):
    def write_final_stats(self, environment):  # Locust's own stats: no locust here
        pass


def _ended_director(tmp_path: Path, step_failure: str | None, *, exit_code=None):
    files = _Files(tmp_path / "runs" / "r1")
    files.write_manifest({"run_id": "r1", "started_at": "2026-01-10T09:00:00+00:00",
                          "time_scale": 1800.0, "mock_db": True, "options": {}})  # fmt: skip
    start = datetime(2026, 1, 10, 9, tzinfo=UTC)
    counts = {"acted": 5, "shopped": 5, "completed": 5, "orders": 5}
    drained = {str(h): {"counts": counts, "slips_ms": [100] * 5, "errors": {}} for h in range(2)}
    opts = SimpleNamespace(time_scale=1800.0, ramp=((0, 1.0),), sim_start=start, thresholds=[])
    return SimpleNamespace(
        run=SimpleNamespace(run_id="r1"), files=files, env=None, engine=None, opts=opts,
        rt=SimpleNamespace(clock=SimClock.start(sim_start=start, scale=1800.0).pause(),
                           collector=SimpleNamespace(drain=lambda: drained), sim_end=None,
                           timings=SimpleNamespace(write_run_csv=lambda _d: None),
                           llm_totals=None), agg=HourAggregate(),
        pool=SimpleNamespace(size=5), users_at_hour={}, settings_cycle_days=7.0,
        exit_code=exit_code, stopped_early=False, current_hour=1,
        checkpoint=lambda reason: None, stop_loops=lambda: None, step_failure=step_failure,
    )  # fmt: skip


def test_the_run_end_exits_3_naming_the_failed_duty(tmp_path, capsys):
    why = "the director's lease history failed 5 times in a row (IntegrityError: refused)"
    d = _ended_director(tmp_path, why)
    assert finish.finish_run(d) == 3
    assert f"[FAIL] run: {why}" in capsys.readouterr().out.splitlines()
    m = json.loads((d.files.dir / "manifest.json").read_text())
    assert m["exit_code"] == 3 and m["failure"] == why
    # The same run whose director never failed five in a row: Locust's code (None here).
    clean = _ended_director(tmp_path / "clean", None)
    assert finish.finish_run(clean) is None
    assert "[FAIL] run:" not in capsys.readouterr().out
    # A run the breaker stopped keeps its 5 (continue with --resume).
    tripped = _ended_director(tmp_path / "tripped", why, exit_code=5)
    assert finish.finish_run(tripped) == 5
