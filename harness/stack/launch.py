"""The embedded default (docs/ARCHITECTURE.md, Embedded default), started by the master/standalone process:
embedded Postgres → migrations → catalog + bundled personas when empty → ``reference_api``
as a subprocess on a free loopback port with ``SIMULATION_MODE=true``. Stopped at quit.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import text

from db.engine import create_db_engine
from db.settings import POOLER_ENV

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def prepare_database(
    url: str, *, personas_path: Path | None, seed: int, map_file: str | None = None
) -> dict[str, int]:
    """Migrate, then seed the synthetic catalog and the personas when the tables are empty
    (the workbook read with ``map_file``'s ``[personas.columns]``; ``None``: the owner's file
    by its environment variable, or none). Returns what was seeded (empty dict when nothing
    needed seeding)."""
    from db import migrate

    migrate.upgrade(url)
    engine = create_db_engine(url, total_connections=2)
    seeded: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            products = conn.execute(text("SELECT count(*) FROM products")).scalar_one()
            agents = conn.execute(
                text("SELECT count(*) FROM agents WHERE status = 'active' AND is_simulated")
            ).scalar_one()
            if not products:
                from personas.catalog import generate_catalog, seed_catalog

                seed_catalog(conn, data=generate_catalog(seed=seed))
                seeded["products"] = conn.execute(
                    text("SELECT count(*) FROM products")
                ).scalar_one()
            if not agents:
                from personas import SAMPLE_PATH
                from personas.columns import load_column_map
                from personas.reader import read_personas
                from personas.seed import seed_personas

                personas = read_personas(personas_path or SAMPLE_PATH, load_column_map(map_file))
                seed_personas(conn, personas=personas)
                seeded["agents"] = len(personas)
    finally:
        engine.dispose()
    return seeded


class ReferenceApiProcess:
    """``python -m reference_api`` on a free loopback port; logs go to ``log_path``."""

    def __init__(
        self, *, database_url: str, log_path: Path, db_connections: int = 10,
        routes_file: str | None = None, health_path: str = "/health", pooler: str | None = None,
    ) -> None:  # fmt: skip
        """``routes_file``: serve at the owner's route map (``--routes``), so the harness's
        own map and the embedded API agree. ``pooler``: the run's pooler mode, handed to the
        child as ``$LOADSIM_DB_POOLER`` (the variable its engine reads: a process boundary)."""
        self.port = free_port()
        self.health_path = health_path
        self.url = f"http://127.0.0.1:{self.port}"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
        env = dict(os.environ, SIMULATION_MODE="true", DATABASE_URL=database_url)
        if pooler:
            env[POOLER_ENV] = pooler
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reference_api",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db-connections",
                str(db_connections),
                *(["--routes", routes_file] if routes_file else []),
            ],  # fmt: skip
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C to locust must not kill it before we stop it
            preexec_fn=_die_with_parent,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"reference_api exited with code {self.proc.returncode}; see {self._log.name}"
                )
            try:
                with urllib.request.urlopen(self.url + self.health_path, timeout=2) as r:  # noqa: S310
                    if json.loads(r.read()).get("simulation_mode") is True:
                        return
            except OSError:
                pass
            _sleep(0.2)
        raise RuntimeError(
            f"reference_api did not become ready in {timeout:.0f}s; see {self._log.name}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def _die_with_parent() -> None:
    """Linux: SIGTERM the API when the harness dies, even by SIGKILL (no orphans)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _sleep(s: float) -> None:
    try:
        import gevent

        gevent.sleep(s)
    except ImportError:  # pragma: no cover
        time.sleep(s)
