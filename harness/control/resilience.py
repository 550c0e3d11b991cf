"""Resilience pieces the director composes (docs/ARCHITECTURE.md, Failures and exit codes):

- the circuit-breaker rule (pure);
- checkpoints: ``<runs-dir>/<run_id>/checkpoints/hour-<H>.json`` written atomically, plus
  the ``simulation_state`` row;
- resume: find the run and the hour to continue from (last checkpoint, or — with none —
  the first hour the run's ``hours.csv`` does not have, re-played).

The target health probe that detects an outage is in :mod:`harness.control.target`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from db.errors import ConfigError

log = logging.getLogger("loadsim")

CHECKPOINTS = "checkpoints"  # the run directory's subdirectory
LEGACY_CHECKPOINT_ROOT = Path("data") / "checkpoints"
"""Where runs written before checkpoints moved into the run directory kept them (relative
to the working directory): ``--resume`` of such a run still finds them."""


# ------------------------------------------------------------------ breaker


@dataclass(frozen=True)
class BreakerVerdict:
    hour: int
    active: int
    failed: int
    threshold_pct: float
    tripped: bool

    @property
    def failed_pct(self) -> float:
        return 100.0 * self.failed / self.active if self.active else 0.0


def breaker_verdict(
    *, hour: int, active: int, failed: int, threshold_pct: float, min_failures: int = 3
) -> BreakerVerdict:
    """Per the owner's plan: trip when more than ``threshold_pct`` of the agents
    active against the target in one simulated hour failed. ``active`` counts agents whose
    hour reached the target (a shopping session or an idle browse); hours with nothing to do
    are not flows. ``min_failures`` keeps one unlucky flow in a quiet hour (1 of 3 = 33 %)
    from stopping a long run; the owner's own example is 18 of 372."""
    tripped = (
        threshold_pct >= 0
        and active > 0
        and failed >= min_failures
        and 100.0 * failed / active > threshold_pct
    )
    return BreakerVerdict(hour, active, failed, threshold_pct, tripped)


def hour_flow_counts(
    engine: Engine, *, run_id: str, hour: int, since: datetime | None = None
) -> tuple[int, int]:
    """(active, failed) for one simulated hour, from the database (the source of truth:
    Locust's stats lose a dead worker's last seconds). ``since``: only rows this process
    wrote (a resumed run must not be judged on the failures that stopped the last one)."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT count(*) FILTER (WHERE decision IN ('shop', 'idle')) AS active,
                       count(*) FILTER (WHERE outcome = 'failed') AS failed
                FROM agent_hours WHERE run_id = :r AND sim_hour = :h
                  AND (CAST(:since AS timestamptz) IS NULL OR created_at >= :since)
                """
            ),
            {"r": run_id, "h": hour, "since": since},
        ).one()
    return int(row.active), int(row.failed)


# ------------------------------------------------------------------ checkpoints


@dataclass
class Checkpoint:
    run_id: str
    hour: int  # hours before this one were complete when it was written
    sim_time: str  # ISO: the simulated instant of the hour boundary
    seed: int
    time_scale: float
    offer_cycle: int
    ramp_fraction: float
    clock: dict[str, Any]
    counters: dict[str, int] = field(default_factory=dict)
    reason: str = "periodic"
    written_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def checkpoint_dir(run_id: str, runs_dir: Path) -> Path:
    """A run's checkpoints live with the run: ``<runs_dir>/<run_id>/checkpoints/``."""
    return runs_dir / run_id / CHECKPOINTS


