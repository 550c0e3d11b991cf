"""``runs/<run_id>/``: the manifest, Locust-format CSVs, the HTML report, the per-hour
table and the structured log — written by the harness itself, so a run directory is
complete whatever ``--csv``/``--html`` flags the user passed."""

from __future__ import annotations

import csv
import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locust.stats import (
    PERCENTILES_TO_REPORT,
    StatsCSV,
    StatsCSVFileWriter,
    get_readable_percentiles,
)

_SECRET = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")


def redact_text(s: str) -> str:
    """Hide passwords inside URLs (``scheme://user:pass@host`` → ``user:***@``)."""
    return _SECRET.sub(r"\1***\3", s)


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(redact_text(json.dumps(data, indent=2, default=str)) + "\n")
    os.replace(tmp, path)


class _HistoryCSV(StatsCSV):
    full_history = False
    _stats_history_data_rows = StatsCSVFileWriter._stats_history_data_rows

    def __init__(self, environment: Any) -> None:
        super().__init__(environment, PERCENTILES_TO_REPORT)
        self.stats_history_csv_columns = [
            "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s",
            *get_readable_percentiles(self.percentiles_to_report),
            "Total Request Count", "Total Failure Count", "Total Median Response Time",
            "Total Average Response Time", "Total Min Response Time", "Total Max Response Time",
            "Total Average Content Size",
        ]  # fmt: skip


class RunFiles:
    HISTORY_EVERY_S = 2.0

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.dir / "manifest.json"
        self.log_path = self.dir / "simulation_runs.log"
        self._history: _HistoryCSV | None = None
        self._history_fh: Any = None
        self._next_sample = 0.0

    # -------------------------------------------------------------- manifest / log

    def write_manifest(self, data: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, data)

    def update_manifest(self, **fields: Any) -> None:
        data = json.loads(self.manifest_path.read_text()) if self.manifest_path.exists() else {}
        data.update(fields)
        self.write_manifest(data)

    def log_event(self, event: str, **fields: Any) -> None:
        """One JSON line in ``simulation_runs.log`` (credentials redacted)."""
        rec = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(redact_text(json.dumps(rec, default=str)) + "\n")

    # -------------------------------------------------------------- Locust-format stats

    def sample_stats(self, environment: Any, director: Any = None) -> None:
        """Append the aggregated row to ``locust_stats_history.csv`` every ~2 s."""
        now = time.time()
        if now < self._next_sample:
            return
        self._next_sample = now + self.HISTORY_EVERY_S
        if self._history is None:
            self._history = _HistoryCSV(environment)
            self._history_fh = open(self.dir / "locust_stats_history.csv", "w", newline="")  # noqa: SIM115
            csv.writer(self._history_fh).writerow(self._history.stats_history_csv_columns)
        self._history._stats_history_data_rows(csv.writer(self._history_fh), now)
        self._history_fh.flush()

    def write_final_stats(self, environment: Any) -> None:
        self.sample_stats(environment)
        if self._history_fh is not None:
            self._history_fh.close()
        sc = StatsCSV(environment, PERCENTILES_TO_REPORT)
        for name, fn in (
            ("locust_stats.csv", sc.requests_csv),
            ("locust_failures.csv", sc.failures_csv),
            ("locust_exceptions.csv", sc.exceptions_csv),
        ):
            with open(self.dir / name, "w", newline="") as fh:
                fn(csv.writer(fh))
        from locust.html import get_html_report

        (self.dir / "locust_report.html").write_text(
            get_html_report(environment, show_download_link=False), encoding="utf-8"
        )

    def write_hours_csv(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with open(self.dir / "hours.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
