"""When a persona shops: ``decide_shop`` over the 168 hours of a simulated week.

Each hour of the week gets a habit weight from the persona's preferred days, preferred time
of day and weekday/weekend affinities; churn risk weakens the habit (flattens the weights
towards uniform). The weights are then scaled so that the hourly shopping probabilities
sum to ``shopping_frequency``: **the expected sessions per simulated week equal the
configured frequency** (issue 6). Hours whose scaled weight would exceed 1 are capped at 1
and the remainder is spread over the other hours ("water filling"), so even 14 sessions a
week concentrated on one preferred day keep their expectation.

Coupons: when the agent knows of relevant coupons in its wallet, the hour's probability is
lifted by at most ``COUPON_LIFT_MAX`` (×1.5), in proportion to discount sensitivity and
coupon affinity and damped by churn risk. The lift is bounded and recorded in every
decision, so calibration compares realized sessions with the lifted expectation.

Idle browsing (seed 002 §8.2: idle agents view products without cart activity): in an hour
without shopping, an agent browses with a probability that follows the same weekly rhythm,
about ``IDLE_PER_WEEK_MAX × impulsivity`` times a week.

One uniform draw decides the hour: ``draw < p_shop`` → shop; else
``draw < p_shop + (1 − p_shop) × p_idle`` → idle; else none.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

# The week is the calendar's; re-exported because the rules and their tests read it here.
from offer_engine.calendar import HOURS_PER_WEEK as HOURS_PER_WEEK
from offer_engine.calendar import hour_of_week as hour_of_week
from personas.model import TIME_OF_DAY_HOURS, WEEKDAYS, Persona

PREFERRED_DAY_WEIGHT = 3.0
"""A preferred day's hours weigh this much more than other days' of the same kind."""
PREFERRED_HOUR_WEIGHT = 6.0
"""Hours of the preferred time of day."""
AWAKE_HOUR_WEIGHT = 1.0
"""Other hours from 07:00 to 21:59."""
ASLEEP_HOUR_WEIGHT = 0.1
"""Other night hours — people rarely shop at 4 am unless they prefer the night."""
AFFINITY_FLOOR = 0.05
"""Added to weekday/weekend affinity so a 0 affinity makes those days rare, not impossible
(and both 0 is still a valid persona)."""
CHURN_FLATTEN = 0.6
"""Share of the habit replaced by uniform weights at churn risk 1."""
IDLE_PER_WEEK_MAX = 7.0
"""Idle browses per week at impulsivity 1 (about one a day)."""
COUPON_LIFT_MAX = 0.5
"""Largest relative raise of the chance to shop that relevant coupons can cause."""
COUPON_SATURATION = 3
"""Relevant coupons beyond this many add no further lift."""

ShopKind = Literal["none", "idle", "shop"]


@dataclass(frozen=True, slots=True)
class ShopDecision:
    """What an agent does in one simulated hour, with the numbers that decided it."""

    kind: ShopKind
    hour_of_week: int
    p_shop_base: float
    coupon_lift: float
    p_shop: float
    p_idle: float
    draw: float
    relevant_coupons: int

    def as_payload(self) -> dict[str, Any]:
        """The decision's inputs as a JSON-ready dict (event payloads, HourResult)."""
        return {
            "rule": "decide_shop",
            "decision": self.kind,
            "hour_of_week": self.hour_of_week,
            "p_shop_base": round(self.p_shop_base, 6),
            "coupon_lift": round(self.coupon_lift, 6),
            "p_shop": round(self.p_shop, 6),
            "p_idle": round(self.p_idle, 6),
            "draw": round(self.draw, 6),
            "relevant_coupons": self.relevant_coupons,
        }


def _hour_weights(tod: str) -> list[float]:
    preferred = {h % 24 for h in TIME_OF_DAY_HOURS[tod]}
    out = []
    for h in range(24):
        if h in preferred:
            out.append(PREFERRED_HOUR_WEIGHT)
        elif 7 <= h <= 21:
            out.append(AWAKE_HOUR_WEIGHT)
        else:
            out.append(ASLEEP_HOUR_WEIGHT)
    return out


def habit_weights(
    days: tuple[str, ...], tod: str, weekday_aff: float, weekend_aff: float, churn: float
) -> list[float]:
    """Relative weights of the 168 hours of a week (mean 1), before normalization."""
    hours = _hour_weights(tod)
    raw: list[float] = []
    for d, day in enumerate(WEEKDAYS):
        base = (weekend_aff if d >= 5 else weekday_aff) + AFFINITY_FLOOR
        day_w = base * (PREFERRED_DAY_WEIGHT if day in days else 1.0)
        raw.extend(day_w * hw for hw in hours)
    mean = sum(raw) / HOURS_PER_WEEK
    flat = CHURN_FLATTEN * churn
    return [(1.0 - flat) * w / mean + flat for w in raw]


