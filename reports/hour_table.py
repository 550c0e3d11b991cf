"""The per-simulated-hour table (``runs/<run_id>/hours.csv``): one definition of its
columns for everyone who writes or reads it.

Per-hour numbers travel two roads — the processes' live counters, written by the
harness (``harness/control/finish.py`` → ``harness/outputs/run_files.py``), and the
database rows the report rebuilds the same table from when the file lacks hours
(``reports.timing.hours_from_db``). Both roads, the reader (``reports.sources``) and the
tests' fixtures build their rows from the tuples here, so the columns cannot drift.

Pure Python (no pandas): the harness imports it inside Locust processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KEY_COLUMNS = ("sim_hour",)
TIME_COLUMNS = ("sim_time", "real_time")
"""ISO 8601 instants: the hour's simulated start and the real time it started (empty
when unknown — e.g. rebuilt from the database)."""
SHAPE_COLUMNS = ("stage_fraction", "target_users", "live_users")
COUNT_COLUMNS = (
    "acted",
    "shopped",
    "idle",
    "completed",
    "abandoned",
    "failed",
    "missed",
)
"""Agent-hours by outcome; ``orders`` (below) is a count too."""
UNHELD_COLUMN = "unheld"
"""Of ``missed``: agent-hours nobody acted because the worker holding the persona died
(the harness counts them missed, ``harness.control.hour_book``). The database has
no row for them, so the report adds them to its missed sessions."""
SLIP_COLUMNS = ("slip_p50_s", "slip_p95_s", "slip_p99_s")
SEGMENT_COLUMN = "segment"
"""Which run segment wrote the row: 1, then 2, … for each ``--resume`` of the run."""

HOUR_COLUMNS = (
    *KEY_COLUMNS,
    *TIME_COLUMNS,
    *SHAPE_COLUMNS,
    *COUNT_COLUMNS,
    UNHELD_COLUMN,
    *SLIP_COLUMNS,
    "slip_p99_pct_hour",
    "orders",
    "offer_cycle",
    SEGMENT_COLUMN,
)
"""Every column of ``hours.csv``, in file order."""

SUMMED_COLUMNS = (*COUNT_COLUMNS, "orders")
"""Columns that add up when two segments played parts of one hour."""
INT_COLUMNS = (*KEY_COLUMNS, "target_users", "live_users", *SUMMED_COLUMNS, "offer_cycle")
NUMERIC_COLUMNS = tuple(c for c in HOUR_COLUMNS if c not in TIME_COLUMNS)


def hour_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """One ``hours.csv`` row in file order: every column present (missing ones ``""``).

    Raises:
        ValueError: ``values`` names a column the table does not have (a writer that
            drifted from this definition fails at once, not in a report later).
    """
    unknown = set(values) - set(HOUR_COLUMNS)
    if unknown:
        raise ValueError(f"not hours.csv columns: {', '.join(sorted(unknown))}")
    return {c: values.get(c, "") for c in HOUR_COLUMNS}
