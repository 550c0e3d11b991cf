"""``HttpShop`` per status class, through a real ``FastHttpSession`` and a real loopback
server (``tests/http_shop_probe.py``, its own process because locust monkey-patches):
what the graph gets (value, ``ShopRejected``, ``ShopUnavailable``), how often the server
was asked, and whether Locust's stats count a failure."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e_support import ROOT

MAX_429_RETRIES = 5  # harness.agent.http_shop (not imported here: it imports gevent)
MAX_5XX_RETRIES = 2


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, "-m", "tests.http_shop_probe"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def _failures(s: dict[str, Any]) -> list[str | None]:
    return [e["failure"] for e in s["events"]]


def test_429_waits_retry_after_and_is_never_a_failure(probe):
    s = probe["429_then_ok"]
    assert s["value"] == "[]" and "raised" not in s
    assert len(s["requests"]) == 2 and s["throttled"] == 1
    assert _failures(s) == [None, None]
    s = probe["429_forever"]
    assert s["raised"] == {"type": "ShopUnavailable", "kind": "throttled",
                           "message": "throttled (429) too long"}  # fmt: skip
    assert len(s["requests"]) == MAX_429_RETRIES + 1
    assert _failures(s) == [None] * (MAX_429_RETRIES + 1)


def test_409_is_a_business_refusal_counted_as_success(probe):
    s = probe["409_refusal"]
    assert s["raised"] == {"type": "ShopRejected", "status": 409, "detail": "coupon not eligible"}
    assert len(s["requests"]) == 1 and _failures(s) == [None]


def test_404_is_a_contract_error_counted_as_failure(probe):
    s = probe["404_rejected"]  # a wrong route is never a shopper's decision
    assert s["raised"]["type"] == "ShopUnavailable" and s["raised"]["kind"] == "contract"
    assert s["raised"]["message"].startswith("POST /api/cart/add → 404: ")
    assert len(s["requests"]) == 1
    assert _failures(s)[0].startswith("404 contract error: no such product")


def test_5xx_is_retried_only_when_the_call_is_idempotent(probe):
    once = probe["503_not_idempotent"]  # POST /api/cart/add: never repeated
    assert once["raised"]["type"] == "ShopUnavailable" and once["raised"]["kind"] == "api_5xx"
    assert len(once["requests"]) == 1 and _failures(once) == ["503: down"]
    retried = probe["503_then_ok_idempotent"]  # checkout with its idempotency key
    assert retried["value"] == 1 and "raised" not in retried
    assert len(retried["requests"]) == 2 and _failures(retried) == ["503: down", None]
    assert retried["consecutive_unavailable"] == 0  # reset by the success
    gone = probe["503_forever_idempotent"]
    assert gone["raised"]["kind"] == "api_5xx"
    assert len(gone["requests"]) == MAX_5XX_RETRIES + 1
    assert gone["consecutive_unavailable"] == MAX_5XX_RETRIES + 1


def test_connection_refused_is_unavailable_after_retries(probe):
    s = probe["connection_refused"]
    assert s["raised"]["type"] == "ShopUnavailable" and s["raised"]["kind"] == "connection"
    assert len(s["events"]) == MAX_5XX_RETRIES + 1
    assert all(f and f.startswith("connection:") for f in _failures(s))


def test_invalid_json_is_unavailable_and_a_failure(probe):
    s = probe["invalid_json"]
    assert s["raised"] == {"type": "ShopUnavailable", "kind": "api_5xx",
                           "message": "invalid JSON from target"}  # fmt: skip
    assert len(s["requests"]) == 1 and _failures(s) == ["invalid JSON"]


def test_every_request_carries_the_agent_and_the_simulated_time(probe):
    seen = [r for s in probe.values() for r in s["requests"]]
    assert len(seen) >= 15
    assert {r["authorization"] for r in seen} == {"Bearer dev:42"}
    assert {r["sim_time"] for r in seen} == {"2026-01-10T09:30:00+00:00"}
