"""Serving entry points: bad options are exit 2 with a clear message; ``loadsim target
serve`` runs exactly ``python -m reference_api`` with the same options."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests import test_api_helpers as _h

api_db_url, api_engine, world = _h.api_db_url, _h.api_engine, _h.world


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **(env or {})),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workers", "0"), "--workers"),
        (("--db-connections", "1", "--workers", "2"), "--db-connections"),
        (("--port", "70000"), "--port"),
    ],
)
def test_bad_serve_options_exit_2_naming_the_option(args, message):
    r = _run("-m", "reference_api", *args, env={"DATABASE_URL": "postgresql://u@h/db"})
    assert r.returncode == 2, r.stderr
    assert message in r.stderr


def test_bad_settings_exit_2_naming_the_variable():
    env = {"DATABASE_URL": "postgresql://u@h/db", "OFFER_EXPIRATION_DAYS": "-1"}
    r = _run("-m", "reference_api", env=env)
    assert r.returncode == 2
    assert "OFFER_EXPIRATION_DAYS: Value error, must be > 0 simulated days" in r.stderr


def test_loadsim_target_serve_runs_the_reference_api_module():
    from harness.cli import build_parser
    from harness.cli.commands.target import command_line

    args = build_parser().parse_args(
        ["target", "serve", "--port", "8123", "--workers", "2", "--db-connections", "10"]
    )
    argv = command_line(args)
    assert argv[:3] == [sys.executable, "-m", "reference_api"]
    assert argv[3:] == [
        "--host", "127.0.0.1", "--port", "8123", "--workers", "2", "--db-connections", "10",
    ]  # fmt: skip
    r = _run(
        "-m",
        "harness.cli",
        "target",
        "serve",
        "--workers",
        "0",
        env={"DATABASE_URL": "postgresql://u@h/db"},
    )
    assert r.returncode == 2 and "--workers" in r.stderr


def test_overload_is_shed_with_429_and_retry_after(api_db_url, api_engine, world, tmp_path):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tests.test_api_helpers import headers, start_server, stop_server

    server = start_server(api_db_url, tmp_path / "server.log", extra_args=("--max-in-flight", "1"))
    try:
        barrier = threading.Barrier(20)

        def call(_i):
            barrier.wait()
            with httpx.Client(base_url=server.base_url, headers=headers(world.agents[0])) as c:
                return c.get("/api/products", params={"limit": 200})

        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(call, range(20)))
        codes = [r.status_code for r in responses]
        assert set(codes) == {200, 429}, codes
        shed = next(r for r in responses if r.status_code == 429)
        assert shed.headers["retry-after"] == "1" and "busy" in shed.json()["detail"]
        # /health is never shed, and the server serves normally once the burst is over
        assert httpx.get(server.base_url + "/health").status_code == 200
        assert (
            httpx.get(server.base_url + "/api/cart", headers=headers(world.agents[0])).status_code
            == 200
        )
    finally:
        stop_server(server)


def test_unreachable_database_is_503_with_retry_after(tmp_path):
    import re
    import time

    import httpx

    log = tmp_path / "server.log"
    bad_url = f"postgresql+psycopg://postgres@/nodb?host={tmp_path / 'no-socket-here'}"
    env = dict(os.environ, DATABASE_URL=bad_url, SIMULATION_MODE="true")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reference_api", "--port", "0", "--db-connections", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        port = None
        for _ in range(300):
            m = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log.read_text())
            if m:
                port = m.group(1)
                break
            time.sleep(0.1)
        assert port, log.read_text()
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(base + "/health", timeout=30)
        assert health.status_code == 503 and health.headers["retry-after"] == "1"
        cart = httpx.get(base + "/api/cart", headers={"Authorization": "Bearer dev:1"}, timeout=30)
        assert cart.status_code == 503 and cart.json() == {"detail": "database unavailable"}
    finally:
        proc.terminate()
        proc.wait(timeout=15)
