"""``loadsim demo`` points at the run's outputs only when the run directory exists: a run
refused at start (e.g. ``--time-scale 0``) must not be followed by paths to nothing.
Locust itself is replaced (unit test: no real run); its exit code is passed through."""

from __future__ import annotations

from pathlib import Path

from harness.cli.app import main
from harness.cli.commands import run as demo_cmd


def _fake_locust(make_dir: bool, rc: int):
    def call(cmd, cwd=None, env=None):
        if make_dir:
            run_id = cmd[cmd.index("--run-id") + 1]
            (Path(cwd) / "runs" / run_id).mkdir(parents=True)
        return rc

    return call


def test_a_refused_demo_prints_no_run_paths(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo_cmd.subprocess, "call", _fake_locust(False, 2))
    assert main(["demo", "--time-scale", "0"]) == 2
    out = capsys.readouterr().out
    assert "run outputs:" not in out and "rebuild the report" not in out


def test_a_demo_that_ran_prints_its_paths(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo_cmd.subprocess, "call", _fake_locust(True, 0))
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "run outputs: runs/demo-" in out and "rebuild the report: " in out
