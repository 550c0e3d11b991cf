"""Every harness transaction sees the harness's schema first: ``loadsim, public``.

On an adopted database ``loadsim`` holds the harness's own tables and the views generated
from the map (``db.appviews``), so the harness's unqualified SQL (``FROM users``,
``INSERT INTO shopping_sessions``) reaches them; on the embedded default ``loadsim`` does
not exist and Postgres skips it, so the same SQL reaches ``public`` as before.

Why ``SET LOCAL`` in a ``begin`` listener and not a connection-level ``SET`` or the
``options=-c search_path`` startup parameter: behind a transaction pooler (Supabase 6543,
PgBouncer in transaction mode) consecutive transactions may run on different server
connections, so session settings are unreliable; a ``SET LOCAL``
issued at the start of each transaction always holds for that transaction.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import Engine, event

from db.appmap import HARNESS_SCHEMA

SEARCH_PATH = f"SET LOCAL search_path TO {HARNESS_SCHEMA}, public"
_HAS_SCHEMA = f"SELECT to_regnamespace('{HARNESS_SCHEMA}') IS NOT NULL"
_KEY = "loadsim_schema"
_INSTALLED: weakref.WeakSet[Engine] = weakref.WeakSet()
"""The engines the listeners are on (nothing is hung on SQLAlchemy's object)."""


def has_harness_schema(conn: Any) -> bool:
    """Whether ``conn`` (a checked-out ``Connection``) is to a database with the harness's
    schema, where each transaction starts with ``SET LOCAL search_path``."""
    return bool(conn.connection.info.get(_KEY))


def install_search_path(engine: Engine) -> None:
    """Issue ``SET LOCAL search_path`` at the start of every transaction of ``engine`` on a
    database that has the harness's schema (idempotent: installing twice does nothing more).

    Whether the schema exists is asked once per new connection (the pool keeps them), so
    the embedded default pays no extra statement per transaction; a database adopted while
    a process already holds connections is seen by the connections it opens afterwards.
    """
    if engine in _INSTALLED:
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(_HAS_SCHEMA)
            record.info[_KEY] = bool(cur.fetchone()[0])
        finally:
            cur.close()
            dbapi_conn.rollback()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.connection.info.get(_KEY):
            conn.exec_driver_sql(SEARCH_PATH)

    _INSTALLED.add(engine)
