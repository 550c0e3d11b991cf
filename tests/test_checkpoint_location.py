"""Checkpoints live with the run: ``<runs-dir>/<run_id>/checkpoints/``, wherever
``--runs-dir`` points; ``--resume`` of a run written before they moved there still finds
them in the working directory's ``data/checkpoints/<run_id>/``."""

from __future__ import annotations

from pathlib import Path

from harness.control.resilience import (
    Checkpoint,
    checkpoint_dir,
    latest_checkpoint,
    write_checkpoint,
)


def _cp(hour: int, run_id: str = "r") -> Checkpoint:
    return Checkpoint(run_id=run_id, hour=hour, sim_time="x", seed=1, time_scale=96,
                      offer_cycle=0, ramp_fraction=1.0, clock={"real_t0": 1.0})  # fmt: skip


def test_written_under_the_runs_dir(tmp_path: Path) -> None:
    runs = tmp_path / "elsewhere" / "runs"
    path = write_checkpoint(_cp(7), runs)
    assert path == runs / "r" / "checkpoints" / "hour-000007.json"
    assert checkpoint_dir("r", runs) == path.parent
    assert latest_checkpoint("r", runs, legacy_root=None).hour == 7
    assert latest_checkpoint("r", tmp_path / "runs", legacy_root=None) is None


def test_an_older_runs_checkpoints_are_found_where_they_were(tmp_path: Path) -> None:
    legacy, runs = tmp_path / "data" / "checkpoints", tmp_path / "runs"
    write_checkpoint(_cp(4), tmp_path / "scratch")
    (legacy / "r").mkdir(parents=True)
    (tmp_path / "scratch" / "r" / "checkpoints" / "hour-000004.json").rename(
        legacy / "r" / "hour-000004.json"
    )
    assert latest_checkpoint("r", runs, legacy_root=legacy).hour == 4
    assert latest_checkpoint("r", runs, legacy_root=None) is None
    # The run directory's own checkpoints win over the old location's.
    write_checkpoint(_cp(2), runs)
    assert latest_checkpoint("r", runs, legacy_root=legacy).hour == 2
