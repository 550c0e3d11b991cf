"""Offer routes over HTTP: they drive ``offer_engine`` (cycles, per-user refresh)."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from tests import test_api_helpers as _h
from tests.test_api_helpers import SIM_NOW, headers

api_db_url, api_engine, api_server, world = _h.api_db_url, _h.api_engine, _h.api_server, _h.world


def test_assign_fills_the_wallet_once_per_cycle(api_server, world, api_engine):
    base = api_server.base_url
    agent = httpx.Client(base_url=base, headers=headers(world.agents[2]))
    assert agent.post("/api/offers/assign").json()["status"] == "no_cycle"
    httpx.post(base + "/time/advance", json={"simulated_time": SIM_NOW.isoformat()})
    cycle = httpx.post(base + "/cycles").json()
    first = agent.post("/api/offers/assign").json()
    assert first["status"] == "assigned" and first["cycle_number"] == cycle["cycle_number"]
    assert first["assigned"] > 0
    wallet = agent.get("/api/offers/wallet").json()
    assert wallet["count"] == first["assigned"]
    with api_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT count(*) FROM user_coupons WHERE user_id = :u AND offer_cycle_id = :c "
                "AND is_simulation AND status = 'active'"
            ),
            {"u": world.users[2], "c": cycle["id"]},
        ).scalar()
    assert rows == first["assigned"]
    second = agent.post("/api/offers/assign").json()
    assert second["status"] == "not_due" and second["assigned"] == 0
    assert agent.get("/api/offers/wallet").json() == wallet


def test_refresh_user_route_uses_server_time(api_server, world):
    base = api_server.base_url
    httpx.post(base + "/time/advance", json={"simulated_time": SIM_NOW.isoformat()})
    httpx.post(base + "/cycles")
    # no X-Simulated-Time: the server's own time decides which cycle is current
    r = httpx.post(base + f"/refresh/user/{world.users[1]}")
    assert r.status_code == 200 and r.json()["status"] == "assigned"
    assert httpx.post(base + f"/refresh/user/{world.users[1]}").json()["status"] == "not_due"
