"""An agent's simulated hour in two steps: ``decide_hour`` (pure) then ``play_hour`` (the graph).

Cost model: most agent-hours do nothing (a persona shopping 3×/week shops in ~2 % of
hours). So ``decide_hour`` runs the pure ``decide_shop`` rule in plain Python (a few µs)
and the hour ends there when the decision is "none"; only "shop" and "idle" hours pay for
the LangGraph invoke (~1.5–3 ms) in ``play_hour``. The harness decides first so it can
claim the hour in the database *with the known decision* before anything reaches the API
(``harness.agent.hour``); nothing inside the graph climbs back out to do it.

``play_hour`` continues the random stream ``decide_hour`` started —
``random.Random(f"{run_seed}:{persona_id}:{sim_hour}")``, never ``hash()`` — so every
decision and event is identical across processes, and identical to ``run_agent_hour``
(the two steps in one call, for offline paths: calibration, the golden event stream).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from behaviors.events import SessionPace, paced
from behaviors.graph import HourContext, compile_shopping_graph, run_graph
from behaviors.llm import DecisionPort, LlmSeat, in_llm_share
from behaviors.rhythm import ShopDecision, decide_shop
from behaviors.sampling import KeyedRandom
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
    """The hour's random stream, identical in every process for the same inputs.

    A ``KeyedRandom`` (same stream as ``random.Random`` of the key): ``decide_shop``'s day
    plan derives the agent's day stream from its key (``behaviors.rhythm``)."""
    return KeyedRandom(f"{run_seed}:{persona_id}:{sim_hour}")


@dataclass(slots=True)
class HourDecision:
    """What ``decide_hour`` drew for one agent-hour, and what ``play_hour`` needs to go on.

    ``rng`` has taken exactly the decision's one draw; ``play_hour`` continues it, so an
    ``HourDecision`` is played at most once.
    """

    persona: Persona
    run_seed: int
    sim_hour: int
    slot_time: datetime
    relevant_coupons: int
    decision: ShopDecision
    rng: random.Random

    @property
    def kind(self) -> str:
        """``"none"`` | ``"idle"`` | ``"shop"``."""
        return self.decision.kind

    @property
    def probabilities(self) -> dict[str, Any]:
        """decide_shop's inputs and draw (p_shop_base, coupon_lift, p_shop, p_idle, draw…)."""
        return self.decision.as_payload()


def decide_hour(
    persona: Persona,
    *,
    run_seed: int,
    sim_hour: int,
    slot_time: datetime,
    relevant_coupons: int = 0,
) -> HourDecision:
    """Whether the agent shops, browses idly or does nothing this hour (pure, a few µs).

    Args:
        persona: The agent's persona.
        run_seed: The run's seed (in the manifest).
        sim_hour: Index of the simulated hour (the random stream's key).
        slot_time: The agent's slot inside that hour (aware UTC datetime, simulated).
        relevant_coupons: Relevant coupons known from the last wallet the agent saw.

    Returns:
        The decision with its probabilities and the hour's random stream.
    """
    rng = hour_rng(run_seed, persona.persona_id, sim_hour)
    d = decide_shop(persona, sim_time=slot_time, rng=rng, relevant_coupons=relevant_coupons)
    return HourDecision(persona, run_seed, sim_hour, slot_time, relevant_coupons, d, rng)


def play_hour(
    hd: HourDecision,
    *,
    shop: Shop,
    checkout_key: str,
    graph: Any = None,
    pace: SessionPace | None = None,
    llm: DecisionPort | None = None,
    llm_share: float = 0.0,
) -> HourResult:
    """Play a decided hour through the shopping graph (nothing to play for ``"none"``).

    Args:
        hd: ``decide_hour``'s result (its random stream goes on here).
        shop: The Shop port this agent acts through (HTTP or in memory).
        checkout_key: Idempotency key for this hour's checkout.
        graph: A compiled graph; default ``compile_shopping_graph()`` (cached).
        pace: The harness's pacing of this session (``behaviors.events.paced``): told of
            every event as it is stamped. ``None`` (offline): events exactly as always.
        llm: A model port (``behaviors.llm``); ``None``: rules only, payloads unchanged.
        llm_share: The share of sessions the model decides (``in_llm_share``).

    Returns:
        The hour's ``HourResult``. ``ShopUnavailable`` never escapes: it is in ``error``.
    """
    if hd.kind == "none":
        return HourResult(decision="none", outcome="none", probabilities=hd.probabilities)
    ctx = HourContext(
        persona=hd.persona,
        shop=shop,
        rng=hd.rng,
        slot_time=hd.slot_time,
        sim_hour=hd.sim_hour,
        checkout_key=checkout_key,
        relevant_coupons=hd.relevant_coupons,
        llm=None if llm is None else LlmSeat(llm, _chosen(hd, llm_share)),
    )
    g = graph if graph is not None else compile_shopping_graph()
    state = {"decision": hd.decision, "clock": 0, "events": [], "steps": {}}
    with paced(pace):
        final = run_graph(g, state, context=ctx)
    return _result(hd.kind, final)


def _chosen(hd: HourDecision, share: float) -> bool:
    return in_llm_share(hd.run_seed, hd.persona.persona_id, hd.sim_hour, share)


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
    """``decide_hour`` then ``play_hour`` in one call (offline paths: calibration, tests).

    The harness calls the two steps itself, claiming the hour in between.
    """
    hd = decide_hour(
        persona,
        run_seed=run_seed,
        sim_hour=sim_hour,
        slot_time=slot_time,
        relevant_coupons=relevant_coupons,
    )
    return play_hour(hd, shop=shop, checkout_key=checkout_key, graph=graph)


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
