"""A user Locust kills while its connection waits on the server stops (``db.interrupts``).

Real Postgres (the suite's server), a real harness engine, a real gevent greenlet, in a
fresh interpreter that patches gevent first (as ``locust`` does; pytest does not). The
server's backend is stopped (``SIGSTOP``) so the round trip waits; the greenlet is killed
there, as Locust kills a user.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import json, os, signal, sys
    import gevent
    from sqlalchemy import text
    from db.engine import create_db_engine

    url, where = sys.argv[1], sys.argv[2]
    eng = create_db_engine(url, total_connections=2)
    with eng.connect() as c:  # one pooled connection: the next checkout pings it
        pid = c.execute(text("SELECT pg_backend_pid()")).scalar()
    seen = {}

    def user():
        try:
            if where == "ping":
                os.kill(pid, signal.SIGSTOP)  # the pre-ping's SELECT 1 waits
                with eng.connect() as c:
                    c.execute(text("SELECT 1"))
            else:
                with eng.begin() as c:
                    os.kill(pid, signal.SIGSTOP)  # the statement waits
                    c.execute(text("SELECT 1"))
            seen["returned"] = True
        except Exception as exc:  # what the harness's hour catches: a failed hour, go on
            seen["caught"] = type(exc).__name__
            gevent.sleep(30)  # a user that survived the kill keeps going

    g = gevent.spawn(user)
    try:
        gevent.sleep(0.5)
        g.kill(block=True, timeout=5)
    finally:  # never leave the server's backend stopped
        os.kill(pid, signal.SIGCONT)
    print(json.dumps({"dead": g.dead, "killed": type(g.value).__name__, **seen}))
    """
)


def _kill_inside(db_url: str, where: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PSYCOPG_WAIT_FUNC", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, db_url, where],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_a_user_killed_inside_the_pool_pre_ping_stops(db_url):
    # Before: the kill became psycopg's ProgrammingError ("can't change 'autocommit' now"),
    # caught as a failed hour: {"dead": false, "killed": "NoneType", "caught": "ProgrammingError"}.
    assert _kill_inside(db_url, "ping") == '{"dead": true, "killed": "GreenletExit"}'


def test_a_user_killed_inside_a_statement_stops(db_url):
    assert _kill_inside(db_url, "statement") == '{"dead": true, "killed": "GreenletExit"}'


def test_the_interrupt_is_found_behind_a_database_error():
    from greenlet import GreenletExit

    from db.interrupts import interrupt_behind

    kill = GreenletExit()
    try:
        try:
            raise kill
        except GreenletExit:
            raise ValueError("clean-up failed") from None  # __context__ kept, not shown
    except ValueError as err:
        assert interrupt_behind(err) is kill
    assert interrupt_behind(ValueError("plain")) is None
    assert interrupt_behind(None) is None
