"""The shopping graph's state, per-invocation context and nodes (wired in ``behaviors.graph``).

Each node calls the pure rules (``behaviors.rules``), acts through the ``Shop`` port of the
context and returns its behavior events; a ``ShopUnavailable`` is returned in ``error`` for
the routers to send to ``abandon``.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypedDict

from langgraph.runtime import Runtime

from behaviors import llm as model
from behaviors import rules
from behaviors.events import EventClock
from behaviors.llm import LlmSeat, decide_basket
from behaviors.shop import (
    BehaviorEvent,
    Cart,
    Order,
    Product,
    Shop,
    ShopRejected,
    ShopUnavailable,
)
from personas.model import Persona

PAGE_LIMIT = 50
"""Products per catalog page request."""
IDLE_DEPTH_SHARE = 1 / 3
"""An idle browse views about this share of ``browse_depth``."""


@dataclass(slots=True)
class HourContext:
    """Per-invocation context: who acts, when, on what, with which random stream."""

    persona: Persona
    shop: Shop
    rng: random.Random
    slot_time: datetime
    sim_hour: int
    checkout_key: str
    relevant_coupons: int = 0
    llm: LlmSeat | None = None  # None: rules only, payloads exactly as without a model


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    return {**left, **right}


class HourState(TypedDict, total=False):
    """The graph's state. ``events`` and ``steps`` accumulate across nodes."""

    decision: rules.ShopDecision | None
    clock: int
    events: Annotated[list[BehaviorEvent], operator.add]
    steps: Annotated[dict[str, Any], _merge]
    viewed: tuple[Any, ...]
    cart: Cart | None
    coupon_applied: bool
    wallet_seen: list[Any] | None
    checkout: rules.CheckoutDecision | None
    outcome: str
    abandon_reason: str | None
    order: Order | None
    error: ShopUnavailable | None


# nodes -------------------------------------------------------------------------------
def decide_shop(state: HourState, runtime: Runtime[HourContext]) -> dict[str, Any]:
    """Take the hour's decision (or reuse the one ``run_agent_hour`` already drew)."""
    ctx = runtime.context
    d = state.get("decision") or rules.decide_shop(
        ctx.persona,
        sim_time=ctx.slot_time,
        rng=ctx.rng,
        relevant_coupons=ctx.relevant_coupons,
    )
    out: dict[str, Any] = {"decision": d, "steps": {"decide_shop": d.as_payload()}}
    if d.kind == "shop":
        clock = EventClock(ctx.slot_time, state.get("clock", 0))
        out["events"] = [clock.event("session_start", d.as_payload())]
        out["clock"] = clock.seconds
    return out


def _browse(
    ctx: HourContext,
    clock: EventClock,
    depth_share: float,
    scale: float = 1.0,
    ahead: Callable[[tuple[Product, ...]], None] | None = None,
) -> tuple[dict[str, Any], rules.BrowseDecision, list[BehaviorEvent]]:
    """Plan each view's category, open those category pages (topped up by
    ``next_category`` when they hold too few products), then view by preference
    (``ahead`` is told what will be viewed before the views)."""
    persona, rng = ctx.persona, ctx.rng
    target = rules.browse_target(persona, rng, depth_share=depth_share, scale=scale)
    categories = ctx.shop.categories()
    planned = rules.plan_categories(persona, categories, target, rng)
    opened: list[str] = list(dict.fromkeys(planned))
    pages = [ctx.shop.catalog_page(category=c, limit=PAGE_LIMIT) for c in opened]
    available = sum(len(p) for p in pages)
    while available < target:
        c = rules.next_category(persona, categories, opened, rng)
        if c is None:
            break
        opened.append(c)
        page = ctx.shop.catalog_page(category=c, limit=PAGE_LIMIT)
        pages.append(page)
        available += len(page)
    index = {c: i for i, c in enumerate(opened)}
    plan = [index[c] for c in planned]
    browse = rules.browse_products(persona, pages, rng, target=target, plan=plan)
    if ahead is not None:
        ahead(browse.products)
    common = {
        **browse.as_payload(),
        "categories": opened,
        "trip_scale": scale,
    }
    events = [
        clock.event(
            "view_product",
            {**common, "rank": i, "weight": round(w, 6), "category": p.category},
            product_id=p.id,
            price_cents=p.price_cents,
        )
        for i, (p, w) in enumerate(zip(browse.products, browse.weights, strict=True))
    ]
    return common, browse, events


def browse_products(state: HourState, runtime: Runtime[HourContext]) -> dict[str, Any]:
    """Open category pages and view products (``view_product`` events)."""
    ctx = runtime.context
    clock = EventClock(ctx.slot_time, state.get("clock", 0))
    scale = rules.trip_scale(ctx.rng)
    try:
        common, browse, events = _browse(ctx, clock, 1.0, scale, _basket_ahead(ctx, scale))
    except ShopUnavailable as exc:
        return {"error": exc}
    return {
        "viewed": browse.products,
        "events": events,
        "clock": clock.seconds,
        "steps": {"browse_products": common},
    }


