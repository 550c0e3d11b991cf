"""Adopting an existing database: what kind of database this is, and what adoption does.

A database is one of three kinds, decided from what is there (never from a flag the user
could get wrong):

- ``empty``: none of the app's tables exist → the embedded default path: the project's
  migrations create the whole schema (app and harness tables in ``public``), as always.
- ``project``: the project's own migrations made it (``public.alembic_version`` holds one
  of *our* revisions) → same as ``empty``: ``upgrade`` moves it to head.
- ``owner``: app tables exist and the project did not create them (the app's own
  migrations did) → the harness never creates, alters or drops an app table it did not
  create. ``upgrade`` installs only the harness's schema (``loadsim``, own alembic
  history); ``adopt`` additionally adds the listed nullable columns to app tables and
  generates the views and mirror triggers from the map — only when the user runs it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from db.appcheck import ConceptReport, additive_ddl, app_columns, inspect_concepts
from db.appmap import CONCEPTS, HARNESS_SCHEMA, AppMap
from db.appviews import mirror_ddl, views_ddl
from db.settings import PoolerMode

LOCK_TIMEOUT = "5s"
"""How long adoption waits for a lock on an app table before failing (nothing applied)."""


def _project_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("postgresql://"))
    return {rev.revision for rev in script.walk_revisions()}


def database_kind(conn: Connection, amap: AppMap) -> str:
    """``empty`` | ``project`` | ``owner`` (see the module docstring)."""
    present = set(app_columns(conn, amap.app_schema))
    version = None
    if "alembic_version" in present:
        version = conn.execute(
            text(f'SELECT version_num FROM "{amap.app_schema}".alembic_version LIMIT 1')
        ).scalar()
    if version is not None and version in _project_revisions():
        return "project"
    tables = {c.table for c in amap.concepts.values() if c.table} | set(CONCEPTS)
    return "owner" if present & tables else "empty"


def adopted_map(conn: Connection) -> dict | None:
    """The stored adoption row (``None`` when this database was never adopted)."""
    if conn.execute(text(f"SELECT to_regclass('{HARNESS_SCHEMA}.adoption')")).scalar() is None:
        return None
    row = conn.execute(
        text(f"SELECT map, fingerprint, source, adopted_at FROM {HARNESS_SCHEMA}.adoption WHERE id = 1")
    ).mappings().first()  # fmt: skip
    return dict(row) if row else None


@dataclass
class AdoptionPlan:
    """What ``adopt`` would do on this database with this map (nothing applied yet)."""

    reports: list[ConceptReport]
    additive: list[str]
    """DDL on app tables: nullable ``ADD COLUMN IF NOT EXISTS`` only."""
    harness: list[str]
    """DDL in the harness's own schema: views, trigger functions, triggers."""
    blocking: list[str]
    """Why adoption cannot proceed (required app columns missing / wrong type)."""


def plan_adoption(conn: Connection, amap: AppMap) -> AdoptionPlan:
    reports = inspect_concepts(conn, amap)
    blocking = []
    for r in reports:
        if r.table_missing and r.name in ("users", "agents", "products", "stores"):
            blocking.append(f"{r.name}: table {amap.app_schema}.{r.table} not found")
        blocking += [f"{r.name}.{m}: missing" for m in r.missing]
        blocking += [f"{r.name}.{w}" for w in r.wrong_type]
    additive = additive_ddl(amap, reports)
    # Generate the views as they will be once the additive columns exist.
    resolved = [_with_additive(amap, r) for r in reports]
    types = app_columns(conn, amap.app_schema)
    harness = views_ddl(amap, resolved) + mirror_ddl(amap, resolved, types)
    return AdoptionPlan(reports, additive, harness, blocking)


def _with_additive(amap: AppMap, rep: ConceptReport) -> ConceptReport:
    if not rep.additive:
        return rep
    cols = dict(rep.columns)
    for name in rep.additive:
        cols[name] = amap.concepts[rep.name].columns[name]
    return ConceptReport(
        rep.name, rep.table, found=rep.found, missing=rep.missing, wrong_type=rep.wrong_type,
        absent=rep.absent, table_missing=rep.table_missing, columns=cols,
    )  # fmt: skip


