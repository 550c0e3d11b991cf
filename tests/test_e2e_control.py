"""The control plane, end to end with real ``locust`` processes on
loopback (a master and workers as separate commands where it matters):

- a master and separately started workers, one killed with SIGKILL mid-run: its personas
  are reclaimed by the other worker, and every live agent-hour is acted, counted missed or
  not owed in ``hours.csv`` and the report;
- two runs against one database at once: the second's start-up never touches the first's
  live sessions;
- a 5xx storm seen only by the workers pauses the whole run (an outage, not the breaker).
"""

from __future__ import annotations

import csv
import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from harness.stack.launch import free_port
from tests.e2e_support import (
    acting_overlaps,
    count,
    harness_env,
    lease_overlaps,
    start_locust,
    stop,
    wait_for,
)
from tests.test_e2e_harness import FAST, RAMP, N, e2e_db  # noqa: F401 - the fixture
from tests.test_e2e_resilience import BASE, api, busy_db  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

FLAT = [a if a != RAMP else "0:100" for a in FAST]


def _hours(run_dir: Path) -> dict[int, dict[str, str]]:
    with open(run_dir / "hours.csv", newline="") as fh:
        return {int(r["sim_hour"]): r for r in csv.DictReader(fh)}


def _rows(eng, sql: str):
    with eng.connect() as conn:
        return conn.execute(text(sql)).all()


