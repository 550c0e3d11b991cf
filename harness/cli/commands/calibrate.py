"""``loadsim calibrate PERSONAS.xlsx --weeks N --seed S`` — behavior fidelity offline.

Runs every persona through N simulated weeks on the in-memory shop (virtual time) with the
real rules and graph, and prints configured vs expected vs realized per attribute, overall,
per discount-sensitivity band and per segment, with a pass/fail against a stated
statistical tolerance. Exit code 4 when calibration fails (docs/ARCHITECTURE.md, Failures and exit codes), 2 for bad
input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from db.errors import ConfigError

EXIT_FIDELITY = 4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="check that persona agents realize their attributes (offline, in-memory shop)",
        description=(
            "Run every persona through N simulated weeks on the in-memory shop and compare "
            "realized behavior with the persona attributes. Exit 4 if calibration fails."
        ),
    )
    p.add_argument(
        "personas",
        nargs="?",
        default=None,
        help="persona workbook (.xlsx or .csv); default: the shipped 372-persona sample",
    )
    p.add_argument("--weeks", type=int, default=8, help="simulated weeks per persona (default 8)")
    p.add_argument("--seed", type=int, default=1, help="run seed (default 1)")
    p.add_argument(
        "--catalog-seed",
        type=int,
        default=None,
        help="synthetic catalog seed (default: the catalog's)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.01,
        help="family error rate of the checks (default 0.01, Bonferroni-corrected)",
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N personas (quick look)")
    p.add_argument("--no-segments", action="store_true", help="omit the per-segment table")
    p.set_defaults(func=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    if args.weeks < 1:
        raise ConfigError(f"--weeks: must be at least 1 (got {args.weeks})")
    if not 0 < args.alpha < 1:
        raise ConfigError(f"--alpha: must be between 0 and 1 (got {args.alpha})")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit: must be at least 1 (got {args.limit})")

    from behaviors.calibration import calibrate
    from behaviors.calibration_report import render
    from harness.agent.catalog_cache import CatalogCache
    from personas import SAMPLE_PATH
    from personas.catalog import DEFAULT_CATALOG_SEED, generate_catalog
    from personas.reader import read_personas

    path = Path(args.personas) if args.personas else SAMPLE_PATH
    if not path.exists():
        raise ConfigError(f"{path}: no such persona file")
    personas = read_personas(path)
    if args.limit:
        personas = personas[: args.limit]
    if not personas:
        raise ConfigError(f"{path}: no personas")
    seed = DEFAULT_CATALOG_SEED if args.catalog_seed is None else args.catalog_seed
    catalog = CatalogCache.from_generated(generate_catalog(seed=seed))
    report = calibrate(
        personas,
        weeks=args.weeks,
        seed=args.seed,
        products=list(catalog.products),
        store_ids=catalog.stores,
        alpha=args.alpha,
    )
    print(f"personas: {path}  catalog seed: {seed}")
    print(render(report, show_segments=not args.no_segments))
    return 0 if report.passed else EXIT_FIDELITY
