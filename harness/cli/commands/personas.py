"""``loadsim personas validate | seed | sample`` — the persona workbook (docs/ARCHITECTURE.md, Personas).

``seed`` writes a whole workbook in ONE transaction: any bad row means nothing is written
and exit code 2 (the CLI maps ``ConfigError``). ``validate`` never touches a database.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from personas.reader import ReadReport


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


_MAP_HELP = (
    "your map file: its [personas.columns] ('Your Header' = 'attribute') and "
    "[personas.scales] ('Your Header' = '1-10') sections (default: $LOADSIM_MAP, else "
    "$LOADSIM_DB_MAP)"
)


def _read(args: argparse.Namespace) -> ReadReport:
    """The workbook through the owner's column map; warnings printed, notes on stdout."""
    from personas.columns import load_column_map
    from personas.reader import PersonaFileError, read_personas_report

    try:
        report = read_personas_report(args.file, load_column_map(args.map_file))
    except PersonaFileError as exc:
        _print_warnings(exc.warnings)
        raise
    _print_warnings(report.warnings)
    for note in report.notes:
        if note not in report.warnings:  # scale conversions are already warnings
            print(f"note: {note}")
    return report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "personas", help="persona workbook: validate, seed users/agents, generate a sample"
    )
    psub = p.add_subparsers(dest="personas_command", metavar="ACTION", required=True)

    v = psub.add_parser(
        "validate",
        help="check a workbook (.xlsx sheet 'Personas' or .csv) without touching the database",
    )
    v.add_argument("file", type=Path, metavar="FILE", help="persona workbook (.xlsx or .csv)")
    v.add_argument("--map", dest="map_file", default=None, metavar="TOML", help=_MAP_HELP)
    v.set_defaults(func=_validate)

    s = psub.add_parser(
        "seed",
        help="create/update one simulated user + active agent per persona, all in one transaction",
    )
    s.add_argument("file", type=Path, metavar="FILE", help="persona workbook (.xlsx or .csv)")
    s.add_argument("--map", dest="map_file", default=None, metavar="TOML", help=_MAP_HELP)
    s.add_argument(
        "--test", type=_positive_int, metavar="N", default=None,
        help="seed only the first N personas (a quick trial run)",
    )  # fmt: skip
    s.add_argument(
        "--deactivate-missing", action="store_true",
        help="set simulated agents whose persona is not in FILE to inactive",
    )  # fmt: skip
    s.set_defaults(func=_seed)

    g = psub.add_parser(
        "sample", help="generate a realistic, correlated sample population workbook"
    )
    g.add_argument("-n", type=_positive_int, default=372, help="number of personas (default 372)")
    g.add_argument(
        "--seed", type=int, default=None, help="random seed (default: the shipped sample's)"
    )
    g.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE",
        help="where to write (.xlsx, or .csv)",
    )  # fmt: skip
    g.set_defaults(func=_sample)

    from harness.cli.commands.realism import register_derive  # its code lives with realism

    register_derive(psub)


def open_migrated_engine() -> Engine:
    """An engine on ``DATABASE_URL`` (or the embedded default) whose schema is at head.

    Raises:
        ConfigError: settings are invalid, the database is unreachable, or it is not
            migrated (the message says to run ``loadsim db upgrade``).
    """
    from sqlalchemy.exc import OperationalError

    from db.embedded import resolve_database_url
    from db.engine import create_db_engine, redact
    from db.errors import ConfigError
    from db.settings import load_settings

    settings = load_settings()
    url = resolve_database_url(settings.database_url)
    from db.adopt import schema_problem

    try:
        problem = schema_problem(url)  # project migrations at head, or an adopted database
    except OperationalError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot connect to the database {redact(url)}: {first}") from None
    if problem:
        raise ConfigError(problem)
    return create_db_engine(
        url, total_connections=2, statement_timeout_ms=settings.db_statement_timeout_ms
    )


def _print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


def _validate(args: argparse.Namespace) -> int:
    report = _read(args)
    print(f"{args.file}: {len(report.personas)} personas, all 28 attributes valid")
    return 0


def _seed(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from db.errors import ConfigError
    from personas.seed import seed_personas, unknown_stores

    report = _read(args)
    personas = report.personas[: args.test] if args.test else report.personas
    engine = open_migrated_engine()
    try:
        with engine.begin() as conn:  # one transaction: all personas or none
            stats = seed_personas(
                conn, personas=personas, deactivate_missing=args.deactivate_missing
            )
            missing = unknown_stores(conn, personas=personas)
    except DBAPIError as exc:  # the app's table refused a row: one line, nothing written
        first = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigError(
            f"loadsim personas seed: the database refused the seed: {first} — nothing was "
            "written (one transaction); `loadsim db check` names what your tables need"
        ) from None
    finally:
        engine.dispose()
    scope = f" (--test: first {len(personas)} of {len(report.personas)})" if args.test else ""
    print(f"seeded {len(personas)} personas from {args.file}{scope}")
    print(stats.summary())
    if missing:
        shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        _print_warnings(
            [
                f"{len(missing)} preferred_store codes are not in the stores table ({shown}); "
                "seed the catalog (`loadsim catalog seed`) or fix the workbook"
            ]  # fmt: skip
        )
    return 0


def _sample(args: argparse.Namespace) -> int:
    from db.errors import ConfigError
    from personas.sample import SAMPLE_SEED, generate_personas, write_workbook

    if args.output.suffix.lower() not in (".xlsx", ".csv"):
        raise ConfigError(f"--output {args.output}: use a .xlsx or .csv file name")
    seed = SAMPLE_SEED if args.seed is None else args.seed
    personas = generate_personas(args.n, seed=seed)
    write_workbook(personas, args.output)
    print(f"wrote {len(personas)} personas (seed {seed}) to {args.output}")
    return 0
