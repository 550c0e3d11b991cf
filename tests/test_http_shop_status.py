"""``HttpShop``'s status logic per class, with a small fake client: the pure
decision of what each answer means — value, business refusal, contract error, retry — and
what Locust's stats are told. (``tests/test_http_shop.py`` proves the same through a real
``FastHttpSession`` and loopback server.)"""

from __future__ import annotations

import json
from collections import deque
from datetime import UTC, datetime
from typing import Any

import pytest

from behaviors.shop import ShopRejected, ShopUnavailable
from harness.agent import http_shop
from harness.agent.http_shop import MAX_5XX_RETRIES, HttpCounters, HttpShop
from harness.agent.rate_limit import TokenBucket

CART = {"items": [{"product_id": 7, "quantity": 1, "unit_price_cents": 250}],
        "subtotal_cents": 250, "discount_cents": 0, "total_cents": 250}  # fmt: skip


class FakeResponse:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status_code = status
        self.text = body if isinstance(body, str) else json.dumps(body)
        self.content = self.text.encode() if body is not None else b""
        self.headers = headers or {}
        self.error = None
        self.verdict: str | None = None  # "success" or the failure message

    def json(self) -> Any:
        return json.loads(self.text)

    def success(self) -> None:
        self.verdict = "success"

    def failure(self, msg: str) -> None:
        self.verdict = f"failure: {msg}"

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.verdict is None:
            self.verdict = "success" if 200 <= self.status_code < 400 else "failure: status"


class FakeClient:
    """Answers scripted responses in order; records what was asked."""

    def __init__(self, *answers: FakeResponse):
        self.answers = deque(answers)
        self.asked: list[tuple[str, str, str]] = []
        self.given: list[FakeResponse] = []

    def request(self, method: str, path: str, *, name: str, **_: Any) -> FakeResponse:
        self.asked.append((method, path, name))
        r = self.answers.popleft()
        self.given.append(r)
        return r


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(http_shop.gevent, "sleep", slept.append)
    return slept


def _shop(
    client: FakeClient, routes: dict[str, str] | None = None
) -> tuple[HttpShop, HttpCounters]:
    counters = HttpCounters()
    shop = HttpShop(
        client=client, agent_id=42, sim_now=lambda: datetime(2026, 1, 10, 9, tzinfo=UTC),
        bucket=TokenBucket(0), catalog=None, browse_via_api=True, counters=counters,
        routes=routes,
    )  # fmt: skip
    return shop, counters


def test_2xx_json_is_the_value_and_invalid_json_is_unavailable():
    shop, _ = _shop(FakeClient(FakeResponse(200, CART)))
    assert shop.cart_add(7).subtotal_cents == 250
    client = FakeClient(FakeResponse(200, "<html>gateway</html>"))
    shop, _ = _shop(client)
    with pytest.raises(ShopUnavailable) as exc:
        shop.wallet()
    assert exc.value.kind == "api_5xx" and client.given[0].verdict == "failure: invalid JSON"


@pytest.mark.parametrize("status", [400, 409])
def test_a_refusal_with_a_reason_is_behavior_not_a_failure(status):
    client = FakeClient(FakeResponse(status, {"detail": "coupon expired"}))
    shop, counters = _shop(client)
    with pytest.raises(ShopRejected) as exc:
        shop.apply_coupon(11)
    assert (exc.value.status, exc.value.reason) == (status, "coupon expired")
    assert client.given[0].verdict == "success" and counters.contract_errors == 0


@pytest.mark.parametrize("status", [401, 403, 404, 405, 422])
def test_contract_statuses_fail_the_hour_and_are_noted_for_the_breaker(status):
    client = FakeClient(FakeResponse(status, {"detail": "nope"}), FakeResponse(200, CART))
    shop, counters = _shop(client)
    noted: list[dict] = []
    counters.on_contract = noted.append
    with pytest.raises(ShopUnavailable) as exc:
        shop.cart_add(7)
    err = exc.value
    assert (err.kind, err.status, err.path) == ("contract", status, "/api/cart/add")
    assert f"POST /api/cart/add → {status}" in err.reason
    assert client.given[0].verdict.startswith(f"failure: {status} contract error: nope")
    assert len(client.asked) == 1  # never retried
    assert counters.contract_errors == 1
    assert noted == [{"method": "POST", "path": "/api/cart/add", "status": status,
                      "detail": "nope", "cause": noted[0]["cause"], "agent_id": 42}]  # fmt: skip
    if status == 401:
        assert "SIMULATION_MODE=true" in noted[0]["cause"]


