"""The pure decision rules, in one place: ``(persona, sim time / observations, rng) →
decision with the probabilities it used``: no Locust, HTTP or SQL; decide here, act through the
``Shop``; randomness only from the ``rng`` the caller derives from the run seed.

They take plain values and a caller-owned ``random.Random`` and do no I/O, so they run in
microseconds and are tested without a graph or a shop. The rules live in three modules by
topic; this module is the stable import path the graph, the harness and tests use.
"""

from __future__ import annotations

from behaviors.browsing import (
    BasketDecision,
    BasketLine,
    BrowseDecision,
    add_to_cart,
    browse_products,
    browse_target,
    category_preference,
    category_weights,
    next_category,
    plan_categories,
    product_weight,
    trip_scale,
)
from behaviors.offers import (
    CheckoutDecision,
    CouponDecision,
    WalletDecision,
    choose_coupon,
    count_relevant_coupons,
    decide_checkout,
    is_relevant,
    open_wallet,
)
from behaviors.rhythm import ShopDecision, coupon_lift, decide_shop, hour_of_week, week_profile

view_coupons = open_wallet
"""Alias: the graph's ``view_coupons`` step starts with this decision."""

__all__ = [
    "BasketDecision",
    "BasketLine",
    "BrowseDecision",
    "CheckoutDecision",
    "CouponDecision",
    "ShopDecision",
    "WalletDecision",
    "add_to_cart",
    "browse_products",
    "browse_target",
    "category_preference",
    "category_weights",
    "plan_categories",
    "trip_scale",
    "next_category",
    "choose_coupon",
    "count_relevant_coupons",
    "coupon_lift",
    "decide_checkout",
    "decide_shop",
    "hour_of_week",
    "is_relevant",
    "open_wallet",
    "product_weight",
    "view_coupons",
    "week_profile",
]
