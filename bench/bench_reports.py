"""How long reports take on a realistic run: collect + summary, xlsx + plots, compare,
export-events — on a synthetic run written into a fresh embedded Postgres.

    .venv/bin/python bench/bench_reports.py [--agents 372] [--hours 336] [--smoke]

The run's rows follow the same behavior model as the report tests
(``tests/test_reports_support.populate_run``): per agent-hour a chance to shop of
``frequency / 168``, baskets around ``avg_basket_size``, every step an event row.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

from bench._smoke import add_smoke, bench_database  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=372)
    ap.add_argument("--hours", type=int, default=336, help="simulated hours (336 = two weeks)")
    add_smoke(ap, db_url=True)
    args = ap.parse_args()
    if args.smoke:
        args.agents, args.hours = 6, 24
    tmp = Path(tempfile.mkdtemp(prefix="bench_reports_"))
    try:
        with bench_database(args.db_url, tmp, "bench") as url:
            report(args, url, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(args: argparse.Namespace, url: str, tmp: Path) -> None:
    """Populate two synthetic runs into ``url`` and time each report step on them."""
    from sqlalchemy import func, select

    from db import migrate
    from db.engine import create_db_engine
    from db.models import AgentHour, ShoppingSessionEvent
    from reports.build import build_run_report, collect_report
    from reports.compare import compare_runs
    from reports.export import export_events
    from tests.test_reports_support import RunSpec, populate_run, population, write_manifest

    migrate.upgrade(url)
    engine = create_db_engine(url, total_connections=4)
    t0 = time.perf_counter()
    for i, (run_id, scale) in enumerate((("b48", 48.0), ("b96", 96.0))):
        with engine.begin() as conn:
            populate_run(
                conn,
                RunSpec(
                    run_id=run_id,
                    seed=i,
                    time_scale=scale,
                    sim_hours=args.hours,
                    agents=population(args.agents, start=10_000 * i),
                    rule_payloads=True,
                ),
            )
        write_manifest(tmp / "runs" / run_id, time_scale=scale, sim_duration_hours=args.hours)
    populate_s = time.perf_counter() - t0
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(ShoppingSessionEvent)).scalar()
        slots = conn.execute(select(func.count()).select_from(AgentHour)).scalar()
    print(
        f"synthetic: 2 runs x {args.agents} agents x {args.hours} sim hours: "
        f"{slots:,} agent-hours, {events:,} events (written in {populate_s:.1f} s)"
    )

    run = tmp / "runs" / "b48"
    t = time.perf_counter()
    collect_report(run, engine=engine)
    collect_s = time.perf_counter() - t
    t = time.perf_counter()
    build_run_report(run, engine=engine)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    compare_runs([run, tmp / "runs" / "b96"], engine=engine, out_dir=tmp / "cmp")
    compare_s = time.perf_counter() - t
    t = time.perf_counter()
    with engine.connect() as conn:
        n = export_events(conn, run_id="b48", out=tmp / "events.csv")
    export_s = time.perf_counter() - t
    size_mb = (tmp / "events.csv").stat().st_size / 1e6

    print(f"collect + summary (one run):        {collect_s:6.2f} s")
    print(f"build_run_report (+ xlsx, 5 PNGs):  {build_s:6.2f} s")
    print(f"compare_runs (2 runs, all outputs): {compare_s:6.2f} s")
    print(
        f"export_events: {n:,} rows, {size_mb:.1f} MB in {export_s:.2f} s "
        f"({n / export_s:,.0f} rows/s)"
    )
    engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
