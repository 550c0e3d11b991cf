"""Every ``bench/bench_*.py`` runs: each in its ``--smoke`` mode (tiny sizes, seconds), as
a real process, exit 0 and no traceback. A refactor that breaks a bench fails here instead
of on the day someone re-measures; the figures a smoke run prints mean nothing and are not
read. Benches that need Postgres get a fresh database of the suite's embedded server
(``--db-url``) instead of starting their own; the three that start Locust are ``e2e``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BENCHES = sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))
HEAVY = ("bench_capacity.py", "bench_overhead.py", "bench_soak_memory.py")  # start Locust
NEEDS_DB = {  # given a fresh database (--db-url) rather than ~10 s of initdb of their own
    "bench_api.py", "bench_dataset.py", "bench_db_writes.py", "bench_offer_cycle.py",
    "bench_personas.py", "bench_reports.py", "bench_session_cost.py",
}  # fmt: skip
LIGHT = [b for b in BENCHES if b not in HEAVY]


def _run(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    for key in ("DATABASE_URL", "LOADSIM_DB_MAP", "LOADSIM_HOME"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--smoke", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _ran(r: subprocess.CompletedProcess) -> None:
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert r.stdout.strip(), r.stderr[-3000:]  # it printed its (meaningless) figures


def test_every_bench_has_a_smoke_run():
    """Every bench takes ``--smoke`` (``bench/_smoke.py``); one that starts Locust is among
    the heavy ones (an ``e2e`` test); a database given to one that does not take it would
    be refused, so the list names only benches that exist."""
    for name in BENCHES:
        text = (ROOT / "bench" / name).read_text()
        assert "add_smoke(" in text, f"{name}: no --smoke"
        starts_locust = "run_locust(" in text or "locust_cmd(" in text
        assert starts_locust == (name in HEAVY), name
        assert ("db_url=True" in text) == (name in NEEDS_DB), name
    assert set(HEAVY) <= set(BENCHES) and NEEDS_DB <= set(BENCHES)


@pytest.mark.parametrize("script", LIGHT)
def test_bench_runs_in_smoke_mode(script, pg_server):
    args: list[str] = []
    if script in NEEDS_DB:
        name = "smoke_" + script.removeprefix("bench_").removesuffix(".py")
        args = ["--db-url", pg_server.create_database(name, drop_first=True)]
    _ran(_run(script, *args, timeout=180))


@pytest.mark.e2e
@pytest.mark.parametrize("script", HEAVY)
def test_locust_bench_runs_in_smoke_mode(script, tmp_path):
    """One tiny Locust run each (``bench_overhead``: its recorded run and plain replay
    only — its five runs take a minute even at tiny sizes)."""
    _ran(_run(script, "--cache", str(tmp_path), timeout=240))