def test_only_the_first_contract_error_is_announced_but_all_are_counted():
    client = FakeClient(FakeResponse(404, {"detail": "x"}), FakeResponse(404, {"detail": "y"}))
    shop, counters = _shop(client)
    noted: list[dict] = []
    counters.on_contract = noted.append
    for _ in range(2):
        with pytest.raises(ShopUnavailable):
            shop.wallet()
    assert counters.contract_errors == 2 and len(noted) == 1


def test_a_400_without_a_reason_is_a_contract_error():
    client = FakeClient(FakeResponse(400, "bad request"))
    shop, counters = _shop(client)
    with pytest.raises(ShopUnavailable) as exc:
        shop.checkout("k")
    assert exc.value.kind == "contract" and counters.first_contract["status"] == 400


def test_other_4xx_stay_refusals_counted_as_failures():
    client = FakeClient(FakeResponse(410, {"detail": "gone"}))
    shop, counters = _shop(client)
    with pytest.raises(ShopRejected):
        shop.cart_remove(7)
    assert client.given[0].verdict == "failure: 410: gone" and counters.contract_errors == 0


def test_429_waits_retry_after_and_is_never_a_failure(no_sleep):
    client = FakeClient(FakeResponse(429, {"detail": "busy"}, {"Retry-After": "2"}),
                        FakeResponse(200, {"items": []}))  # fmt: skip
    shop, counters = _shop(client)
    assert shop.wallet() == []
    assert no_sleep == [2.0] and counters.throttled == 1
    assert [r.verdict for r in client.given] == ["success", "success"]


def test_5xx_is_retried_only_when_the_call_is_idempotent(no_sleep):
    client = FakeClient(FakeResponse(503, {"detail": "down"}), FakeResponse(200, CART))
    shop, counters = _shop(client)
    with pytest.raises(ShopUnavailable) as exc:
        shop.cart_add(7)  # POST /api/cart/add: never repeated
    assert exc.value.kind == "api_5xx" and len(client.asked) == 1 and no_sleep == []
    down = [FakeResponse(503, {"detail": "down"}) for _ in range(MAX_5XX_RETRIES + 1)]
    client = FakeClient(*down)
    shop, counters = _shop(client)
    with pytest.raises(ShopUnavailable):
        shop.wallet()
    assert len(client.asked) == MAX_5XX_RETRIES + 1
    assert counters.consecutive_unavailable == MAX_5XX_RETRIES + 1
    client = FakeClient(FakeResponse(502, "bad gateway"), FakeResponse(200, {"order_id": 1,
        "idempotency_key": "k", "subtotal_cents": 1, "discount_cents": 0, "total_cents": 1,
        "item_count": 1}))  # fmt: skip
    shop, counters = _shop(client)
    assert shop.checkout("k").order_id == 1  # checkout carries its idempotency key
    assert counters.consecutive_unavailable == 0


def test_mapped_routes_are_requested_under_the_contract_names():
    routes = {"cart_add": "/v1/basket/items", "view_coupon": "/v1/wallet/{id}/seen"}
    client = FakeClient(FakeResponse(200, CART), FakeResponse(200, {"viewed_count": 1}),
                        FakeResponse(200, {"items": []}))  # fmt: skip
    shop, _ = _shop(client, routes)
    shop.cart_add(7)
    shop.view_coupon(5)
    shop.wallet()
    assert client.asked == [
        ("POST", "/v1/basket/items", "/api/cart/add"),
        ("POST", "/v1/wallet/5/seen", "/api/offers/{id}/view"),
        ("GET", "/api/offers/wallet", "/api/offers/wallet"),
    ]
