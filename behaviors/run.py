"""``run_agent_hour``: THE entry point the harness calls once per agent per simulated hour.

Cost model: most agent-hours do nothing (a persona shopping 3×/week shops in ~2 % of
hours). So the pure ``decide_shop`` rule runs first in plain Python (a few µs) and the hour
ends there when the decision is "none"; only "shop" and "idle" hours pay for the LangGraph
invoke (~1.5–3 ms). The graph reuses the decision already drawn, so the random stream —
``random.Random(f"{run_seed}:{persona_id}:{sim_hour}")``, never ``hash()`` — and therefore
every decision is identical across processes for the same seed, persona and hour.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from behaviors.graph import GRAPH_CONFIG, HourContext, compile_shopping_graph
from behaviors.rhythm import decide_shop
from behaviors.shop import BehaviorEvent, Order, Shop, ShopUnavailable, WalletCoupon
from personas.model import Persona


@dataclass(slots=True)
class HourResult:
    """What one agent did in one simulated hour.

    Attributes:
        decision: ``"none"`` | ``"idle"`` | ``"shop"``.
        outcome: ``"none"`` | ``"idle"`` | ``"completed"`` | ``"abandoned"`` | ``"failed"``.
        abandon_reason: Why the session ended without an order (``"decided"``,
            ``"over_budget"``, ``"empty_cart"``, ``"checkout_rejected:<reason>"``,
            ``"shop_unavailable:<kind>"``), else ``None``.
        events: Behavior events in order (the harness stores them with seq 0..n-1).
        order: The order of a completed session.
        item_count: Items in the cart when the session ended (before checkout cleared it).
        cart_value_cents: The cart's total at that point (after discount).
        discount_cents: The applied coupon's discount.
        coupon_applied: Whether a coupon discounted the cart.
        wallet_seen: The wallet when the agent looked at it this hour, else ``None`` (the
            harness caches it to compute ``relevant_coupons`` for later hours).
        error: The ``ShopUnavailable`` that stopped a failed flow.
        probabilities: decide_shop's inputs (p_shop_base, coupon_lift, p_shop, p_idle, draw…).
        steps: Every rule's decision payload by rule name (calibration and debugging).
    """

    decision: str
    outcome: str
    abandon_reason: str | None = None
    events: list[BehaviorEvent] = field(default_factory=list)
    order: Order | None = None
    item_count: int = 0
    cart_value_cents: int = 0
    discount_cents: int = 0
    coupon_applied: bool = False
    wallet_seen: list[WalletCoupon] | None = None
    error: ShopUnavailable | None = None
    probabilities: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, Any] = field(default_factory=dict)


def hour_rng(run_seed: int, persona_id: str, sim_hour: int) -> random.Random:
    """The hour's random stream, identical in every process for the same inputs."""
    return random.Random(f"{run_seed}:{persona_id}:{sim_hour}")


def run_agent_hour(
    persona: Persona,
    *,
    run_seed: int,
    sim_hour: int,
    slot_time: datetime,
    shop: Shop,
    checkout_key: str,
    relevant_coupons: int = 0,
    graph: Any = None,
) -> HourResult:
    """Run one agent's simulated hour: decide, and when it shops or browses, run the graph.

    Args:
        persona: The agent's persona.
        run_seed: The run's seed (in the manifest).
        sim_hour: Index of the simulated hour (the random stream's key).
        slot_time: The agent's slot inside that hour (aware UTC datetime, simulated).
        shop: The Shop port this agent acts through (HTTP or in memory).
        checkout_key: Idempotency key for this hour's checkout.
        relevant_coupons: Relevant coupons known from the last wallet the agent saw.
        graph: A compiled graph; default ``compile_shopping_graph()`` (cached).

    Returns:
        The hour's ``HourResult``. ``ShopUnavailable`` never escapes: it is in ``error``.
    """
    rng = hour_rng(run_seed, persona.persona_id, sim_hour)
    d = decide_shop(persona, sim_time=slot_time, rng=rng, relevant_coupons=relevant_coupons)
    if d.kind == "none":
        return HourResult(decision="none", outcome="none", probabilities=d.as_payload())
    ctx = HourContext(
        persona=persona,
        shop=shop,
        rng=rng,
        slot_time=slot_time,
        sim_hour=sim_hour,
        checkout_key=checkout_key,
        relevant_coupons=relevant_coupons,
    )
    g = graph if graph is not None else compile_shopping_graph()
    final = g.invoke(
        {"decision": d, "clock": 0, "events": [], "steps": {}}, GRAPH_CONFIG, context=ctx
    )
    return _result(d.kind, final)


def _result(kind: str, s: dict[str, Any]) -> HourResult:
    cart = s.get("cart")
    order: Order | None = s.get("order")
    outcome = s.get("outcome") or ("idle" if kind == "idle" else "none")
    if order is not None:
        items, value, discount = order.item_count, order.total_cents, order.discount_cents
    elif cart is not None:
        items, value, discount = cart.item_count, cart.total_cents, cart.discount_cents
    else:
        items, value, discount = 0, 0, 0
    d = s["decision"]
    return HourResult(
        decision=kind,
        outcome=outcome,
        abandon_reason=s.get("abandon_reason") if outcome in ("abandoned", "failed") else None,
        events=list(s.get("events", [])),
        order=order,
        item_count=items,
        cart_value_cents=value,
        discount_cents=discount,
        coupon_applied=bool(s.get("coupon_applied")),
        wallet_seen=s.get("wallet_seen"),
        error=s.get("error"),
        probabilities=d.as_payload(),
        steps=dict(s.get("steps", {})),
    )
