"""``loadsim demo`` (the README's first command), short: the embedded default end to end —
its own Postgres, the reference API, the bundled personas, a headless run and the
summary — from an empty home directory and no DATABASE_URL."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pandas as pd
import pytest

from tests.e2e_support import assert_locust_counts_equal_api, harness_env

pytestmark = pytest.mark.e2e


def test_demo_runs_on_the_embedded_default_and_writes_the_report(tmp_path):
    env = harness_env(None, tmp_path, REFERENCE_API_REQUEST_LOG=str(tmp_path / "api.log"))
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "demo", "--time-scale", "1800",
         "--sim-duration", "3h", "--", "--ramp", "0:100", "--drain-seconds", "2"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").glob("demo-*")
    assert f"run outputs: runs/{run_dir.name}/" in r.stdout
    assert (tmp_path / ".loadsim").is_dir()  # the embedded Postgres lives in LOADSIM_HOME
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["load"]["requests"] > 0  # real HTTP against the embedded reference API
    assert summary["load"]["failures"] == 0
    assert summary["behavior"]["overall"]["shop_sessions"] > 0
    assert (run_dir / "report.xlsx").stat().st_size > 0
    # report.html: its data block carries summary.json's verdict; six charts drawn.
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    block = page.split('id="loadsim-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(block)["verdict"] == summary["verdict"]
    assert page.count("<svg") == 6 and summary["verdict"]["api"]["held"] is True
    # Locust's table holds the API's requests only, each endpoint's count as the API's;
    # the harness's own timings are in their own CSV.
    figures = assert_locust_counts_equal_api(run_dir, tmp_path / "api.log")
    assert summary["load"]["requests"] == figures["locust"]
    timed = {t["name"] for t in summary["harness_timings"]}
    assert {"db.claim_hour", "graph.shopping_graph", "lease.round_trip"} <= timed, timed
    assert list((run_dir / "plots").glob("*.png"))
    # the training dataset: five Parquet files pandas loads; every agent-hour recorded
    hours = list(csv.DictReader((run_dir / "hours.csv").open()))
    ds = {n: pd.read_parquet(run_dir / "dataset" / f"{n}.parquet")
          for n in ("events", "sessions", "orders", "agent_hours", "personas")}  # fmt: skip
    assert (
        len(ds["agent_hours"])
        == sum(int(r["acted"]) + int(r["missed"]) - int(r["unheld"]) for r in hours)
        > 0
        and len(ds["sessions"]) == summary["behavior"]["overall"]["sessions"]
    )