def write_checkpoint(cp: Checkpoint, runs_dir: Path) -> Path:
    """Write atomically (temp file + rename): a crash never leaves a half checkpoint."""
    d = checkpoint_dir(cp.run_id, runs_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"hour-{cp.hour:06d}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(cp.to_json(), indent=2, default=str))
    os.replace(tmp, path)
    return path


def latest_checkpoint(
    run_id: str, runs_dir: Path, legacy_root: Path | None = LEGACY_CHECKPOINT_ROOT
) -> Checkpoint | None:
    """The run's newest readable checkpoint: in its run directory, else (a run written
    before they moved there) under ``legacy_root/<run_id>/``."""
    for d in (checkpoint_dir(run_id, runs_dir), *([legacy_root / run_id] if legacy_root else [])):
        files = sorted(d.glob("hour-*.json")) if d.exists() else []
        for path in reversed(files):
            try:
                return Checkpoint(**json.loads(path.read_text()))
            except (ValueError, TypeError) as exc:
                log.warning("ignoring unreadable checkpoint %s: %s", path, exc)
    return None


@dataclass(frozen=True)
class ResumePoint:
    run_id: str
    seed: int
    from_hour: int  # the clock restarts at the start of this hour
    replay_until_hour: int  # hours below this were (partly) run before: flagged is_replay
    source: str  # "checkpoint" | "database"
    config: dict[str, Any]


def written_hours(run_dir: Path | None) -> int:
    """How many hours from hour 0 on the run's ``hours.csv`` has (a row is appended when an
    hour is over and reported): the hour after the last of them is the first one no
    segment wrote. 0 without the file."""
    import csv

    from harness.outputs.run_files import HOURS_CSV

    path = (run_dir / HOURS_CSV) if run_dir is not None else None
    if path is None or not path.is_file():
        return 0
    seen: set[int] = set()
    try:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    seen.add(int(float(row.get("sim_hour") or "")))
                except ValueError:
                    continue
    except OSError as exc:
        log.warning("--resume: could not read %s (%s): re-playing from hour 0", path, exc)
        return 0
    n = 0
    while n in seen:
        n += 1
    return n


def resolve_resume(
    engine: Engine | None,
    wanted: str,
    runs_dir: Path,
    legacy_root: Path | None = LEGACY_CHECKPOINT_ROOT,
) -> ResumePoint:
    """``--resume RUN_ID`` or ``--resume last``: where to continue, or ``ConfigError``.

    ``runs_dir``: where the run's outputs are (``--runs-dir``): its checkpoints, or without
    one, its ``hours.csv``, which says which hours the earlier segment finished."""
    if engine is None:
        raise ConfigError("--resume needs the database (not --mock-db)")
    with engine.connect() as conn:
        if wanted in ("last", "latest", "1", "true"):
            row = conn.execute(
                text("SELECT run_id FROM simulation_runs ORDER BY started_at DESC LIMIT 1")
            ).first()
            if row is None:
                raise ConfigError("--resume last: there is no run in the database")
            wanted = row.run_id
        run = conn.execute(
            text("SELECT run_id, seed, config, status FROM simulation_runs WHERE run_id = :r"),
            {"r": wanted},
        ).first()
        if run is None:
            raise ConfigError(f"--resume {wanted}: no such run in simulation_runs")
        last = conn.execute(
            text("SELECT max(sim_hour) FROM agent_hours WHERE run_id = :r"), {"r": wanted}
        ).scalar()
    replay_until = (last + 1) if last is not None else 0
    cp = latest_checkpoint(wanted, runs_dir, legacy_root)
    if cp is not None:
        return ResumePoint(
            wanted, int(run.seed), cp.hour, replay_until, "checkpoint", run.config or {}
        )
    # No checkpoint (killed before its first one): continue from the first hour the earlier
    # segment did not write to hours.csv (0 without the file), re-playing those the
    # database has (flagged is_replay: "re-run but mark as replay", the owner's rule), as a
    # checkpoint's hour would. Continuing after the database's last hour lost the hours
    # played but not yet reported (seen: [0, 1, 2, 6, 7, 8]) and the agents of the cut
    # hour that had not acted yet.
    from_hour = written_hours(runs_dir / wanted)
    return ResumePoint(wanted, int(run.seed), from_hour, replay_until, "database", run.config or {})
