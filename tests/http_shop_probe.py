"""Drive ``HttpShop`` through a real ``FastHttpSession`` against a scripted loopback server.

Run as ``python -m tests.http_shop_probe`` (its own process: importing locust
monkey-patches the standard library, which the pytest process must never do). Each
scenario scripts the server's responses per path, calls one Shop method, and records
what came back (value or exception), what the server saw, and what Locust's request
event said (success or failure) — as one JSON object on stdout.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from collections import deque  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from gevent.pywsgi import WSGIServer  # noqa: E402
from locust.contrib.fasthttp import FastHttpSession  # noqa: E402
from locust.env import Environment  # noqa: E402

from behaviors.shop import ShopRejected, ShopUnavailable  # noqa: E402
from harness.agent.http_shop import HttpCounters, HttpShop  # noqa: E402
from harness.agent.rate_limit import TokenBucket  # noqa: E402

SIM_NOW = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
CART = {"items": [{"product_id": 7, "quantity": 1, "unit_price_cents": 250}],
        "subtotal_cents": 250, "discount_cents": 0, "total_cents": 250}  # fmt: skip
ORDER = {"order_id": 1, "idempotency_key": "k", "subtotal_cents": 250, "discount_cents": 0,
         "total_cents": 250, "item_count": 1}  # fmt: skip

# name → (Shop call, scripted responses: (status, headers, body text))
SCENARIOS: dict[str, tuple[str, list[tuple[int, dict[str, str], str]]]] = {
    "429_then_ok": ("wallet", [(429, {"Retry-After": "0"}, '{"detail":"busy"}'),
                               (200, {}, '{"items": []}')]),
    "429_forever": ("wallet", [(429, {"Retry-After": "0"}, '{"detail":"busy"}')] * 10),
    "409_refusal": ("apply", [(409, {}, '{"detail":"coupon not eligible"}')]),
    "404_rejected": ("cart_add", [(404, {}, '{"detail":"no such product"}')]),
    "503_not_idempotent": ("cart_add", [(503, {}, '{"detail":"down"}'), (200, {}, json.dumps(CART))]),
    "503_then_ok_idempotent": ("checkout", [(503, {}, '{"detail":"down"}'), (200, {}, json.dumps(ORDER))]),
    "503_forever_idempotent": ("wallet", [(503, {}, '{"detail":"down"}')] * 10),
    "invalid_json": ("wallet", [(200, {}, "<html>not json</html>")]),
    "connection_refused": ("wallet", []),  # a port nobody listens on
}  # fmt: skip


class Script:
    def __init__(self) -> None:
        self.responses: deque[tuple[int, dict[str, str], str]] = deque()
        self.seen: list[dict[str, Any]] = []

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.seen.append({
            "method": environ["REQUEST_METHOD"],
            "path": environ["PATH_INFO"],
            "authorization": environ.get("HTTP_AUTHORIZATION"),
            "sim_time": environ.get("HTTP_X_SIMULATED_TIME"),
        })  # fmt: skip
        status, headers, body = self.responses.popleft() if self.responses else (500, {}, "{}")
        start_response(f"{status} X", [("Content-Type", "application/json"), *headers.items()])
        return [body.encode()]


def _call(shop: HttpShop, what: str) -> Any:
    if what == "wallet":
        return shop.wallet()
    if what == "apply":
        return shop.apply_coupon(11)
    if what == "cart_add":
        return shop.cart_add(7)
    if what == "checkout":
        return shop.checkout("k").order_id
    raise ValueError(what)


def main() -> int:
    script = Script()
    server = WSGIServer(("127.0.0.1", 0), script.app, log=None)
    server.start()
    env = Environment()
    events: list[dict[str, Any]] = []
    env.events.request.add_listener(
        lambda **kw: events.append(
            {"name": kw["name"], "failure": None if kw["exception"] is None else str(kw["exception"])}
        )
    )  # fmt: skip
    with socket.socket() as s:  # bound, then closed: connecting to it is refused
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    out: dict[str, Any] = {}
    for name, (what, responses) in SCENARIOS.items():
        port = closed_port if name == "connection_refused" else server.server_port
        script.responses = deque(responses)
        script.seen = []
        events.clear()
        counters = HttpCounters()
        client = FastHttpSession(
            base_url=f"http://127.0.0.1:{port}",
            request_event=env.events.request, user=None, network_timeout=10.0,
        )  # fmt: skip
        shop = HttpShop(
            client=client, agent_id=42, sim_now=lambda: SIM_NOW, bucket=TokenBucket(0),
            catalog=None, browse_via_api=True, counters=counters,
        )  # fmt: skip
        result: dict[str, Any] = {}
        try:
            value = _call(shop, what)
            result["value"] = value if isinstance(value, (int, str)) else repr(value)
        except ShopRejected as exc:
            result["raised"] = {"type": "ShopRejected", "status": exc.status, "detail": exc.detail}
        except ShopUnavailable as exc:
            result["raised"] = {"type": "ShopUnavailable", "kind": exc.kind, "message": str(exc)}
        result["requests"] = list(script.seen)
        result["events"] = list(events)
        result["throttled"] = counters.throttled
        result["consecutive_unavailable"] = counters.consecutive_unavailable
        out[name] = result
    server.stop()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
