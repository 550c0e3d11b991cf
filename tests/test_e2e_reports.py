"""Reports on real runs: the outputs of a run, CI gates' exit codes, and a
time-scale comparison of two real runs over the same simulated period."""

from __future__ import annotations

import json
import subprocess
import sys

import openpyxl
import pytest

from db import migrate
from db.engine import create_db_engine
from tests.e2e_support import harness_env, run_locust, seed_small_population

pytestmark = pytest.mark.e2e

DRY = ["--headless", "--mock-api", "--mock-db", "--time-scale", "1800", "--ramp", "0:100",
       "--sim-start", "2026-01-10T09:00:00+00:00", "--drain-seconds", "2", "--sim-duration", "3h"]  # fmt: skip


def test_a_gate_that_fails_exits_3_and_a_malformed_one_exits_2(tmp_path):
    """Gates on figures that do not depend on the box's speed: a slip below 0.0001 % of an
    hour cannot hold, and ``--mock-api`` makes no HTTP request, so ``error_rate`` is not
    measured — and an unmeasured gate fails. (A gate that holds exits 0: the clean-end run
    of ``tests/test_e2e_run_end.py`` carries ``--threshold failed_flows=0``.)"""
    env = harness_env(None, tmp_path)
    bad = run_locust([*DRY, "--run-id", "gate-bad", "--runs-dir", str(tmp_path / "runs"),
                      "--threshold", "slip_p99<0.0001%", "--threshold", "error_rate<1%"],
                     env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    out = bad.stdout + bad.stderr
    assert bad.returncode == 3, bad.stderr[-2000:]
    assert "[FAIL] threshold slip_p99<0.0001%" in out
    assert "[FAIL] threshold error_rate<1%: actual None" in out  # not measured: fails
    # A malformed gate is bad input: exit 2 before the run starts, one readable line,
    # and nothing written (a fresh directory, so an earlier run's outputs cannot hide it).
    fresh = tmp_path / "malformed"
    fresh.mkdir()
    malformed = run_locust(
        [*DRY, "--threshold", "p95 is small", "--run-id", "gate-malformed",
         "--runs-dir", str(fresh / "runs")],
        env=harness_env(None, fresh), cwd=fresh, timeout=60,
    )  # fmt: skip
    assert malformed.returncode == 2, malformed.stderr[-2000:]
    assert "--threshold 'p95 is small'" in malformed.stderr
    assert "Traceback" not in malformed.stderr
    assert list(fresh.iterdir()) == [], list(fresh.rglob("*"))


def test_compare_48x_and_96x_of_the_same_simulated_period(pg_server, tmp_path):
    url = pg_server.create_database("e2e_compare", drop_first=True)
    migrate.upgrade(url)
    eng = create_db_engine(url, total_connections=4)
    seed_small_population(eng, n=60)
    env = harness_env(url, tmp_path)
    runs = tmp_path / "runs"
    common = ["--headless", "--sim-start", "2026-01-10T09:00:00+00:00", "--ramp", "0:100",
              "--sim-duration", "3h", "--seed", "5", "--drain-seconds", "3", "--rate-limit", "0",
              "--runs-dir", str(runs)]  # fmt: skip
    # 720x and 1440x keep the test short; the comparison is the same as for 48x vs 96x.
    for scale, rid in (("720", "slow"), ("1440", "fast")):
        r = run_locust([*common, "--time-scale", scale, "--run-id", rid], env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        wb = openpyxl.load_workbook(runs / rid / "report.xlsx", read_only=True)
        for ws in wb.worksheets:
            assert ws.max_row >= 2, f"{rid}: sheet {ws.title} is empty"
        assert list((runs / rid / "plots").glob("*.png"))
        assert json.loads((runs / rid / "summary.json").read_text())
    out = tmp_path / "cmp"
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "compare", "slow", "fast", "--runs-dir", str(runs), "-o", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "slow" in r.stdout and "fast" in r.stdout
    assert (out / "comparison.xlsx").exists()
    result = json.loads((out / "comparison.json").read_text())
    # Same seed, same simulated period, a target that keeps up: no behavior row is flagged.
    assert result["behavior"], "no behavior rows compared"
    flagged = [m["metric"] for m in result["behavior"] if m["flagged"]]
    assert flagged == [], flagged
    assert "DIFFERS" not in r.stdout
    eng.dispose()
