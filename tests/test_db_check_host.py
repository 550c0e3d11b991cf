"""``loadsim db check --host URL`` probes the health route the owner's ``[routes]`` names
(the same route map the run's start-up probe uses), not a hard-coded ``/health``: a real
loopback server that serves health only at ``/v1/ping``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

CHECK = "target in SIMULATION_MODE"


@pytest.fixture()
def ping_server():
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.path)
            ok = self.path == "/v1/ping"
            body = {"status": "ok", "simulation_mode": True} if ok else {"detail": "Not Found"}
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.seen = seen
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _check(url: str, host: str, *extra: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("LOADSIM_MAP", "LOADSIM_DB_MAP")}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "db", "check", "--host", host, *extra],
        capture_output=True, text=True, env=full | {"DATABASE_URL": url, **env}, timeout=120,
    )  # fmt: skip


def _target_line(r: subprocess.CompletedProcess) -> str:
    lines = [line for line in r.stdout.splitlines() if CHECK in line]
    assert len(lines) == 1, r.stdout + r.stderr
    return lines[0]


def test_db_check_probes_the_mapped_health_route(pg_server, ping_server, tmp_path):
    url = pg_server.create_database("test_check_host_map", drop_first=True)
    routes_only = tmp_path / "routes.toml"  # no [db.map]: db check keeps the default map
    routes_only.write_text('[routes]\nhealth = "/v1/ping"\n')
    r = _check(url, ping_server.url, LOADSIM_MAP=str(routes_only))
    assert "Traceback" not in r.stderr
    assert _target_line(r) == (
        f"[PASS] {CHECK}: {ping_server.url}/v1/ping reports simulation_mode=True"
    )
    assert ping_server.seen == ["/v1/ping"]

    # The same file given with --map (it then needs [db.map]: an empty one is today's schema).
    with_db = tmp_path / "owner.toml"
    with_db.write_text('[db.map]\n[routes]\nhealth = "/v1/ping"\n')
    r = _check(url, ping_server.url, "--map", str(with_db))
    assert _target_line(r).startswith(f"[PASS] {CHECK}: {ping_server.url}/v1/ping")

    # Without the map the contract's /health is probed — and this target has none.
    ping_server.seen.clear()
    r = _check(url, ping_server.url)
    assert _target_line(r).startswith(f"[FAIL] {CHECK}: {ping_server.url}/health unreachable")
    assert ping_server.seen == ["/health"]
    assert r.returncode == 2 and "pre-flight failed" in r.stderr and CHECK in r.stderr


def test_a_bad_routes_section_is_one_line_before_anything_is_printed(pg_server, tmp_path):
    url = pg_server.create_database("test_check_host_badmap", drop_first=True)
    bad = tmp_path / "bad.toml"
    bad.write_text('[routes]\nhealth = "ping"\n')
    r = _check(url, "http://127.0.0.1:9", LOADSIM_MAP=str(bad))
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"loadsim: error: {bad}: [routes] health = 'ping': must be an absolute path like "
        "'/health' (no spaces, '?' or '#')"
    ]
