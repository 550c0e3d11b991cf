"""``loadsim report | compare | export-events`` — run reports after the fact.

``report RUN`` rebuilds ``runs/<RUN>/summary.json``, ``report.xlsx`` and ``plots/`` (and
can re-evaluate CI gates with ``--threshold``); ``compare RUN RUN…`` lines runs up side
by side; ``export-events --run RUN -o FILE.csv`` writes the behavior events for training.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from db.errors import ConfigError, LoadsimError

if TYPE_CHECKING:
    from sqlalchemy import Engine

DEFAULT_RUNS_DIR = Path("runs")


def register(sub: argparse._SubParsersAction) -> None:
    rp = sub.add_parser("report", help="rebuild a run's report (summary.json, report.xlsx, plots)")
    rp.add_argument("run", metavar="RUN", help="run id (under --runs-dir) or a run directory")
    _common(rp)
    rp.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="CI gate to re-evaluate, repeatable (e.g. p95<800ms, error_rate<1%%, calibration)",
    )
    rp.set_defaults(func=_report)

    cp = sub.add_parser("compare", help="compare runs (time scales) side by side")
    cp.add_argument(
        "runs", metavar="RUN", nargs="+", help="two or more runs; the first is the baseline"
    )
    _common(cp)
    cp.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        help="output directory (default: RUNS_DIR/comparisons/<run>__<run>…)",
    )
    cp.set_defaults(func=_compare)

    ep = sub.add_parser("export-events", help="behavior events + persona attributes as CSV")
    ep.add_argument("--run", required=True, metavar="RUN", help="run id")
    ep.add_argument("-o", "--out", required=True, type=Path, metavar="FILE.csv")
    ep.set_defaults(func=_export)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, help="where runs live (default: ./runs)"
    )
    p.add_argument(
        "--no-db",
        action="store_true",
        help="use the run's files only (default: read the database unless the run was --mock-db)",
    )


def resolve_run_dir(run: str, runs_dir: Path) -> Path:
    """``runs_dir/run``, or ``run`` itself when it is a run directory.

    Raises:
        ConfigError: no such run, naming the directory searched and the runs it holds.
    """
    candidate = Path(run)
    if candidate.is_dir() and (candidate / "manifest.json").is_file():
        return candidate
    d = runs_dir / run
    if d.is_dir():
        return d
    if candidate.is_dir():  # a directory given by its path, but not a run
        raise ConfigError(f"{candidate}: not a run directory (no manifest.json)")
    known = sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    hint = f" (runs there: {', '.join(known[-10:])})" if known else ""
    raise ConfigError(f"unknown run {run!r}: no directory {d}{hint}")


def require_run(run_dir: Path) -> Path:
    """``run_dir`` when it holds ``manifest.json``.

    The harness writes the manifest as it creates a run directory (the director, before
    any user starts), so every run has one — killed runs and runs whose report failed
    included. A directory without it is not a run: a report on it would be all dashes
    and would write summary.json, report.xlsx and plots/ into someone's folder.

    Raises:
        ConfigError: not a run directory.
    """
    if not (run_dir / "manifest.json").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no manifest.json)")
    return run_dir


def _wants_db(run_dir: Path, no_db: bool) -> bool:
    if no_db:
        return False
    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        try:
            return not json.loads(manifest.read_text(encoding="utf-8")).get("mock_db", False)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{manifest}: not valid JSON ({exc})") from exc
    return True


@contextmanager
def _engine(wanted: bool) -> Iterator[Engine | None]:
    if not wanted:
        yield None
        return
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError, SQLAlchemyError

    from db.connect import engine_from_settings
    from db.engine import redact
    from db.settings import load_settings

    settings = load_settings()
    engine = engine_from_settings(settings, total_connections=2, application_name="loadsim-report")
    try:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"cannot reach the database {redact(engine.url)} "
                f"({type(exc).__name__}); use --no-db to report from the run's files"
            ) from exc
        try:
            yield engine
        except ProgrammingError as exc:
            # A reachable database that was never migrated: one line saying what to do,
            # not psycopg's UndefinedTable traceback (report, compare and export-events).
            if getattr(getattr(exc, "orig", None), "sqlstate", None) != "42P01":
                raise
            raise ConfigError(
                f"the database {redact(engine.url)} has no harness tables: "
                "run 'loadsim db upgrade' first"
            ) from None
    finally:
        engine.dispose()


def _report(args: argparse.Namespace) -> int:
    from reports.build import build_run_report
    from reports.console import render_console
    from reports.thresholds import evaluate, exit_code_for, parse_thresholds

    gates = parse_thresholds(args.threshold)  # bad expressions fail before any work
    run_dir = require_run(resolve_run_dir(args.run, args.runs_dir))
    with _engine(_wants_db(run_dir, args.no_db)) as engine:
        try:
            summary = build_run_report(run_dir, engine=engine, thresholds=args.threshold or None)
        except LoadsimError:
            raise
        except Exception as exc:
            if not gates:
                raise
            # A report bug must not let CI pass: every gate fails, naming why.
            from harness.control.finish import judge_gates

            logging.getLogger("loadsim").exception("building the report failed")
            return judge_gates(args.threshold, None, f"{type(exc).__name__}: {exc}") or 0
    print(render_console(summary))
    written = "summary.json, summary.txt, report.html, report.xlsx, plots/"
    print(f"report written to {run_dir}/ ({written})")
    if not gates:
        return 0
    # The gates are printed once, as the verdict's first lines of the console summary.
    return exit_code_for(evaluate(gates, summary))


def _compare(args: argparse.Namespace) -> int:
    from reports.compare import compare_runs
    from reports.compare_render import render_comparison

    if len(args.runs) < 2:
        raise ConfigError("compare: give at least two runs")
    dirs = [resolve_run_dir(r, args.runs_dir) for r in args.runs]
    out = args.out or args.runs_dir / "comparisons" / "__".join(d.name for d in dirs)
    wanted = any(_wants_db(d, args.no_db) for d in dirs)
    with _engine(wanted) as engine:
        result = compare_runs(dirs, engine=engine, out_dir=out)
    print(render_comparison(result))
    print(f"comparison written to {out}/ (comparison.xlsx, comparison.json, plots/)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from reports.export import export_events

    with _engine(True) as engine:
        assert engine is not None  # wanted: an engine, or ConfigError
        with engine.connect() as conn:
            n = export_events(conn, run_id=args.run, out=args.out)
    print(f"{n} events of run {args.run} written to {args.out}")
    return 0
