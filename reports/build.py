"""Build a run's report: collect → frame → render into ``runs/<run_id>/``.

Called by the harness at the end of every run and by ``loadsim report RUN``.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from reports.dbcollect import RunRows, collect_run_rows
from reports.plots import write_plots
from reports.sources import read_run_files
from reports.summary import RunReport, build_summary
from reports.xlsx import write_report_xlsx


def collect_report(run_dir: Path, *, engine: Engine | None) -> RunReport:
    """Collect a run's files (and database rows when ``engine`` is given) and compute
    the report without writing anything."""
    files = read_run_files(Path(run_dir))
    rows: RunRows | None = None
    if engine is not None:
        with engine.connect() as conn:
            rows = collect_run_rows(conn, run_id=files.run_id)
    return build_summary(files, rows)


def build_run_report(run_dir: Path, *, engine: Engine | None) -> dict[str, Any]:
    """Write ``summary.json``, ``report.xlsx`` and ``plots/*.png`` into ``run_dir``.

    Args:
        run_dir: ``runs/<run_id>/`` as the harness left it (every file optional).
        engine: the run's database; None for ``--mock-db`` runs (behavior then comes
            from ``hours.csv`` and the summary says so).

    Returns:
        The summary dict (also written as ``summary.json``).

    Raises:
        ConfigError: ``run_dir`` does not exist or holds a malformed file.
    """
    run_dir = Path(run_dir)
    report = collect_report(run_dir, engine=engine)
    write_report_xlsx(report, run_dir / "report.xlsx")
    plots = write_plots(report, run_dir / "plots")
    report.summary["outputs"] = {
        "summary": "summary.json",
        "xlsx": "report.xlsx",
        "plots": [str(p.relative_to(run_dir)) for p in plots],
    }
    write_json(report.summary, run_dir / "summary.json")
    return report.summary


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
