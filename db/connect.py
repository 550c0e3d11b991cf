"""The one way processes get an engine from settings (embedded default or DATABASE_URL)."""

from __future__ import annotations

from sqlalchemy import Engine

from db.embedded import resolve_database_url
from db.engine import DEFAULT_DB_CONNECTIONS, create_db_engine
from db.settings import SimSettings


def engine_from_settings(
    settings: SimSettings,
    *,
    total_connections: int = DEFAULT_DB_CONNECTIONS,
    processes: int = 1,
    application_name: str = "loadsim",
) -> Engine:
    url = resolve_database_url(settings.database_url)
    return create_db_engine(
        url,
        total_connections=total_connections,
        processes=processes,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        application_name=application_name,
    )
