"""The Shop port: everything the shopping graph does to the world.

The graph never talks HTTP or SQL; it calls a ``Shop``. Implementations:
- ``behaviors.memory_shop.InMemoryShop`` — tests, calibration, ``--mock-api`` runs;
- ``harness.http_shop.HttpShop`` — the real API (cart/checkout/offers) + the catalog cache.

Behavior events (docs/ARCHITECTURE.md, Data) are *returned* by the graph run (``HourResult.events``),
not written through the Shop: the harness writes the session and its events in one
per-agent transaction, so one agent failing never loses another's data.

All money is integer cents. Times are timezone-aware UTC datetimes (simulated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    name: str
    category: str
    brand: str
    price_cents: int
    store_id: int | None = None


@dataclass(frozen=True, slots=True)
class WalletCoupon:
    user_coupon_id: int
    coupon_id: int
    kind: str  # "frontstore" | "category_brand"
    discount_type: str  # "percent" | "amount"
    discount_value: int  # percent (1–100) or cents
    min_spend_cents: int
    category: str | None = None
    brand: str | None = None
    expires_sim_at: str | None = None  # ISO 8601
    catalog_value: int | None = None
    """The catalog's value when this wallet copy's differs (an experiment arm's
    ``discount_multiplier``); None: ``discount_value`` is the catalog's."""


@dataclass(frozen=True, slots=True)
class CartLine:
    product_id: int
    quantity: int
    unit_price_cents: int
    category: str = ""
    brand: str = ""


@dataclass(frozen=True, slots=True)
class Cart:
    lines: tuple[CartLine, ...] = ()
    subtotal_cents: int = 0
    discount_cents: int = 0
    total_cents: int = 0
    applied_user_coupon_id: int | None = None

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True, slots=True)
class Order:
    order_id: int
    idempotency_key: str
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    item_count: int
    user_coupon_id: int | None = None


class ShopRejected(Exception):
    """The target refused an action for a business reason (4xx: empty cart, expired or
    foreign coupon, wallet full, unknown product). Not an agent failure: the graph
    handles it (e.g. abandons with the reason)."""

    def __init__(self, reason: str, status: int | None = None, detail: Any = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.detail = detail


class ShopUnavailable(Exception):
    """The target could not serve the action (5xx, timeout, connection error) after the
    port's own retries, or answered outside its contract (``kind="contract"``: 401, 403,
    404, 405, 422 — a wrong route, token or body, never a shopper's decision). The agent's
    flow for this hour fails; the harness counts it (a contract error trips the breaker)."""

    def __init__(
        self,
        reason: str,
        kind: str = "api_5xx",
        *,
        status: int | None = None,
        path: str | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # "api_5xx" | "timeout" | "connection" | "throttled" | "db" | "contract"
        self.status = status  # the HTTP status, when there was one
        self.path = path  # the request path (method first), when there was one


@runtime_checkable
class Shop(Protocol):
    """What one agent can do in the world during one simulated hour."""

    def catalog_page(
        self,
        *,
        store_id: int | None = None,
        category: str | None = None,
        brand: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Product]:
        """A page of the catalog (``GET /api/products`` or the shared cache)."""
        ...

    def categories(self) -> list[str]:
        """Every category of the catalog (for exploration beyond the preferred ones)."""
        ...

    def cart_add(self, product_id: int, quantity: int = 1) -> Cart: ...

    def cart_remove(self, product_id: int) -> Cart: ...

    def cart_clear(self) -> None: ...

    def wallet(self) -> list[WalletCoupon]:
        """The agent's active coupons (``GET /api/offers/wallet``)."""
        ...

    def view_coupon(self, user_coupon_id: int) -> None: ...

    def apply_coupon(self, user_coupon_id: int) -> Cart:
        """Apply a wallet coupon to the cart; ``ShopRejected`` if it does not apply."""
        ...

    def checkout(self, idempotency_key: str) -> Order:
        """Order the cart. The same key must never produce two orders."""
        ...


@dataclass(slots=True)
class BehaviorEvent:
    """One row of ``shopping_session_events`` before it has a session id."""

    event_type: str
    sim_time: str  # ISO 8601
    product_id: int | None = None
    user_coupon_id: int | None = None
    quantity: int | None = None
    price_cents: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    real_time: float | None = None
    """Epoch seconds when the harness performed it (paced runs); ``None`` offline. Set by the
    session's pace (``behaviors.events.paced``), never read by a rule."""
