"""Cart, coupons and checkout over real HTTP against the embedded Postgres."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from tests import test_api_helpers as _h
from tests.test_api_helpers import SIM_NOW, headers

# Fixtures shared by the test_api_* modules (conftest.py is not ours to extend).
api_db_url, api_engine, api_server, world = _h.api_db_url, _h.api_engine, _h.api_server, _h.world


@pytest.fixture()
def client(api_server, world):
    with httpx.Client(
        base_url=api_server.base_url, headers=headers(world.agents[0]), timeout=10
    ) as c:
        yield c


def add(client, product_id, quantity=1):
    r = client.post("/api/cart/add", json={"product_id": product_id, "quantity": quantity})
    assert r.status_code == 200, r.text
    return r.json()


def test_health_reports_simulation_mode_and_server_time(api_server, world):
    body = httpx.get(api_server.base_url + "/health").json()
    assert body == {"status": "ok", "simulation_mode": True, "simulated_time": None,
                    "offer_engine": "reference"}  # fmt: skip
    r = httpx.post(
        api_server.base_url + "/time/advance", json={"simulated_time": "2026-04-01T00:00:00Z"}
    )
    assert r.status_code == 200
    assert (
        httpx.get(api_server.base_url + "/health")
        .json()["simulated_time"]
        .startswith("2026-04-01T00:00:00")
    )


def test_catalog_pages_and_filters(client, world):
    stores = client.get("/api/stores").json()["items"]
    assert [s["id"] for s in stores] == world.stores
    page = client.get("/api/products", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 6 and page["limit"] == 2 and page["offset"] == 1
    assert [p["id"] for p in page["items"]] == sorted(world.products.values())[1:3]
    dairy = client.get("/api/products", params={"category": "dairy"}).json()
    assert {p["name"] for p in dairy["items"]} == {"Milk", "Cheese"} and dairy["total"] == 2
    store0 = client.get(
        "/api/products", params={"store_id": world.stores[0], "brand": "Amul"}
    ).json()
    assert [p["sku"] for p in store0["items"]] == ["SKU-milk"]
    assert client.get("/api/products", params={"limit": 201}).status_code == 422


def test_add_accumulates_quantity_and_prices_the_cart(client, world):
    add(client, world.products["milk"], 2)
    cart = add(client, world.products["milk"], 3)
    cart = add(client, world.products["tea"], 1)
    lines = {line["product_id"]: line for line in cart["items"]}
    assert lines[world.products["milk"]]["quantity"] == 5
    assert lines[world.products["milk"]]["line_total_cents"] == 1250
    assert cart["subtotal_cents"] == 1250 + 650 == cart["total_cents"]
    assert cart["discount_cents"] == 0 and cart["applied_user_coupon_id"] is None
    cart = client.post("/api/cart/remove", json={"product_id": world.products["milk"]}).json()
    assert [line["product_id"] for line in cart["items"]] == [world.products["tea"]]
    assert client.get("/api/cart").json() == cart
    cleared = client.delete("/api/cart").json()
    assert cleared["items"] == [] and cleared["total_cents"] == 0


def test_unknown_product_is_404_and_bad_body_is_422(client, world):
    assert (
        client.post("/api/cart/add", json={"product_id": 999999, "quantity": 1}).status_code == 404
    )
    assert client.post("/api/cart/remove", json={"product_id": 999999}).status_code == 404
    assert (
        client.post(
            "/api/cart/add", json={"product_id": world.products["milk"], "quantity": 0}
        ).status_code
        == 422
    )
    assert client.post("/api/cart/add", json={"quantity": 1}).status_code == 422
    assert (
        client.post(
            "/api/cart/add", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_malformed_simulated_time_is_422_not_a_fallback(client, world):
    r = client.get("/api/cart", headers={"X-Simulated-Time": "next tuesday"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["header", "x-simulated-time"]


def test_coupon_rules_and_discounts(client, world):
    w = world.wallet
    # empty cart, then a cart without any dairy item
    assert (
        client.post("/api/cart/apply-coupon", json={"user_coupon_id": w["front10"]}).status_code
        == 409
    )
    add(client, world.products["tea"], 2)  # 1300
    r = client.post("/api/cart/apply-coupon", json={"user_coupon_id": w["dairy200"]})
    assert r.status_code == 409 and "match" in r.json()["detail"]
    r = client.post("/api/cart/apply-coupon", json={"user_coupon_id": w["front_min"]})
    assert r.status_code == 409 and "minimum spend" in r.json()["detail"]
    r = client.post("/api/cart/apply-coupon", json={"user_coupon_id": w["expired"]})
    assert r.status_code == 409 and "expired" in r.json()["detail"]
    r = client.post(
        "/api/cart/apply-coupon", json={"user_coupon_id": world.other_wallet["front10"]}
    )
    assert r.status_code == 409 and "not in wallet" in r.json()["detail"]
    # brand coupon: 20 % of the Tata lines only
    add(client, world.products["rice"], 1)  # +900
    cart = client.post("/api/cart/apply-coupon", json={"user_coupon_id": w["tata20"]}).json()
    assert cart["applied_user_coupon_id"] == w["tata20"]
    assert (cart["subtotal_cents"], cart["discount_cents"], cart["total_cents"]) == (
        2200,
        260,
        1940,
    )
    # replacing it with the frontstore 10 %: whole basket
    cart = client.post("/api/cart/apply-coupon", json={"user_coupon_id": w["front10"]}).json()
    assert (cart["discount_cents"], cart["applied_user_coupon_id"]) == (220, w["front10"])


def test_coupon_expiring_after_apply_is_refused_at_checkout(client, world):
    add(client, world.products["milk"], 1)
    assert (
        client.post(
            "/api/cart/apply-coupon", json={"user_coupon_id": world.wallet["dairy200"]}
        ).status_code
        == 200
    )
    later = (SIM_NOW + timedelta(days=30)).isoformat()
    cart = client.get("/api/cart", headers={"X-Simulated-Time": later}).json()
    assert cart["discount_cents"] == 0  # no longer applies
    r = client.post(
        "/api/orders/checkout",
        json={"idempotency_key": "late"},
        headers={"X-Simulated-Time": later},
    )
    assert r.status_code == 409 and "expired" in r.json()["detail"]
    assert len(client.get("/api/cart").json()["items"]) == 1  # nothing happened


def test_checkout_writes_order_redeems_coupon_and_clears_cart(client, world, api_engine):
    assert client.post("/api/orders/checkout", json={"idempotency_key": "empty"}).status_code == 409
    add(client, world.products["cheese"], 2)  # 2400
    add(client, world.products["soap"], 1)  # 400
    client.post("/api/cart/apply-coupon", json={"user_coupon_id": world.wallet["dairy200"]})
    r = client.post("/api/orders/checkout", json={"idempotency_key": "k1"})
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["created"] is True and order["item_count"] == 3
    assert (order["subtotal_cents"], order["discount_cents"], order["total_cents"]) == (
        2800,
        200,
        2600,
    )
    assert order["user_coupon_id"] == world.wallet["dairy200"]
    assert order["simulated_at"].startswith("2026-03-02T10:00:00")
    again = client.post("/api/orders/checkout", json={"idempotency_key": "k1"}).json()
    assert again == {**order, "created": False}
    assert client.get("/api/cart").json()["items"] == []
    with api_engine.connect() as conn:
        o = conn.execute(text("SELECT is_simulated, simulated_at, user_id FROM orders")).one()
        items = conn.execute(
            text("SELECT product_id, quantity, unit_price_cents FROM order_items ORDER BY id")
        ).all()
        coupon = conn.execute(
            text("SELECT status, redeemed_sim_at FROM user_coupons WHERE id = :id"),
            {"id": world.wallet["dairy200"]},
        ).one()
        cart_coupons = conn.execute(text("SELECT count(*) FROM cart_coupons")).scalar()
    assert o.is_simulated and o.simulated_at == SIM_NOW and o.user_id == world.users[0]
    assert items == [(world.products["cheese"], 2, 1200), (world.products["soap"], 1, 400)]
    assert coupon.status == "redeemed" and coupon.redeemed_sim_at == SIM_NOW
    assert cart_coupons == 0
    # a redeemed coupon leaves the wallet and cannot be applied again
    wallet_ids = {c["user_coupon_id"] for c in client.get("/api/offers/wallet").json()["items"]}
    assert world.wallet["dairy200"] not in wallet_ids
    add(client, world.products["milk"])
    r = client.post("/api/cart/apply-coupon", json={"user_coupon_id": world.wallet["dairy200"]})
    assert r.status_code == 409 and "redeemed" in r.json()["detail"]


def test_key_of_another_user_is_refused(api_server, world):
    a = httpx.Client(base_url=api_server.base_url, headers=headers(world.agents[0]))
    b = httpx.Client(base_url=api_server.base_url, headers=headers(world.agents[1]))
    for c in (a, b):
        c.post("/api/cart/add", json={"product_id": world.products["milk"], "quantity": 1})
    assert a.post("/api/orders/checkout", json={"idempotency_key": "shared"}).status_code == 200
    r = b.post("/api/orders/checkout", json={"idempotency_key": "shared"})
    assert r.status_code == 409 and "another user" in r.json()["detail"]
    assert len(b.get("/api/cart").json()["items"]) == 1


def test_wallet_lists_active_unexpired_and_views_count(client, world):
    body = client.get("/api/offers/wallet").json()
    ids = {c["user_coupon_id"] for c in body["items"]}
    assert ids == {v for k, v in world.wallet.items() if k != "expired"}
    assert body["count"] == 4
    tata = next(c for c in body["items"] if c["user_coupon_id"] == world.wallet["tata20"])
    assert (tata["kind"], tata["discount_type"], tata["discount_value"], tata["brand"]) == (
        "category_brand",
        "percent",
        20,
        "Tata",
    )
    # before the expired one's expiry it is still listed
    earlier = (SIM_NOW - timedelta(days=1, seconds=1)).isoformat()
    assert (
        client.get("/api/offers/wallet", headers={"X-Simulated-Time": earlier}).json()["count"] == 5
    )
    uc = world.wallet["tata20"]
    assert client.post(f"/api/offers/{uc}/view").json() == {"user_coupon_id": uc, "viewed_count": 1}
    assert client.post(f"/api/offers/{uc}/view").json()["viewed_count"] == 2
    assert client.post(f"/api/offers/{world.other_wallet['tata20']}/view").status_code == 404
