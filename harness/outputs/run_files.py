"""``runs/<run_id>/``: the manifest, Locust-format CSVs, the HTML report, the per-hour
table and the structured log — written by the harness itself, so a run directory is
complete whatever ``--csv``/``--html`` flags the user passed."""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from db.redact import redact_data
from harness.config.locust_compat import HistoryWriter, history_writer
from harness.outputs.manifest import start_segment
from reports.harness_timings import TIMINGS_CSV
from reports.hour_table import HOUR_COLUMNS
from reports.hour_table import SEGMENT_COLUMN as SEGMENT

if TYPE_CHECKING:
    from locust.env import Environment

HOURS_CSV = "hours.csv"
HISTORY_CSV = "locust_stats_history.csv"
LOCUST_FINAL_FILES = (
    "locust_stats.csv", "locust_failures.csv", "locust_exceptions.csv", "locust_report.html",
)  # fmt: skip


def _redacted_json(data: object, **kw: Any) -> str:
    """JSON with every credential hidden (``db.redact``), redacted as values — after
    ``default=str`` rendered them, before they are escaped into JSON text."""
    plain = json.loads(json.dumps(data, default=str))
    return json.dumps(redact_data(plain), **kw)


def write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(_redacted_json(data, indent=2) + "\n")
    os.replace(tmp, path)


class RunFiles:
    HISTORY_EVERY_S = 2.0
    listeners: list[Callable[[Path, dict[str, Any]], None]] = []
    """Called as ``fn(run_dir, record)`` after each run-log line (``--alert-webhook``)."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.segment = 1  # this process's segment of the run (``--resume`` adds one)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.dir / "manifest.json"
        self.log_path = self.dir / "simulation_runs.log"
        self._history: HistoryWriter | None = None
        self._history_fh: TextIO | None = None
        self._next_sample = 0.0

    # -------------------------------------------------------------- manifest / log

    def write_manifest(self, data: dict[str, Any]) -> None:
        """Start this segment's manifest: a fresh run's, or — for ``--resume`` of the run
        in this directory — the earlier manifest with this segment appended
        (``outputs.manifest.start_segment``). A fresh run in a reused directory drops
        the previous run's per-hour and history files: they are appended to later."""
        merged = start_segment(self._read_manifest(), data)
        self.segment = len(merged["segments"])
        if self.segment == 1:
            for name in (HOURS_CSV, HISTORY_CSV):
                (self.dir / name).unlink(missing_ok=True)
        else:  # Locust's totals are per process: keep the earlier segment's beside
            keep = self.dir / f"segment-{self.segment - 1}"
            for name in (*LOCUST_FINAL_FILES, TIMINGS_CSV):  # the harness's timings too
                if (self.dir / name).exists():
                    keep.mkdir(exist_ok=True)
                    os.replace(self.dir / name, keep / name)
        write_json_atomic(self.manifest_path, merged)

    def update_manifest(self, **fields: object) -> None:
        data = self._read_manifest() or {}
        data.update(fields)
        write_json_atomic(self.manifest_path, data)

    def end_segment(self, **fields: object) -> None:
        """Record how this segment ended, in the run's fields and in its segment entry."""
        fields = {k: v for k, v in fields.items() if v is not None or k != "end_errors"}
        data = self._read_manifest() or {}
        data.update(fields)
        segments = data.get("segments") or []
        if segments:
            segments[-1].update(fields)
        write_json_atomic(self.manifest_path, data)

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def log_event(self, event: str, **fields: object) -> None:
        """One JSON line in ``simulation_runs.log`` (credentials redacted)."""
        rec = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(_redacted_json(rec) + "\n")
        for fn in list(self.listeners):
            try:
                fn(self.dir, json.loads(json.dumps(rec, default=str)))
            except Exception:  # noqa: BLE001 - a listener must not cost the run its log
                import logging

                logging.getLogger("loadsim").exception("run-log listener failed")

    # -------------------------------------------------------------- Locust-format stats

    def sample_stats(self, environment: Environment) -> None:
        """Append the aggregated row to ``locust_stats_history.csv`` every ~2 s."""
        now = time.time()
        if now < self._next_sample:
            return
        self._next_sample = now + self.HISTORY_EVERY_S
        if self._history is None:
            self._history = history_writer(environment)
            path = self.dir / HISTORY_CSV
            fresh = not path.exists() or path.stat().st_size == 0
            # Appended: a resumed run's history continues the earlier segments'.
            self._history_fh = open(path, "a", newline="")  # noqa: SIM115
            if fresh:
                csv.writer(self._history_fh).writerow(self._history.columns)
        fh = self._history_fh
        assert fh is not None  # opened with the writer
        self._history.write_rows(csv.writer(fh), now)
        fh.flush()

    def write_final_stats(self, environment: Environment) -> None:
        self.sample_stats(environment)
        if self._history_fh is not None:
            self._history_fh.close()
        from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

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

    def append_hours(self, rows: list[dict[str, Any]]) -> None:
        """Add rows (``reports.hour_table`` columns) to ``hours.csv`` as hours end."""
        if not rows:
            return
        path = self.dir / HOURS_CSV
        fresh = not path.exists() or path.stat().st_size == 0
        with open(path, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=HOUR_COLUMNS, extrasaction="ignore")
            if fresh:
                w.writeheader()
            w.writerows(rows)

    def write_hours_csv(self, rows: list[dict[str, Any]]) -> None:
        """This segment's final rows (late worker reports included) replace the ones it
        appended; earlier segments' rows stay. An hour's real time is the one first
        written, while the hour ran (a clock paused and resumed since would shift it)."""
        path = self.dir / HOURS_CSV
        mine, others = str(self.segment), []
        first_real: dict[str, str] = {}
        if path.exists():
            with open(path, newline="") as fh:
                for r in csv.DictReader(fh):
                    if (r.get(SEGMENT) or "1") != mine:
                        others.append(r)
                    elif r.get("real_time"):
                        first_real.setdefault(str(r.get("sim_hour")), r["real_time"])
        if not rows and not others:
            return
        for r in rows:
            r["real_time"] = first_real.get(str(r["sim_hour"])) or r.get("real_time", "")
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=HOUR_COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(others)
            w.writerows(rows)
        os.replace(tmp, path)
