"""``--routes FILE`` on the reference API: served for real at the mapped paths;
the moved contract paths answer 404; the API's route table and the harness's are one."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from harness.config.routes import ROUTES
from reference_api.routemap import CONTRACT, RouteRewrite
from tests import test_api_helpers as _h

api_db_url, api_engine, world = _h.api_db_url, _h.api_engine, _h.world

MAP = """
[personas.columns]
"Income" = "income_band"

[routes]
wallet = "/v2/me/wallet"
view_coupon = "/v2/me/coupons/{id}/seen"
cart = "/v2/basket"
cart_add = "/v2/basket"
refresh_user = ""
"""


def test_the_api_and_the_harness_declare_the_same_actions():
    assert {k: (s.methods, s.default) for k, s in ROUTES.items()} == CONTRACT


def test_rewrite_rules():
    rw = RouteRewrite(None, moved={"cart": "/b", "cart_add": "/b", "view_coupon": "/c/{id}/v",
                                   "refresh_user": ""})  # fmt: skip
    assert rw._rewrite("POST", "/b") == "/api/cart/add"
    assert rw._rewrite("GET", "/b/") == "/api/cart"
    assert rw._rewrite("DELETE", "/b") == "/api/cart"
    assert rw._rewrite("POST", "/c/42/v") == "/api/offers/42/view"
    assert rw._rewrite("GET", "/api/cart") is None  # moved: hidden
    assert rw._rewrite("POST", "/api/offers/42/view") is None
    assert rw._rewrite("POST", "/refresh/user/3") is None  # not served at all
    assert rw._rewrite("GET", "/api/offers/wallet") == "/api/offers/wallet"  # not moved
    assert rw._rewrite("POST", "/api/cart/remove") == "/api/cart/remove"


@pytest.fixture()
def mapped_server(api_db_url, tmp_path):
    f = tmp_path / "loadsim.toml"
    f.write_text(MAP)
    server = _h.start_server(api_db_url, tmp_path / "server.log", extra_args=("--routes", str(f)))
    yield server
    _h.stop_server(server)


def test_the_reference_api_serves_at_the_mapped_paths(mapped_server, world):
    base, agent = mapped_server.base_url, world.agents[0]
    auth = {"Authorization": f"Bearer dev:{agent}", "X-Simulated-Time": _h.SIM_NOW.isoformat()}
    r = httpx.get(base + "/v2/me/wallet", headers=auth)
    assert r.status_code == 200 and r.json()["items"]
    assert httpx.get(base + "/api/offers/wallet", headers=auth).status_code == 404
    uc = r.json()["items"][0]["user_coupon_id"]
    assert httpx.post(f"{base}/v2/me/coupons/{uc}/seen", headers=auth).status_code == 200
    assert httpx.post(f"{base}/api/offers/{uc}/view", headers=auth).status_code == 404
    add = httpx.post(base + "/v2/basket", headers=auth,
                     json={"product_id": world.products["milk"], "quantity": 1})  # fmt: skip
    assert add.status_code == 200 and add.json()["items"]
    assert httpx.get(base + "/v2/basket", headers=auth).json()["items"]
    assert httpx.delete(base + "/v2/basket", headers=auth).status_code == 200
    assert httpx.post(f"{base}/refresh/user/{world.users[0]}").status_code == 404
    assert httpx.get(base + "/api/products", headers=auth).status_code == 200  # not moved
    health = httpx.get(base + "/health").json()
    assert health["offer_engine"] == "reference" and health["simulation_mode"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [("[routes]\ncart_ad = '/x'\n", "[routes] cart_ad: unknown route (did you mean 'cart_add'?)"),
     ("[routes]\nview_coupon = '/x/view'\n", "[routes] view_coupon = '/x/view': needs exactly one {id}")],
)  # fmt: skip
def test_loadsim_target_serve_checks_the_map_first(tmp_path, body, message):
    f = tmp_path / "bad.toml"
    f.write_text(body)
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "target", "serve", "--port", "0", "--routes", str(f)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "reference_api", "--port", "0", "--routes", str(f)],
        capture_output=True, text=True, timeout=60, env={"DATABASE_URL": "postgresql://u@h/d",
                                                          "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert r.returncode == 2 and "[routes]" in r.stderr and "Traceback" not in r.stderr
