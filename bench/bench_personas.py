"""What reading, generating and seeding personas and the catalog costs.

Starts its own embedded Postgres (a temporary directory), then prints wall times for:
reading the shipped 372-persona workbook (.xlsx) and the same rows as .csv; generating
372 and ``--big`` personas; seeding them (first time: inserts; again: the idempotent
no-change path; once more with every persona changed: updates); seeding the catalog
(first and again). Each figure is the best of ``--repeat`` runs, CPU-bound steps included,
so a busy shared machine inflates them less.

    .venv/bin/python bench/bench_personas.py [--big 10000] [--repeat 3] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._smoke import add_smoke, bench_database  # noqa: E402

warnings.filterwarnings("ignore")


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=int, default=10_000, help="size of the large population")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (best is printed)")
    add_smoke(ap, db_url=True)
    args = ap.parse_args()
    if args.smoke:
        args.big, args.repeat = 20, 1

    from db import migrate
    from db.engine import create_db_engine
    from personas import SAMPLE_PATH
    from personas.catalog import generate_catalog, seed_catalog
    from personas.reader import read_personas
    from personas.sample import SAMPLE_SEED, generate_personas, write_workbook
    from personas.seed import seed_personas

    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench_personas_") as tmp:
        csv_path = write_workbook(read_personas(SAMPLE_PATH), Path(tmp) / "sample.csv")
        rows.append(
            ("read 372 personas (.xlsx)", best(lambda: read_personas(SAMPLE_PATH), args.repeat), "")
        )
        rows.append(
            ("read 372 personas (.csv)", best(lambda: read_personas(csv_path), args.repeat), "")
        )
        rows.append(
            (
                "generate 372 personas",
                best(lambda: generate_personas(372, seed=SAMPLE_SEED), args.repeat),
                "",
            )
        )
        big = generate_personas(args.big, seed=1)
        rows.append(
            (
                f"generate {args.big} personas",
                best(lambda: generate_personas(args.big, seed=1), 1),
                "",
            )
        )
        big_xlsx = Path(tmp) / "big.xlsx"
        rows.append(
            (
                f"write {args.big} personas (.xlsx)",
                best(lambda: write_workbook(big, big_xlsx), 1),
                "",
            )
        )
        rows.append(
            (f"read {args.big} personas (.xlsx)", best(lambda: read_personas(big_xlsx), 1), "")
        )

        with bench_database(args.db_url, Path(tmp), "bench_personas") as url:
            migrate.upgrade(url)
            engine = create_db_engine(url, total_connections=2)

            def seed(people):  # one transaction, as the CLI does
                with engine.begin() as conn:
                    return seed_personas(conn, personas=people)

            def truncate():
                with engine.begin() as conn:
                    conn.execute(
                        text(
                            "TRUNCATE users, agents, stores, products, coupons RESTART IDENTITY CASCADE"
                        )
                    )

            sample = generate_personas(372, seed=SAMPLE_SEED)
            for label, people in (("372", sample), (str(args.big), big)):
                first = []
                for _ in range(args.repeat):
                    truncate()
                    t0 = time.perf_counter()
                    seed(people)
                    first.append(time.perf_counter() - t0)
                rows.append((f"seed {label} personas, empty DB", min(first), "inserts"))
                rows.append(
                    (
                        f"seed {label} personas again",
                        best(lambda p=people: seed(p), args.repeat),
                        "unchanged",
                    )
                )
                changed = [
                    p.model_copy(update={"churn_risk": round(1 - p.churn_risk, 2)}) for p in people
                ]
                rows.append(
                    (
                        f"seed {label} personas, all changed",
                        best(lambda c=changed, p=people: (seed(c), seed(p)), 1) / 2,
                        "updates",
                    )
                )
            data = generate_catalog(seed=7)
            rows.append(
                (
                    "generate catalog",
                    best(lambda: generate_catalog(seed=7), args.repeat),
                    f"{len(data.products)} products, {len(data.coupons)} coupons",
                )
            )
            truncate()
            t0 = time.perf_counter()
            with engine.begin() as conn:
                seed_catalog(conn, data=data)
            rows.append(("seed catalog, empty DB", time.perf_counter() - t0, "inserts"))

            def again():
                with engine.begin() as conn:
                    seed_catalog(conn, data=data)

            rows.append(("seed catalog again", best(again, args.repeat), "unchanged"))
            engine.dispose()

    width = max(len(r[0]) for r in rows)
    for name, secs, note in rows:
        print(f"{name:<{width}}  {secs * 1000:9.1f} ms  {note}")


if __name__ == "__main__":
    main()
