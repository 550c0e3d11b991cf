"""InMemoryShop: the Shop port in memory, with the reference API's business rules."""

from __future__ import annotations

import pytest

from behaviors.memory_shop import InMemoryShop, order_id_for
from behaviors.shop import Product, Shop, ShopRejected, WalletCoupon

PRODUCTS = [
    Product(1, "apple", "produce", "orchard", 300, store_id=1),
    Product(2, "milk", "dairy", "moo", 250, store_id=1),
    Product(3, "cheese", "dairy", "moo", 900, store_id=2),
    Product(4, "chips", "snacks", "crunch", 400, store_id=2),
]
FRONT = WalletCoupon(10, 1, "frontstore", "percent", 10, 0)
DAIRY = WalletCoupon(11, 2, "category_brand", "amount", 200, 0, category="dairy")
BIG_SPEND = WalletCoupon(12, 3, "frontstore", "amount", 500, 5_000)


def shop(wallet=None, **kw) -> InMemoryShop:
    return InMemoryShop(PRODUCTS, wallet if wallet is not None else [FRONT, DAIRY, BIG_SPEND], **kw)


def test_implements_the_shop_protocol():
    assert isinstance(shop(), Shop)


def test_catalog_pages_filter_and_share_product_objects():
    a, b = shop(), shop()
    assert [p.id for p in a.catalog_page(category="dairy")] == [2, 3]
    assert [p.id for p in a.catalog_page(brand="crunch")] == [4]
    assert [p.id for p in a.catalog_page(limit=2, offset=1)] == [2, 3]
    assert a.catalog_page(category="dairy")[0] is b.catalog_page(category="dairy")[0] is PRODUCTS[1]
    assert a.categories() == ["dairy", "produce", "snacks"]


def test_store_scoping():
    s = shop(store_id=2)
    assert [p.id for p in s.catalog_page(category="dairy")] == [3]
    assert [p.id for p in s.catalog_page(store_id=1)] == [1, 2]


def test_cart_add_remove_and_totals():
    s = shop()
    s.cart_add(1, 2)
    cart = s.cart_add(1)
    assert cart.item_count == 3 and cart.subtotal_cents == 900
    cart = s.cart_add(2)
    assert cart.item_count == 4 and cart.total_cents == 1150
    cart = s.cart_remove(1)
    assert [ln.product_id for ln in cart.lines] == [2]
    s.cart_clear()
    assert s.cart().lines == ()


@pytest.mark.parametrize("pid,qty,reason", [(99, 1, "unknown_product"), (1, 0, "bad_quantity")])
def test_bad_cart_adds_are_rejected(pid, qty, reason):
    with pytest.raises(ShopRejected) as exc:
        shop().cart_add(pid, qty)
    assert exc.value.reason == reason


def test_coupon_rules():
    s = shop()
    with pytest.raises(ShopRejected, match="empty_cart"):
        s.apply_coupon(FRONT.user_coupon_id)
    s.cart_add(1)
    with pytest.raises(ShopRejected, match="no_matching_item"):
        s.apply_coupon(DAIRY.user_coupon_id)
    with pytest.raises(ShopRejected, match="min_spend"):
        s.apply_coupon(BIG_SPEND.user_coupon_id)
    with pytest.raises(ShopRejected, match="foreign_coupon"):
        s.apply_coupon(999)
    cart = s.apply_coupon(FRONT.user_coupon_id)
    assert cart.discount_cents == 30 and cart.total_cents == 270
    s.cart_add(2)
    cart = s.apply_coupon(DAIRY.user_coupon_id)
    assert cart.applied_user_coupon_id == DAIRY.user_coupon_id
    assert cart.discount_cents == 200 and cart.total_cents == 350


def test_applied_coupon_drops_when_the_cart_no_longer_qualifies():
    s = shop()
    s.cart_add(2)
    s.apply_coupon(DAIRY.user_coupon_id)
    cart = s.cart_remove(2)
    assert cart.applied_user_coupon_id is None and cart.discount_cents == 0


def test_checkout_is_idempotent_per_key_and_redeems_the_coupon():
    s = shop()
    with pytest.raises(ShopRejected, match="empty_cart"):
        s.checkout("k0")
    s.cart_add(2, 2)
    s.apply_coupon(DAIRY.user_coupon_id)
    order = s.checkout("k1")
    assert order.total_cents == 300 and order.discount_cents == 200 and order.item_count == 2
    assert order.order_id == order_id_for("k1")
    assert s.cart().lines == ()
    assert DAIRY.user_coupon_id not in {c.user_coupon_id for c in s.wallet()}
    assert s.redeemed == [DAIRY.user_coupon_id]
    s.cart_add(1)
    assert s.checkout("k1") == order  # same key → same order, never a second one
    assert len(s.orders) == 1
    assert s.cart().item_count == 1


def test_view_coupon_counts_and_rejects_foreign():
    s = shop()
    s.view_coupon(FRONT.user_coupon_id)
    s.view_coupon(FRONT.user_coupon_id)
    assert s.viewed_coupons == {FRONT.user_coupon_id: 2}
    with pytest.raises(ShopRejected):
        s.view_coupon(12345)


def test_set_wallet_replaces_coupons():
    s = shop()
    s.set_wallet([FRONT])
    assert [c.user_coupon_id for c in s.wallet()] == [FRONT.user_coupon_id]


def test_order_ids_are_stable_across_processes_by_construction():
    assert order_id_for("run:1:5") == order_id_for("run:1:5") != order_id_for("run:1:6")
    assert 0 < order_id_for("x") < 2**48
