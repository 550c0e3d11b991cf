"""Every exit path of a real ``locust`` run writes the run's whole report (issue 13):
the simulated period done, SIGTERM, errors thrown inside the director and at the run's
end; and a report that cannot be built fails the ``--threshold`` gates instead of
letting them pass. The breaker and outage paths (exit 5) and ``--resume`` after a kill
are asserted in ``tests/test_e2e_resilience.py``, on the runs it already makes.

``--mock-api --mock-db`` at 1800x: the end of a run, not the target, is under test.
"""

from __future__ import annotations

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


def test_a_run_that_ends_normally_writes_the_full_report(tmp_path):
    runs = tmp_path / "runs"
    r = run_locust([*DRY, "--sim-duration", "3h", "--run-id", "clean", "--runs-dir", str(runs)],
                   env=harness_env(None, tmp_path), cwd=tmp_path, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    summary = assert_full_report(runs / "clean")
    assert hours_in_csv(runs / "clean") == [0, 1, 2]
    assert summary["time"]["sim_hours"] == 3
    m = _manifest(runs / "clean")
    assert m["status"] == "completed" and "end_errors" not in m


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
    # The same gate holds on a report that builds (test_e2e_reports): only the missing
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
