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
    assert r.returncode == 2, r.stderr  # exit 2 naming what is missing, never a traceback
    assert "Traceback" not in r.stderr
    fails = " ".join(line for line in r.stdout.splitlines() if line.startswith("[FAIL]"))
    assert "migrations applied" in fails
    for concept in ("users", "agents", "shopping_sessions"):
        assert f" {concept}" in r.stderr  # the closing line names each missing concept
    _loadsim("db", "upgrade", url=url)
    r = _loadsim("db", "check", url=url)
    fails = " ".join(line for line in r.stdout.splitlines() if line.startswith("[FAIL]"))
    assert r.returncode == 2
    for item in ("active agents", "frontstore coupons", "category/brand coupons", "products"):
        assert item in fails
    assert "migrations applied" not in fails
    assert "missing or wrong in the database" not in r.stderr  # every concept found


def test_check_reports_unreachable_target(pg_server):
    url = pg_server.create_database("test_cli_check2", drop_first=True)
    r = _loadsim("db", "check", "--host", "http://127.0.0.1:9", url=url)
    assert r.returncode == 2
    assert "[FAIL] target in SIMULATION_MODE" in r.stdout


DOCUMENTED = {
    "db": ["upgrade", "status", "check"],
    "personas": ["validate", "seed", "sample"],
    "catalog": ["seed"],
    "target": ["serve"],
    "calibrate": ["--weeks", "--seed", "--limit", "--alpha"],
    "report": ["--runs-dir", "--threshold", "--no-db"],
    "compare": ["--runs-dir", "--out"],
    "export-events": ["--run", "--out"],
    "dataset": ["--runs-dir", "--out", "--no-generator", "--split"],
    "demo": ["--time-scale", "--sim-duration", "--seed", "--processes"],
}
"""The commands and options the README documents: each must be listed by ``--help``."""


def test_help_lists_every_documented_command_and_option():
    import re

    from harness.cli import build_parser

    parser = build_parser()
    top = parser.format_help()
    for name in DOCUMENTED:
        assert re.search(rf"^\s+{re.escape(name)}\b", top, re.MULTILINE), f"{name} not in --help"
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(DOCUMENTED) <= set(sub.choices)
    for name, items in DOCUMENTED.items():
        text = sub.choices[name].format_help()
        for item in items:
            # A row of the help's listing: "  seed   ...", "  --weeks WEEKS", "  -o OUT, --out OUT"
            row = rf"^\s+(?:-\w(?: \S+)?, )?{re.escape(item)}\b"
            assert re.search(row, text, re.MULTILINE), f"loadsim {name} --help lacks {item}"
