"""statement_timeout without a round trip per transaction: set once per connection where the
connection is the server's own (a transaction pooler keeps SET LOCAL, tests/test_db_pooler.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from db.engine import create_db_engine


def test_timeout_holds_in_every_transaction_without_a_statement_per_transaction(db_url):
    eng = create_db_engine(db_url, total_connections=1, statement_timeout_ms=250, pooler="none")
    sent: list[str] = []
    event.listen(eng, "before_cursor_execute", lambda c, cur, st, *a: sent.append(st))
    try:
        for _ in range(3):
            with eng.begin() as conn:
                assert conn.execute(text("SHOW statement_timeout")).scalar() == "250ms"
        with pytest.raises(OperationalError, match="statement timeout"):
            with eng.begin() as conn:
                conn.execute(text("SELECT pg_sleep(2)"))
        with eng.begin() as conn:  # a SET LOCAL still overrides it for its transaction only
            conn.execute(text("SET LOCAL statement_timeout = 0"))
            conn.execute(text("SELECT pg_sleep(0.4)"))
        with eng.begin() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "250ms"
    finally:
        eng.dispose()
    assert not [s for s in sent if "SET LOCAL statement_timeout = 250" in s]
    assert sum("SHOW statement_timeout" in s for s in sent) == 4
