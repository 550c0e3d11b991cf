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


BEGIN = "@@smoke-begin"
END = "@@smoke-end"


def run_in_one_process(runs: list[list[str]]) -> int:
    """Run benches' smoke modes one after another in this process (``[[script, args...],
    ...]``, each given ``--smoke``): the imports they share are paid once. Each run is
    framed on stdout and stderr by ``@@smoke-begin <script>`` and ``@@smoke-end <script>
    rc=<exit code>`` lines (an exception: its traceback, rc 1); the environment and the
    working directory are restored between runs. For benches that do not patch the
    standard library (gevent's monkey patching must come before the imports)."""
    import os
    import runpy
    import sys
    import traceback

    bench_dir = Path(__file__).resolve().parent
    worst = 0
    for script, *args in runs:
        env, cwd, argv = dict(os.environ), os.getcwd(), sys.argv
        for stream in (sys.stdout, sys.stderr):
            print(f"\n{BEGIN} {script}", file=stream, flush=True)
        sys.argv = [str(bench_dir / script), "--smoke", *args]
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
            rc = 0
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - reported as this bench's failure
            traceback.print_exc()
            rc = 1
        finally:
            sys.argv = argv
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
        for stream in (sys.stdout, sys.stderr):
            print(f"\n{END} {script} rc={rc}", file=stream, flush=True)
        worst = worst or rc
    return worst


if __name__ == "__main__":
    import json
    import sys

    sys.exit(run_in_one_process(json.loads(sys.argv[1])))
