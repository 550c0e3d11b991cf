"""Engine factory: one place that knows how to connect, for the embedded default and for
a remote Postgres behind a pooler (Supabase's, or PgBouncer).

Pool sizes come from a *total* connection budget divided across the processes that will
connect (the owner's 50 + 75 per process exceeds Supabase Micro with two
workers).

**Poolers.** A transaction pooler hands each transaction to any server connection, so a
statement psycopg prepared on one is missing on the next (``prepared statement "_pg3_0"
does not exist``, measured with PgBouncer 1.18 on port 6432). The mode is said explicitly
— ``--db-pooler`` / ``LOADSIM_DB_POOLER`` = ``transaction | session | none`` — and only
guessed from the URL when unset (port 6543 or ``pooler.supabase`` → transaction, as
Supabase's transaction pooler). ``transaction`` turns prepared statements off; ``session``
and ``none`` keep them (a session pooler pins one server connection per client), and set
``statement_timeout`` once per connection; ``transaction`` sets it with ``SET LOCAL`` at
each transaction start, the one form that holds behind a transaction pooler.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import queue as sqla_queue

from db.errors import DatabaseUnavailable
from db.settings import PoolerMode, parse_pooler, pooler_from_env

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


def split_budget(total_budget: int, workers: int) -> tuple[int, int]:
    """``(master, each worker)`` connections of a run's total over the processes that are
    connected: the master and ``workers`` worker processes (0: standalone, one process with
    everything). The master gets an equal share — at least two when the budget allows, so
    an offer cycle's long transaction does not starve its lease log and checkpoints — the
    workers the rest (never less than one each; with fewer connections than processes the
    total cannot hold — the caller warns)."""
    if workers <= 0:
        return max(1, total_budget), 0
    master = max(1, total_budget // (workers + 1))
    if master < 2 and total_budget >= workers + 2:
        master = 2
    return master, max(1, (total_budget - master) // workers)


# SQLAlchemy names a pool's logger after its class's module: keep this one as quiet as
# SQLAlchemy's own (its INFO lines — "Pool disposed" — are not the harness's news).
logging.getLogger(f"{__name__}.BudgetPool").setLevel(logging.WARNING)


class BudgetPool(QueuePool):
    """A ``QueuePool`` whose size can change while it is in use (one connection
    budget for the whole run, re-divided when workers join or leave).

    :meth:`resize` sets the new total at once: idle connections above it are closed
    immediately, busy ones as they come back, and no new one opens until the pool is
    under its total again. It relies on ``QueuePool``'s bookkeeping (``_overflow``,
    ``_max_overflow``, the queue's ``maxsize``; SQLAlchemy 2.1), which
    ``tests/test_distributed_units.py`` checks against a real server's
    ``pg_stat_activity``. Without a resize it behaves exactly like ``QueuePool``.
    """

    @property
    def limit(self) -> int:
        """The most connections this pool may hold open (kept and overflow)."""
        return int(self._pool.maxsize + self._max_overflow)

    def open_connections(self) -> int:
        return int(self._overflow + self._pool.maxsize)

    def resize(self, total: int) -> None:
        """Hold at most ``total`` connections from now on (3/4 kept idle, as ``plan_pool``)."""
        plan = plan_pool(max(1, int(total)), 1)
        with self._overflow_lock:
            open_now = self.open_connections()
            self._pool.maxsize = plan.pool_size
            self._overflow = open_now - plan.pool_size
            self._max_overflow = plan.max_overflow
        self._trim()

    def _over(self) -> bool:
        return self.open_connections() > self.limit or self._pool.qsize() > self._pool.maxsize

    def _trim(self) -> None:
        while self._over():
            try:
                record = self._pool.get(False)
            except sqla_queue.Empty:
                return  # the rest are busy: closed as they come back
            try:
                record.close()
            finally:
                self._dec_overflow()

    def _do_return_conn(self, record: Any) -> None:
        if self._pool.maxsize > 0 and (
            self.open_connections() > self.limit or self._pool.qsize() >= self._pool.maxsize
        ):
            try:
                record.close()
            finally:
                self._dec_overflow()
            return
        super()._do_return_conn(record)


_POSTGRES_DRIVERS = ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg")


def normalize_url(url: str | URL) -> URL:
    """Force the psycopg 3 driver (``postgres://`` and ``postgresql://`` → ``+psycopg``).

    Raises:
        DatabaseUnavailable: the text is not a Postgres URL (one line, password redacted).
    """
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        u = make_url(url)
    except (ArgumentError, ValueError) as exc:
        why = "the port is not a number" if "int()" in str(exc) else "not a URL"
        raise DatabaseUnavailable(
            f"DATABASE_URL {redact(url)} cannot be parsed ({why}) — expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (URL-encode special characters "
            "in the password: @ → %40, : → %3A, / → %2F)"
        ) from None
    if u.drivername not in _POSTGRES_DRIVERS:
        raise DatabaseUnavailable(
            f"DATABASE_URL {redact(url)} is not a Postgres URL (scheme {u.drivername!r}) — "
            "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    return u.set(drivername="postgresql+psycopg")


def is_transaction_pooler(url: URL) -> bool:
    """Supabase's transaction pooler listens on 6543 (``pooler.supabase.com``)."""
    return url.port == 6543 or "pooler.supabase" in (url.host or "")


def resolve_pooler(url: URL, pooler: PoolerMode | bool | None = None) -> PoolerMode:
    """The pooler mode of a connection: ``pooler`` when given (``True`` is transaction,
    ``False`` none), else ``$LOADSIM_DB_POOLER``, else the guess from the URL."""
    if isinstance(pooler, bool):
        return "transaction" if pooler else "none"
    if pooler is not None:
        return parse_pooler(pooler)
    from_env = pooler_from_env()
    if from_env is not None:
        return from_env
    return "transaction" if is_transaction_pooler(url) else "none"


def redact(url: str | URL | None) -> str:
    """A URL safe for logs and messages (``db.redact``, the one place credentials are
    hidden; kept here for the callers that import it from the engine)."""
    from db.redact import redact as _redact

    return _redact(url)


def create_db_engine(
    url: str | URL,
    *,
    total_connections: int = DEFAULT_DB_CONNECTIONS,
    processes: int = 1,
    statement_timeout_ms: int | None = 30_000,
    pooler: PoolerMode | bool | None = None,
    application_name: str = "loadsim",
    **kwargs: Any,
) -> Engine:
    """Create an engine with the harness's connection policy.

    Args:
        url: the database URL (any postgres scheme; psycopg 3 is forced).
        total_connections: the run's total connection budget (``--db-connections``).
        processes: how many processes share the budget.
        statement_timeout_ms: every transaction's; set once per new connection, or with
            ``SET LOCAL`` at every transaction start behind a transaction pooler (where the
            startup ``options`` do not hold).
        pooler: ``transaction`` (prepared statements off), ``session`` or ``none``;
            ``None`` → ``$LOADSIM_DB_POOLER``, else guessed from the URL (6543 →
            transaction). ``True``/``False`` are transaction/none.

    Raises:
        DatabaseUnavailable: the URL does not parse.
        ConfigError: an unknown pooler mode.
    """
    u = normalize_url(url)
    mode = resolve_pooler(u, pooler)
    pooled = mode == "transaction"
    plan = plan_pool(total_connections, processes)
    # A blackholed host must fail in seconds (one clear line), not after the OS's minutes.
    connect_args: dict[str, Any] = {"application_name": application_name, "connect_timeout": 10}
    if pooled:
        # Transaction pooling hands each transaction to any server connection: prepared
        # statements would be missing or clash there.
        connect_args["prepare_threshold"] = None
    connect_args.update(kwargs.pop("connect_args", {}))
    kwargs.setdefault("poolclass", BudgetPool)
    engine = create_engine(
        u,
        pool_size=plan.pool_size,
        max_overflow=plan.max_overflow,
        pool_pre_ping=True,
        pool_timeout=30,
        connect_args=connect_args,
        **kwargs,
    )
    engine.info_pooler = pooled  # type: ignore[attr-defined]  # the harness's note on the Engine
    engine.info_pooler_mode = mode  # type: ignore[attr-defined]  # the harness's note on the Engine
    if statement_timeout_ms:
        _install_statement_timeout(engine, statement_timeout_ms, per_transaction=pooled)
    from db.search_path import install_search_path  # adopted DBs: loadsim first (§13)

    install_search_path(engine)
    return engine


def _install_statement_timeout(engine: Engine, timeout_ms: int, *, per_transaction: bool) -> None:
    """``statement_timeout`` for every transaction of ``engine``: once per new connection
    where the connection is the server's own (no pooler, or a session pooler), so a
    transaction pays no extra round trip (two of a recorded session's ~10); ``SET LOCAL``
    at each transaction start behind a transaction pooler, which hands each transaction to
    any server connection. A ``SET LOCAL`` inside a transaction still overrides it there."""
    if per_transaction:
        stmt = f"SET LOCAL statement_timeout = {int(timeout_ms)}"

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(stmt)

        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"SET statement_timeout = {int(timeout_ms)}")
        finally:
            cur.close()
            dbapi_conn.commit()