def water_fill(weights: list[float], total: float) -> list[float]:
    """Probabilities ``min(1, s·w)`` whose sum is ``total`` (needs ``total`` ≤ len).

    Hours that would exceed 1 are fixed at 1 and the scale is recomputed over the rest.
    """
    n = len(weights)
    if total <= 0:
        return [0.0] * n
    if total >= n:
        return [1.0] * n
    # The usual case, no hour saturates: one pass (the loop below gives the same floats; it
    # cost ~0.3 ms per persona, paid by 10,000 agents in their first hour; issue 10).
    scale = total / sum(weights)
    if scale * max(weights) < 1.0:
        return [scale * w for w in weights]
    capped: set[int] = set()
    while True:
        free_w = sum(w for i, w in enumerate(weights) if i not in capped)
        scale = (total - len(capped)) / free_w
        newly = {i for i, w in enumerate(weights) if i not in capped and scale * w >= 1.0}
        if not newly:
            return [1.0 if i in capped else scale * w for i, w in enumerate(weights)]
        capped |= newly


@lru_cache(maxsize=32768)
def week_profile(
    frequency: float,
    days: tuple[str, ...],
    tod: str,
    weekday_aff: float,
    weekend_aff: float,
    churn: float,
    impulsivity: float,
) -> tuple[array, array]:
    """Per hour of week: (p_shop without coupons, p_idle given no shopping).

    Cached per distinct rhythm (two compact float arrays, ~2.7 KB), so ``decide_shop``
    costs a lookup and a draw — most agent-hours end there.
    """
    weights = habit_weights(days, tod, weekday_aff, weekend_aff, churn)
    p_shop = water_fill(weights, min(frequency, float(HOURS_PER_WEEK)))
    idle_total = IDLE_PER_WEEK_MAX * impulsivity
    p_idle = water_fill(weights, idle_total)
    return array("d", p_shop), array("d", p_idle)


def profile_for(persona: Persona) -> tuple[array, array]:
    """``week_profile`` for a persona."""
    return week_profile(
        persona.shopping_frequency,
        persona.preferred_days,
        persona.preferred_time_of_day,
        persona.weekday_affinity,
        persona.weekend_affinity,
        persona.churn_risk,
        persona.impulsivity,
    )


def coupon_lift(persona: Persona, relevant_coupons: int) -> float:
    """Relative raise of the chance to shop from ``relevant_coupons`` known coupons.

    ``COUPON_LIFT_MAX × mean(discount_sensitivity, coupon_affinity) × saturation ×
    (1 − churn_risk / 2)``: bounded by ``COUPON_LIFT_MAX``; 0 without coupons.
    """
    if relevant_coupons <= 0:
        return 0.0
    saturation = min(relevant_coupons, COUPON_SATURATION) / COUPON_SATURATION
    drive = 0.5 * (persona.discount_sensitivity + persona.coupon_affinity)
    return COUPON_LIFT_MAX * drive * saturation * (1.0 - 0.5 * persona.churn_risk)


def decide_shop(
    persona: Persona,
    *,
    sim_time: datetime,
    rng: random.Random,
    relevant_coupons: int = 0,
) -> ShopDecision:
    """Whether the persona shops, browses idly or does nothing in the hour of ``sim_time``.

    Args:
        persona: The shopper.
        sim_time: A simulated time inside the hour (its weekday and hour are used).
        rng: The hour's random stream; exactly one draw is taken.
        relevant_coupons: Coupons the agent knows of (last wallet it saw) that match it.

    Returns:
        The decision with ``p_shop_base`` (normalized to the weekly frequency), the coupon
        lift, the final ``p_shop`` (≤ 1), ``p_idle`` and the draw.
    """
    how = hour_of_week(sim_time)
    p_shop_tab, p_idle_tab = profile_for(persona)
    base = p_shop_tab[how]
    lift = coupon_lift(persona, relevant_coupons) if base > 0.0 else 0.0
    p_shop = min(1.0, base * (1.0 + lift))
    p_idle = p_idle_tab[how]
    draw = rng.random()
    if draw < p_shop:
        kind: ShopKind = "shop"
    elif draw < p_shop + (1.0 - p_shop) * p_idle:
        kind = "idle"
    else:
        kind = "none"
    return ShopDecision(kind, how, base, lift, p_shop, p_idle, draw, relevant_coupons)
