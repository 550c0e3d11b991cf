"""Every ``bench/bench_*.py`` runs: each in its ``--smoke`` mode (tiny sizes, seconds), as
a real process, exit 0 and no traceback. A refactor that breaks a bench fails here instead
of on the day someone re-measures; the figures a smoke run prints mean nothing and are not
read. Benches that need Postgres get a fresh database of the suite's embedded server
(``--db-url``) instead of starting their own; the three that start Locust are ``e2e``.
The light ones that do not patch the standard library run one after another in one process
(``bench/_smoke.py``: their shared imports paid once), each still its own test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BENCHES = sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))
HEAVY = ("bench_capacity.py", "bench_llm.py", "bench_overhead.py", "bench_soak_memory.py")
"""They start Locust (``bench_llm.py`` in its ``--slip-agents`` mode; its smoke mode asks a
scripted loopback server, so that Locust path is not smoked)."""
NEEDS_DB = {  # given a fresh database (--db-url) rather than ~10 s of initdb of their own
    "bench_api.py", "bench_dataset.py", "bench_db_writes.py", "bench_offer_cycle.py",
    "bench_personas.py", "bench_reports.py", "bench_session_cost.py",
}  # fmt: skip
LIGHT = [b for b in BENCHES if b not in HEAVY]
OWN_PROCESS = ("bench_db_writes.py", "bench_session_cost.py")  # gevent-patched before imports
SHARED = [b for b in LIGHT if b not in OWN_PROCESS]


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
    the heavy ones (an ``e2e`` test), one that patches the standard library runs in its own
    process; a database given to one that does not take it would be refused, so the list
    names only benches that exist."""
    for name in BENCHES:
        text = (ROOT / "bench" / name).read_text()
        assert "add_smoke(" in text, f"{name}: no --smoke"
        starts_locust = "run_locust(" in text or "locust_cmd(" in text
        assert starts_locust == (name in HEAVY), name
        assert ("db_url=True" in text) == (name in NEEDS_DB), name
        if name in LIGHT:  # gevent's patching must come first: such a bench has its own process
            patches = "patch_all(" in text or "\nimport locust" in text or "\nfrom locust" in text
            assert patches == (name in OWN_PROCESS), name
    assert set(HEAVY) <= set(BENCHES) and NEEDS_DB <= set(BENCHES)
    assert set(OWN_PROCESS) <= set(LIGHT)


def _args(script: str, pg_server) -> list[str]:
    if script not in NEEDS_DB:
        return []
    name = "smoke_" + script.removeprefix("bench_").removesuffix(".py")
    return ["--db-url", pg_server.create_database(name, drop_first=True)]


@pytest.fixture(scope="module")
def shared_run(pg_server) -> dict[str, subprocess.CompletedProcess]:
    """The ``SHARED`` benches' smoke runs in one process, split into one result each."""
    import json

    runs = [[script, *_args(script, pg_server)] for script in SHARED]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    for key in ("DATABASE_URL", "LOADSIM_DB_MAP", "LOADSIM_HOME"):
        env.pop(key, None)
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "_smoke.py"), json.dumps(runs)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60 * len(runs),
    )  # fmt: skip
    out, err = _framed(r.stdout), _framed(r.stderr)
    results = {}
    for script in SHARED:
        o_text, o_rc = out.get(script, ("", None))
        e_text, _ = err.get(script, ("", None))
        rc = o_rc if o_rc is not None else -1  # never reached its end: a failure
        results[script] = subprocess.CompletedProcess([script], rc, o_text, e_text)
    if r.returncode != 0 and all(c.returncode == 0 for c in results.values()):
        raise AssertionError(f"the shared smoke process failed: {(r.stdout + r.stderr)[-3000:]}")
    return results


def _framed(text: str) -> dict[str, tuple[str, int | None]]:
    """Each bench's part of a stream framed by ``bench/_smoke.py`` (its text, its rc)."""
    from bench._smoke import BEGIN, END

    parts: dict[str, tuple[str, int | None]] = {}
    script, lines = None, []
    for line in text.splitlines():
        if line.startswith(BEGIN + " "):
            script, lines = line.split(" ", 1)[1], []
        elif line.startswith(END + " ") and script is not None:
            parts[script] = ("\n".join(lines), int(line.rsplit("rc=", 1)[1]))
            script = None
        elif script is not None:
            lines.append(line)
            parts[script] = ("\n".join(lines), None)
    return parts


@pytest.mark.xdist_group("bench-smoke")  # one worker runs the shared process once
@pytest.mark.parametrize("script", SHARED)
def test_bench_runs_in_smoke_mode(script, shared_run):
    _ran(shared_run[script])


@pytest.mark.parametrize("script", OWN_PROCESS)
def test_patching_bench_runs_in_smoke_mode(script, pg_server):
    _ran(_run(script, *_args(script, pg_server), timeout=180))


@pytest.mark.e2e
@pytest.mark.parametrize("script", HEAVY)
def test_locust_bench_runs_in_smoke_mode(script, tmp_path):
    """One tiny Locust run each (``bench_overhead``: its recorded run and plain replay
    only — its five runs take a minute even at tiny sizes)."""
    cache = [] if script == "bench_llm.py" else ["--cache", str(tmp_path)]
    _ran(_run(script, *cache, timeout=240))
