"""A kill that arrives while a connection waits on the server stays a kill.

Locust stops a user by raising ``GreenletExit`` in its greenlet, wherever it waits. When
that wait is inside a database round trip, the driver's clean-up can raise a database
error of its own on top of it — the ``GreenletExit`` is then only that error's
``__context__``, and code that catches ``Exception`` (a failed hour, a retry) carries on
as if nothing had asked it to stop. Seen with the pool's pre-ping: SQLAlchemy's psycopg
dialect turns ``autocommit`` back off in a ``finally`` after ``SELECT 1``, and psycopg
refuses that on a connection whose query is still in flight (``ProgrammingError: can't
change 'autocommit' now: connection in transaction status ACTIVE``), so the kill became
a ``ProgrammingError`` and the user survived it.

:func:`install_interrupt_passthrough` hooks SQLAlchemy's public ``handle_error`` event
(it sees every DBAPI error, the pre-ping's included): an error raised while handling an
interrupt — ``GreenletExit``, ``KeyboardInterrupt``, ``SystemExit``, anything that is a
``BaseException`` but not an ``Exception`` — re-raises the interrupt itself, the error
chained to it. SQLAlchemy runs its clean-up (the connection is invalidated, not returned
to the pool half-used) as for any other exception. ``tests/test_db_interrupts.py`` kills
a greenlet inside a real pre-ping.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def interrupt_behind(exc: BaseException | None) -> BaseException | None:
    """The interrupt (a ``BaseException`` that is not an ``Exception``) ``exc`` was raised
    while handling, walking its ``__context__`` chain; ``None`` if there is none."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if not isinstance(exc, Exception):
            return exc
        exc = exc.__context__
    return None


def _pass_interrupt(ctx: Any) -> None:
    """``handle_error``: raise the interrupt behind the DBAPI error, if there is one."""
    interrupt = interrupt_behind(ctx.original_exception)
    if interrupt is not None:
        raise interrupt from ctx.original_exception


def install_interrupt_passthrough(engine: Engine) -> None:
    """Make ``engine`` re-raise an interrupt a DBAPI error hid (see the module)."""
    if not event.contains(engine, "handle_error", _pass_interrupt):
        event.listen(engine, "handle_error", _pass_interrupt)
