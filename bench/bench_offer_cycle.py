"""How long one offer cycle takes on the embedded Postgres, for 372 and 10,000 users.

Prints, per population: the first cycle (empty wallets: 32 inserts per user) and a
steady-state cycle (full wallets under ``replace_oldest``: 32 replaced + 32 inserted per
user), both through :func:`offer_engine.scheduler.advance` with its default batching.

    .venv/bin/python bench/bench_offer_cycle.py                 # 372 and 10000
    .venv/bin/python bench/bench_offer_cycle.py --users 372 --batch 500
    .venv/bin/python bench/bench_offer_cycle.py --users 10000 --workers 1   # batches in turn
    .venv/bin/python bench/bench_offer_cycle.py --smoke        # 20 users: it runs, no figures

Uses a scratch database on its own embedded server under a temporary directory (or
``--home``), removed afterwards. Not a test: figures go to BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")

from bench._smoke import add_smoke  # noqa: E402


def _seed_coupons(conn, catalog: str) -> int:
    """The project's synthetic catalog (72 frontstore + 306 category/brand coupons)
    or the offer engine's small test catalog (6 + 88)."""
    from sqlalchemy import text

    if catalog == "project":
        from personas.catalog import generate_catalog, seed_catalog

        seed_catalog(conn, data=generate_catalog())
    else:
        from offer_engine.synthetic import seed_catalog

        seed_catalog(conn, prefix="bench")
    return conn.execute(text("SELECT count(*) FROM coupons WHERE is_active")).scalar_one()


def _bench(url: str, users: int, batch: int, catalog: str, workers: int) -> dict[str, float]:
    from sqlalchemy import text

    from db import migrate
    from db.engine import create_db_engine
    from db.settings import SimSettings
    from offer_engine.scheduler import advance
    from offer_engine.synthetic import seed_users

    migrate.upgrade(url)
    engine = create_db_engine(url, total_connections=4)
    settings = SimSettings(WALLET_FULL_POLICY="replace_oldest")  # type: ignore[call-arg]
    t0 = datetime(2025, 1, 6, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            coupons = _seed_coupons(conn, catalog)
            seed_users(conn, count=users, prefix="bench")
        out: dict[str, float] = {"coupons": coupons}
        for n, label in ((0, "first"), (1, "steady")):
            start = time.perf_counter()
            rep = advance(
                engine,
                run_id="bench",
                sim_start=t0,
                to_sim_time=t0 + timedelta(days=7 * n),
                settings=settings,
                batch_users=batch,
                workers=workers,
            )
            out[f"{label}_s"] = time.perf_counter() - start
            (cycle,) = rep.cycles
            assert cycle.stats.assigned == users * settings.per_cycle, cycle.stats
            out[f"{label}_replaced"] = cycle.stats.replaced
        with engine.connect() as conn:
            worst = conn.execute(
                text(
                    "SELECT max(n) FROM (SELECT count(*) AS n FROM user_coupons"
                    " WHERE status = 'active' GROUP BY user_id) w"
                )
            ).scalar()
        assert worst == settings.max_wallet_capacity
        return out
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, action="append", help="repeatable; default 372, 10000")
    parser.add_argument("--batch", type=int, default=None, help="users per transaction")
    parser.add_argument(
        "--workers", type=int, default=None, help="batches at once (default: the scheduler's)"
    )
    parser.add_argument(
        "--catalog", choices=("project", "small"), default="project", help="coupon catalog"
    )
    parser.add_argument("--home", type=Path, default=None, help="embedded server directory")
    add_smoke(parser, db_url=True)
    args = parser.parse_args()
    if args.smoke:
        args.users = [20]
    if args.db_url and len(args.users or [372, 10_000]) != 1:
        parser.error("--db-url takes one --users (one database per population)")

    from db.embedded import EmbeddedPostgres
    from offer_engine.scheduler import BATCH_USERS, WORKERS

    batch = args.batch or BATCH_USERS
    workers = args.workers or WORKERS
    home = args.home or Path(tempfile.mkdtemp(prefix="bench_offer_cycle_"))
    server = None if args.db_url else EmbeddedPostgres(home / "pg", database="postgres")
    print(
        f"# bench_offer_cycle  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
        f"{platform.machine()} cpus={os.cpu_count()}  load={os.getloadavg()[0]:.2f}  "
        f"batch={batch}  workers={workers}  catalog={args.catalog}"
    )
    print(
        f"{'users':>7} {'coupons':>8} {'first cycle s':>14} {'steady cycle s':>15} "
        f"{'steady users/s':>15} {'load':>5}"
    )
    try:
        for users in args.users or [372, 10_000]:
            url = args.db_url or server.create_database(f"bench_{users}", drop_first=True)
            r = _bench(url, users, batch, args.catalog, workers)
            print(
                f"{users:>7} {r['coupons']:>8.0f} {r['first_s']:>14.2f} {r['steady_s']:>15.2f} "
                f"{users / r['steady_s']:>15.0f} {os.getloadavg()[0]:>5.2f}"
            )
    finally:
        if server is not None:
            server.stop()
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
