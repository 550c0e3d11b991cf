"""``loadsim dataset RUN`` — rebuild a run's training dataset from its database.

Writes ``runs/<RUN>/dataset/`` (or ``-o DIR``): Parquet files, ``schema.json`` and the data
card (``reports.dataset``). The same is written at the end of every run; this command
rebuilds it for an older run, or with other options (``--no-generator``, ``--split``).
The rows come only from the database: without it (gone with an embedded demo, or a
``--mock-db`` run) the command says so in one line and exits 2, writing nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from db.errors import ConfigError
from harness.cli.commands.reports import DEFAULT_RUNS_DIR, require_run, resolve_run_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dataset",
        help="rebuild a run's training dataset (Parquet + schema.json + data card)",
        description=(
            "Write RUN's dataset/ from the database: events, sessions, orders, agent_hours "
            "and personas as Parquet, schema.json (every column's type, unit, meaning and "
            "role) and README.md (the data card)."
        ),
    )
    p.add_argument("run", metavar="RUN", help="run id (under --runs-dir) or a run directory")
    p.add_argument(
        "--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, help="where runs live (default: ./runs)"
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the dataset to DIR (default: RUN/dataset)",
    )
    p.add_argument(
        "--no-generator",
        action="store_true",
        help="leave out the simulator's own inputs and settings (role 'generator')",
    )
    p.add_argument(
        "--split",
        choices=["persona", "time"],
        default="persona",
        help="split column: by persona (default; held-out households in test) or by "
        "simulated time (first hours train, last test)",
    )
    p.set_defaults(func=_dataset)


def _dataset(args: argparse.Namespace) -> int:
    import json

    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError, SQLAlchemyError

    from db.connect import engine_from_settings
    from db.engine import redact
    from db.settings import load_settings
    from reports.dataset import write_dataset

    run_dir = require_run(resolve_run_dir(args.run, args.runs_dir))
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{run_dir / 'manifest.json'}: not valid JSON ({exc})") from exc
    run_id = str(manifest.get("run_id") or run_dir.name)
    if manifest.get("mock_db"):
        raise ConfigError(
            f"run {run_id} ran with --mock-db: it wrote no database rows, so it has no dataset"
        )
    out = args.out
    if out is not None and out.exists():
        # the directory is replaced as a whole: only ever a dataset written before
        if not out.is_dir() or (any(out.iterdir()) and not (out / "schema.json").is_file()):
            raise ConfigError(f"-o {out}: exists and is not a dataset directory")
    engine = engine_from_settings(
        load_settings(), total_connections=2, application_name="loadsim-dataset"
    )
    where = redact(engine.url)
    try:
        try:
            with engine.connect() as conn:
                known = conn.execute(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM simulation_runs WHERE run_id = :r) "
                        "OR EXISTS (SELECT 1 FROM agent_hours WHERE run_id = :r)"
                    ),
                    {"r": run_id},
                ).scalar()
        except ProgrammingError as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) != "42P01":
                raise
            raise ConfigError(
                f"the database {where} has no harness tables: run 'loadsim db upgrade' first"
            ) from None
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"run {run_id}: cannot reach the database {where} ({type(exc).__name__}); "
                "the dataset is rebuilt from the run's database only"
            ) from exc
        if not known:
            raise ConfigError(f"run {run_id}: no such run in the database {where}")
        result = write_dataset(
            run_dir,
            engine,
            generator=not args.no_generator,
            split=args.split,
            run_id=run_id,
            out=out,
        )
    finally:
        engine.dispose()
    path = result.path
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    print(f"dataset of run {run_id} written to {path} ({counts}; {result.seconds:.1f} s)")
    return 0
