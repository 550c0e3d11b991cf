"""The start-up probe and the offer-engine choice: a real loopback HTTP server
scripted per path; every failure is one line naming the path, the status and the cause."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from db.errors import ConfigError
from harness.config.routes import RouteMap, build_routes
from harness.control.target import probe_contract, probe_cycles, resolve_offer_engine

T0 = datetime(2026, 1, 5, tzinfo=UTC)
HEALTHY = (200, {"status": "ok", "simulation_mode": True})


@pytest.fixture()
def server():
    answers: dict[str, tuple[int, object]] = {}
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append((self.path, self.headers.get("Authorization")))
            status, body = answers.get(self.path, (404, {"detail": "Not Found"}))
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.answers, httpd.seen = answers, seen
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()


def _probe(server, routes: RouteMap | None = None):
    return probe_contract(server.url, routes or RouteMap(), agent_id=7, sim_time=T0, timeout=5)


def test_a_healthy_simulation_target_passes_with_one_authenticated_read(server):
    server.answers.update({"/health": HEALTHY, "/api/offers/wallet": (200, {"items": []})})
    assert _probe(server)["simulation_mode"] is True
    assert server.seen == [("/health", None), ("/api/offers/wallet", "Bearer dev:7")]


def test_simulation_mode_false_names_the_setting(server):
    server.answers["/health"] = (200, {"status": "ok", "simulation_mode": False})
    with pytest.raises(ConfigError) as exc:
        _probe(server)
    assert str(exc.value) == (
        f"target {server.url} GET /health → 200 with simulation_mode=false: "
        "the API is not running with SIMULATION_MODE=true"
    )


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"/health": (401, {"detail": "no"})}, "GET /health → 401: the API is not running with SIMULATION_MODE=true"),
        ({}, "GET /health → 404: no such route"),
        ({"/health": (200, "<html>hi</html>")}, "GET /health → 200 but not a JSON object"),
        ({"/health": (503, {"detail": "db"})}, "GET /health → 503: the API failed (5xx)"),
        ({"/health": HEALTHY, "/api/offers/wallet": (401, {"detail": "x"})}, "GET /api/offers/wallet as agent 7 → 401: the API refused agent 7's dev token: is it an active simulated agent of the API's database?"),
        ({"/health": HEALTHY, "/api/offers/wallet": (403, {"detail": "x"})}, "GET /api/offers/wallet as agent 7 → 403: the API forbids"),
        ({"/health": HEALTHY}, "GET /api/offers/wallet as agent 7 → 404: no such route or record: check the paths in [routes]"),
    ],
)  # fmt: skip
def test_each_failure_is_one_line_with_path_status_and_cause(server, answers, expected):
    server.answers.update(answers)
    with pytest.raises(ConfigError) as exc:
        _probe(server)
    msg = str(exc.value)
    assert msg.startswith(f"target {server.url} ") and expected in msg and "\n" not in msg


def test_the_probe_follows_the_route_map(server):
    server.answers.update({"/v1/ping": HEALTHY, "/v1/me/wallet": (200, {"items": []})})
    routes = build_routes({"health": "/v1/ping", "wallet": "/v1/me/wallet"}, source="t")
    _probe(server, routes)
    with pytest.raises(ConfigError, match="GET /health → 404"):
        _probe(server)  # the same target without the map: stopped at the start


def test_nothing_listening_is_one_line(server):
    url = server.url
    server.shutdown()
    server.server_close()
    with pytest.raises(ConfigError, match=r"GET /health → no answer .*is the API running"):
        probe_contract(url, RouteMap(), agent_id=1, sim_time=T0, timeout=2)


def _plan(wanted, *, health=None, has_target=True, adopted=False, cycles=None, routes=None):
    return resolve_offer_engine(
        wanted, health=health, has_target=has_target, adopted=adopted, cycles_status=cycles,
        routes=routes or RouteMap(),
    )  # fmt: skip


def test_offer_engine_default_follows_what_the_target_reports():
    assert _plan("", health={"offer_engine": "reference"}, cycles=200).engine == "local"
    assert _plan("", health={"offer_engine": "app"}).engine == "target"
    assert _plan("", health={}, cycles=200).engine == "target"
    assert _plan("", health={}, cycles=404).engine == "local"
    assert _plan("", has_target=False).engine == "local"
    assert _plan("target", health={"offer_engine": "reference"}).engine == "target"
    assert _plan("", adopted=True, health={}, cycles=200).engine == "target"
    assert _plan("", adopted=True, has_target=False).engine == "none"


def test_two_engines_on_one_database_are_refused():
    with pytest.raises(
        ConfigError, match="reports its own offer engine .*use --offer-engine target"
    ):
        _plan("local", health={"offer_engine": "app"})
    with pytest.raises(ConfigError, match="adopted .*use --offer-engine target"):
        _plan("local", adopted=True)
    with pytest.raises(ConfigError, match="cannot tell .*GET /cycles → 401"):
        _plan("", health={}, cycles=401)
    with pytest.raises(ConfigError, match="no target API"):
        _plan("target", has_target=False)
    with pytest.raises(ConfigError, match=r"\[routes\] cycles is empty"):
        _plan("target", routes=build_routes({"cycles": ""}, source="m.toml"))


def test_probe_cycles_reads_the_mapped_route(server):
    server.answers["/v1/cycles"] = (200, {"items": []})
    assert probe_cycles(server.url, build_routes({"cycles": "/v1/cycles"}, source="t")) == 200
    assert probe_cycles(server.url, RouteMap()) == 404
    assert probe_cycles(server.url, build_routes({"cycles": ""}, source="t")) is None
