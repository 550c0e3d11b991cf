"""What every ``bench_*.py`` shares for its smoke mode: ``--smoke`` runs each part of the
bench once on tiny sizes in seconds, so a refactor that breaks a bench fails the test suite
(``tests/test_bench_smoke.py``); the figures it prints then mean nothing and stay out of
tests. ``--db-url`` lets a bench that needs Postgres use an empty database it is given
instead of starting an embedded server of its own (~10 s of ``initdb``)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SMOKE_HELP = "tiny sizes, seconds: checks that the bench runs (its figures mean nothing)"
DB_URL_HELP = "an empty database to use instead of starting an embedded Postgres"


def add_smoke(ap: argparse.ArgumentParser, *, db_url: bool = False) -> None:
    """``--smoke`` (and ``--db-url`` for a bench that needs Postgres)."""
    ap.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    if db_url:
        ap.add_argument("--db-url", default=None, help=DB_URL_HELP)


@contextmanager
def bench_database(db_url: str | None, home: Path, name: str) -> Iterator[str]:
    """``db_url`` as it is, or a fresh database ``name`` on an embedded Postgres started
    under ``home`` (stopped on the way out)."""
    if db_url:
        yield db_url
        return
    from db.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(home / "pg", database="postgres")
    try:
        yield server.create_database(name, drop_first=True)
    finally:
        server.stop()
