"""``loadsim target serve`` — run the reference API as the load target.

The harness never imports ``reference_api`` (docs/ARCHITECTURE.md, Rooms): this command replaces the
process with ``python -m reference_api`` (the same entry point the harness master launches
as a subprocess), passing the options through. Exit codes are that program's: 2 for bad
options or settings.
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_DB_CONNECTIONS = 16


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("target", help="the reference VoiceOffers API: serve it locally")
    tsub = p.add_subparsers(dest="target_command", metavar="ACTION", required=True)
    s = tsub.add_parser(
        "serve",
        help="serve reference_api with uvicorn on DATABASE_URL or the embedded Postgres "
        "(SIMULATION_MODE=true accepts dev tokens and opens the simulation routes)",
    )
    s.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    s.add_argument(
        "--db-connections",
        type=int,
        default=DEFAULT_DB_CONNECTIONS,
        help=f"total database connections for all workers (default {DEFAULT_DB_CONNECTIONS})",
    )
    s.add_argument(
        "--threads", type=int, default=None, help="request threads per worker (default: auto)"
    )
    s.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="concurrent requests per worker before answering 429 (default 256; 0 = never)",
    )
    s.add_argument("--access-log", action="store_true", help="log every request")
    s.add_argument(
        "--routes",
        default=None,
        metavar="FILE",
        help="serve at the paths of [routes] in this TOML file — the same map file the "
        "harness reads (--map / $LOADSIM_MAP), so a route map can be proven end to end",
    )
    s.set_defaults(func=_serve)


def command_line(args: argparse.Namespace) -> list[str]:
    """The ``python -m reference_api`` command equivalent to ``args``."""
    argv = [
        sys.executable,
        "-m",
        "reference_api",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--db-connections",
        str(args.db_connections),
    ]
    if args.threads is not None:
        argv += ["--threads", str(args.threads)]
    if args.max_in_flight is not None:
        argv += ["--max-in-flight", str(args.max_in_flight)]
    if args.access_log:
        argv.append("--access-log")
    if getattr(args, "routes", None):
        argv += ["--routes", str(args.routes)]
    return argv


def _serve(args: argparse.Namespace) -> int:
    if args.routes:
        from harness.config.routes import load_routes

        routes = load_routes(args.routes)  # the harness's own check: exit 2 naming the key
        if not routes.custom:
            print(f"loadsim: {routes.source}: [routes] moves no path: serving the contract's")
    argv = command_line(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 0  # pragma: no cover - execv does not return
