"""Start-up clean-up spares live runs: a run is live while its status is
running/paused and its master's heartbeat is fresh; a second run starting against the
same database abandons only sessions of runs that are not live (and of the run it
resumes), never a live run's. Real Postgres."""

from __future__ import annotations

from sqlalchemy import text

from harness.control.run_record import cleanup_orphans, heartbeat
from tests.test_run_cleanup import _cart, _status, _world


def test_start_up_cleanup_spares_a_live_run_and_takes_a_dead_ones(clean_db):
    w = _world(clean_db)  # r1 (a0 active), r2 (a2 active): both 'running', no heartbeat
    with clean_db.begin() as conn:  # r1's master died long ago; r2 is live
        conn.execute(text("UPDATE simulation_runs SET heartbeat_at = now() - interval '1 hour'"))
    heartbeat(clean_db, run_id="r2")
    assert cleanup_orphans(clean_db, not_live=True, resumed_run="r3") == 1
    assert _status(clean_db, w["a0"]) == "abandoned" and _cart(clean_db, w["u0"]) == 0
    assert _status(clean_db, w["a2"]) == "active" and _cart(clean_db, w["u2"]) == 1
    assert _status(clean_db, w["owner"]) == "active"
    with clean_db.connect() as conn:
        hours = dict(conn.execute(text("SELECT run_id, outcome FROM agent_hours")).all())
    assert hours == {"r1": "abandoned", "r2": "pending"}  # the live run's pending hour kept
    # Resuming r2 itself (its master just died, heartbeat still fresh): its own orphans go.
    assert cleanup_orphans(clean_db, not_live=True, resumed_run="r2") == 1
    assert _status(clean_db, w["a2"]) == "abandoned"


def test_an_ended_run_is_not_live_whatever_its_heartbeat(clean_db):
    w = _world(clean_db)
    heartbeat(clean_db, run_id="r1")
    heartbeat(clean_db, run_id="r2")
    with clean_db.begin() as conn:
        conn.execute(text("UPDATE simulation_runs SET status = 'stopped' WHERE run_id = 'r1'"))
    assert cleanup_orphans(clean_db, not_live=True) == 1
    assert _status(clean_db, w["a0"]) == "abandoned" and _status(clean_db, w["a2"]) == "active"