def plan_sql(plan: AdoptionPlan) -> str:
    """The plan as a script a DBA can read (or run with ``psql``)."""
    lines = [
        "BEGIN;",
        "-- additive, nullable columns on app tables (nothing else in an app table changes):",
    ]
    lines += plan.additive or ["-- (none needed)"]
    lines.append(
        f"-- the harness's own schema {HARNESS_SCHEMA}: views over the app tables, mirror triggers"
    )
    lines += [s.rstrip() + ";" for s in plan.harness]
    lines.append("-- (loadsim db adopt also records the map in loadsim.adoption)")
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def apply_adoption(engine: Engine, amap: AppMap, plan: AdoptionPlan) -> None:
    """Additive columns, views and triggers, and the stored map — one transaction, so a
    failure leaves the database as it was (Postgres DDL is transactional)."""
    with engine.begin() as conn:
        # ADD COLUMN needs a brief exclusive lock on the app's table: give up after a few
        # seconds rather than queue the app's own traffic behind a long transaction.
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        for stmt in plan.additive:
            conn.exec_driver_sql(stmt)
        for stmt in plan.harness:
            conn.exec_driver_sql(stmt)
        conn.exec_driver_sql(f"SET LOCAL search_path TO {HARNESS_SCHEMA}, public")
        conn.execute(
            text(
                f"INSERT INTO {HARNESS_SCHEMA}.adoption (id, map, fingerprint, source, additive_ddl)"
                " VALUES (1, CAST(:m AS jsonb), :f, :s, CAST(:a AS jsonb))"
                " ON CONFLICT (id) DO UPDATE SET map = EXCLUDED.map,"
                " fingerprint = EXCLUDED.fingerprint, source = EXCLUDED.source,"
                " additive_ddl = EXCLUDED.additive_ddl, adopted_at = now()"
            ),
            dict(
                m=json.dumps(amap.raw),
                f=amap.fingerprint(),
                s=amap.source,
                a=json.dumps(plan.additive),
            ),  # fmt: skip
        )


def schema_problem(url: str, pooler: PoolerMode | None = None) -> str | None:
    """Why the harness cannot use this database yet (``None``: it can) — the project's
    migrations at head, or, on an owner's database, ``loadsim`` at head and adopted.
    ``pooler``: the connection's pooler mode (``None``: ``db.engine.resolve_pooler``)."""
    from db import migrate
    from db.engine import redact

    current, head = migrate.current_revision(url), migrate.head_revision()
    if current == head:
        return None
    h_current, h_head = migrate.harness_current_revision(url), migrate.harness_head_revision()
    if h_current is not None:
        if h_current != h_head:
            return (
                f"the harness schema loadsim of {redact(url)} is at {h_current}, the code needs "
                f"{h_head}: run `loadsim db upgrade` first (it touches no app table)"
            )
        from db.engine import create_db_engine

        engine = create_db_engine(url, total_connections=1, pooler=pooler)
        try:
            with engine.connect() as conn:
                adopted = adopted_map(conn)
        finally:
            engine.dispose()
        if adopted is None:
            return (
                f"{redact(url)} holds your app's tables but was not adopted yet: run "
                "`loadsim db adopt --map FILE --sql`, then without --sql"
            )
        return None
    from db.appmap import default_map
    from db.engine import create_db_engine

    engine = create_db_engine(url, total_connections=1, pooler=pooler)
    try:
        with engine.connect() as conn:
            kind = database_kind(conn, default_map())
    finally:
        engine.dispose()
    if kind == "owner":
        return (
            f"{redact(url)} holds your app's tables but was not adopted yet: "
            "`loadsim db upgrade` installs the harness's own schema (no app table touched), "
            "then `loadsim db adopt --map FILE --sql` shows what adoption does"
        )
    return (
        f"the database {redact(url)} is at revision {current or 'none (empty)'}, "
        f"the code needs {head}: run `loadsim db upgrade` first"
    )


def is_adopted(engine: Engine) -> bool:
    """Whether ``engine``'s database was adopted (``loadsim.adoption`` has its row).

    On such a database the project's own offer engine does not run: its tables (per-run
    cycles, wallet bookkeeping columns) are the project's, not the app's, and the app has
    an engine of its own (never two engines on one database)."""
    with engine.connect() as conn:
        return adopted_map(conn) is not None


def adopted_report(conn: Connection, concept: str) -> ConceptReport | None:
    """What ``loadsim db check`` says about ``concept`` under the stored map (``None``: the
    database was not adopted). Seeding reads it before writing: the harness columns the app
    does not have (no ``is_simulated`` on the owner's products: rows written there could not
    be told from real ones) and the fixes the app's table needs (a unique index for the
    seed's ``ON CONFLICT`` key)."""
    from db.appcheck import inspect_concept
    from db.appmap import build_map

    stored = adopted_map(conn)
    if stored is None:
        return None
    amap = build_map(stored["map"], source=str(stored["source"]))
    return inspect_concept(conn, amap, concept)


def map_drift(url: str, path: str | None, pooler: PoolerMode | None = None) -> str | None:
    """Why the map file ``path`` cannot be run with (``None``: it can, or there is no
    ``[db.map]`` in it): its map differs from the one the database was adopted with, so the
    views would not be what the file says."""
    from db import owner_file
    from db.appmap import map_of
    from db.engine import create_db_engine, redact
    from db.errors import ConfigError

    if not path:
        return None
    try:
        owner = owner_file.read(path)
        if not owner.has("db.map"):
            return None
    except ConfigError:
        return None  # the file's other readers (routes, personas) report it, in one line
    amap = map_of(owner)
    engine = create_db_engine(url, total_connections=1, pooler=pooler)
    try:
        with engine.connect() as conn:
            stored = adopted_map(conn)
    finally:
        engine.dispose()
    if stored is None or stored["fingerprint"] == amap.fingerprint():
        return None
    return (
        f"{path}: its [db.map] differs from the map {redact(url)} was adopted with "
        f"({stored['source']}): run `loadsim db adopt --map {path}` (--sql to preview)"
    )