def _events(run_dir: Path) -> list[dict]:
    path = run_dir / "simulation_runs.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_master_two_workers_one_killed_its_personas_reclaimed_and_every_hour_accounted(
    e2e_db,  # noqa: F811
    tmp_path,
):
    """A master and two separately started workers; one worker is SIGKILLed mid-run. One
    run, two sets of checks (they were two identical runs, 56 s + 72 s):

    - leases: both workers held personas; the dead worker's are leased again by the other
      within 60 s (released as ``reclaim``), never granted twice nor acted as by two
      processes at once, and the run ends recorded;
    - accounting: every live agent-hour of the lease book is acted, counted missed — the
      dead worker's unheld hours included — or not owed in ``hours.csv``, and the report
      counts the unheld hours missed; from hour 1 every persona is leased."""
    url, eng = e2e_db
    env = harness_env(url, tmp_path)
    runs = tmp_path / "runs"
    port = str(free_port())
    # The kill comes at hour >= 3 and the reclaim ~13 s (~7 simulated hours) later: 20
    # hours leave the re-lease ~10 simulated hours (20 s) inside the run.
    hours = 20
    master = start_locust(
        [*FLAT, "--master", "--expect-workers", "2", "--master-bind-port", port,
         "--sim-duration", f"{hours}h", "--run-id", "kill9", "--runs-dir", str(runs)],
        env=env, cwd=tmp_path, log=tmp_path / "master.log",
    )  # fmt: skip
    workers = [
        start_locust(
            ["--worker", "--master-port", port], env=env, cwd=tmp_path, log=tmp_path / f"w{i}.log"
        )
        for i in range(2)
    ]
    open_leases = "SELECT count(*) FROM persona_leases WHERE run_id='kill9' AND released_at IS NULL"
    try:
        wait_for(lambda: count(eng, open_leases) == N, timeout=120, what="all personas leased")
        held = dict(_rows(eng, "SELECT holder, count(*) FROM persona_leases WHERE run_id='kill9' "
                               "AND released_at IS NULL GROUP BY holder"))  # fmt: skip
        assert len(held) == 2 and sum(held.values()) == N, held
        wait_for(
            lambda: count(eng, "SELECT count(*) FROM agent_hours WHERE run_id='kill9' "
                               "AND sim_hour >= 3") > 0,
            timeout=60, what="a few hours played",
        )  # fmt: skip
        killed_at = time.time()
        stop(workers[0], signal.SIGKILL)
        # Its personas are leased again by the remaining worker within 60 s, by the lease
        # book's own times (the master's clock, this machine's); the wait allows more, so a
        # late re-lease fails here with its figure, not as the wait's timeout.
        wait_for(
            lambda: count(eng, open_leases) == N and len(_open_holders(eng, "kill9")) == 1,
            timeout=150, what="the dead worker's personas leased again",
        )  # fmt: skip
        re_leased = _rows(eng, "SELECT extract(epoch FROM max(leased_at)) FROM persona_leases "
                              "WHERE run_id='kill9' AND released_at IS NULL")[0][0]  # fmt: skip
        print(f"[figure] kill -9: personas leased again {float(re_leased) - killed_at:.1f} s later")
        assert 0 < float(re_leased) - killed_at < 60
        reclaimed = (
            "SELECT count(*) FROM persona_leases WHERE run_id='kill9' AND release_reason='reclaim'"
        )
        assert count(eng, reclaimed) > 0
        assert lease_overlaps(eng, "kill9") == 0
        rc = master.wait(timeout=240)
        # The dead worker's personas went on under the other worker: consecutive, never
        # interleaved hours per persona (from the rows the agents wrote).
        assert acting_overlaps(eng, "kill9") == []
    finally:
        for p in [master, *workers]:
            stop(p)
    log = (tmp_path / "master.log").read_text()
    assert rc == 0, log[-3000:]  # a dead worker's cut-off requests are no failures
    assert "personas returned to the pool" in log
    ended = "SELECT count(*) FROM simulation_runs WHERE run_id='kill9' AND ended_at IS NOT NULL"
    assert count(eng, ended) == 1
    rows = _hours(runs / "kill9")
    assert sorted(rows) == list(range(hours)), sorted(rows)
    # Every live agent-hour of the master's lease book is acted, missed — the dead worker's
    # unheld hours included — or not owed (hour 0's users joining after their slot; a
    # re-leased persona's new holder joining after its slot, or finding the hour already
    # done). A persona re-leased within an hour counts for both of its holders there.
    acted = sum(int(rows[h]["acted"]) for h in range(1, hours))
    missed = sum(int(rows[h]["missed"]) for h in range(1, hours))
    unheld = sum(int(rows[h]["unheld"] or 0) for h in range(1, hours))
    per_hour = {h: tuple(int(rows[h][k]) for k in ("acted", "missed", "not_owed", "live_users"))
                for h in range(hours)}  # fmt: skip
    assert all(a + m + n == live for a, m, n, live in per_hour.values()), per_hour
    # From hour 1 (flat ramp) every persona is leased: at least N live agent-hours an hour.
    assert all(per_hour[h][3] >= N for h in range(1, hours)), per_hour
    assert unheld > 0, "the dead worker's hours were not counted missed"
    print(
        f"[figure] kill -9: acted {acted}, missed {missed} (unheld {unheld}) of {N * (hours - 1)}"
    )
    assert any(e["event"] == "hours_unheld" for e in _events(runs / "kill9"))
    # The report shows them: its missed sessions include the unheld hours.
    summary = json.loads((runs / "kill9" / "summary.json").read_text())
    assert summary["time"]["unheld_sessions"] > 0
    # With a database the report counts the agents without a row in those hours; every
    # other hour has a row per agent (acted or missed).
    per_db = dict(_rows(eng, "SELECT sim_hour, count(*) FROM agent_hours WHERE run_id='kill9' "
                             "GROUP BY sim_hour"))  # fmt: skip
    marked = {h for h in range(1, hours) if int(rows[h]["unheld"] or 0) > 0}
    assert all(per_db.get(h, 0) == N for h in range(1, hours) if h not in marked), per_db
    db_missed = count(eng, "SELECT count(*) FROM agent_hours WHERE run_id='kill9' "
                           "AND (decision='missed' OR outcome='missed')")  # fmt: skip
    assert summary["time"]["missed_sessions"] == db_missed + summary["time"]["unheld_sessions"]