def _basket_ahead(ctx: HourContext, scale: float) -> Callable[[tuple[Product, ...]], None] | None:
    """A model-decided session whose port can ask ahead (the harness's paced one) asks its
    basket question as soon as the viewed products are known, so the model answers while
    the views take their time. The rule's basket the question carries is drawn from a copy
    of the hour's random stream (the same draws ``add_to_cart`` makes next): the stream
    itself is untouched."""
    seat = ctx.llm
    ahead = getattr(seat.port, "ahead", None) if seat is not None and seat.chosen else None
    if ahead is None:
        return None

    def ask(viewed: tuple[Product, ...]) -> None:
        preview = random.Random()
        preview.setstate(ctx.rng.getstate())
        rule = rules.add_to_cart(ctx.persona, viewed, preview, scale=scale)
        if viewed and rule.lines:
            ahead(model.basket_question(ctx.persona, viewed, rule))

    return ask


def idle_browse(state: HourState, runtime: Runtime[HourContext]) -> dict[str, Any]:
    """An hour without shopping that still browses: ``idle_browse`` + a few views."""
    ctx = runtime.context
    d = state["decision"]
    assert d is not None
    clock = EventClock(ctx.slot_time, state.get("clock", 0))
    events = [clock.event("idle_browse", d.as_payload())]
    try:
        common, _, views = _browse(ctx, clock, IDLE_DEPTH_SHARE)
    except ShopUnavailable as exc:
        return {"error": exc, "events": events, "clock": clock.seconds}
    return {
        "events": events + views,
        "clock": clock.seconds,
        "outcome": "idle",
        "steps": {"idle_browse": common},
    }


def add_to_cart(state: HourState, runtime: Runtime[HourContext]) -> dict[str, Any]:
    """Put the basket in the cart (``cart_add_item`` events), within the budget."""
    ctx = runtime.context
    clock = EventClock(ctx.slot_time, state.get("clock", 0))
    scale = state.get("steps", {}).get("browse_products", {}).get("trip_scale", 1.0)
    viewed = state.get("viewed", ())
    basket = rules.add_to_cart(ctx.persona, viewed, ctx.rng, scale=scale)
    decided: dict[str, Any] = {}
    if ctx.llm is not None:  # the rule's basket is drawn first: the same stream either way
        basket, decided = decide_basket(ctx.llm, ctx.persona, viewed, basket)
    payload = {**basket.as_payload(), **decided}
    events: list[BehaviorEvent] = []
    cart: Cart | None = None
    rejected: list[str] = []
    for line in basket.lines:
        try:
            cart = ctx.shop.cart_add(line.product.id, line.quantity)
        except ShopRejected as exc:
            rejected.append(exc.reason)
            continue
        except ShopUnavailable as exc:
            return {"error": exc, "events": events, "clock": clock.seconds}
        events.append(
            clock.event(
                "cart_add_item",
                {**payload, "unplanned": line.unplanned},
                product_id=line.product.id,
                quantity=line.quantity,
                price_cents=line.product.price_cents,
            )
        )
    out: dict[str, Any] = {
        "events": events,
        "clock": clock.seconds,
        "cart": cart,
        "steps": {"add_to_cart": {**payload, "rejected": rejected}},
    }
    if cart is None or not cart.lines:
        out["abandon_reason"] = "over_budget" if basket.budget_cut else "empty_cart"
    return out


def view_coupons(state: HourState, runtime: Runtime[HourContext]) -> dict[str, Any]:
    """Maybe open the wallet, look at coupons, apply the chosen one."""
    ctx = runtime.context
    persona = ctx.persona
    wd = rules.open_wallet(persona, ctx.rng)
    steps: dict[str, Any] = {"open_wallet": wd.as_payload()}
    if not wd.open:
        return {"steps": steps, "coupon_applied": False}
    clock = EventClock(ctx.slot_time, state.get("clock", 0))
    cart = state.get("cart")
    events: list[BehaviorEvent] = []
    applied = False
    try:
        wallet = ctx.shop.wallet()
        cd = rules.choose_coupon(persona, wallet, cart.lines if cart else (), ctx.rng)
        decided: dict[str, Any] = {}
        if ctx.llm is not None:  # the rule's choice is drawn first: the same stream either way
            cd, decided = model.decide_coupon(ctx.llm, persona, wallet, cart, cd)
        values = dict(cd.eligible)
        for cid in cd.viewed:
            try:
                ctx.shop.view_coupon(cid)
            except ShopRejected:  # gone between wallet and view (expired): skip it
                continue
            events.append(
                clock.event(
                    "view_coupon",
                    {**wd.as_payload(), "value_cents": values.get(cid, 0)},
                    user_coupon_id=cid,
                )
            )
        steps["choose_coupon"] = {**cd.as_payload(), **decided}
        if cd.chosen is not None:
            try:
                cart = ctx.shop.apply_coupon(cd.chosen)
                applied = cart.applied_user_coupon_id == cd.chosen
                events.append(
                    clock.event(
                        "apply_coupon",
                        {**cd.as_payload(), **decided},
                        user_coupon_id=cd.chosen,
                        price_cents=cart.discount_cents,
                    )
                )
            except ShopRejected as exc:
                steps["choose_coupon"] = {**cd.as_payload(), **decided, "rejected": exc.reason}
    except ShopUnavailable as exc:
        return {"error": exc, "events": events, "clock": clock.seconds, "steps": steps}
    return {
        "events": events,
        "clock": clock.seconds,
        "cart": cart,
        "coupon_applied": applied,
        "wallet_seen": wallet,
        "steps": steps,
    }


