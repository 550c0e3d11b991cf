"""The embedded default (docs/ARCHITECTURE.md, Embedded default): a Postgres 16 from the ``pgserver`` wheel,
data under ``.loadsim/pg`` (or ``$LOADSIM_HOME/pg``), reused across runs so ``--resume``
finds its data. No system Postgres is assumed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgserver import PostgresServer

log = logging.getLogger(__name__)

DB_NAME = "loadsim"


def loadsim_home() -> Path:
    """Where local state lives: ``$LOADSIM_HOME`` or ``./.loadsim``."""
    return Path(os.environ.get("LOADSIM_HOME") or ".loadsim").resolve()


class EmbeddedPostgres:
    """A handle on the embedded server; ``url`` is a SQLAlchemy URL (unix socket)."""

    def __init__(self, pgdata: Path, *, database: str = DB_NAME, stop_at_exit: bool = True):
        import pgserver  # imported lazily: heavy, and only the embedded default needs it

        pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata = pgdata
        self._server = _start(pgserver, pgdata, "stop" if stop_at_exit else None)
        self.database = database
        self._ensure_database(database)

    def uri(self, database: str | None = None) -> str:
        raw = self._server.get_uri(database or self.database)
        return raw.replace("postgresql://", "postgresql+psycopg://", 1)

    @property
    def url(self) -> str:
        return self.uri()

    def _ensure_database(self, name: str) -> None:
        import psycopg

        admin = self._server.get_uri("postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
                log.info("created embedded database %s", name)

    def create_database(self, name: str, *, drop_first: bool = False) -> str:
        """Create (optionally recreate) another database on this server; return its URL."""
        import psycopg

        admin = self._server.get_uri("postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            if drop_first:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def stop(self) -> None:
        """Stop the server if this process is its last user."""
        self._server.cleanup()


def _start(pgserver: ModuleType, pgdata: Path, cleanup_mode: str | None) -> PostgresServer:
    """pgserver gives ``pg_ctl start`` 10 s; on a loaded machine that can run out while the
    server is still coming up. Ask again: a server that did start is then simply reused."""
    import subprocess

    for attempt in range(3):
        try:
            return pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)
        except subprocess.TimeoutExpired:
            if attempt == 2:
                raise
            log.warning("embedded Postgres slow to start (attempt %d); waiting for it", attempt + 1)
    raise AssertionError("unreachable")


_instance: EmbeddedPostgres | None = None


def get_embedded(home: Path | None = None, *, stop_at_exit: bool = True) -> EmbeddedPostgres:
    """Start (or attach to) the embedded server once per process."""
    global _instance
    if _instance is None:
        pgdata = (home or loadsim_home()) / "pg"
        log.info("starting embedded Postgres under %s", pgdata)
        _instance = EmbeddedPostgres(pgdata, stop_at_exit=stop_at_exit)
    return _instance


def resolve_database_url(database_url: str | None) -> str:
    """``DATABASE_URL`` when set, else the embedded default (started on demand)."""
    if database_url:
        return database_url
    return get_embedded().url
