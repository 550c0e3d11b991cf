"""The gevent/psycopg import-order guard, in fresh interpreters (import order is global)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

GUARD = "from harness.agent.gevent_guard import ensure_gevent_safe_psycopg; ensure_gevent_safe_psycopg()"


def _run(code: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k != "PSYCOPG_WAIT_FUNC"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_guard_trips_when_psycopg_imported_before_patching():
    r = _run(f"import psycopg\nfrom gevent import monkey; monkey.patch_all()\n{GUARD}")
    assert r.returncode != 0
    assert "GeventPsycopgOrderError" in r.stderr
    assert "imported before gevent" in r.stderr


def test_guard_passes_in_the_right_order():
    r = _run(f"from gevent import monkey; monkey.patch_all()\nimport psycopg\n{GUARD}")
    assert r.returncode == 0, r.stderr


def test_guard_passes_after_importing_locust_first():
    r = _run(f"import locust\nimport sqlalchemy, psycopg\nfrom db import engine\n{GUARD}")
    assert r.returncode == 0, r.stderr


def test_escape_hatch_env_var_makes_late_import_safe():
    r = _run(
        f"import psycopg\nfrom gevent import monkey; monkey.patch_all()\n{GUARD}",
        {"PSYCOPG_WAIT_FUNC": "wait_poll"},
    )
    assert r.returncode == 0, r.stderr


def test_guard_trips_without_gevent_at_all():
    r = _run(f"import psycopg\n{GUARD}")
    assert r.returncode != 0 and "has not monkey-patched" in r.stderr
