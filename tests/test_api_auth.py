"""Auth and simulation mode, on real servers: dev tokens only in SIMULATION_MODE, the
simulation routes absent outside it, a loud warning inside it, no password in the logs."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import make_url

from tests import test_api_helpers as _h
from tests.test_api_helpers import headers, start_server, stop_server

api_db_url, api_engine, api_server, world = _h.api_db_url, _h.api_engine, _h.api_server, _h.world

SIM_ROUTES = (
    ("GET", "/cycles"),
    ("POST", "/cycles"),
    ("GET", "/cycles/1"),
    ("POST", "/refresh/user/1"),
    ("POST", "/time/advance"),
)
SECRET = "s3cr3t-pw"


@pytest.fixture(scope="module")
def prod_server(api_db_url, tmp_path_factory):
    """The API *without* simulation mode; its URL carries a password (ignored by the
    embedded server's trust auth) so the log can be checked for leaks."""
    url = make_url(api_db_url).set(password=SECRET).render_as_string(hide_password=False)
    server = start_server(
        url, tmp_path_factory.mktemp("api-prod") / "server.log", simulation_mode=False
    )
    yield server
    stop_server(server)


def test_without_simulation_mode_dev_tokens_are_401(prod_server, world):
    c = httpx.Client(base_url=prod_server.base_url, headers=headers(world.agents[0]))
    for path in ("/api/cart", "/api/offers/wallet", "/api/stores", "/api/products"):
        r = c.get(path)
        assert r.status_code == 401, path
        assert "SIMULATION_MODE" in r.json()["detail"]
    r = c.post("/api/orders/checkout", json={"idempotency_key": "k"})
    assert r.status_code == 401
    assert httpx.get(prod_server.base_url + "/health").json()["simulation_mode"] is False


@pytest.mark.parametrize(("method", "path"), SIM_ROUTES)
def test_without_simulation_mode_sim_routes_do_not_exist(prod_server, method, path):
    r = httpx.request(
        method, prod_server.base_url + path, json={"simulated_time": "2026-01-01T00:00:00Z"}
    )
    assert r.status_code == 404
    paths = httpx.get(prod_server.base_url + "/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/cycles", "/refresh", "/time"))]


def test_loud_warning_only_in_simulation_mode_and_no_password_in_logs(api_server, prod_server):
    assert "SIMULATION_MODE=true" in api_server.log()
    assert "WARNING" in api_server.log()
    assert "SIMULATION_MODE=true" not in prod_server.log()
    assert SECRET not in prod_server.log()
    assert "***" in prod_server.log()  # the redacted URL is what gets logged


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Bearer",
        "Bearer dev:",
        "Bearer dev:abc",
        "Bearer dev:-1",
        "Basic dev:1",
        "Bearer xyz:1",
    ],
)
def test_malformed_tokens_are_401(api_server, world, auth):
    hdrs = {"Authorization": auth} if auth else {}
    r = httpx.get(api_server.base_url + "/api/cart", headers=hdrs)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_unknown_and_non_simulated_agents_are_401(api_server, world):
    for agent in (world.real_agent, 987654):
        r = httpx.get(api_server.base_url + "/api/cart", headers=headers(agent))
        assert r.status_code == 401, agent
    ok = httpx.get(api_server.base_url + "/api/cart", headers=headers(world.agents[0]))
    assert ok.status_code == 200


def test_simulation_routes_work_in_simulation_mode(api_server, world):
    base = api_server.base_url
    assert httpx.get(base + "/cycles").json() == {"items": []}
    r = httpx.post(base + "/time/advance", json={"simulated_time": "2026-03-02T00:00:00+00:00"})
    assert r.json() == {"simulated_time": "2026-03-02T00:00:00Z"}
    c0 = httpx.post(base + "/cycles").json()
    assert c0["cycle_number"] == 0 and c0["simulated_start_date"].startswith("2026-03-02T00:00:00")
    c1 = httpx.post(base + "/cycles", json={}).json()
    assert c1["cycle_number"] == 1 and c1["simulated_start_date"] == c0["simulated_end_date"]
    # 20 simulated days later the next cycle is the one containing the server's now
    httpx.post(base + "/time/advance", json={"simulated_time": "2026-03-22T00:00:00Z"})
    c2 = httpx.post(base + "/cycles").json()
    assert c2["cycle_number"] == 2
    assert [c["id"] for c in httpx.get(base + "/cycles").json()["items"]] == [
        c0["id"],
        c1["id"],
        c2["id"],
    ]
    assert httpx.get(base + f"/cycles/{c1['id']}").json() == c1
    assert httpx.get(base + "/cycles/999999").status_code == 404
    assert httpx.post(base + "/time/advance", json={"simulated_time": "soon"}).status_code == 422
    assert httpx.post(base + f"/refresh/user/{world.users[0] + 1000}").status_code == 404
