"""The run manifest: everything needed to know what a run was and to repeat it."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from db.engine import redact

if TYPE_CHECKING:
    from db.settings import SimSettings
    from harness.config.messages import RunConfig
    from harness.config.options import HarnessOptions


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )  # fmt: skip
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_manifest(*, run: RunConfig, opts: HarnessOptions, settings: SimSettings,
                   personas_total: int, processes: int, target: str | None,
                   embedded: bool) -> dict[str, Any]:  # fmt: skip
    persona_file = Path(opts.personas) if opts.personas else None
    if persona_file is None:
        from personas import SAMPLE_PATH

        persona_file = Path(SAMPLE_PATH)
    return {
        "run_id": run.run_id,
        "seed": opts.seed,
        "time_scale": opts.time_scale,
        "sim_start": opts.sim_start.isoformat(),
        "sim_duration_hours": opts.sim_duration_hours,
        "ramp": [list(s) for s in opts.ramp],
        "persona_file": str(persona_file),
        "persona_file_sha256": file_sha256(persona_file),
        "personas_total": personas_total,
        "code_version": code_version(),
        "started_at": datetime.now(UTC).isoformat(),
        "mock_api": opts.mock_api,
        "mock_db": opts.mock_db,
        "target": "in-memory shop (--mock-api)"
        if opts.mock_api
        else (
            "embedded reference_api " + (target or "")
            if embedded
            else redact(target)
            if target
            else None
        ),  # fmt: skip
        "database": _database(run, opts, settings),
        "rate_limit": opts.rate_limit,
        "pace": "on" if getattr(opts, "pace", True) else "off",
        "processes": processes,
        "settings": settings.model_dump(exclude={"database_url"}),
        "options": opts.to_json(),
    }


def _database(run: RunConfig, opts: HarnessOptions, settings: SimSettings) -> str:
    """What the database really was: the run config's fingerprint (user, host,
    port, database — never a password), ``embedded Postgres (…)`` only for the embedded
    default."""
    if opts.mock_db:
        return "none (--mock-db)"
    fp = getattr(run, "fingerprint", None)
    return fp.describe() if fp is not None else redact(settings.database_url)


SEGMENT_KEYS = ("started_at", "time_scale", "processes", "code_version")
"""What may differ between the segments of one run (a ``--resume`` may change the time
scale, the processes or the code); the run's identity (seed, simulated start, ramp,
personas) may not."""
END_KEYS = ("ended_at", "status", "exit_code", "sim_end", "end_errors")


def start_segment(previous: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The manifest for a segment that starts now.

    A fresh run gets ``segments: [1]``. A ``--resume`` of the run in ``previous`` keeps
    that run's first ``started_at`` and its segments (one that never ended — a killed
    master — is marked ``interrupted``) and appends its own, so the manifest describes
    the whole run. ``previous`` may predate segments: it then becomes segment 1.
    """
    seg = {k: new.get(k) for k in SEGMENT_KEYS}
    resumed = bool((new.get("options") or {}).get("resume"))
    if not resumed or not previous or previous.get("run_id") != new.get("run_id"):
        return {**new, "segments": [{"segment": 1, **seg}]}
    segments = [dict(s) for s in previous.get("segments") or []]
    if not segments:
        first = {k: previous.get(k) for k in SEGMENT_KEYS}
        segments = [{"segment": 1, **first, **{k: previous[k] for k in END_KEYS if k in previous}}]
    for s in segments:
        if not s.get("ended_at"):
            s["status"] = "interrupted"
    segments.append({"segment": len(segments) + 1, **seg})
    return {**new, "started_at": previous.get("started_at", new.get("started_at")),
            "segments": segments}  # fmt: skip
