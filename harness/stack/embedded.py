"""Start what the embedded default needs (docs/ARCHITECTURE.md, Embedded default) and stop it at quit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from harness.stack.launch import ReferenceApiProcess, prepare_database

if TYPE_CHECKING:
    from locust.env import Environment

    from db.settings import SimSettings
    from harness.config.options import HarnessOptions

log = logging.getLogger("loadsim")


class EmbeddedStack:
    def __init__(self) -> None:
        self.db_url: str | None = None
        self.api: ReferenceApiProcess | None = None
        self.embedded_db = False

    @property
    def shared_db_url(self) -> str | None:
        """The URL workers may be handed: only the embedded default's (a loopback unix
        socket, no password). An owner's ``DATABASE_URL`` never leaves this process —
        workers read their own."""
        return self.db_url if self.embedded_db else None

    @property
    def api_url(self) -> str | None:
        return self.api.url if self.api is not None else None

    @classmethod
    def start_if_needed(
        cls, env: Environment, opts: HarnessOptions, settings: SimSettings
    ) -> EmbeddedStack | None:
        """Embedded Postgres when ``DATABASE_URL`` is unset (and not ``--mock-db``);
        ``reference_api`` when no ``--host`` (and not ``--mock-api``)."""
        stack = cls()
        need_db = not opts.mock_db
        need_api = not opts.mock_api and not env.host
        if not need_db and not need_api:
            return None
        if need_db:
            if settings.database_url:
                stack.db_url = settings.database_url
            else:
                from db.embedded import get_embedded

                stack.db_url = get_embedded().url
                stack.embedded_db = True
                seeded = prepare_database(
                    stack.db_url, personas_path=Path(opts.personas) if opts.personas else None,
                    seed=opts.seed, map_file=opts.map_file or None,
                )  # fmt: skip
                log.info("embedded Postgres ready%s", f" (seeded {seeded})" if seeded else "")
        if need_api:
            if stack.db_url is None:
                from db.embedded import get_embedded

                stack.db_url = get_embedded().url
                stack.embedded_db = True
                prepare_database(
                    stack.db_url, personas_path=None, seed=opts.seed,
                    map_file=opts.map_file or None,
                )  # fmt: skip
            from harness.config.routes import load_routes, map_file

            log_path = Path(opts.runs_dir) / "reference_api.log"
            routes = load_routes(opts.map_file or None)
            stack.api = ReferenceApiProcess(
                database_url=stack.db_url, log_path=log_path,
                db_connections=max(4, opts.db_connections // 2),
                routes_file=str(map_file(opts.map_file or None)) if routes.custom else None,
                health_path=routes.path("health"), pooler=settings.db_pooler,
            )  # fmt: skip
            stack.api.wait_ready()
            env.host = stack.api.url
            log.info("reference_api (SIMULATION_MODE=true) serving on %s", stack.api.url)
        return stack

    def stop(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None
