"""Every exit path of a real ``locust`` run writes the run's whole report:
the simulated period done, SIGTERM, errors thrown inside the director and at the run's
end; and a report that cannot be built fails the ``--threshold`` gates instead of
letting them pass. The breaker and outage paths (exit 5) and ``--resume`` after a kill
are asserted in ``tests/test_e2e_resilience.py``, on the runs it already makes.

``--mock-api --mock-db`` at 1800x: the end of a run, not the target, is under test.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e_support import (
    ROOT,
    assert_full_report,
    harness_env,
    hours_in_csv,
    run_locust,
    start_locust,
    stop,
    wait_for,
)

pytestmark = pytest.mark.e2e

FAULTY = ROOT / "tests" / "fault_locustfile.py"
DRY = ["--headless", "--mock-api", "--mock-db", "--time-scale", "1800", "--ramp", "0:100",
       "--sim-start", "2026-01-10T09:00:00+00:00", "--drain-seconds", "2"]  # fmt: skip


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def test_a_run_that_ends_normally_writes_the_full_report_passes_its_gate_needs_no_db(tmp_path):
    """The clean end of a ``--mock-api --mock-db`` run. One run, three sets of checks (they
    were three identical runs):

    - the run's whole report (hours 0-2, completed, no stage failed);
    - a gate on a figure that does not depend on the box's speed holds and the run exits
      0 (an in-memory shop never fails a flow; gates that fail: tests/test_e2e_reports.py);
    - neither a database nor a server was needed: no Postgres started, the bundled sample
      of 372 personas, no reference API, and agents acted in every hour."""
    runs = tmp_path / "runs"
    r = run_locust([*DRY, "--sim-duration", "3h", "--run-id", "clean", "--runs-dir", str(runs),
                    "--threshold", "failed_flows=0"],
                   env=harness_env(None, tmp_path), cwd=tmp_path, timeout=120)  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    # The whole report.
    summary = assert_full_report(runs / "clean")
    assert hours_in_csv(runs / "clean") == [0, 1, 2]
    assert summary["time"]["sim_hours"] == 3
    m = _manifest(runs / "clean")
    assert m["status"] == "completed" and "end_errors" not in m
    # The gate that holds.
    assert "[PASS] threshold failed_flows=0: actual 0" in out
    # No database, no server. How many agent-hours got acted per hour depends on how fast
    # 372 users spawn (a busy box made it 371 once), so it is a lower bound of one, not 372.
    assert not (tmp_path / ".loadsim" / "pg").exists()  # no Postgres was started
    assert m["personas_total"] == 372  # the bundled sample: no database to read them from
    with open(runs / "clean" / "hours.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(0 < int(r["acted"]) <= 372 for r in rows), rows
    assert "reference_api" not in out
    # Nothing was sent anywhere: Locust's table is empty (its Aggregated row, 0 requests,
    # exit 0); what the agents did is the harness's own timings, one graph run per played
    # hour (shopping or idle browsing).
    with open(runs / "clean" / "locust_stats.csv", newline="") as fh:
        stats = [(s["Type"], s["Name"], s["Request Count"]) for s in csv.DictReader(fh)]
    assert stats == [("", "Aggregated", "0")], stats
    with open(runs / "clean" / "harness_timings.csv", newline="") as fh:
        timed = {t["name"]: int(t["count"]) for t in csv.DictReader(fh)}
    played = sum(int(r["shopped"]) + int(r["idle"]) for r in rows)
    assert timed["graph.shopping_graph"] == played > 0, (timed, played)
    assert not any(name.startswith("db.") for name in timed)  # --mock-db: no database


def test_sigterm_mid_run_writes_the_full_report(tmp_path):
    runs = tmp_path / "runs"
    proc = start_locust(
        [*DRY, "--sim-duration", "200h", "--run-id", "term", "--runs-dir", str(runs)],
        env=harness_env(None, tmp_path), cwd=tmp_path, log=tmp_path / "term.log",
    )  # fmt: skip
    hours = runs / "term" / "hours.csv"
    try:
        # hours.csv grows as hours end (not only at the run's end): wait for 3 rows.
        wait_for(lambda: hours.exists() and len(hours.read_text().splitlines()) >= 4,
                 timeout=120, what="three simulated hours")  # fmt: skip
        rc = stop(proc, signal.SIGTERM, timeout=90)
    finally:
        stop(proc, signal.SIGKILL)
    log = (tmp_path / "term.log").read_text()
    assert rc == 0, log[-3000:]
    summary = assert_full_report(runs / "term")
    got = hours_in_csv(runs / "term")
    assert got[0] == 0 and len(got) >= 3 and got == list(range(len(got)))
    assert summary["time"]["sim_hours"] == len(got)
    assert _manifest(runs / "term")["status"] == "stopped"


def test_errors_thrown_in_the_director_and_at_the_end_still_write_the_report(tmp_path):
    runs = tmp_path / "runs"
    env = harness_env(None, tmp_path, LOADSIM_TEST_FAULTS="director,end")
    r = run_locust([*DRY, "--sim-duration", "4h", "--run-id", "thrown", "--runs-dir", str(runs)],
                   env=env, cwd=tmp_path, timeout=120, locustfile=FAULTY)  # fmt: skip
    out = r.stdout + r.stderr
    assert "injected director fault" in out and "injected end fault" in out  # the faults ran
    assert r.returncode == 0, out[-3000:]
    assert_full_report(runs / "thrown")
    assert hours_in_csv(runs / "thrown") == [0, 1, 2, 3]
    # The stages that threw are named; Locust's totals were lost with the stats writer.
    assert _manifest(runs / "thrown")["end_errors"] == ["exit checkpoint", "Locust stats"]
    assert not (runs / "thrown" / "locust_stats.csv").exists()


def test_a_report_that_cannot_be_built_fails_the_gate_and_loadsim_report_rebuilds_it(
    tmp_path,
):
    runs = tmp_path / "runs"
    env = harness_env(None, tmp_path, LOADSIM_TEST_FAULTS="report")
    r = run_locust(
        [*DRY, "--sim-duration", "3h", "--run-id", "nogate", "--runs-dir", str(runs),
         "--threshold", "failed_flows=0"],
        env=env, cwd=tmp_path, timeout=120, locustfile=FAULTY,
    )  # fmt: skip
    out = r.stdout + r.stderr
    # The same gate holds on a report that builds (the clean-end run above): only the missing
    # report can fail it here.
    assert r.returncode == 3, out[-3000:]
    assert (
        "[FAIL] threshold failed_flows=0: not checked: no report "
        "(RuntimeError: injected report fault)" in out
    )
    assert not (runs / "nogate" / "summary.json").exists()
    assert _manifest(runs / "nogate")["exit_code"] == 3
    # The run's own outputs are there: the report can be rebuilt once the bug is gone.
    rebuilt = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", "nogate", "--runs-dir", str(runs),
         "--threshold", "failed_flows=0"],
        env=harness_env(None, tmp_path), cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert "Traceback" not in rebuilt.stderr
    assert_full_report(runs / "nogate")
