"""``loadsim db check | upgrade | adopt`` on any database: the map-aware half of ``db``.

Why ``upgrade`` and ``adopt`` are two commands: ``upgrade`` is safe to run on anything —
on an empty or project-made database it applies the project's migrations (the embedded
default), and on an owner's database it installs only the harness's own schema
``loadsim`` (its own alembic history) and touches no app table. ``adopt`` is the one
command that writes to app tables (additive nullable columns only, listed first by
``--sql``) and generates the views and mirror triggers from the map; the user runs it on
purpose, after reading what it will do. ``upgrade --adopt --map FILE`` is the same as
``upgrade`` followed by ``adopt``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from tabulate import tabulate

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from db.appmap import AppMap

MAP_HELP = (
    "TOML file whose [db.map] section maps the harness's concepts to your app's tables "
    "(default: $LOADSIM_MAP, else $LOADSIM_DB_MAP, when that file has [db.map]; else the map "
    "stored at adoption, else today's schema)"
)


def add_map_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--map", dest="map_file", default=None, metavar="FILE", help=MAP_HELP)


def _resolve_map(conn: Connection, map_file: str | None) -> AppMap:
    from db import owner_file
    from db.adopt import adopted_map
    from db.appmap import build_map, load_map, map_of

    if map_file:
        return load_map(map_file)
    # The owner's one file, named for every part of the harness: used when it has [db.map].
    owner = owner_file.load()
    if owner.has("db.map"):
        return map_of(owner)
    try:
        stored = adopted_map(conn)
    except Exception:  # noqa: BLE001 - no loadsim schema yet: the default map
        conn.rollback()
        stored = None
    if stored is not None:
        return build_map(stored["map"], source=f"map stored at adoption ({stored['source']})")
    return load_map(None)


def _engine(url: str) -> Engine:
    from db.engine import create_db_engine

    return create_db_engine(url, total_connections=2)


def run_check(url: str, *, map_file: str | None, host: str | None) -> int:
    """Concept table, then the checklist; 0 when all is well, 2 naming what is missing."""
    from db.adopt import database_kind
    from db.appcheck import inspect_concepts
    from db.engine import redact
    from db.preflight import check_target, data_checks, schema_checks

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            amap = _resolve_map(conn, map_file)
            kind = database_kind(conn, amap)
            reports = inspect_concepts(conn, amap)
            revisions = _revisions(url, kind)
            results = schema_checks(conn, kind=kind, amap=amap, revisions=revisions)
            results += data_checks(conn, amap, reports)
    finally:
        engine.dispose()
    results.append(check_target(host, path=_health_path(host, map_file)))
    print(f"database: {redact(url)} ({_KIND[kind]}); map: {amap.source}")
    rows = []
    for r in reports:
        detail = "; ".join(
            [f"missing {m}" for m in r.missing]
            + [f"wrong type {w}" for w in r.wrong_type]
            + [f"missing {a} (additive: `loadsim db adopt` adds it)" for a in r.additive]
            + [f"needs {f.short}" for f in r.fixes]
        )
        table = f"{amap.app_schema}.{r.table}" if r.table else "(none)"
        rows.append((r.name, table, "missing" if r.table_missing else r.status, detail or "-"))
    print(tabulate(rows, headers=["concept", "app table", "status", "detail"], tablefmt="simple"))
    print()
    for c in results:
        print(f"[{'PASS' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
    fixes = [f for r in reports for f in r.fixes]
    if fixes:
        print()
        print("your app's tables need (run as their owner; the harness never runs these):")
        for f in fixes:
            print(f"  -- {f.what}")
            print(f"  {f.sql}")
    if any(r.additive for r in reports):
        print()
        print("`loadsim db adopt` adds the additive columns (nullable; `--sql` shows them first)")
    missing = [
        f"{r.name}" if r.table_missing else f"{r.name}.{m.split(' ')[0].rstrip(':')}"
        for r in reports
        for m in ([""] if r.table_missing else r.missing + r.wrong_type + r.additive)
    ]
    needs = [f.what.split(":")[0] for f in fixes]
    failed = [c.name for c in results if not c.ok]
    if missing or failed or needs:
        parts = []
        if missing:
            parts.append("missing or wrong in the database: " + ", ".join(missing))
        if needs:
            parts.append("needs a fix (printed above): " + ", ".join(needs))
        if failed:
            parts.append("pre-flight failed: " + ", ".join(failed))
        print("loadsim db check: " + "; ".join(parts), file=sys.stderr)
        return 2
    print(f"all {len(reports)} concepts found; {len(results)}/{len(results)} checks passed")
    return 0


def _health_path(host: str | None, map_file: str | None) -> str:
    """The target's health route from the owner's ``[routes]`` — the same map the run's
    start-up probe uses (``harness.config.routes``); read only when a target is checked."""
    if not host:
        return "/health"
    from harness.config.routes import load_routes

    return load_routes(map_file).path("health")


_KIND = {
    "empty": "no app tables yet",
    "project": "made by this project's migrations",
    "owner": "your app's tables; the harness keeps to schema loadsim",
}


def _revisions(url: str, kind: str) -> dict[str, str | None]:
    from db import migrate

    if kind == "owner":
        return {
            "harness_current": migrate.harness_current_revision(url),
            "harness_head": migrate.harness_head_revision(),
        }
    return {"current": migrate.current_revision(url), "head": migrate.head_revision()}


def run_upgrade(url: str, *, revision: str, sql: bool, adopt: bool, map_file: str | None) -> int:
    """The project's migrations (empty / project-made database) or the harness's schema
    only (an owner's database); ``--adopt`` continues with :func:`run_adopt`."""
    from db import migrate
    from db.adopt import database_kind
    from db.engine import redact

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            amap = _resolve_map(conn, map_file)
            kind = database_kind(conn, amap)
    finally:
        engine.dispose()
    if kind != "owner":
        if adopt:
            print(f"loadsim db upgrade: --adopt is for a database whose app tables exist; "
                  f"{redact(url)} has {_KIND[kind]}", file=sys.stderr)  # fmt: skip
            return 2
        if sql:
            print(_project_sql(url, revision), end="")
            return 0
        migrate.upgrade(url, revision)
        print(f"database {redact(url)} at revision {migrate.current_revision(url)}")
        return 0
    if sql:
        print(f"-- {redact(url)}: {_KIND[kind]}. `loadsim db upgrade` would run only this")
        print("-- (the harness's own schema; no app table is created, altered or dropped):")
        print(_harness_sql(url), end="")
        if not adopt:
            print("-- `loadsim db adopt --map FILE --sql` lists what adoption adds on top.")
            return 0
        return run_adopt(url, map_file=map_file, sql=True, upgrade_first=False)
    migrate.harness_upgrade(url)
    print(
        f"database {redact(url)}: {_KIND[kind]}; harness schema loadsim at "
        f"{migrate.harness_current_revision(url)} (no app table touched)"
    )
    if adopt:
        return run_adopt(url, map_file=map_file, sql=False, upgrade_first=False)
    print("next: `loadsim db adopt --map FILE --sql` to see what adoption does, then without --sql")
    return 0


def _project_sql(url: str, revision: str) -> str:
    import io

    from alembic import command

    from db import migrate

    current = migrate.current_revision(url)
    if current == migrate.head_revision():
        return f"-- database at {current}: nothing to apply\n"
    buf = io.StringIO()
    cfg = migrate.alembic_config(url)
    cfg.output_buffer = buf
    command.upgrade(cfg, f"{current}:{revision}" if current else revision, sql=True)
    return buf.getvalue()


def _harness_sql(url: str) -> str:
    from db import migrate

    current = migrate.harness_current_revision(url)
    if current == migrate.harness_head_revision():
        return f"-- harness schema loadsim already at {current}: nothing to apply\n"
    return migrate.harness_upgrade_sql(url, current)


def run_adopt(url: str, *, map_file: str | None, sql: bool, upgrade_first: bool = True) -> int:
    """Additive columns, views, mirror triggers (``--sql``: print them, apply nothing)."""
    from sqlalchemy.exc import DBAPIError

    from db import migrate
    from db.adopt import apply_adoption, database_kind, plan_adoption, plan_sql
    from db.engine import redact

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            amap = _resolve_map(conn, map_file)
            kind = database_kind(conn, amap)
            if kind != "owner":
                print(f"loadsim db adopt: {redact(url)} has {_KIND[kind]}: nothing to adopt "
                      "(`loadsim db upgrade` creates the whole schema)", file=sys.stderr)  # fmt: skip
                return 2
            plan = plan_adoption(conn, amap)
            conn.rollback()
        if plan.blocking:
            print(
                f"loadsim db adopt: the map {amap.source} does not fit {redact(url)}:",
                file=sys.stderr,
            )
            for line in plan.blocking:
                print(f"  {line}", file=sys.stderr)
            print("fix the map (see `loadsim db check --map FILE`); nothing was changed",
                  file=sys.stderr)  # fmt: skip
            return 2
        if sql:
            if upgrade_first:
                print("-- the harness's own schema first (`loadsim db upgrade`):")
                print(_harness_sql(url), end="")
            print(plan_sql(plan), end="")
            return 0
        if upgrade_first:
            migrate.harness_upgrade(url)
        try:
            apply_adoption(engine, amap, plan)
        except DBAPIError as exc:  # lock timeout, permissions: one transaction, rolled back
            first = str(exc.orig or exc).strip().splitlines()[0]
            print(f"loadsim db adopt: {first} — nothing was applied to the app's tables "
                  "(one transaction); retry, or run it as a role that may ALTER them",
                  file=sys.stderr)  # fmt: skip
            return 2
    finally:
        engine.dispose()
    print(f"adopted {redact(url)} with {amap.source}:")
    for stmt in plan.additive:
        print(f"  applied: {stmt}")
    print(f"  schema loadsim: {sum(s.startswith('CREATE VIEW') for s in plan.harness)} views, "
          "mirror triggers for shopping_sessions / shopping_session_events")  # fmt: skip
    print("next: `loadsim db check` (then seed personas: `loadsim personas seed FILE`)")
    return 0