def _open_holders(eng, run_id: str) -> set[str]:
    sql = "SELECT DISTINCT holder FROM persona_leases WHERE run_id = :r AND released_at IS NULL"
    with eng.connect() as conn:
        return {r[0] for r in conn.execute(text(sql), {"r": run_id})}


def test_a_second_run_never_cleans_up_a_live_runs_sessions(e2e_db, tmp_path):  # noqa: F811
    url, eng = e2e_db
    env = harness_env(url, tmp_path)
    runs = str(tmp_path / "runs")
    first = start_locust(
        [*FLAT, "--sim-duration", "200h", "--run-id", "live", "--runs-dir", runs],
        env=env, cwd=tmp_path, log=tmp_path / "live.log",
    )  # fmt: skip
    second = None
    try:
        wait_for(
            lambda: count(eng, "SELECT count(*) FROM agent_hours WHERE run_id='live'") > 0,
            timeout=120, what="the first run to act",
        )  # fmt: skip
        # One of the live run's agents mid-session (pinned far ahead so its own users do
        # not finish it): exactly what a start-up clean-up must leave alone.
        with eng.begin() as conn:
            agent = conn.execute(text("SELECT min(id) FROM agents")).scalar_one()
            conn.execute(
                text("INSERT INTO shopping_sessions (run_id, agent_id, sim_hour, status, "
                     "started_sim_at) VALUES ('live', :a, 9999, 'active', now())"), {"a": agent},
            )  # fmt: skip
        second = start_locust(
            [*FLAT, "--sim-duration", "2h", "--run-id", "other", "--runs-dir", runs],
            env=env, cwd=tmp_path, log=tmp_path / "other.log",
        )  # fmt: skip
        assert second.wait(timeout=180) == 0, (tmp_path / "other.log").read_text()[-3000:]
        assert first.poll() is None  # still live
        pinned = "SELECT status FROM shopping_sessions WHERE run_id='live' AND sim_hour=9999"
        with eng.connect() as conn:
            assert conn.execute(text(pinned)).scalar_one() == "active"
        orphaned = "SELECT count(*) FROM shopping_sessions WHERE run_id='live' AND abandon_reason='orphaned'"
        assert count(eng, orphaned) == 0
        other_log = (tmp_path / "other.log").read_text()
        assert "orphaned active sessions abandoned" not in other_log
    finally:
        for p in (first, second):
            if p is not None:
                stop(p)


def test_a_5xx_storm_seen_only_by_workers_pauses_the_whole_run(busy_db, api, tmp_path):  # noqa: F811
    url, eng = busy_db
    runs = tmp_path / "runs"
    env = harness_env(url, tmp_path)
    api.start()
    proc = start_locust(
        [*BASE, "--host", api.url, "--processes", "2", "--ramp", "0:100", "--sim-duration",
         "60h", "--run-id", "storm", "--runs-dir", str(runs)],
        env=env, cwd=tmp_path, log=tmp_path / "storm.log",
    )  # fmt: skip
    try:
        wait_for(
            lambda: count(eng, "SELECT count(*) FROM agent_hours WHERE run_id='storm' "
                               "AND sim_hour >= 2") > 0,
            timeout=120, what="the run to get going",
        )  # fmt: skip
        req = urllib.request.Request(f"{api.url}/_fault/503", method="POST")
        urllib.request.urlopen(req, timeout=10).read()
        stormed = time.time()
        rc = proc.wait(timeout=120)
    finally:
        stop(proc)
    log = (tmp_path / "storm.log").read_text()
    assert rc == 5, log[-3000:]
    outages = [e for e in _events(runs / "storm") if e["event"] == "outage"]
    assert outages, [e["event"] for e in _events(runs / "storm")]
    assert "in a row failed (worker" in outages[0]["detail"], outages[0]
    pauses = [e for e in _events(runs / "storm") if e["event"] == "pause"]
    print(f"[figure] 5xx storm: paused {pauses[0]['ts']} (storm at {stormed:.0f})")
