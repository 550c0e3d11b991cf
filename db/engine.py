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
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry, Pool

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


_NO_PRE_PING: ContextVar[bool] = ContextVar("loadsim_no_pre_ping", default=False)
"""Set inside :func:`one_statement`: this greenlet's (or thread's) checkouts skip the ping."""


@contextmanager
def one_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for a unit of work that is one statement, run by a caller that retries
    it on a disconnect error itself (``harness.agent.recorder``): one round trip instead of
    four (the pool's pre-ping, ``BEGIN``, the statement, ``COMMIT``).

    - No pre-ping: a connection that died while idle fails the statement with a disconnect
      error, SQLAlchemy invalidates the pool's older connections, and the caller's retry
      gets a new one. Every other checkout of the engine still pings.
    - Autocommit: a single statement is atomic on its own, so it needs no transaction —
      except where a transaction start carries a ``SET LOCAL`` the statement depends on (a
      transaction pooler's ``statement_timeout``, an adopted database's ``search_path``):
      there it runs in a transaction as before.
    """
    from db.search_path import has_harness_schema

    token = _NO_PRE_PING.set(True)
    try:
        with engine.connect() as conn:
            if getattr(engine, "info_pooler", True) or has_harness_schema(conn):
                with conn.begin():
                    yield conn
            else:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
    finally:
        _NO_PRE_PING.reset(token)


# SQLAlchemy names a pool's logger after its class's module: keep this one as quiet as
# SQLAlchemy's own (its INFO lines — "Pool disposed" — are not the harness's news).
logging.getLogger(f"{__name__}.BudgetPool").setLevel(logging.WARNING)


class BudgetPool(Pool):
    """A connection pool whose size can change while it is in use (one connection budget
    for the whole run, re-divided when workers join or leave).

    It behaves as SQLAlchemy's ``QueuePool`` (``pool_size`` connections kept idle,
    ``max_overflow`` more opened when needed and closed when they come back, a checkout
    over the limit waits up to ``timeout`` seconds, then raises
    ``sqlalchemy.exc.TimeoutError``), with its own bookkeeping: it implements the two
    hooks a ``Pool`` subclass supplies (``_do_get``, ``_do_return_conn``) and edits no
    other pool's state. :meth:`resize` sets the new total at once: idle connections above
    it are closed immediately, busy ones as they come back, and no new one opens until the
    pool is under its total again (``tests/test_distributed_units.py`` checks this
    against a real server's ``pg_stat_activity``).
    """

    def __init__(
        self,
        creator: Any,
        pool_size: int = 5,
        max_overflow: int = 10,
        timeout: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(creator, **kw)
        self._make = creator
        self._kw = {k: v for k, v in kw.items() if k != "_dispatch"}
        self._timeout = float(timeout)
        self._keep = max(0, int(pool_size))
        self._limit = self._keep + max(0, int(max_overflow))
        self._idle: deque[ConnectionPoolEntry] = deque()
        self._open = 0  # records made by this pool and not closed: idle + checked out
        self._cond = threading.Condition()

    # ---------------------------------------------------------------- what it holds

    @property
    def limit(self) -> int:
        """The most connections this pool may hold open (kept and overflow)."""
        return self._limit

    @property
    def max_overflow(self) -> int:
        """Connections opened beyond :meth:`size` when needed (closed as they return)."""
        return self._limit - self._keep

    def size(self) -> int:
        """Connections kept open while idle (``pool_size``)."""
        return self._keep

    def timeout(self) -> float:
        """How long a checkout over the limit waits (seconds)."""
        return self._timeout

    def open_connections(self) -> int:
        with self._cond:
            return self._open

    def checkedout(self) -> int:
        with self._cond:
            return self._open - len(self._idle)

    def status(self) -> str:
        with self._cond:
            return (
                f"Pool size: {self._keep}  Overflow limit: {self.max_overflow}  "
                f"Open: {self._open}  Idle: {len(self._idle)}"
            )

    # ---------------------------------------------------------------- resizing

    def resize(self, total: int) -> None:
        """Hold at most ``total`` connections from now on (3/4 kept idle, as ``plan_pool``)."""
        plan = plan_pool(max(1, int(total)), 1)
        with self._cond:
            self._keep, self._limit = plan.pool_size, plan.total
            surplus = self._take_surplus()
            self._cond.notify_all()  # a larger pool: waiting checkouts may go on
        _close_all(surplus)

    def _take_surplus(self) -> list[ConnectionPoolEntry]:
        """Idle connections above the limit or above the number kept (under the lock;
        counted closed now, closed by the caller outside it)."""
        out = []
        while self._idle and (self._open > self._limit or len(self._idle) > self._keep):
            out.append(self._idle.popleft())
            self._open -= 1
        return out

    # ---------------------------------------------------------------- Pool's hooks

    def _do_get(self) -> ConnectionPoolEntry:
        deadline = time.monotonic() + self._timeout
        with self._cond:
            while True:
                if self._idle:
                    record = self._idle.popleft()
                    if _NO_PRE_PING.get():
                        # SQLAlchemy pings at checkout unless the record is fresh (its own
                        # flag, read and cleared right after this hook): see one_statement.
                        # Not in SQLAlchemy's typed pool-entry interface: tests/test_db_one_statement.py
                        # fails the day a release stops honouring it.
                        record.fresh = True  # type: ignore[attr-defined]  # see the two lines above
                    return record
                if self._open < self._limit:
                    self._open += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise sa_exc.TimeoutError(
                        f"BudgetPool limit of {self._limit} connections reached ({self._keep} "
                        f"kept, {self.max_overflow} overflow), connection timed out, timeout "
                        f"{self._timeout:.2f}"
                    )
                self._cond.wait(left)
        try:
            return self._create_connection()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        with self._cond:
            close = self._open > self._limit or len(self._idle) >= self._keep
            if close:
                self._open -= 1
            else:
                self._idle.append(record)
            self._cond.notify()
        if close:
            record.close()

    def dispose(self) -> None:
        with self._cond:
            idle, self._idle = list(self._idle), deque()
            self._open -= len(idle)
        _close_all(idle)
        self.logger.info("Pool disposed. %s", self.status())

    def recreate(self) -> BudgetPool:
        self.logger.info("Pool recreating")
        return self.__class__(
            self._make, pool_size=self._keep, max_overflow=self.max_overflow,
            timeout=self._timeout, _dispatch=self.dispatch, **self._kw,
        )  # fmt: skip


def _close_all(records: list[ConnectionPoolEntry]) -> None:
    for record in records:
        record.close()


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
    pool_timeout: float = 30,
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
        pool_timeout: how long a checkout waits for a connection when the pool is at its
            size (seconds), then fails.

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
        pool_timeout=pool_timeout,
        connect_args=connect_args,
        **kwargs,
    )
    engine.info_pooler = pooled  # type: ignore[attr-defined]  # the harness's note on the Engine
    engine.info_pooler_mode = mode  # type: ignore[attr-defined]  # the harness's note on the Engine
    if statement_timeout_ms:
        _install_statement_timeout(engine, statement_timeout_ms, per_transaction=pooled)
    from db.search_path import install_search_path  # adopted DBs: loadsim first (§13)

    install_search_path(engine)
    from db.interrupts import install_interrupt_passthrough  # a killed user stops

    install_interrupt_passthrough(engine)
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
