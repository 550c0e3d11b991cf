"""The harness's own tables on an adopted database: schema ``loadsim``, own alembic history.

Why a separate schema and history: the owner's app has its own migrations (and its own
``alembic_version``); the harness must never collide with either. Everything here is
created by ``migrations/harness/`` (version table ``loadsim.alembic_version``), so
``alembic check`` of the harness's schema stays meaningful on its own.

Why copies of ``db.models`` tables: the harness's SQL keeps one shape, so these tables are
the project's own definitions of ``simulation_runs``, ``agent_hours``, ``persona_leases``,
the rich ``shopping_sessions`` / ``shopping_session_events`` (the source of truth the app's
tables are mirrored from) and the per-run clock ``simulation_state`` — moved to ``loadsim``
and **without foreign keys to app tables**: a foreign key would install referential
triggers on the owner's table, which is altering it.

The embedded default does not use this module: there the project's migrations created
every table (app and harness alike, in ``public``), and no app history exists to collide
with. Both layouts are read by the same SQL through ``search_path`` (``db.search_path``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKeyConstraint,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from db.appmap import HARNESS_SCHEMA
from db.models import NAMING
from db.models import metadata as project_metadata

OWNED = (
    "simulation_runs",
    "agent_hours",
    "persona_leases",
    "shopping_sessions",
    "shopping_session_events",
    "simulation_state",
    "experiment_assignments",
)
"""Project tables that the harness owns on an adopted database (copied into ``loadsim``)."""

metadata = MetaData(naming_convention=NAMING, schema=HARNESS_SCHEMA)


def _copy_owned() -> None:
    for name in OWNED:
        src = project_metadata.tables[name]
        t = src.to_metadata(metadata, schema=HARNESS_SCHEMA)
        for fkc in [c for c in t.constraints if isinstance(c, ForeignKeyConstraint)]:
            if fkc.elements[0].target_fullname.split(".")[-2] not in OWNED:
                t.constraints.discard(fkc)
                for fk in fkc.elements:
                    fk.parent.foreign_keys.discard(fk)
                    t.foreign_keys.discard(fk)


_copy_owned()

session_links = Table(
    "session_links",
    metadata,
    Column("session_id", BigInteger, primary_key=True, autoincrement=False),
    Column("app_session_id", String(64), nullable=False),
    comment="harness session id -> the app's mirrored shopping_sessions id (bigint or uuid)",
)
"""Which app ``shopping_sessions`` row mirrors which harness session (kept as text so an
owner's uuid or bigint ids both fit); events find their app session through it."""

adoption = Table(
    "adoption",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("map", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("fingerprint", String(32), nullable=False),
    Column("source", String(500)),
    Column("additive_ddl", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("adopted_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)
"""The map the views were generated from (one row, id 1): ``loadsim db check`` compares a
map file with it, and a run on this database needs no map file of its own."""
