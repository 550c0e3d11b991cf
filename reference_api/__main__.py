"""``python -m reference_api --host 127.0.0.1 --port N [--workers N] [--db-connections N]``."""

from __future__ import annotations

import argparse
import logging
import sys

from db.errors import LoadsimError
from reference_api.serve import add_serve_arguments, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_api", description="Serve the reference VoiceOffers API."
    )
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("pgserver", "alembic.runtime.plugins", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return serve(args)
    except LoadsimError as exc:
        print(f"reference_api: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
