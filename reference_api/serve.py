"""Serving: ``python -m reference_api`` and ``loadsim target serve`` both end here.

The harness master launches ``python -m reference_api --host 127.0.0.1 --port N`` as a
subprocess with ``SIMULATION_MODE=true`` and ``DATABASE_URL`` set, and polls ``/health``.
Without ``DATABASE_URL`` the embedded Postgres is started (and migrated) *here*, in the
parent, and its URL handed to uvicorn's workers, so they share one server.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal

log = logging.getLogger("reference_api")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The serving options shared by ``python -m reference_api`` and ``loadsim target serve``."""
    from reference_api.app import DEFAULT_API_DB_CONNECTIONS

    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any)")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default 1)"
    )
    parser.add_argument(
        "--db-connections",
        type=int,
        default=DEFAULT_API_DB_CONNECTIONS,
        help=f"total database connections for all workers (default {DEFAULT_API_DB_CONNECTIONS})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="request threads per worker (default: min(8, its DB connections))",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="concurrent requests per worker before answering 429 (default 256; 0 = never)",
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (off: it costs CPU)"
    )
    parser.add_argument(
        "--routes",
        default=None,
        metavar="FILE",
        help="serve at the paths of [routes] in this TOML file (the harness's route map); "
        "moved contract paths answer 404",
    )


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def serve(args: argparse.Namespace) -> int:
    """Validate options and settings (exit 2 on bad input), then run uvicorn."""
    import uvicorn

    from db.embedded import resolve_database_url
    from db.engine import redact
    from db.errors import ConfigError
    from db.settings import load_settings
    from reference_api.app import (
        ENV_DB_CONNECTIONS,
        ENV_MAX_IN_FLIGHT,
        ENV_THREADS,
        ENV_WORKERS,
    )

    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {args.workers})")
    if args.db_connections < args.workers:
        raise ConfigError(
            f"--db-connections ({args.db_connections}) must be >= --workers ({args.workers})"
        )
    if args.max_in_flight is not None and args.max_in_flight < 0:
        raise ConfigError(f"--max-in-flight must be >= 0 (got {args.max_in_flight})")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1 (got {args.threads})")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535 (got {args.port})")
    if getattr(args, "routes", None):
        import json

        from reference_api.routemap import ENV_ROUTES, load_routes_file

        moved = load_routes_file(args.routes)
        os.environ[ENV_ROUTES] = json.dumps(moved)
        log.info("serving at the route map of %s (%d routes moved)", args.routes, len(moved))
    settings = load_settings()
    if settings.database_url is None:
        from db import migrate

        url = resolve_database_url(None)
        migrate.upgrade(url)
        os.environ["DATABASE_URL"] = url
        log.info("embedded Postgres ready at %s", redact(url))
    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler that
    # kills the process before atexit runs, leaving the embedded Postgres behind. Exiting
    # through SystemExit lets pgserver's atexit hook stop it.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    os.environ[ENV_DB_CONNECTIONS] = str(args.db_connections)
    os.environ[ENV_WORKERS] = str(args.workers)
    if args.threads is not None:
        os.environ[ENV_THREADS] = str(args.threads)
    if args.max_in_flight is not None:
        os.environ[ENV_MAX_IN_FLIGHT] = str(args.max_in_flight)
    uvicorn.run(
        "reference_api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
        log_level="info",
    )
    return 0
