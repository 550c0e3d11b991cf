"""Build a run's report: collect → frame → render into ``runs/<run_id>/``.

Called by the harness at the end of every run and by ``loadsim report RUN``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from reports.dbcollect import RunRows, collect_run_rows
from reports.harness_timings import read_timings
from reports.html_report import write_html_report
from reports.plots import write_plots
from reports.sources import read_run_files
from reports.summary import RunReport, build_summary
from reports.verdict import build_verdict, gate_thresholds, read_run_log
from reports.xlsx import write_report_xlsx

log = logging.getLogger("loadsim")


def collect_report(run_dir: Path, *, engine: Engine | None) -> RunReport:
    """Collect a run's files (and database rows when ``engine`` is given) and compute
    the report without writing anything.

    When the database cannot be read (it went down with the run, a query fails) the
    report is computed from the run's files alone and says so in its notes: a partial
    report beats none, and the run's end is exactly when the database may be gone.
    """
    files = read_run_files(Path(run_dir))
    rows: RunRows | None = None
    if engine is not None:
        try:
            with engine.connect() as conn:
                rows = collect_run_rows(conn, run_id=files.run_id)
        except SQLAlchemyError as exc:
            log.warning("report: database rows unavailable (%s): files only", _why(exc))
            files.notes.append(
                f"database rows unavailable ({_why(exc)}): report from the run's files only"
            )
    report = build_summary(files, rows)
    # The harness's own timings (never in Locust's stats): their CSV, as the report's.
    report.summary["harness_timings"] = read_timings(Path(run_dir))
    if rows is not None and "llm" in report.summary:  # model- vs rule-decided sessions
        from reports.llm_report import add_decider_realism

        add_decider_realism(report, engine)
    return report


ARTIFACTS = ("plots", "xlsx")


def build_run_report(
    run_dir: Path, *, engine: Engine | None, thresholds: Sequence[str] | None = None
) -> dict[str, Any]:
    """Write ``summary.json`` (its ``verdict`` block first to read), ``summary.txt`` (the
    console summary), ``report.html`` (``reports.html_report``), ``report.xlsx`` and
    ``plots/*.png`` into ``run_dir``.

    Each artifact is built on its own: one that fails is logged, named in
    ``summary["outputs"]["errors"]`` and does not stop the others; ``summary.json`` is
    written last, whatever else failed.

    Args:
        run_dir: ``runs/<run_id>/`` as the harness left it (every file optional).
        engine: the run's database; None for ``--mock-db`` runs (behavior then comes
            from ``hours.csv`` and the summary says so).
        thresholds: ``--threshold`` gates for the verdict; None: the run's own, as its
            manifest recorded them.

    Returns:
        The summary dict (also written as ``summary.json``).

    Raises:
        ConfigError: ``run_dir`` does not exist or holds a malformed file.
        Exception: the summary itself could not be computed or written (the caller
            treats that as "no report": gates fail).
    """
    run_dir = Path(run_dir)
    report = collect_report(run_dir, engine=engine)
    notes = report.summary["sources"]["notes"]
    gates = gate_thresholds(report.manifest, thresholds, notes)  # bad input before writes
    outputs: dict[str, Any] = {"summary": "summary.json", "console": SUMMARY_TXT}
    errors: dict[str, str] = {}
    report.summary["outputs"] = outputs
    events = read_run_log(run_dir)
    mock_api = bool(report.manifest.get("mock_api"))

    def judge() -> None:
        report.summary["verdict"] = build_verdict(
            report.summary, gates=gates, events=events, outputs=outputs, mock_api=mock_api
        )

    for name in ARTIFACTS:
        try:
            if name == "xlsx":
                outputs.update(xlsx="report.xlsx", html=HTML_NAME)
                judge()  # the workbook's Summary sheet opens with the verdict
                write_report_xlsx(report, run_dir / "report.xlsx")
            else:
                plots = write_plots(report, run_dir / "plots")
                outputs["plots"] = [str(p.relative_to(run_dir)) for p in plots]
        except Exception as exc:  # noqa: BLE001 - one artifact must not cost the others
            log.exception("report: writing the %s failed", name)
            outputs.pop(name, None)
            errors[name] = _why(exc)
    outputs["html"] = HTML_NAME
    judge()  # the page shows the verdict naming the page among the files written
    try:
        write_html_report(report, run_dir / HTML_NAME, events=events)
    except Exception as exc:  # noqa: BLE001 - one artifact must not cost the others
        log.exception("report: writing the html failed")
        outputs.pop("html")
        errors["html"] = _why(exc)
    if errors:
        outputs["errors"] = errors
        notes.append("not written: " + "; ".join(f"{k} ({v})" for k, v in errors.items()))
    judge()
    text = None
    try:
        from reports.console import render_console

        text = render_console(_clean(report.summary))
    except Exception as exc:  # noqa: BLE001 - summary.json comes first; the text is a copy
        log.exception("report: rendering %s failed", SUMMARY_TXT)
        outputs.pop("console")
        errors["console"] = _why(exc)
        outputs["errors"] = errors
        notes.append(f"not written: console ({errors['console']})")
        judge()
    write_json(report.summary, run_dir / "summary.json")
    if text is not None:
        _write_text(run_dir / SUMMARY_TXT, text)
    return report.summary


SUMMARY_TXT = "summary.txt"
HTML_NAME = "report.html"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def write_json(data: dict[str, Any], path: Path) -> None:
    """Write JSON atomically; NaN becomes null, datetimes ISO 8601."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2, default=_default) + "\n", encoding="utf-8")
    tmp.replace(path)


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return _clean(v.item())
    return v


def _default(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return str(v)
