"""Engine factory: one place that knows how to connect, for the embedded default and for
a remote Postgres such as Supabase's transaction pooler.

Pool sizes come from a *total* connection budget divided across the processes that will
connect (FIELD_NOTES: the owner's 50 + 75 per process exceeds Supabase Micro with two
workers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL

DEFAULT_DB_CONNECTIONS = 40
"""Default total budget: fits Supabase Micro (~60 direct connections) with headroom for
the owner's own app and migrations."""


@dataclass(frozen=True)
class PoolPlan:
    pool_size: int
    max_overflow: int

    @property
    def total(self) -> int:
        return self.pool_size + self.max_overflow


def plan_pool(total_budget: int, processes: int) -> PoolPlan:
    """Split a total connection budget across processes: each process gets at most
    ``total_budget // processes`` connections (never less than one), three quarters kept
    open and the rest as overflow."""
    if total_budget < 1:
        raise ValueError("connection budget must be >= 1")
    per_process = max(1, total_budget // max(1, processes))
    pool_size = max(1, (per_process * 3) // 4)
    return PoolPlan(pool_size=pool_size, max_overflow=per_process - pool_size)


def normalize_url(url: str | URL) -> URL:
    """Force the psycopg 3 driver (``postgres://`` and ``postgresql://`` → ``+psycopg``)."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def is_transaction_pooler(url: URL) -> bool:
    """Supabase's transaction pooler listens on 6543 (``pooler.supabase.com``)."""
    return url.port == 6543 or "pooler.supabase" in (url.host or "")


def redact(url: str | URL | None) -> str:
    """A URL safe for logs: the password replaced by ``***``."""
    if url is None:
        return "<embedded>"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never let logging leak a credential
        parts = urlsplit(str(url))
        return f"{parts.scheme}://***@{parts.hostname or ''}"


def create_db_engine(
    url: str | URL,
    *,
    total_connections: int = DEFAULT_DB_CONNECTIONS,
    processes: int = 1,
    statement_timeout_ms: int | None = 30_000,
    pooler: bool | None = None,
    application_name: str = "loadsim",
    **kwargs: Any,
) -> Engine:
    """Create an engine with the harness's connection policy.

    Args:
        url: the database URL (any postgres scheme; psycopg 3 is forced).
        total_connections: the run's total connection budget (``--db-connections``).
        processes: how many processes share the budget.
        statement_timeout_ms: applied with ``SET LOCAL`` at every transaction start, which
            also works through a transaction pooler (the startup ``options`` do not).
        pooler: force transaction-pooler mode; ``None`` detects it from the URL.
    """
    u = normalize_url(url)
    pooled = is_transaction_pooler(u) if pooler is None else pooler
    plan = plan_pool(total_connections, processes)
    connect_args: dict[str, Any] = {"application_name": application_name}
    if pooled:
        # Transaction pooling hands each transaction to any server connection: prepared
        # statements would be missing or clash there.
        connect_args["prepare_threshold"] = None
    connect_args.update(kwargs.pop("connect_args", {}))
    engine = create_engine(
        u,
        pool_size=plan.pool_size,
        max_overflow=plan.max_overflow,
        pool_pre_ping=True,
        pool_timeout=30,
        connect_args=connect_args,
        **kwargs,
    )
    engine.info_pooler = pooled  # type: ignore[attr-defined]
    if statement_timeout_ms:
        _install_statement_timeout(engine, statement_timeout_ms)
    from db.search_path import install_search_path  # adopted DBs: loadsim first (§13)

    install_search_path(engine)
    return engine


def _install_statement_timeout(engine: Engine, timeout_ms: int) -> None:
    stmt = f"SET LOCAL statement_timeout = {int(timeout_ms)}"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(stmt)
