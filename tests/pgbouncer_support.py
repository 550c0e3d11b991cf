"""A real PgBouncer in front of the embedded Postgres: Debian's ``pgbouncer``, installed by :func:`ensure_pgbouncer` when missing, run as
the ``pgserver`` user (it refuses root) with its files in a directory that user owns."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import make_url


def ensure_pgbouncer() -> str:
    """The ``pgbouncer`` binary; ``apt-get install`` it first when it is missing."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "pgbouncer"], env=env, check=False,
                   capture_output=True, timeout=600)  # fmt: skip
    found = shutil.which("pgbouncer")
    if not found:  # the package index may be empty on a fresh image
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "pgbouncer"], env=env, check=True,
                       capture_output=True, timeout=600)  # fmt: skip
        found = shutil.which("pgbouncer")
    assert found, "pgbouncer could not be installed"
    return found


def free_port(avoid: tuple[int, ...] = (6543,)) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port


class PgBouncer:
    """One PgBouncer process; every database name is forwarded to the embedded server.

    Args:
        pg_uri: the embedded server's URI (unix socket, from ``EmbeddedPostgres.uri()``).
        pool_mode: ``transaction`` or ``session``.
        users: when given, ``auth_type = plain`` with these ``{user: password}`` (wrong
            passwords are refused by PgBouncer itself: the embedded server trusts anyone);
            otherwise ``auth_type = any``.
    """

    def __init__(
        self, pg_uri: str, *, pool_mode: str = "transaction", users: dict[str, str] | None = None
    ) -> None:
        self.binary = ensure_pgbouncer()
        u = make_url(pg_uri)
        self.socket_dir = str(u.query["host"])
        self.pg_port = u.port or 5432
        self.port = free_port()
        self.pool_mode = pool_mode
        self.users = users
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.proc: subprocess.Popen | None = None

    def url(self, database: str, user: str = "postgres", password: str = "x") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PgBouncer:
        auth = (
            f"auth_type = plain\nauth_file = {self.dir / 'users.txt'}\n"
            if self.users
            else "auth_type = any\n"
        )
        (self.dir / "users.txt").write_text(
            "".join(f'"{u}" "{p}"\n' for u, p in (self.users or {}).items())
        )
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={self.socket_dir} port={self.pg_port} user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"{auth}pool_mode = {self.pool_mode}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            "max_client_conn = 500\ndefault_pool_size = 20\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\npidfile = {self.dir / 'pgbouncer.pid'}\n"
        )
        pw = pwd.getpwnam("pgserver")
        for p in [self.dir, *self.dir.iterdir()]:
            os.chown(p, pw.pw_uid, pw.pw_gid)
        args = [self.binary, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            args[1:1] = ["-u", "pgserver"]  # "PgBouncer should not run as root"
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise AssertionError(f"pgbouncer exited {self.proc.returncode}: {out}{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"pgbouncer did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        try:
            return (self.dir / "pgbouncer.log").read_text()[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