def decide_checkout(state: HourState, runtime: Runtime[HourContext]) -> dict[str, Any]:
    """Complete or abandon (no event of its own: the outcome event carries the inputs)."""
    ctx = runtime.context
    cd = rules.decide_checkout(
        ctx.persona, coupon_applied=state.get("coupon_applied", False), rng=ctx.rng
    )
    if ctx.llm is not None:  # the rule's draw is made first: the same stream either way
        cd = model.decide_checkout(ctx.llm, ctx.persona, state.get("cart"), cd)
    out: dict[str, Any] = {"checkout": cd, "steps": {"decide_checkout": cd.as_payload()}}
    if cd.abandon:
        out["abandon_reason"] = "decided"
    return out


def complete_checkout(state: HourState, runtime: Runtime[HourContext]) -> dict[str, Any]:
    """Order the cart with the hour's idempotency key."""
    ctx = runtime.context
    clock = EventClock(ctx.slot_time, state.get("clock", 0))
    cd = state.get("checkout")
    payload = {**(cd.as_payload() if cd else {}), **_wallet_inputs(state)}
    try:
        order = ctx.shop.checkout(ctx.checkout_key)
    except ShopUnavailable as exc:
        return {"error": exc}
    except ShopRejected as exc:
        _clear(ctx.shop)
        event = clock.event("checkout_failed", {**payload, "reason": exc.reason})
        return {
            "events": [event],
            "clock": clock.seconds,
            "outcome": "abandoned",
            "abandon_reason": f"checkout_rejected:{exc.reason}",
        }
    event = clock.event(
        "checkout_complete",
        {
            **payload,
            "order_id": order.order_id,
            "subtotal_cents": order.subtotal_cents,
            "discount_cents": order.discount_cents,
            "item_count": order.item_count,
        },
        user_coupon_id=order.user_coupon_id,
        quantity=order.item_count,
        price_cents=order.total_cents,
    )
    return {"events": [event], "clock": clock.seconds, "order": order, "outcome": "completed"}


def abandon(state: HourState, runtime: Runtime[HourContext]) -> dict[str, Any]:
    """End the session without an order: clear the cart so the next hour starts fresh."""
    ctx = runtime.context
    _clear(ctx.shop)
    clock = EventClock(ctx.slot_time, state.get("clock", 0))
    error = state.get("error")
    if error is not None:
        reason = f"shop_unavailable:{error.kind}"
        outcome = "failed"
    else:
        reason = state.get("abandon_reason") or "decided"
        outcome = "abandoned"
    cd = state.get("checkout")
    payload = {
        **(cd.as_payload() if cd else {}), **_wallet_inputs(state), **_basket_decider(state),
        "reason": reason,
    }  # fmt: skip
    cart = state.get("cart")
    value = cart.total_cents if cart else None
    decision = state.get("decision")
    if decision is not None and decision.kind == "idle":
        events: list[BehaviorEvent] = []  # an idle hour has no session to abandon
    else:
        events = [clock.event("abandon", payload, price_cents=value)]
    return {
        "events": events,
        "clock": clock.seconds,
        "outcome": outcome,
        "abandon_reason": reason,
    }


def _wallet_inputs(state: HourState) -> dict[str, Any]:
    # The wallet decision has no event of its own when the agent did not open it; the
    # session's last event carries it so a model sees every input of the outcome.
    wd = state.get("steps", {}).get("open_wallet")
    return {"p_open_wallet": wd["p_open"], "wallet_opened": wd["open"]} if wd else {}


def _basket_decider(state: HourState) -> dict[str, Any]:
    # With a model (--llm-url) an empty basket has no cart_add_item to say who decided it:
    # the abandon event does, so the basket is counted with 0 items (reports/llm_report.py).
    step = state.get("steps", {}).get("add_to_cart", {})
    return {"basket_decided_by": step["decided_by"]} if "decided_by" in step else {}


def _clear(shop: Shop) -> None:
    try:
        shop.cart_clear()
    except Exception:  # noqa: BLE001 — best effort by design: ignore
        pass
