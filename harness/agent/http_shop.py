"""``HttpShop``: the Shop port over the target API (docs/ARCHITECTURE.md, HTTP contract), for one agent.

- Every request carries ``Authorization: Bearer dev:<agent_id>`` and ``X-Simulated-Time``
  (and ``X-Experiment-Arm`` when the run has an experiment),
  an explicit timeout (the session's), and a stable ``name`` so Locust groups it per
  endpoint (``/api/offers/{id}/view``, ``/api/products?…``).
- A token is taken from the process's bucket *before* the request is timed.
- 409 and a 400 that gives a reason (business refusals) are expected outcomes → success
  in Locust's stats and ``ShopRejected`` for the graph. 429 → wait ``Retry-After`` and
  retry; never a failure.
- 401/403/404/405/422 (and a 400 with no reason) are **contract errors**: the
  target and the harness disagree on a token, route, method or body — never a shopper's
  decision. A failure in Locust's stats, ``ShopUnavailable(kind="contract")`` for the graph
  (the hour is stored as failed), and ``HttpCounters.note_contract`` so the director trips
  the breaker at once, naming the method, path and status. Other 4xx stay refusals
  (failures in the stats, ``ShopRejected`` for the graph).
- 5xx / timeouts / connection errors → retried only where the call is idempotent (GETs,
  checkout with its idempotency key, DELETE cart), with exponential backoff and jitter,
  then ``ShopUnavailable`` (the agent's flow fails this hour; the harness counts it).
- Browsing reads the shared catalog cache unless ``--browse-via api``.
- Paths come from the route map (``harness.config.routes``); Locust names keep the
  contract's paths, so runs against differently mapped targets stay comparable.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import gevent

from behaviors.shop import (
    Cart,
    CartLine,
    Order,
    Product,
    ShopRejected,
    ShopUnavailable,
    WalletCoupon,
)
from harness.agent.catalog_cache import CatalogCache
from harness.agent.rate_limit import TokenBucket
from harness.config.routes import DEFAULT_ROUTES, contract_cause, is_contract_error

if TYPE_CHECKING:
    from locust.contrib.fasthttp import FastHttpSession, FastResponse, ResponseContextManager

MAX_429_RETRIES = 5
MAX_5XX_RETRIES = 2


class HttpCounters:
    """Per-process counts the director reports (429s are not failures but are watched)."""

    def __init__(self) -> None:
        self.throttled = 0
        self.consecutive_unavailable = 0
        self.contract_errors = 0
        self.first_contract: dict[str, Any] | None = None
        self._announced_at = -1e9
        self.on_contract: Callable[[dict[str, Any]], None] | None = None
        """Set by the process's wiring: the director (standalone/master) trips the breaker;
        a worker forwards the error to the master at once."""

    def note_contract(self, info: dict[str, Any]) -> None:
        """A contract error happened: count it and tell whoever trips the breaker — at
        most once a second per process (a wrong route fails every request; one message
        names it, and a resumed run that still fails trips again)."""
        self.contract_errors += 1
        if self.first_contract is None:
            self.first_contract = info
        now = time.monotonic()
        if self.on_contract is not None and now - self._announced_at >= 1.0:
            self._announced_at = now
            self.on_contract(info)


class HttpShop:
    def __init__(
        self,
        *,
        client: FastHttpSession,
        agent_id: int,
        sim_now: Callable[[], datetime],
        bucket: TokenBucket,
        catalog: CatalogCache | None,
        browse_via_api: bool,
        counters: HttpCounters,
        routes: dict[str, str] | None = None,
        default_store_id: int | None = None,
        arm: str | None = None,
    ) -> None:
        self.client = client
        self.agent_id = agent_id
        self._sim_now = sim_now
        self.at: datetime | None = None
        """The simulated time of the action being sent (pacing sets it to the action's event
        time, so the target's timestamps and the events agree); ``None``: the clock's now."""
        self._bucket = bucket
        self._catalog = catalog
        self._browse_api = browse_via_api or catalog is None
        self._counters = counters
        self._auth = f"Bearer dev:{agent_id}"
        self.routes = {**DEFAULT_ROUTES, **(routes or {})}
        self._store_id = default_store_id
        self._arm = arm
        """The agent's experiment arm: sent as ``X-Experiment-Arm`` on every request."""

    # ------------------------------------------------------------------ plumbing

    def _path(self, key: str, default: str) -> str:
        return self.routes.get(key) or default

    def _call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        body: dict[str, Any] | None = None,
        idempotent: bool,
    ) -> Any:
        attempts_5xx = 0
        attempts_429 = 0
        while True:
            self._bucket.acquire()
            headers = {
                "Authorization": self._auth,
                "X-Simulated-Time": (self.at or self._sim_now()).isoformat(),
                "Content-Type": "application/json",
            }
            if self._arm is not None:
                headers["X-Experiment-Arm"] = self._arm
            data = json.dumps(body) if body is not None else None
            with self.client.request(
                method, path, name=name, data=data, headers=headers, catch_response=True
            ) as resp:
                status = resp.status_code or 0
                if 200 <= status < 300:
                    self._counters.consecutive_unavailable = 0
                    try:
                        return resp.json() if resp.content else None
                    except ValueError:
                        resp.failure("invalid JSON")
                        raise ShopUnavailable("invalid JSON from target", kind="api_5xx") from None
                if status == 429:
                    resp.success()  # shed load is not an agent failure by itself
                    self._counters.throttled += 1
                    attempts_429 += 1
                    if attempts_429 > MAX_429_RETRIES:
                        raise ShopUnavailable("throttled (429) too long", kind="throttled")
                    gevent.sleep(_retry_after(resp, attempts_429))
                    continue
                if 400 <= status < 500:
                    detail = _detail(resp)
                    if is_contract_error(status, _json_detail(resp)):
                        raise self._contract(resp, method, path, status, detail)
                    if status in (400, 409):
                        resp.success()  # a business refusal (with its reason) the graph handles
                    else:
                        resp.failure(f"{status}: {detail}")
                    raise ShopRejected(str(detail), status=status, detail=detail)
                # 5xx or no response (timeout / connection error: status 0)
                kind = (
                    "timeout"
                    if status == 0 and _is_timeout(resp)
                    else ("connection" if status == 0 else "api_5xx")
                )
                resp.failure(
                    f"{status or kind}: {_detail(resp) if status else getattr(resp, 'error', '')}"
                )
                self._counters.consecutive_unavailable += 1
                if idempotent and attempts_5xx < MAX_5XX_RETRIES:
                    attempts_5xx += 1
                    gevent.sleep(min(2.0, 0.2 * 2**attempts_5xx) * (0.5 + random.random()))
                    continue
                raise ShopUnavailable(f"{method} {name}: {status or kind}", kind=kind)

    def _contract(
        self, resp: ResponseContextManager, method: str, path: str, status: int, detail: object
    ) -> ShopUnavailable:
        """A contract error: a request failure in the stats, noted for the breaker."""
        bare = path.split("?", 1)[0]
        cause = contract_cause(status, method)
        resp.failure(f"{status} contract error: {detail} — {cause}")
        self._counters.note_contract(
            {"method": method, "path": bare, "status": status, "detail": str(detail)[:200],
             "cause": cause, "agent_id": self.agent_id}
        )  # fmt: skip
        return ShopUnavailable(
            f"{method} {bare} → {status}: {cause}", kind="contract", status=status, path=bare
        )

    # ------------------------------------------------------------------ Shop port

    def catalog_page(
        self,
        *,
        store_id: int | None = None,
        category: str | None = None,
        brand: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Product]:
        if store_id is None:
            store_id = self._store_id  # the persona's preferred store, as InMemoryShop does
        if not self._browse_api:
            assert self._catalog is not None
            return self._catalog.page(
                store_id=store_id, category=category, brand=brand, limit=limit, offset=offset
            )
        params = [f"limit={int(limit)}", f"offset={int(offset)}"]
        if store_id is not None:
            params.append(f"store_id={int(store_id)}")
        if category is not None:  # "" is a value, as in the cache and the API
            params.append("category=" + _q(category))
        if brand is not None:
            params.append("brand=" + _q(brand))
        path = self._path("products", "/api/products") + "?" + "&".join(params)
        data = self._call("GET", path, name="/api/products?…", idempotent=True)
        return [
            Product(
                id=p["id"],
                name=p["name"],
                category=p["category"],
                brand=p["brand"],
                price_cents=p["price_cents"],
                store_id=p.get("store_id"),
            )  # fmt: skip
            for p in data.get("items", [])
        ]

    def categories(self) -> list[str]:
        if self._catalog is not None:
            return self._catalog.categories()
        return []

    def cart_add(self, product_id: int, quantity: int = 1) -> Cart:
        data = self._call(
            "POST", self._path("cart_add", "/api/cart/add"), name="/api/cart/add",
            body={"product_id": int(product_id), "quantity": int(quantity)}, idempotent=False,
        )  # fmt: skip
        return _cart(data)

    def cart_remove(self, product_id: int) -> Cart:
        data = self._call(
            "POST", self._path("cart_remove", "/api/cart/remove"), name="/api/cart/remove",
            body={"product_id": int(product_id)}, idempotent=True,
        )  # fmt: skip
        return _cart(data)

    def cart_clear(self) -> None:
        self._call("DELETE", self._path("cart", "/api/cart"), name="/api/cart", idempotent=True)

    def wallet(self) -> list[WalletCoupon]:
        data = self._call(
            "GET",
            self._path("wallet", "/api/offers/wallet"),
            name="/api/offers/wallet",
            idempotent=True,
        )
        return [
            WalletCoupon(
                user_coupon_id=c["user_coupon_id"],
                coupon_id=c["coupon_id"],
                kind=c["kind"],
                discount_type=c["discount_type"],
                discount_value=c["discount_value"],
                min_spend_cents=c["min_spend_cents"],
                category=c.get("category"),
                brand=c.get("brand"),
                expires_sim_at=c.get("expires_sim_at"),
                catalog_value=c.get("catalog_discount_value"),  # an arm's deeper copy
            )  # fmt: skip
            for c in data.get("items", [])
        ]

    def refresh_wallet(self) -> dict[str, Any]:
        """``POST /api/offers/assign`` — refresh the wallet if its refresh is due."""
        return self._call(
            "POST",
            self._path("assign", "/api/offers/assign"),
            name="/api/offers/assign",
            idempotent=True,
        )

    def view_coupon(self, user_coupon_id: int) -> None:
        path = self._path("view_coupon", "/api/offers/{id}/view").replace(
            "{id}", str(int(user_coupon_id))
        )
        self._call("POST", path, name="/api/offers/{id}/view", idempotent=True)

    def apply_coupon(self, user_coupon_id: int) -> Cart:
        data = self._call(
            "POST", self._path("apply_coupon", "/api/cart/apply-coupon"), name="/api/cart/apply-coupon",
            body={"user_coupon_id": int(user_coupon_id)}, idempotent=True,
        )  # fmt: skip
        return _cart(data)

    def checkout(self, idempotency_key: str) -> Order:
        data = self._call(
            "POST", self._path("checkout", "/api/orders/checkout"), name="/api/orders/checkout",
            body={"idempotency_key": idempotency_key}, idempotent=True,
        )  # fmt: skip
        return Order(
            order_id=data["order_id"], idempotency_key=data["idempotency_key"],
            subtotal_cents=data["subtotal_cents"], discount_cents=data["discount_cents"],
            total_cents=data["total_cents"], item_count=data["item_count"],
            user_coupon_id=data.get("user_coupon_id"),
        )  # fmt: skip


