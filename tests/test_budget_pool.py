"""``db.engine.BudgetPool`` on its own bookkeeping (no ``QueuePool`` internals): a checkout
at the limit waits for a returned connection, a failed connect gives its slot back, and
``engine.dispose()`` recreates the pool at its current size with the engine's listeners.
Resizing while in use is in ``tests/test_distributed_units.py``."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import exc, text

from db.engine import BudgetPool, create_db_engine


def test_a_checkout_at_the_limit_gets_the_connection_given_back(db_url):
    eng = create_db_engine(db_url, total_connections=1, pool_timeout=5)
    pool = eng.pool
    assert isinstance(pool, BudgetPool) and pool.limit == 1
    got: list[float] = []
    try:
        first = eng.connect()
        first.execute(text("SELECT 1"))

        def second() -> None:
            t0 = time.monotonic()
            with eng.connect() as conn:
                conn.execute(text("SELECT 1"))
            got.append(time.monotonic() - t0)

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        assert got == [] and pool.checkedout() == 1  # waiting: the pool is at its limit
        first.close()
        t.join(5)
        assert len(got) == 1 and 0.25 <= got[0] < 5.0, got
        assert pool.open_connections() == 1  # the same connection, handed over
    finally:
        eng.dispose()


def test_a_failed_connect_gives_its_slot_back():
    # Nothing listens on port 1: each connect is refused at once.
    eng = create_db_engine("postgresql://u:p@127.0.0.1:1/db", total_connections=1, pool_timeout=0.2)
    for _ in range(3):  # a slot kept by a failed connect would time out here instead
        with pytest.raises(exc.OperationalError):
            eng.connect()
    assert eng.pool.open_connections() == 0


def test_dispose_recreates_the_pool_at_its_size_with_the_listeners(db_url):
    eng = create_db_engine(db_url, total_connections=8, statement_timeout_ms=1234)
    try:
        eng.pool.resize(4)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        old = eng.pool
        eng.dispose()
        new = eng.pool
        assert isinstance(new, BudgetPool) and new is not old
        assert (new.limit, new.size(), new.timeout()) == (4, 3, 30.0)
        assert old.open_connections() == 0
        with eng.connect() as conn:  # the connect listener came along
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "1234ms"
    finally:
        eng.dispose()
