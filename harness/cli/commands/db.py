"""``loadsim db upgrade | status | check`` — schema and pre-flight."""

from __future__ import annotations

import argparse

from tabulate import tabulate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database: migrate, inspect, pre-flight check")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    up = dsub.add_parser(
        "upgrade", help="apply migrations (alembic upgrade head) to DATABASE_URL or the embedded DB"
    )
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(func=_upgrade)

    st = dsub.add_parser("status", help="list every table with its row count")
    st.set_defaults(func=_status)

    ck = dsub.add_parser(
        "check",
        help="pre-flight checklist: migrations, agents, coupons, products, target simulation mode",
    )
    ck.add_argument("--host", default=None, help="target API base URL to check for simulation mode")
    ck.set_defaults(func=_check)


def _url() -> str:
    from db.embedded import resolve_database_url
    from db.settings import load_settings

    return resolve_database_url(load_settings().database_url)


def _upgrade(args: argparse.Namespace) -> int:
    from db import migrate
    from db.engine import redact

    url = _url()
    migrate.upgrade(url, args.revision)
    print(f"database {redact(url)} at revision {migrate.current_revision(url)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from db import migrate
    from db.engine import create_db_engine, redact
    from db.preflight import table_counts

    url = _url()
    engine = create_db_engine(url, total_connections=2)
    try:
        counts = table_counts(engine)
    finally:
        engine.dispose()
    print(f"database: {redact(url)}  revision: {migrate.current_revision(url) or 'none'}")
    rows = [(t, "missing" if n is None else n) for t, n in counts.items()]
    print(tabulate(rows, headers=["table", "rows"], tablefmt="simple"))
    return 0


def _check(args: argparse.Namespace) -> int:
    from db import migrate
    from db.engine import create_db_engine
    from db.preflight import run_checks

    url = _url()
    engine = create_db_engine(url, total_connections=2)
    try:
        results = run_checks(
            engine,
            current=migrate.current_revision(url),
            head=migrate.head_revision(),
            target=args.host,
        )
    finally:
        engine.dispose()
    for r in results:
        print(f"[{'PASS' if r.ok else 'FAIL'}] {r.name}: {r.detail}")
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)}/{len(results)} checks passed")
    return 1 if failed else 0
