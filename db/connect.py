"""The one way processes get an engine from settings (embedded default or DATABASE_URL),
and the one place that turns a failed connection into one readable line.

A bad ``DATABASE_URL`` is the first thing a new user meets (a typo in the host, the
password of another project, the pooler's port). Every entry point — ``loadsim db …``,
``locust``'s ``init`` — asks :func:`check_database` first or maps what it caught with
:func:`database_unavailable`, so the user sees what failed, the URL with its password
redacted, and the fix to try — never a driver traceback.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine

from db.embedded import resolve_database_url
from db.engine import DEFAULT_DB_CONNECTIONS, create_db_engine, normalize_url
from db.errors import DatabaseUnavailable
from db.redact import redact, redact_text
from db.settings import SimSettings

CHECK_TIMEOUT_S = 10
"""Seconds :func:`check_database` waits for the server (libpq ``connect_timeout``)."""

_ENCODE_TIP = "URL-encode special characters in it: @ → %40, : → %3A, / → %2F, # → %23"

# (SQLSTATE prefix or None, message pattern, what happened, the fix). First match wins.
_RULES: list[tuple[str | None, str, str, str]] = [
    (None, r"password authentication failed|28P01|authentication failed",
     "the password was refused for user {user}",
     "check the password in DATABASE_URL (" + _ENCODE_TIP + ")"),
    (None, r"no password supplied|password is required|fe_sendauth",
     "the server asks for a password and DATABASE_URL has none",
     "put it in the URL: postgresql://USER:PASSWORD@HOST:PORT/DB"),
    (None, r"role .* does not exist|no such user",
     "user {user} does not exist on that server",
     "check the user name in DATABASE_URL (Supabase pooler: postgres.<project-ref>)"),
    (None, r"database .* does not exist|no such database",
     "database {database} does not exist there",
     "check the name after the last / in DATABASE_URL, or create the database"),
    (None, r"connection refused",
     "connection refused at {where}",
     "is Postgres (or the pooler) running and listening there? Check host and port in "
     "DATABASE_URL (Supabase: 5432 direct, 6543 pooler)"),
    (None, r"failed to resolve host|could not translate host name|name or service not known"
           r"|nodename nor servname|temporary failure in name resolution",
     "host {host} not found",
     "check the host name in DATABASE_URL (Supabase: db.<project-ref>.supabase.co)"),
    (None, r"timeout expired|timed out|connection timeout",
     "no answer from {where} within the connect timeout",
     "a firewall, a wrong port or a stopped server: check host and port in DATABASE_URL"),
    (None, r"too many (clients|connections)|remaining connection slots|max_client_conn"
           r"|no more connections allowed",
     "the server refuses more connections",
     "lower --db-connections, or connect through the pooler"),
    (None, r"ssl|tls",
     "the SSL handshake with {where} failed",
     "check the port speaks Postgres, and sslmode in DATABASE_URL (?sslmode=require)"),
    (None, r"pg_hba\.conf",
     "the server does not accept this host/user/database (pg_hba.conf)",
     "ask for access, or add ?sslmode=require for a server that only allows SSL"),
    (None, r"no such file or directory|is the server running locally",
     "no Postgres on the local socket",
     "give a host in DATABASE_URL (postgresql://USER:PASSWORD@HOST:5432/DB), or unset "
     "it for the embedded database"),
    ("57P03", r"", "the server is starting up or shutting down", "retry in a moment"),
]  # fmt: skip

_CONNECTION_SQLSTATES = ("08", "28", "3D000", "53300", "57P03")
"""Connection exception, invalid authorization, unknown database, too many connections,
cannot connect now. Other SQLSTATEs (a query error) are not connection problems."""


def _names(url: Any) -> dict[str, str]:
    try:
        u = normalize_url(url)
    except DatabaseUnavailable:
        return {"user": "?", "database": "?", "host": "?", "where": "?"}
    host = u.host or str(u.query.get("host") or "the local socket")
    where = f"{host}:{u.port}" if u.port else host
    return {
        "user": repr(u.username or ""),
        "database": repr(u.database or ""),
        "host": repr(host),
        "where": where,
    }


def _driver_error(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc


def is_connection_error(exc: BaseException) -> bool:
    """True for a failure to connect (not for an error in a query)."""
    import psycopg
    from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

    if isinstance(exc, DatabaseUnavailable | ArgumentError):
        return True
    if not isinstance(exc, OperationalError | InterfaceError | psycopg.OperationalError):
        return False
    err = _driver_error(exc)
    state = getattr(err, "sqlstate", None)
    return state is None or state.startswith(_CONNECTION_SQLSTATES)


def database_unavailable(exc: BaseException, url: Any) -> DatabaseUnavailable:
    """One line for a failed connection: what, where (password redacted), the fix."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    err = _driver_error(exc)
    raw = " ".join(str(err).split())  # one line
    state = getattr(err, "sqlstate", None) or ""
    names = _names(url)
    head = f"cannot connect to the database {redact(url)}"
    for want_state, pattern, what, fix in _RULES:
        if want_state and not state.startswith(want_state):
            continue
        if pattern and not re.search(pattern, raw, re.IGNORECASE):
            continue
        return DatabaseUnavailable(redact_text(f"{head}: {what.format(**names)} — {fix}", url))
    first = raw[:200] or type(err).__name__
    return DatabaseUnavailable(
        redact_text(f"{head}: {first} — check DATABASE_URL (host, port, user, password)", url)
    )


def check_database(url: str, *, timeout_s: int = CHECK_TIMEOUT_S) -> None:
    """Connect once and run ``SELECT 1``.

    Raises:
        DatabaseUnavailable: the URL is unparsable, the server unreachable, or it refuses
            the user, password or database (one line, password redacted, fix suggested).
    """
    from sqlalchemy import create_engine, pool, text

    u = normalize_url(url)  # raises DatabaseUnavailable for a URL that is not one
    eng = create_engine(
        u,
        poolclass=pool.NullPool,
        connect_args={"connect_timeout": timeout_s, "prepare_threshold": None},
    )
    try:
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if is_connection_error(exc):
            raise database_unavailable(exc, url) from None
        raise
    finally:
        eng.dispose()


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
        pooler=settings.db_pooler,
        application_name=application_name,
    )
