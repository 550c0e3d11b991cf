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
"""ISO 8601 instants: the hour's simulated start and the real time the simulated clock
puts it at — planned, by construction (empty when unknown — e.g. rebuilt from the
database). What happened is in :data:`MEASURED_TIME_COLUMNS`."""
SHAPE_COLUMNS = ("stage_fraction", "target_users", "live_users")
"""The ramp's stage and target, and ``live_users``: the agents that held a persona at any
time in the hour, by the master's lease book (``harness.control.lease_broker``) — the
live agent-hours that ``acted + missed + not_owed`` must add up to."""
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
NOT_OWED_COLUMN = "not_owed"
"""Live agent-hours with no slot to act: the agent's persona was leased after its slot in
that hour (a ramp's new users), or given back before it (``harness.agent.schedule``).
Every live agent-hour is acted, missed or not owed: ``acted + missed + not_owed ==
live_users``."""
LOCUST_USERS_COLUMN = "locust_users"
"""Locust's own user count, the most the master saw during the hour (users still waiting
for a persona included)."""
MEASURED_TIME_COLUMNS = ("real_start", "real_end")
"""ISO 8601 instants the master's loop saw the hour begin and end (empty: not seen, e.g.
the hour a headless run paused in); the realized time scale comes from these."""

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
    NOT_OWED_COLUMN,
    LOCUST_USERS_COLUMN,
    *MEASURED_TIME_COLUMNS,
)
"""Every column of ``hours.csv``, in file order (columns added later go at the end)."""

SUMMED_COLUMNS = (*COUNT_COLUMNS, "orders", NOT_OWED_COLUMN)
"""Columns that add up when two segments played parts of one hour."""
INT_COLUMNS = (
    *KEY_COLUMNS, "target_users", "live_users", *SUMMED_COLUMNS, "offer_cycle",
    LOCUST_USERS_COLUMN,
)  # fmt: skip
INSTANT_COLUMNS = (*TIME_COLUMNS, *MEASURED_TIME_COLUMNS)
NUMERIC_COLUMNS = tuple(c for c in HOUR_COLUMNS if c not in INSTANT_COLUMNS)


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
