"""Helpers for the distributed e2e tests: the reference API with a server-side
request log, a ``pg_stat_activity`` sampler, a master and workers as separate commands,
and process-group checks from ``/proc``."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import text

from db import migrate
from db.engine import create_db_engine
from harness.stack.launch import free_port
from tests.e2e_support import start_locust, stop, wait_for

ROOT = Path(__file__).resolve().parent.parent
N = 300
BASE = ["--headless", "--time-scale", "1800", "--sim-start", "2026-01-10T09:00:00+00:00",
        "--ramp", "0:100", "--drain-seconds", "3"]  # fmt: skip
PASSWORD = "Wire-S3cret-9f2c"


def busy_population(engine) -> None:
    """Frequent shoppers: demand well above the limits under test."""
    from personas.catalog import generate_catalog, seed_catalog
    from personas.sample import generate_personas
    from personas.seed import seed_personas

    people = [
        p.model_copy(update={"shopping_frequency": 14.0, "impulsivity": max(p.impulsivity, 0.6)})
        for p in generate_personas(N, seed=11)
    ]
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=11))
        seed_personas(conn, personas=people)


def make_busy_db(pg_server, name: str):
    """A fresh database: migrated, catalog and the busy population seeded."""
    url = pg_server.create_database(name, drop_first=True)
    migrate.upgrade(url)
    eng = create_db_engine(url, total_connections=2)
    busy_population(eng)
    return url, eng


class Api:
    """The reference API behind ``tests.faulty_target`` with a server-side request log."""

    def __init__(self, db_url: str, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "requests.log"
        env = dict(os.environ, SIMULATION_MODE="true", DATABASE_URL=db_url, FAULT_PCT="0",
                   REQUEST_LOG=str(self.log))  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faulty_target", "--port", str(self.port)],
            env=env, cwd=str(ROOT), stdout=open(tmp / "api.log", "a"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        from harness.control.target import probe_health

        wait_for(lambda: probe_health(self.url)[0], timeout=60, what="reference_api")

    def requests(self) -> list[tuple[float, str]]:
        rows = (line.split(" ", 1) for line in self.log.read_text().splitlines() if " " in line)
        return sorted((float(t), path) for t, path in rows)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class ConnectionSampler:
    """Samples ``pg_stat_activity`` every 0.2 s: the harness's connections to one database
    (application names ``loadsim-*``; the API's are ``reference_api``)."""

    SQL = text("SELECT count(*) FROM pg_stat_activity "
               "WHERE datname = :db AND application_name LIKE 'loadsim%'")  # fmt: skip

    def __init__(self, url: str, database: str) -> None:
        self.engine = create_db_engine(url, total_connections=1, application_name="sampler")
        self.database = database
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                self.samples.append(int(conn.execute(self.SQL, {"db": self.database}).scalar()))
                conn.rollback()
                time.sleep(0.2)

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(10)
        self.engine.dispose()
        return self.samples


def budget_role(eng, name: str, limit: int) -> str:
    """A login role that may hold at most ``limit`` connections (``CONNECTION LIMIT``:
    Postgres refuses the next one with ``too many connections for role``) and may read
    and write the harness's tables; returns ``eng``'s URL as that role. Not a superuser:
    superusers are exempt from the limit."""
    with eng.begin() as conn:
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first():
            conn.execute(text(f'DROP OWNED BY "{name}"'))  # a rerun's grants, this database
            conn.execute(text(f'DROP ROLE "{name}"'))
        conn.execute(text(f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT {int(limit)}'))
        conn.execute(text(f'GRANT ALL ON SCHEMA public TO "{name}"'))
        for kind in ("TABLES", "SEQUENCES", "FUNCTIONS"):
            conn.execute(text(f'GRANT ALL ON ALL {kind} IN SCHEMA public TO "{name}"'))
    return eng.url.set(username=name, password=None).render_as_string(hide_password=False)


def refused(*logs: str) -> list[str]:
    """Lines of the logs where Postgres refused a connection over the role's limit."""
    return [ln for log in logs for ln in log.splitlines() if "too many connections" in ln]


def start_master(args: list[str], *, workers: int, env: dict, tmp: Path,
                 port: str | None = None) -> tuple[subprocess.Popen, str]:  # fmt: skip
    """A master as its own command on loopback (log ``tmp/master.log``); returns it and
    the port its workers connect to."""
    port = port or str(free_port())
    master = start_locust(
        [*args, "--master", "--expect-workers", str(workers), "--master-bind-host", "127.0.0.1",
         "--master-bind-port", port],
        env=env, cwd=tmp, log=tmp / "master.log",
    )  # fmt: skip
    return master, port


def start_worker(port: str, *, env: dict, tmp: Path, log: str) -> subprocess.Popen:
    """A worker started by hand, as the README shows (``locust --worker --master-host``)."""
    return start_locust(
        ["--worker", "--master-host", "127.0.0.1", "--master-port", port],
        env=env, cwd=tmp, log=tmp / log,
    )  # fmt: skip


def run_separately(args: list[str], *, workers: int, env: dict, tmp: Path,
                    worker_env: dict | None = None, timeout: float = 240) -> tuple[int, str, list[str], list[int]]:  # fmt: skip
    """A master and ``workers`` workers as separate commands; returns the master's exit
    code, its log, the workers' logs and exit codes."""
    master, port = start_master(args, workers=workers, env=env, tmp=tmp)
    procs = [
        start_worker(port, env=worker_env or env, tmp=tmp, log=f"worker{i}.log")
        for i in range(workers)
    ]
    try:
        rc = master.wait(timeout=timeout)
        # A worker lets its users finish their hours (the run's 60 s stop timeout): with a
        # saturated rate limit they wait for tokens.
        rcs = [p.wait(timeout=90) for p in procs]
    finally:
        for p in [master, *procs]:
            stop(p)
    logs = [(tmp / f"worker{i}.log").read_text() for i in range(workers)]
    return rc, (tmp / "master.log").read_text(), logs, rcs


def busiest_window(times: list[float], window: float = 10.0) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def group_alive(pgid: int) -> list[int]:
    """Pids still alive in a process group (zombies excluded), from /proc."""
    alive = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(d.name))
    return alive


def zmq_port() -> list[str]:
    """``--processes`` binds Locust's default 5557 unless told: other runs on the box may
    hold it."""
    port = str(free_port())
    return ["--master-bind-port", port, "--master-port", port]
