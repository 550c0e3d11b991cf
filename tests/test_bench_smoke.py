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

LIGHT = {  # bench -> needs a database (--db-url)
    "bench_graph.py": False,
    "bench_sketch.py": False,
    "bench_llm.py": False,  # smoke: the scripted loopback server, not the real model
    "bench_personas.py": True,
    "bench_reports.py": True,
    "bench_offer_cycle.py": True,
    "bench_db_writes.py": True,
    "bench_api.py": True,
    "bench_session_cost.py": True,
}
HEAVY = ("bench_capacity.py", "bench_overhead.py", "bench_soak_memory.py")  # start Locust


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
    """A new bench gets a smoke run on purpose (here, light or heavy), not by default."""
    benches = sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))
    assert benches == sorted([*LIGHT, *HEAVY])
    for name in benches:
        assert "add_smoke(" in (ROOT / "bench" / name).read_text(), name


@pytest.mark.parametrize("script", sorted(LIGHT))
def test_bench_runs_in_smoke_mode(script, pg_server):
    args: list[str] = []
    if LIGHT[script]:
        name = "smoke_" + script.removeprefix("bench_").removesuffix(".py")
        args = ["--db-url", pg_server.create_database(name, drop_first=True)]
    _ran(_run(script, *args, timeout=180))


@pytest.mark.e2e
@pytest.mark.parametrize("script", HEAVY)
def test_locust_bench_runs_in_smoke_mode(script, tmp_path):
    """One tiny Locust run each (``bench_overhead``: its recorded run and plain replay
    only — its five runs take a minute even at tiny sizes)."""
    _ran(_run(script, "--cache", str(tmp_path), timeout=240))
