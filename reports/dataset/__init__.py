"""A run's training dataset: ``runs/<run_id>/dataset/`` — Parquet files streamed from
the database, ``schema.json`` (every column's type, unit, meaning and role) and a data
card (``README.md``).

Files: ``events`` (one row per behaviour event, payload fields as typed columns),
``sessions``, ``orders`` (lines nested), ``agent_hours`` (every agent-hour, the hours
without a visit included) and ``personas`` (the 28 attributes typed, with derivation
provenance). Written at the end of every run (``harness.control.finish``) and by
``loadsim dataset RUN``.
"""

from __future__ import annotations

from reports.dataset.write import DATASET_DIR, DatasetResult, write_dataset, write_run_dataset

__all__ = ["DATASET_DIR", "DatasetResult", "write_dataset", "write_run_dataset"]
