"""``loadsim db upgrade | adopt | status | check`` — schema, adoption and pre-flight
(the map-aware half lives in ``db_map``)."""

from __future__ import annotations

import argparse

from tabulate import tabulate

from harness.cli.commands.db_map import add_map_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database: migrate, inspect, pre-flight check")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    up = dsub.add_parser(
        "upgrade",
        help="apply migrations to DATABASE_URL or the embedded DB (on a database whose app "
        "tables exist: only the harness's own schema loadsim — no app table is touched)",
    )
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.add_argument("--sql", action="store_true", help="print the exact DDL; apply nothing")
    up.add_argument(
        "--adopt", action="store_true", help="then adopt the app tables (= `loadsim db adopt`)"
    )
    add_map_option(up)
    up.set_defaults(func=_upgrade)

    ad = dsub.add_parser(
        "adopt",
        help="adopt an existing app database: additive nullable columns on app tables "
        "(listed first with --sql), views + mirror triggers in schema loadsim from the map",
        description="Adopt a database whose app tables already exist (made by your app's own "
        "migrations). Creates the harness's own schema loadsim (own alembic version table), "
        "adds only the nullable columns the harness needs to app tables (e.g. "
        "shopping_sessions.run_id, .is_replay), and generates from the map one view per "
        "concept plus triggers that mirror the harness's sessions/events into your "
        "shopping_sessions / shopping_session_events (marked simulated). Nothing else in an "
        "app table is created, altered or dropped. Run with --sql first: it prints the exact "
        "DDL and applies nothing.",
    )
    add_map_option(ad)
    ad.add_argument("--sql", action="store_true", help="print the exact DDL; apply nothing")
    ad.set_defaults(func=_adopt)

    st = dsub.add_parser("status", help="list every table with its row count")
    st.set_defaults(func=_status)

    ck = dsub.add_parser(
        "check",
        help="the map concept by concept (found / missing / wrong type), then the pre-flight "
        "checklist: migrations, agents, coupons, products, target simulation mode; exit 2 "
        "naming what is missing",
    )
    ck.add_argument("--host", default=None, help="target API base URL to check for simulation mode")
    add_map_option(ck)
    ck.set_defaults(func=_check)


def _url() -> str:
    from db.embedded import resolve_database_url
    from db.settings import load_settings

    return resolve_database_url(load_settings().database_url)


def _upgrade(args: argparse.Namespace) -> int:
    from harness.cli.commands.db_map import run_upgrade

    return run_upgrade(
        _url(), revision=args.revision, sql=args.sql, adopt=args.adopt, map_file=args.map_file
    )


def _adopt(args: argparse.Namespace) -> int:
    from harness.cli.commands.db_map import run_adopt

    return run_adopt(_url(), map_file=args.map_file, sql=args.sql)


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
    harness = migrate.harness_current_revision(url)
    print(
        f"database: {redact(url)}  revision: {migrate.current_revision(url) or 'none'}"
        + (f"  harness schema loadsim: {harness}" if harness else "")
    )
    rows = [(t, "missing" if n is None else n) for t, n in counts.items()]
    print(tabulate(rows, headers=["table", "rows"], tablefmt="simple"))
    return 0


def _check(args: argparse.Namespace) -> int:
    from harness.cli.commands.db_map import run_check

    return run_check(_url(), map_file=args.map_file, host=args.host)
