"""``loadsim``: the harness's command line (pre-flight, seeding, target, reports).

Every group registers itself from ``harness/cli/commands/<group>.py``. Errors that carry an
exit code (``db.errors.LoadsimError``) end the process with that code and one clear line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from db.errors import LoadsimError
from harness.cli.commands import COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadsim",
        description=(
            "VoiceOffers load-and-behavior harness. The load test itself runs with "
            "`locust -f locustfile.py`; these commands prepare, inspect and report on it."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", module="pgserver")
    warnings.filterwarnings("ignore", module="platformdirs")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("pgserver", "alembic.runtime.plugins", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except LoadsimError as exc:
        print(f"loadsim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("loadsim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A database that cannot be reached (or a DATABASE_URL that is not one) is one
        # line and exit 2 in every command, never a driver traceback.
        import os

        from db.connect import database_unavailable, is_connection_error

        if not is_connection_error(exc):
            raise
        err = database_unavailable(exc, os.environ.get("DATABASE_URL") or None)
        print(f"loadsim: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
