"""Collect a run's files: the manifest, Locust's CSVs and the director's ``hours.csv``.

Every file is optional (a run killed early, a ``--mock-db`` run, a test fixture): a
missing file gives an empty frame with the expected columns and a note, never an error.
A file that exists but cannot be parsed is bad input: ``ConfigError`` naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from db.errors import ConfigError
from reports import hour_table

LOCUST_PREFIX = "locust"
PERCENTILE_COLUMNS = (
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
)
"""Locust 2.47's ``get_readable_percentiles(PERCENTILES_TO_REPORT)``."""

STATS_COLUMNS = (
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    *PERCENTILE_COLUMNS,
)
HISTORY_COLUMNS = (
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    *PERCENTILE_COLUMNS,
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
)
FAILURES_COLUMNS = ("Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen")
EXCEPTIONS_COLUMNS = ("Count", "Message", "Traceback", "Nodes")
HOURS_COLUMNS = hour_table.HOUR_COLUMNS
HOURS_NUMERIC = hour_table.NUMERIC_COLUMNS


@dataclass
class RunFiles:
    """What a run directory holds, as frames (empty frames for missing files)."""

    run_dir: Path
    manifest: dict[str, Any]
    stats: pd.DataFrame
    history: pd.DataFrame
    failures: pd.DataFrame
    exceptions: pd.DataFrame
    hours: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    present: dict[str, bool] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """The manifest's run id, or the directory name when there is no manifest."""
        return str(self.manifest.get("run_id") or self.run_dir.name)


def read_run_files(run_dir: Path) -> RunFiles:
    """Read everything a run left in ``run_dir``.

    Args:
        run_dir: ``runs/<run_id>/``.

    Returns:
        The frames; ``notes`` says which optional files were missing.

    Raises:
        ConfigError: ``run_dir`` is not a directory, or a file exists but is malformed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} does not exist")
    notes: list[str] = []
    present: dict[str, bool] = {}

    manifest_path = run_dir / "manifest.json"
    manifest: dict[str, Any] = {}
    present["manifest.json"] = manifest_path.is_file()
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{manifest_path}: not valid JSON ({exc})") from exc
        if not isinstance(manifest, dict):
            raise ConfigError(f"{manifest_path}: expected a JSON object")
    else:
        notes.append("manifest.json missing: run settings unknown")

    def csv(name: str, columns: tuple[str, ...], numeric: tuple[str, ...] = ()) -> pd.DataFrame:
        path = run_dir / name
        present[name] = path.is_file()
        if not path.is_file():
            notes.append(f"{name} missing")
            return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
        return _read_csv(path, columns, numeric)

    stats = csv(
        f"{LOCUST_PREFIX}_stats.csv",
        STATS_COLUMNS,
        tuple(c for c in STATS_COLUMNS if c not in ("Type", "Name")),
    )
    history = csv(
        f"{LOCUST_PREFIX}_stats_history.csv",
        HISTORY_COLUMNS,
        tuple(c for c in HISTORY_COLUMNS if c not in ("Type", "Name")),
    )
    failures = csv(f"{LOCUST_PREFIX}_failures.csv", FAILURES_COLUMNS, ("Occurrences",))
    exceptions = csv(f"{LOCUST_PREFIX}_exceptions.csv", EXCEPTIONS_COLUMNS, ("Count",))
    hours = csv("hours.csv", HOURS_COLUMNS, HOURS_NUMERIC)
    for col in ("sim_time", "real_time"):
        if col in hours and len(hours):
            hours[col] = pd.to_datetime(hours[col], utc=True, errors="coerce", format="ISO8601")
    if len(hours):
        hours = combine_segments(hours.dropna(subset=["sim_hour"]))
    return RunFiles(run_dir, manifest, stats, history, failures, exceptions, hours, notes, present)


def _read_csv(path: Path, columns: tuple[str, ...], numeric: tuple[str, ...]) -> pd.DataFrame:
    try:
        # keep_default_na=False: Locust's "Aggregated" row has an empty Type, which must
        # stay "" (not NaN) so HTTP/non-HTTP filtering stays a string comparison.
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse CSV ({exc})") from exc
    except pd.errors.EmptyDataError:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    # Only the key columns are required; other missing columns are added empty (an
    # older or newer writer may differ slightly) and extra columns are kept.
    required = [c for c in ("Type", "Name", "sim_hour", "Error", "Message") if c in columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
    for col in columns:
        if col not in df.columns:
            df[col] = None
    for col in numeric:
        if col in df.columns:
            # Locust writes "N/A" for percentiles of entries without requests.
            df[col] = pd.to_numeric(df[col].replace({"N/A": None, "": None}), errors="coerce")
    return df


def combine_segments(hours: pd.DataFrame) -> pd.DataFrame:
    """One row per simulated hour, sorted. A resumed run's later segment re-plays the
    hours after its checkpoint for the agents that had not acted yet, so an hour can have
    a row from each segment: counts add up; users and slip percentiles take the larger
    (a conservative bound — percentiles do not add); times, shape and cycle come from the
    latest segment, so each segment's real times stay consistent with each other.

    Counters cannot tell a re-played quiet hour from a new one, so with the database the
    report recounts the re-played hours from it (``reports.timing.fill_missing_hours``);
    ``--no-db`` keeps these sums."""
    seg = hour_table.SEGMENT_COLUMN
    h = hours.copy()
    h[seg] = pd.to_numeric(h[seg], errors="coerce").fillna(1) if seg in h else 1
    h = h.sort_values(["sim_hour", seg], kind="stable")
    if not h["sim_hour"].duplicated().any():
        return h.reset_index(drop=True)
    agg: dict[str, Any] = {c: "last" for c in h.columns if c != "sim_hour"}
    agg.update(dict.fromkeys((c for c in hour_table.SUMMED_COLUMNS if c in h), "sum"))
    big = ("target_users", "live_users", *hour_table.SLIP_COLUMNS, "slip_p99_pct_hour")
    agg.update(dict.fromkeys((c for c in big if c in h), "max"))
    return h.groupby("sim_hour", as_index=False, sort=True).agg(agg)
