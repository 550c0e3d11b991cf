"""Alembic environment: the metadata is ``db.models``' (one source of truth)."""

from __future__ import annotations

import logging.config
import os

from alembic import context
from sqlalchemy import create_engine, pool

from db.engine import normalize_url
from db.models import metadata

config = context.config
if config.config_file_name and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        url = os.environ.get("DATABASE_URL")
    if not url:
        from db.embedded import get_embedded

        url = get_embedded().url
    return str(normalize_url(url).render_as_string(hide_password=False))


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # Migrations go over a direct connection (not a transaction-mode pooler: DDL and advisory locks need a session).
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
