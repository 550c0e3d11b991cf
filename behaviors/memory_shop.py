"""``InMemoryShop``: the Shop port without a server, for tests, calibration and
``--mock-api`` runs.

One instance per agent (it holds that agent's cart and wallet); the product list is shared
between instances, never copied — 10,000 agents in one process share one catalog. The
business rules follow the reference API (see ``offer_engine.pricing``): coupons must be in the
wallet and eligible for the cart, checkout is idempotent per key and redeems the applied
coupon, an empty cart cannot be checked out.

Memory is bounded per agent, whatever the run's length: a real shop keeps every order in its
database, but no behaviour reads an agent's past orders back, so the in-memory shop keeps
only what its rules need — the last ``ORDERS_KEPT`` orders (checkout is idempotent within
that window: a key is one agent-hour's, replayed only by a retry of that hour), counters of
all orders and redemptions, the last ``ORDERS_KEPT`` redeemed coupon ids, and view counts of
the coupons still in the wallet. Keeping every order cost a 5,000-agent ``--mock-api``
worker ~0.5 MiB a simulated day, for the life of the run.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

from behaviors.catalog_index import index_for
from behaviors.shop import Cart, CartLine, Order, Product, ShopRejected, WalletCoupon
from offer_engine.pricing import discount_cents, ineligibility, subtotal_cents

ORDERS_KEPT = 1
"""Orders (and redeemed coupon ids) an agent's shop remembers. A retry only ever replays
the agent's latest checkout (one key per agent-hour, hours played in order). Each kept
order is ~600 bytes: at 16, a 5,000-agent worker's shops would grow for ~8 simulated weeks
(about two orders an agent a week) to ~45 MiB; at 1 they stop once every agent has
ordered once (~3 MiB)."""


def order_id_for(idempotency_key: str) -> int:
    """A stable positive order id derived from the key (the same in every process)."""
    return int.from_bytes(hashlib.blake2b(idempotency_key.encode(), digest_size=6).digest())


class InMemoryShop:
    """The Shop port in memory: one agent's cart and wallet over a shared catalog.

    Args:
        products: The catalog, shared by every agent's shop (not copied).
        wallet: The agent's active coupons (copied into this shop).
        store_id: When set, ``catalog_page`` without an explicit store shows only this
            store's products (the agent's preferred store).
    """

    def __init__(
        self,
        products: Sequence[Product],
        wallet: list[WalletCoupon] | None = None,
        *,
        store_id: int | None = None,
    ):
        self._index = index_for(products)
        self._store_id = store_id
        self._wallet: dict[int, WalletCoupon] = {c.user_coupon_id: c for c in wallet or ()}
        self._lines: dict[int, CartLine] = {}
        self._applied: int | None = None
        self._orders: OrderedDict[str, Order] = OrderedDict()
        self.orders_placed = 0
        """Orders placed through this shop, all of them (``orders`` keeps the last few)."""
        self.viewed_coupons: dict[int, int] = {}
        """How often each coupon in the wallet was viewed (the API's ``viewed_count``);
        a coupon's count goes when it leaves the wallet."""
        self.redeemed: list[int] = []
        """The last ``ORDERS_KEPT`` user_coupon_ids redeemed by checkouts, in order."""
        self.redeemed_count = 0
        """Coupons redeemed through this shop, all of them."""

    # catalog -----------------------------------------------------------------------
    def catalog_page(
        self,
        *,
        store_id: int | None = None,
        category: str | None = None,
        brand: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Product]:
        """A page of products filtered like ``GET /api/products`` (``CatalogIndex.page``);
        without a ``store_id``, the agent's own store when it has one."""
        store = store_id if store_id is not None else self._store_id
        return self._index.page(
            store_id=store, category=category, brand=brand, limit=limit, offset=offset
        )

    def categories(self) -> list[str]:
        """Every category of the catalog, sorted."""
        return list(self._index.categories)

    # cart --------------------------------------------------------------------------
    def cart_add(self, product_id: int, quantity: int = 1) -> Cart:
        """Add ``quantity`` of a product; ``ShopRejected`` for unknown products."""
        product = self._index.by_id.get(product_id)
        if product is None:
            raise ShopRejected("unknown_product", status=404, detail=product_id)
        if quantity < 1:
            raise ShopRejected("bad_quantity", status=422, detail=quantity)
        old = self._lines.get(product_id)
        self._lines[product_id] = CartLine(
            product_id=product_id,
            quantity=quantity + (old.quantity if old else 0),
            unit_price_cents=product.price_cents,
            category=product.category,
            brand=product.brand,
        )
        return self.cart()

    def cart_remove(self, product_id: int) -> Cart:
        """Remove a product's line (no-op when absent, like the API's DELETE semantics)."""
        self._lines.pop(product_id, None)
        return self.cart()

    def cart_clear(self) -> None:
        """Empty the cart and drop the applied coupon."""
        self._lines.clear()
        self._applied = None

    def cart(self) -> Cart:
        """The current cart with the applied coupon's discount (``GET /api/cart``)."""
        lines = tuple(self._lines.values())
        applied = self._wallet.get(self._applied) if self._applied is not None else None
        # A coupon stays applied only while the cart still qualifies (the API recomputes).
        if applied is not None and ineligibility(applied, lines) is not None:
            applied = None
            self._applied = None
        subtotal = subtotal_cents(lines)
        discount = discount_cents(applied, lines) if applied else 0
        return Cart(
            lines=lines,
            subtotal_cents=subtotal,
            discount_cents=discount,
            total_cents=subtotal - discount,
            applied_user_coupon_id=applied.user_coupon_id if applied else None,
        )

    # wallet ------------------------------------------------------------------------
    def wallet(self) -> list[WalletCoupon]:
        """The agent's active coupons."""
        return list(self._wallet.values())

    def set_wallet(self, coupons: list[WalletCoupon]) -> None:
        """Replace the wallet (an offer cycle's refresh in calibration and mock runs)."""
        self._wallet = {c.user_coupon_id: c for c in coupons}
        if self._applied not in self._wallet:
            self._applied = None
        self.viewed_coupons = {
            k: v for k, v in self.viewed_coupons.items() if k in self._wallet
        }  # fmt: skip

    def view_coupon(self, user_coupon_id: int) -> None:
        """Record a coupon view; ``ShopRejected`` for a coupon not in the wallet."""
        if user_coupon_id not in self._wallet:
            raise ShopRejected("foreign_coupon", status=409, detail=user_coupon_id)
        self.viewed_coupons[user_coupon_id] = self.viewed_coupons.get(user_coupon_id, 0) + 1

    def apply_coupon(self, user_coupon_id: int) -> Cart:
        """Apply a wallet coupon; ``ShopRejected`` with the reason when it does not apply."""
        coupon = self._wallet.get(user_coupon_id)
        if coupon is None:
            raise ShopRejected("foreign_coupon", status=409, detail=user_coupon_id)
        reason = ineligibility(coupon, tuple(self._lines.values()))
        if reason is not None:
            raise ShopRejected(reason, status=409, detail=user_coupon_id)
        self._applied = user_coupon_id
        return self.cart()

    # checkout ----------------------------------------------------------------------
    def checkout(self, idempotency_key: str) -> Order:
        """Order the cart: same key → same order; the cart empties, the coupon is redeemed."""
        done = self._orders.get(idempotency_key)
        if done is not None:
            return done
        cart = self.cart()
        if not cart.lines:
            raise ShopRejected("empty_cart", status=409)
        order = Order(
            order_id=order_id_for(idempotency_key),
            idempotency_key=idempotency_key,
            subtotal_cents=cart.subtotal_cents,
            discount_cents=cart.discount_cents,
            total_cents=cart.total_cents,
            item_count=cart.item_count,
            user_coupon_id=cart.applied_user_coupon_id,
        )
        self._orders[idempotency_key] = order
        self.orders_placed += 1
        if len(self._orders) > ORDERS_KEPT:
            self._orders.popitem(last=False)
        redeemed = cart.applied_user_coupon_id
        if redeemed is not None:
            self._wallet.pop(redeemed, None)
            self.viewed_coupons.pop(redeemed, None)
            self.redeemed.append(redeemed)
            self.redeemed_count += 1
            del self.redeemed[:-ORDERS_KEPT]
        self.cart_clear()
        return order

    @property
    def orders(self) -> list[Order]:
        """The last ``ORDERS_KEPT`` orders placed through this shop, oldest first
        (``orders_placed`` counts them all)."""
        return list(self._orders.values())
