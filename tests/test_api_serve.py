"""Serving entry points: bad options are exit 2 with a clear message; ``loadsim target
serve`` runs exactly ``python -m reference_api`` with the same options."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **(env or {})),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workers", "0"), "--workers"),
        (("--db-connections", "1", "--workers", "2"), "--db-connections"),
        (("--port", "70000"), "--port"),
    ],
)
def test_bad_serve_options_exit_2_naming_the_option(args, message):
    r = _run("-m", "reference_api", *args, env={"DATABASE_URL": "postgresql://u@h/db"})
    assert r.returncode == 2, r.stderr
    assert message in r.stderr


def test_bad_settings_exit_2_naming_the_variable():
    r = _run("-m", "reference_api", env={"DATABASE_URL": "postgresql://u@h/db", "TIME_SCALE": "-1"})
    assert r.returncode == 2
    assert "time_scale" in r.stderr.lower() or "TIME_SCALE" in r.stderr


def test_loadsim_target_serve_runs_the_reference_api_module():
    from harness.cli import build_parser
    from harness.commands.target import command_line

    args = build_parser().parse_args(
        ["target", "serve", "--port", "8123", "--workers", "2", "--db-connections", "10"]
    )
    argv = command_line(args)
    assert argv[:3] == [sys.executable, "-m", "reference_api"]
    assert argv[3:] == [
        "--host", "127.0.0.1", "--port", "8123", "--workers", "2", "--db-connections", "10",
    ]  # fmt: skip
    r = _run(
        "-m",
        "harness.cli",
        "target",
        "serve",
        "--workers",
        "0",
        env={"DATABASE_URL": "postgresql://u@h/db"},
    )
    assert r.returncode == 2 and "--workers" in r.stderr
