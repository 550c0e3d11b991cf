"""Concurrency guarantees of checkout, over real HTTP with real threads and real locks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from sqlalchemy import text

from tests import test_api_helpers as _h
from tests.test_api_helpers import SIM_NOW, headers

api_db_url, api_engine, api_server, world = _h.api_db_url, _h.api_engine, _h.api_server, _h.world


def _together(n: int, fn):
    """Run ``fn(i)`` in ``n`` threads released at the same instant; return the results."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_twenty_concurrent_checkouts_with_one_key_make_one_order(api_server, world, api_engine):
    hdrs = headers(world.agents[0])
    with httpx.Client(base_url=api_server.base_url, headers=hdrs) as c:
        c.post("/api/cart/add", json={"product_id": world.products["cheese"], "quantity": 2})
        c.post("/api/cart/add", json={"product_id": world.products["milk"], "quantity": 1})
        applied = c.post(
            "/api/cart/apply-coupon", json={"user_coupon_id": world.wallet["dairy200"]}
        )
        assert applied.status_code == 200

    def checkout(_i):
        # A client each: separate connections, as 20 retries from different workers would be.
        with httpx.Client(base_url=api_server.base_url, headers=hdrs, timeout=30) as c:
            return c.post("/api/orders/checkout", json={"idempotency_key": "same-key"})

    responses = _together(20, checkout)
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert sum(b["created"] for b in bodies) == 1
    assert len({b["order_id"] for b in bodies}) == 1
    assert {(b["subtotal_cents"], b["discount_cents"], b["item_count"]) for b in bodies} == {
        (2650, 200, 3)
    }
    with api_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM orders")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM order_items")).scalar() == 2
        statuses = (
            conn.execute(
                text("SELECT status FROM user_coupons WHERE user_id = :u AND status = 'redeemed'"),
                {"u": world.users[0]},
            )
            .scalars()
            .all()
        )
    assert statuses == ["redeemed"]


def test_one_coupon_in_two_carts_is_redeemed_at_most_once(api_server, world, api_engine):
    """Two sessions of one shopper (two clients, each building its own basket and applying
    the same wallet coupon) check out at once with different keys, round after round: at
    most one checkout per coupon succeeds and the coupon is redeemed exactly once."""
    rounds = 6
    coupons = []
    with api_engine.begin() as conn:
        for r in range(rounds):  # a coupon of its own per round: each round redeems its own
            cid = conn.execute(
                text(
                    "INSERT INTO coupons (code, kind, title, discount_type, discount_value, "
                    "is_simulated) VALUES (:code, 'frontstore', 'race', 'percent', 10, true) "
                    "RETURNING id"
                ),
                {"code": f"RACE-{r}"},
            ).scalar_one()
            coupons.append(
                conn.execute(
                    text(
                        "INSERT INTO user_coupons (user_id, coupon_id, status, is_simulation, "
                        "expires_sim_at) VALUES (:u, :c, 'active', true, :exp) RETURNING id"
                    ),
                    {"u": world.users[2], "c": cid, "exp": SIM_NOW + timedelta(days=9)},
                ).scalar_one()
            )
    hdrs = headers(world.agents[2])
    products = (world.products["tea"], world.products["coffee"])
    outcomes = []
    for r in range(rounds):
        uc = coupons[r]

        def session(i, uc=uc, r=r):
            with httpx.Client(base_url=api_server.base_url, headers=hdrs, timeout=30) as c:
                c.post("/api/cart/add", json={"product_id": products[i], "quantity": 1})
                c.post("/api/cart/apply-coupon", json={"user_coupon_id": uc})
                return c.post("/api/orders/checkout", json={"idempotency_key": f"r{r}-s{i}"})

        responses = _together(2, session)
        assert all(resp.status_code in (200, 409) for resp in responses), [
            x.text for x in responses
        ]
        outcomes.append(sum(resp.status_code == 200 for resp in responses))
    with api_engine.connect() as conn:
        per_coupon = conn.execute(
            text(
                "SELECT uc.id, uc.status, count(o.id) FROM user_coupons uc "
                "LEFT JOIN orders o ON o.user_coupon_id = uc.id "
                "WHERE uc.id = ANY(:ids) GROUP BY uc.id, uc.status"
            ),
            {"ids": coupons},
        ).all()
    assert len(per_coupon) == rounds
    for _uc_id, status, orders in per_coupon:
        assert orders <= 1
        assert (status == "redeemed") == (orders == 1)
    assert max(outcomes) <= 2 and sum(outcomes) >= rounds  # every round ordered something


def test_checkouts_of_different_users_run_side_by_side(api_server, world, api_engine):
    def shop(i):
        with httpx.Client(
            base_url=api_server.base_url, headers=headers(world.agents[i]), timeout=30
        ) as c:
            c.post("/api/cart/add", json={"product_id": world.products["rice"], "quantity": i + 1})
            return c.post("/api/orders/checkout", json={"idempotency_key": f"user-{i}"})

    responses = _together(3, shop)
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r.json()["item_count"] for r in responses] == [1, 2, 3]
    with api_engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT user_id) FROM orders")).scalar() == 3
