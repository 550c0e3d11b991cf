"""The run directory's ``harness_timings.csv``: the harness's own timings (action slip,
database transactions, graph time, lease round trips, offer cycles), one row per name.

Written by the harness at the end of a run (``harness.agent.timings``), read here for the
report. These are never in Locust's statistics, which hold the target's HTTP requests only.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd

TIMINGS_CSV = "harness_timings.csv"
COLUMNS = ("name", "count", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "errors")
_COUNTS = ("count", "errors")
GRAPH_TIMING = "graph.shopping_graph"
"""The LangGraph run of one agent-hour (the flow's own latency, ``reports.compare``)."""


def read_timings(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``run_dir/harness_timings.csv`` (numbers as numbers; a missing time as
    ``None``); ``[]`` when the run has no such file (an older run, or none was written)."""
    path = Path(run_dir) / TIMINGS_CSV
    if not path.is_file():
        return []
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            row: dict[str, Any] = {"name": r.get("name", "")}
            for col in COLUMNS[1:]:
                v = (r.get(col) or "").strip()
                if col in _COUNTS:
                    row[col] = int(float(v)) if v else 0
                else:
                    row[col] = float(v) if v else None
            out.append(row)
    return out


def timings_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a frame with :data:`COLUMNS` (empty frame, same columns, for none)."""
    return pd.DataFrame(rows, columns=list(COLUMNS))


def p95_of(rows: list[dict[str, Any]], name: str) -> float | None:
    """The p95 (ms) of timing ``name``, or ``None`` when it was not timed."""
    for r in rows:
        if r.get("name") == name:
            return r.get("p95_ms")
    return None
