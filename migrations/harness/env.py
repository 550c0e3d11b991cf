"""Alembic environment of the harness's own schema on an adopted database.

Its own history and its own version table (``loadsim.alembic_version``), so it never
collides with the app's migrations or their ``alembic_version``; it compares and touches
only the ``loadsim`` schema (``include_name``), so ``alembic check`` says nothing about the
app's tables. Reached through ``db.migrate.harness_*`` (or ``alembic -n harness``).
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool, text

from db.appmap import HARNESS_SCHEMA
from db.engine import normalize_url
from db.harness_schema import metadata

config = context.config


def _include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    if type_ == "schema":
        return name == HARNESS_SCHEMA
    return True


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("the harness schema is for an existing database: set DATABASE_URL")
    return str(normalize_url(url).render_as_string(hide_password=False))


_OPTS: dict[str, Any] = dict(
    target_metadata=metadata,
    version_table_schema=HARNESS_SCHEMA,
    include_schemas=True,
    include_name=_include_name,
    compare_type=True,
)


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, **_OPTS)
    with context.begin_transaction():
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {HARNESS_SCHEMA}")
        context.run_migrations()


def run_migrations_online() -> None:
    # Over a direct connection (migrations never through a transaction-mode pooler: DDL and advisory locks need a session).
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # The version table lives in the schema: it must exist before alembic looks.
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {HARNESS_SCHEMA}"))
        connection.commit()
        context.configure(connection=connection, **_OPTS)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
