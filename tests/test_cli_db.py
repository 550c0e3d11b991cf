"""``loadsim db`` on a real database: status lists every table; check names each gap."""

from __future__ import annotations

import os
import subprocess
import sys

from db.models import metadata


def _loadsim(*args: str, url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_upgrade_then_status_lists_every_table(pg_server):
    url = pg_server.create_database("test_cli_status", drop_first=True)
    up = _loadsim("db", "upgrade", url=url)
    assert up.returncode == 0, up.stderr
    st = _loadsim("db", "status", url=url)
    assert st.returncode == 0, st.stderr
    for table in metadata.tables:
        assert table in st.stdout
    assert "missing" not in st.stdout


def test_check_on_empty_database_names_each_missing_item(pg_server):
    url = pg_server.create_database("test_cli_check", drop_first=True)
    r = _loadsim("db", "check", url=url)
    assert r.returncode == 1
    fails = [line for line in r.stdout.splitlines() if line.startswith("[FAIL]")]
    names = " ".join(fails)
    for item in ("migrations applied", "tables present"):
        assert item in names
    _loadsim("db", "upgrade", url=url)
    r = _loadsim("db", "check", url=url)
    fails = " ".join(line for line in r.stdout.splitlines() if line.startswith("[FAIL]"))
    assert r.returncode == 1
    for item in ("active agents", "frontstore coupons", "category/brand coupons", "products"):
        assert item in fails
    assert "migrations applied" not in fails


def test_check_reports_unreachable_target(pg_server):
    url = pg_server.create_database("test_cli_check2", drop_first=True)
    r = _loadsim("db", "check", "--host", "http://127.0.0.1:9", url=url)
    assert r.returncode == 1
    assert "[FAIL] target in SIMULATION_MODE" in r.stdout


def test_every_subcommand_has_help():
    from harness.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.format_help().strip(), name
