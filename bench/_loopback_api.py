"""A minimal loopback HTTP server answering the target API's JSON shapes (docs/ARCHITECTURE.md, HTTP contract)
as cheaply as possible, for measuring the *client's* cost (bench_overhead.py).

    .venv/bin/python bench/_loopback_api.py --port 8089 [--record FILE]

gevent's WSGI server, one ``InMemoryShop`` per ``Authorization`` header over the generated
catalog (the same ids ``--mock-db`` runs use), a fixed 8-coupon wallet. With ``--record``,
every request (agent, method, path, body) is kept in arrival order and written as JSON
lines when the server gets SIGTERM, so a plain Locust user can replay the same sequence.
Not the reference API: no database, no validation beyond what the shop does.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from behaviors.memory_shop import InMemoryShop  # noqa: E402
from behaviors.shop import Cart, Product, ShopRejected, WalletCoupon  # noqa: E402

JSON = [("Content-Type", "application/json")]


def _catalog(seed: int) -> tuple[list[Product], list[WalletCoupon]]:
    from personas.catalog import generate_catalog

    data = generate_catalog(seed=seed)
    stores = {s.code: i + 1 for i, s in enumerate(data.stores)}
    products = [
        Product(id=i + 1, name=p.name, category=p.category, brand=p.brand,
                price_cents=p.price_cents, store_id=stores.get(p.store_code))
        for i, p in enumerate(data.products)
    ]  # fmt: skip
    front = [c for c in data.coupons if c.kind == "frontstore"][:2]
    other = [c for c in data.coupons if c.kind != "frontstore"][:6]
    wallet = [
        WalletCoupon(user_coupon_id=i + 1, coupon_id=i + 1, kind=c.kind,
                     discount_type=c.discount_type, discount_value=c.discount_value,
                     min_spend_cents=c.min_spend_cents, category=c.category, brand=c.brand)
        for i, c in enumerate(front + other)
    ]  # fmt: skip
    return products, wallet


def _cart(c: Cart) -> dict[str, Any]:
    return {
        "items": [asdict(x) for x in c.lines], "subtotal_cents": c.subtotal_cents,
        "discount_cents": c.discount_cents, "total_cents": c.total_cents,
        "applied_user_coupon_id": c.applied_user_coupon_id,
    }  # fmt: skip


class App:
    """The WSGI app: per-agent in-memory shops, optional request recording."""

    def __init__(self, seed: int, record: bool) -> None:
        self.products, self.wallet = _catalog(seed)
        self.shops: dict[str, InMemoryShop] = {}
        self.recording: list[dict[str, Any]] | None = [] if record else None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if self.recording is not None and path.startswith("/api/"):
            self.recording.append(
                {"agent": auth, "method": method, "path": path + ("?" + query if query else ""),
                 "body": raw.decode() or None, "sim": environ.get("HTTP_X_SIMULATED_TIME")}
            )  # fmt: skip
        try:
            status, body = self.route(method, path, auth, json.loads(raw) if raw else {})
        except ShopRejected as exc:
            status, body = exc.status or 400, {"detail": exc.reason}
        except (KeyError, ValueError, TypeError) as exc:
            status, body = 422, {"detail": str(exc)}
        out = json.dumps(body).encode()
        start_response(f"{status} X", [*JSON, ("Content-Length", str(len(out)))])
        return [out]

    def shop(self, auth: str) -> InMemoryShop:
        s = self.shops.get(auth)
        if s is None:
            s = self.shops[auth] = InMemoryShop(self.products, self.wallet)
        return s

    def route(self, method: str, path: str, auth: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path == "/health":
            return 200, {"status": "ok", "simulation_mode": True}
        shop = self.shop(auth)
        key = (method, path)
        if key == ("GET", "/api/products"):
            return 200, {"items": [asdict(p) for p in shop.catalog_page(limit=50)]}
        if key == ("GET", "/api/cart"):
            return 200, _cart(shop.cart())
        if key == ("POST", "/api/cart/add"):
            return 200, _cart(shop.cart_add(int(body["product_id"]), int(body["quantity"])))
        if key == ("POST", "/api/cart/remove"):
            return 200, _cart(shop.cart_remove(int(body["product_id"])))
        if key == ("DELETE", "/api/cart"):
            shop.cart_clear()
            return 200, _cart(shop.cart())
        if key == ("GET", "/api/offers/wallet"):
            return 200, {"items": [asdict(c) for c in shop.wallet()]}
        if key == ("POST", "/api/offers/assign"):
            return 200, {"assigned": 0, "refreshed": False}
        if method == "POST" and path.startswith("/api/offers/") and path.endswith("/view"):
            shop.view_coupon(int(path.split("/")[3]))
            return 200, {"ok": True}
        if key == ("POST", "/api/cart/apply-coupon"):
            return 200, _cart(shop.apply_coupon(int(body["user_coupon_id"])))
        if key == ("POST", "/api/orders/checkout"):
            o = shop.checkout(str(body["idempotency_key"]))
            return 200, asdict(o)
        if key == ("POST", "/time/advance"):
            return 200, {"simulated_time": body.get("simulated_time")}
        return 404, {"detail": f"no route {method} {path}"}


class _NoDelayServer(WSGIServer):
    """Nagle off: pywsgi writes headers and body separately, and with Nagle on the body
    waits for the client's delayed ACK — 44 ms a request on loopback (measured)."""

    def handle(self, sock: Any, address: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seed", type=int, default=42, help="catalog seed (the run's --seed)")
    ap.add_argument("--record", default="", help="write the requests here at SIGTERM")
    a = ap.parse_args(argv)
    app = App(a.seed, record=bool(a.record))
    server = _NoDelayServer(("127.0.0.1", a.port), app, log=None, error_log=None)

    def stop() -> None:
        if app.recording is not None:
            with open(a.record, "w") as f:
                for r in app.recording:
                    f.write(json.dumps(r) + "\n")
        server.stop(timeout=1)

    gevent.signal_handler(signal.SIGTERM, stop)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
