"""Calibration: do agents do what their personas say? (docs/ARCHITECTURE.md, Personas)

Every persona lives N simulated weeks on its own ``InMemoryShop`` in virtual time (no
clock, no sleeping: as fast as the CPU allows). Every hour takes the pure ``decide_shop``
decision on the hour's own random stream, exactly as ``run_agent_hour`` starts; every
*shopping* hour then goes through ``run_agent_hour`` itself — the harness's entry point and
the real LangGraph graph — so what is calibrated is what the load test runs. Idle hours are
counted from the decision but not run through the graph: their views have no calibrated
counterpart and the graph is the CPU cost (it would double the run time). The wallet is refreshed each simulated week
(an offer cycle) by ``wallet_factory``; like the harness, the agent only knows the coupons
of the last wallet it looked at (``relevant_coupons``).

Realized counts are compared with the expectations the rules recorded in their decisions
(see ``behaviors.calibration_report`` for the tolerance).
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from behaviors.calibration_report import (
    DEFAULT_ALPHA,
    CalibrationReport,
    Tally,
    build_checks,
)
from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.offers import count_relevant_coupons
from behaviors.rhythm import HOURS_PER_WEEK, IDLE_PER_WEEK_MAX, decide_shop
from behaviors.run import HourResult, hour_rng, run_agent_hour
from behaviors.shop import Product, WalletCoupon
from behaviors.synthetic import weekly_wallet
from offer_engine.calendar import slot_time
from personas.model import Persona

CALIBRATION_START = datetime(2025, 1, 6, tzinfo=UTC)
"""A Monday 00:00 UTC: simulated week k starts k weeks later."""

METRICS: dict[str, tuple[str, float]] = {
    "sessions": ("per week", 0.0),
    "idle browses": ("per week", 0.0),
    "products viewed": ("per session", 1.0),
    "basket items (intended)": ("per basket", 1.0),
    "abandonment": ("rate", 0.0),
    "wallet opened": ("rate", 0.0),
    "coupon applied": ("rate when eligible", 0.0),
}
"""Metric → (unit, display offset). Sizes are tallied as ``size − 1`` (Poisson part)."""

WalletFactory = Callable[[Persona, int], list[WalletCoupon]]
SessionHook = Callable[[Persona, int, datetime, HourResult], None]


def sensitivity_band(x: float) -> str:
    """Discount-sensitivity band: low (< 1/3), mid, high (≥ 2/3)."""
    return "low" if x < 1 / 3 else "mid" if x < 2 / 3 else "high"


def slot_seconds(persona_id: str, seed: int) -> int:
    """The agent's stable offset inside each hour (seconds), as the harness does."""
    digest = hashlib.blake2b(f"{seed}:{persona_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest) % 3600


class _Tallies:
    def __init__(self) -> None:
        self.t: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.invariants = {
            "budget exceeded": 0,
            "basket lost items": 0,
            "chosen coupon rejected": 0,
            "failed hours": 0,
            "decision not reproduced": 0,
        }

    def bern(self, metric: str, groups: tuple[str, ...], p: float, hit: bool, cfg: float) -> None:
        for g in groups:
            t = self.t[(metric, g)]
            t.units += 1
            t.realized += 1.0 if hit else 0.0
            t.expected += p
            t.variance += p * (1.0 - p)
            t.configured += cfg

    def pois(
        self, metric: str, groups: tuple[str, ...], mean: float, size: int, cfg: float, info: int
    ) -> None:
        lam = max(0.0, mean - 1.0)
        for g in groups:
            t = self.t[(metric, g)]
            t.units += 1
            t.realized += size - 1
            t.expected += lam
            t.variance += lam
            t.configured += cfg
            t.realized_info += info


def _record_session(
    tal: _Tallies, persona: Persona, r: HourResult, groups: tuple[str, ...]
) -> None:
    steps = r.steps
    band = ("all", f"ds {sensitivity_band(persona.discount_sensitivity)}", groups[1])
    browse = steps.get("browse_products")
    # Sizes are Poisson given the session's trip scale m (mean 1, behaviors.browsing): each
    # is tallied against its recorded conditional mean 1 + m·(attribute − 1).
    m = browse.get("trip_scale", 1.0) if browse is not None else 1.0
    if browse is not None:
        tal.pois(
            "products viewed",
            groups,
            1.0 + m * (persona.browse_depth - 1.0),
            browse["target_views"],
            persona.browse_depth,
            0,
        )
    basket = steps.get("add_to_cart")
    if basket is not None:
        tal.pois(
            "basket items (intended)",
            groups,
            1.0 + m * (persona.avg_basket_size - 1.0),
            basket["target_items"],
            persona.avg_basket_size,
            r.item_count,
        )
        if basket["spend_cents"] > persona.budget_per_trip:
            tal.invariants["budget exceeded"] += 1
        if browse and browse["views"] and not basket["budget_cut"]:
            if r.item_count != basket["target_items"] and r.outcome != "failed":
                tal.invariants["basket lost items"] += 1
    wallet = steps.get("open_wallet")
    if wallet is not None:
        tal.bern("wallet opened", band, wallet["p_open"], wallet["open"], persona.coupon_affinity)
    coupon = steps.get("choose_coupon")
    if coupon is not None and coupon["p_apply"] > 0:
        chosen = coupon["chosen"] is not None
        tal.bern("coupon applied", band, coupon["p_apply"], chosen, persona.discount_sensitivity)
        if chosen and not r.coupon_applied:
            tal.invariants["chosen coupon rejected"] += 1
    checkout = steps.get("decide_checkout")
    if checkout is not None:
        tal.bern(
            "abandonment",
            groups,
            checkout["p_abandon"],
            checkout["decision"] == "abandon",
            persona.cart_abandonment_rate,
        )


def calibrate(
    personas: Sequence[Persona],
    *,
    weeks: int,
    seed: int,
    products: list[Product],
    wallet_factory: WalletFactory = weekly_wallet,
    alpha: float = DEFAULT_ALPHA,
    store_ids: Mapping[str, int] | None = None,
    on_session: SessionHook | None = None,
) -> CalibrationReport:
    """Run every persona through ``weeks`` simulated weeks and compare with its attributes.

    Args:
        personas: The population (e.g. the shipped 372-persona sample).
        weeks: Simulated weeks per persona (≥ 8 for the acceptance run).
        seed: The run seed (same seed → same report).
        products: The catalog, shared by every agent's in-memory shop.
        wallet_factory: ``(persona, week) → coupons`` for each weekly offer cycle.
        alpha: Family error of the report's tests (see ``calibration_report``).
        store_ids: Store code → id; when given, each agent browses its preferred store's
            products only (as the harness's shops do).
        on_session: called with ``(persona, sim_hour, slot_time, result)`` after every
            shopping hour — ``loadsim realism --offline`` collects its orders this way, so
            realism is scored on exactly the runs calibration checks.

    Returns:
        The report: checks overall, per segment and per discount-sensitivity band, plus
        hard invariants (budget never exceeded, no lost basket items, …).
    """
    graph = compile_shopping_graph()
    tal = _Tallies()
    t0 = time.perf_counter()
    graph_runs = 0
    for persona in personas:
        groups = ("all", f"segment {persona.segment}")
        store_id = store_ids.get(persona.preferred_store) if store_ids else None
        shop = InMemoryShop(products, store_id=store_id)
        offset_s = slot_seconds(persona.persona_id, seed)
        seen: list[WalletCoupon] | None = None
        for week in range(weeks):
            shop.set_wallet(wallet_factory(persona, week))
            for g in groups:
                tal.t[("sessions", g)].units += 1
                tal.t[("sessions", g)].configured += persona.shopping_frequency
                tal.t[("idle browses", g)].units += 1
                tal.t[("idle browses", g)].configured += IDLE_PER_WEEK_MAX * persona.impulsivity
            relevant = count_relevant_coupons(persona, seen)
            for h in range(HOURS_PER_WEEK):
                sim_hour = week * HOURS_PER_WEEK + h
                slot = slot_time(CALIBRATION_START, sim_hour, offset_s)
                # The same pure rule run_agent_hour starts with, on the same random stream:
                # only shopping hours need the graph (idle browses are counted, not run).
                d = decide_shop(
                    persona,
                    sim_time=slot,
                    rng=hour_rng(seed, persona.persona_id, sim_hour),
                    relevant_coupons=relevant,
                )
                _hour(tal, groups, d.p_shop, d.p_idle, d.kind)
                if d.kind != "shop":
                    continue
                r = run_agent_hour(
                    persona,
                    run_seed=seed,
                    sim_hour=sim_hour,
                    slot_time=slot,
                    shop=shop,
                    checkout_key=f"cal:{seed}:{persona.persona_id}:{sim_hour}",
                    relevant_coupons=relevant,
                    graph=graph,
                )
                graph_runs += 1
                if r.decision != "shop":
                    tal.invariants["decision not reproduced"] += 1
                if r.outcome == "failed":
                    tal.invariants["failed hours"] += 1
                _record_session(tal, persona, r, groups)
                if on_session is not None:
                    on_session(persona, sim_hour, slot, r)
                if r.wallet_seen is not None:
                    seen = r.wallet_seen
                    relevant = count_relevant_coupons(persona, seen)
    report = CalibrationReport(
        personas=len(personas),
        weeks=weeks,
        seed=seed,
        alpha=alpha,
        checks=build_checks(dict(tal.t), metric_kinds=METRICS, alpha=alpha),
        invariants=tal.invariants,
        graph_runs=graph_runs,
        agent_hours=len(personas) * weeks * HOURS_PER_WEEK,
        seconds=time.perf_counter() - t0,
    )
    return report


def _hour(tal: _Tallies, groups: tuple[str, ...], p_shop: float, p_idle: float, kind: str) -> None:
    p_i = (1.0 - p_shop) * p_idle
    for g in groups:
        s = tal.t[("sessions", g)]
        s.realized += kind == "shop"
        s.expected += p_shop
        s.variance += p_shop * (1.0 - p_shop)
        i = tal.t[("idle browses", g)]
        i.realized += kind == "idle"
        i.expected += p_i
        i.variance += p_i * (1.0 - p_i)