def _cart(data: dict[str, Any]) -> Cart:
    lines = tuple(
        CartLine(
            product_id=i["product_id"],
            quantity=i["quantity"],
            unit_price_cents=i["unit_price_cents"],
            category=i.get("category", ""),
            brand=i.get("brand", ""),
        )  # fmt: skip
        for i in data.get("items", [])
    )
    return Cart(
        lines=lines,
        subtotal_cents=data.get("subtotal_cents", 0),
        discount_cents=data.get("discount_cents", 0),
        total_cents=data.get("total_cents", 0),
        applied_user_coupon_id=data.get("applied_user_coupon_id"),
    )


def _detail(resp: FastResponse) -> Any:
    try:
        return resp.json().get("detail")
    except Exception:  # noqa: BLE001 - any non-JSON body
        return (resp.text or "")[:200]


def _json_detail(resp: FastResponse) -> Any:
    """The ``detail`` of a JSON error body (a business refusal's reason), else None."""
    try:
        body = resp.json()
    except Exception:  # noqa: BLE001 - any non-JSON body
        return None
    return body.get("detail") if isinstance(body, dict) else None


def _retry_after(resp: FastResponse, attempt: int) -> float:
    raw = resp.headers.get("Retry-After") if resp.headers else None
    try:
        return max(0.0, min(30.0, float(raw)))  # type: ignore[arg-type]  # None: except below
    except (TypeError, ValueError):
        return min(5.0, 0.25 * 2**attempt) * (0.5 + random.random())


def _is_timeout(resp: FastResponse) -> bool:
    err = getattr(resp, "error", None)
    return err is not None and "timeout" in type(err).__name__.lower() + str(err).lower()


def _q(s: str) -> str:
    from urllib.parse import quote

    return quote(str(s), safe="")
