"""When a persona shops: ``decide_shop`` over the 168 hours of a simulated week.

The expectation it draws against — the weekly profile and the coupon lift below — is
``personas.expectations`` (shared with ``reports.calibration``, which judges real runs
against it); this module is the decision: one draw per hour.

Each hour of the week gets a habit weight from the persona's preferred days, preferred time
of day and weekday/weekend affinities; churn risk weakens the habit (flattens the weights
towards uniform). The weights are then scaled so that the hourly shopping probabilities
sum to ``shopping_frequency``: **the expected sessions per simulated week equal the
configured frequency**. Hours whose scaled weight would exceed 1 are capped at 1
and the remainder is spread over the other hours ("water filling"), so even 14 sessions a
week concentrated on one preferred day keep their expectation.

Coupons: when the agent knows of relevant coupons in its wallet, the hour's probability is
lifted by at most ``COUPON_LIFT_MAX`` (×1.5), in proportion to discount sensitivity and
coupon affinity and damped by churn risk. The lift is bounded and recorded in every
decision, so calibration compares realized sessions with the lifted expectation.

Idle browsing (the owner's plan: idle agents view products without cart activity): in an hour
without shopping, an agent browses with a probability that follows the same weekly rhythm,
about ``IDLE_PER_WEEK_MAX × impulsivity`` times a week.

One uniform draw decides the hour: ``draw < p_shop`` → shop; else
``draw < p_shop + (1 − p_shop) × p_idle`` → idle; else none.
"""

from __future__ import annotations

import math
import random
from array import array
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

# The week is the calendar's and the expected profile is the personas' (shared with
# reports.calibration); both re-exported because the rules and their tests read them here.
from offer_engine.calendar import HOURS_PER_WEEK as HOURS_PER_WEEK
from offer_engine.calendar import hour_of_week as hour_of_week
from personas.expectations import COUPON_LIFT_MAX as COUPON_LIFT_MAX
from personas.expectations import IDLE_PER_WEEK_MAX as IDLE_PER_WEEK_MAX
from personas.expectations import coupon_lift as coupon_lift
from personas.expectations import profile_for as profile_for
from personas.expectations import water_fill as water_fill
from personas.expectations import week_profile as week_profile
from personas.model import Persona

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
    if base > 0.0:
        draw = _day_planned(rng, sim_time, p_shop_tab, how, base, draw)
    if draw < p_shop:
        kind: ShopKind = "shop"
    elif draw < p_shop + (1.0 - p_shop) * p_idle:
        kind = "idle"
    else:
        kind = "none"
    return ShopDecision(kind, how, base, lift, p_shop, p_idle, draw, relevant_coupons)


DAY_INDEPENDENT_SHARE = 0.2
"""Share of an agent's days whose hours are drawn independently (the rest follow the day
plan): real households do come back the same day sometimes. Scanned 0 / 0.2 / 0.4 on the
derived sample against held-out Complete Journey households (days-between-trips KS
complement 0.936 / 0.940 / 0.936, see BENCHMARKS.md); the response is flat."""
_DAY_DRAWS: dict[str, dict[str, tuple[float, float]]] = {}
"""Day → (stream key → the day's two uniforms), for the last ``_DAYS_KEPT`` days only: an
agent asks about its current day (or, from a late slot, the one before), so the memo is
bounded by agents, not by the run's days — one entry per agent and day was ~1 MiB a
simulated day for a 5,000-agent worker. A dropped day is recomputed."""
_DAYS_KEPT = 2
_DAY_DRAWS_MAX = 50_000


def _day_draws(key: str, day: str) -> tuple[float, float]:
    k = f"{key.rpartition(':')[0]}:day:{day}"
    draws = _DAY_DRAWS.get(day)
    if draws is None:
        draws = _DAY_DRAWS[day] = {}
        while len(_DAY_DRAWS) > _DAYS_KEPT:
            del _DAY_DRAWS[next(iter(_DAY_DRAWS))]  # the day first asked about longest ago
    hit = draws.get(k)
    if hit is None:
        r = random.Random(k)
        hit = (r.random(), r.random())
        if len(draws) >= _DAY_DRAWS_MAX:
            draws.clear()
        draws[k] = hit
    return hit


_CUMULATIVE: dict[int, tuple[Any, array[float]]] = {}


def _day_cumulative(p_tab: Any) -> array[float]:
    """Per hour of week: the day's base probabilities before that hour (cached per profile;
    the profile is kept in the entry so its id cannot be reused while cached). Doubles in an
    ``array`` (1.4 KiB a profile) rather than a list of floats (5.2 KiB): one profile per
    agent, 26 MiB for a 5,000-agent worker; the same floats either way."""
    hit = _CUMULATIVE.get(id(p_tab))
    if hit is not None and hit[0] is p_tab:
        return hit[1]
    cum: list[float] = []
    for how in range(len(p_tab)):
        cum.append(0.0 if how % 24 == 0 else cum[-1] + p_tab[how - 1])
    if len(_CUMULATIVE) >= _DAY_DRAWS_MAX:
        _CUMULATIVE.clear()
    table = array("d", cum)
    _CUMULATIVE[id(p_tab)] = (p_tab, table)
    return table


def _day_planned(
    rng: random.Random, sim_time: datetime, p_tab: Any, how: int, base: float, draw: float
) -> float:
    """The hour's uniform under the day plan (shaped on real days between trips).

    Independent hourly draws put two or more trips on one day as often as a Poisson
    process does; real households rarely come back within hours (Complete Journey: 11 % of
    trip gaps under 12 h against 20 % for independent hours). So, unless the day is one of
    ``DAY_INDEPENDENT_SHARE`` independent days, the day's hours are chosen by *systematic
    sampling*: the hours' base probabilities are laid end to end over the day and the
    points ``U, U + 1, …`` (one day-level uniform ``U``) pick the shopping hours — each
    hour still shops with exactly its probability, but a day holds ⌊λ⌋ or ⌈λ⌉ trips
    (λ = the day's expected trips) instead of a Poisson number.

    Returned is an equivalent uniform ``u`` for the unchanged threshold rule: a planned
    hour gets its offset inside its slice (``u < base``); any other hour ``base + (1 −
    base) × draw``. So ``P(u < t) = t``: the coupon lift and idle browsing keep their
    probabilities, and ``draw`` in the payload still reproduces the decision. The day's
    uniforms come from the stream ``{run seed}:{persona}:day:{date}`` (``KeyedRandom``);
    a plain ``random.Random`` (no key) keeps independent hours.
    """
    key = getattr(rng, "key", None)
    if key is None:
        return draw
    u_day, v_day = _day_draws(key, sim_time.date().isoformat())
    if v_day < DAY_INDEPENDENT_SHARE:
        return draw
    before = _day_cumulative(p_tab)[how]
    j = math.ceil(before - u_day)
    x = j + u_day - before
    if x < base:
        return x
    return base + (1.0 - base) * draw
