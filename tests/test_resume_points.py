"""Where ``--resume`` continues from ("no hour lost"), on a real database:

- a run killed before its first checkpoint continues from the first hour its ``hours.csv``
  does not have, re-playing the hours the database has — not after the database's last
  hour, which lost the hours played but not yet reported (seen: ``[0, 1, 2, 6, 7, 8]``);
- a pause (outage, breaker) checkpoints the hour the clock stopped in, not the last
  reported hour + 1 (which lags by the report delay: hour 0 for a pause at hour 3), and
  the hours that ended before the pause are still written while paused.

The real kill-and-resume and outage runs are ``tests/test_e2e_resilience.py``.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import text

from harness.control import hour_book as hour_book_mod
from harness.control.hour_book import HourBook
from harness.control.resilience import latest_checkpoint, resolve_resume
from harness.control.run_guard import RunGuard
from harness.control.run_state import RunState
from harness.outputs.run_files import RunFiles
from offer_engine.clock import SimClock
from reports import hour_table
from tests.e2e_support import seed_small_population

SIM_START = datetime.fromisoformat("2026-01-10T09:00:00+00:00")


def _run_with_hours(engine, run_id: str, hours: range) -> None:
    """A run whose agents have ``agent_hours`` rows for ``hours`` (what a killed master
    leaves in the database), and no checkpoint."""
    seed_small_population(engine, n=2)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO simulation_runs (run_id, time_scale, seed, status) "
                 "VALUES (:r, 1800, 5, 'running')"), {"r": run_id},
        )  # fmt: skip
        agents = [r.id for r in conn.execute(text("SELECT id FROM agents ORDER BY id"))]
        for h in hours:
            for a in agents:
                conn.execute(
                    text("INSERT INTO agent_hours (run_id, agent_id, sim_hour, decision, outcome) "
                         "VALUES (:r, :a, :h, 'shop', 'completed')"), {"r": run_id, "a": a, "h": h},
                )  # fmt: skip


def test_killed_before_its_first_checkpoint_resumes_where_hours_csv_ends(clean_db, tmp_path):
    _run_with_hours(clean_db, "k", range(6))  # hours 0-5 played, the kill came in hour 5
    runs = tmp_path / "runs"
    files = RunFiles(runs / "k")
    files.append_hours([hour_table.hour_row({"sim_hour": h, "segment": 1}) for h in (0, 1, 2)])
    # No checkpoint written: the kill came before the first.
    point = resolve_resume(clean_db, "k", runs_dir=runs)
    # Hours 3-5 were played but never written: re-played (flagged), not skipped.
    assert (point.source, point.from_hour, point.replay_until_hour) == ("database", 3, 6)
    # No hours.csv at all (killed before any hour was reported): the whole run re-plays.
    assert resolve_resume(clean_db, "k", runs_dir=tmp_path / "elsewhere").from_hour == 0


def _director(engine, *, scale: float, sim_now_h: float) -> SimpleNamespace:
    """What the guard and the hour book read of a director whose clock reads ``sim_now_h``
    simulated hours after the run's start, now."""
    real0 = time.time() - sim_now_h * 3600 / scale
    clock = SimClock.start(sim_start=SIM_START, scale=scale, real=real0)
    opts = SimpleNamespace(sim_start=SIM_START, time_scale=scale, ramp=((0, 1.0),), runs_dir="runs")
    rt = SimpleNamespace(clock=clock, sim_start=SIM_START, sim_end=None, opts=opts,
                         counters=SimpleNamespace(consecutive_unavailable=0, throttled=0),
                         collector=SimpleNamespace(drain=lambda: {}), worker_name="master")  # fmt: skip
    state = RunState(run=SimpleNamespace(run_id="p", seed=5))
    d = SimpleNamespace(rt=rt, written=[])
    d.book = HourBook(rt, state, engine=engine, pool=SimpleNamespace(limit=2), users=lambda: 2,
                      after_hour=d.written.append)  # fmt: skip
    d.guard = RunGuard(rt, state, book=d.book, engine=engine, broadcast=lambda: None,
                       checkpoint=d.book.checkpoint)  # fmt: skip
    return d


def test_a_pause_checkpoints_the_hour_the_clock_stopped_in(clean_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # --runs-dir runs: checkpoints go to ./runs/p/checkpoints
    _run_with_hours(clean_db, "p", range(4))
    # 12:01 at 10x: hours 0-2 ended 6-78 s ago; the book had written none yet (its report
    # delay, a slow step): the last reported hour is -1, as in the outage that was seen.
    d = _director(clean_db, scale=10.0, sim_now_h=3 + 1 / 60)
    d.book.current_hour = 3
    assert d.book.reported_hour == -1
    assert d.guard.pause("target unavailable (test)")
    cp = latest_checkpoint("p", Path("runs"), legacy_root=None)
    assert cp is not None and cp.reason == "pause"
    assert (cp.hour, cp.sim_time) == (3, "2026-01-10T12:00:00+00:00")
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT status FROM simulation_runs WHERE run_id='p'")).scalar() \
            == "paused"  # fmt: skip
        assert conn.execute(text("SELECT count(*) FROM simulation_state")).scalar() == 1
    # While paused, the hours that ended before the pause are written (their rows and
    # the guard's verdict), the hour the clock stopped in is not, however long the pause.
    d.book.report_due()
    assert d.written == [0, 1, 2] and d.book.reported_hour == 2
    later = time.time() + 10_000
    monkeypatch.setattr(hour_book_mod.time, "time", lambda: later)
    d.book.report_due()
    assert d.written == [0, 1, 2]
