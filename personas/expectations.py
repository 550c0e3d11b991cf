"""What a persona's attributes promise, and how far a realized count may stray from it.

Two things are needed on both sides of the calibration claim (docs/ARCHITECTURE.md, Personas: realized
sessions per week, basket size and abandonment match the attributes within sampling
error): ``behaviors`` draws decisions against the expectation and proves it offline
(``behaviors.calibration``), and ``reports`` judges a real run against the same
expectation (``reports.calibration``). ``reports`` may not import ``behaviors`` (they are
peers, docs/ARCHITECTURE.md, Rooms), so the shared part lives here, in ``personas``, which both already
import and which imports neither. It belongs here because it is the *meaning of persona
attributes* as numbers — not a decision (no draw, no simulated time, no random stream):

- the **weekly profile**: each hour of the week gets a habit weight from the persona's
  preferred days, preferred time of day (over a real hour-of-day profile,
  ``HOUR_PROFILE``) and weekday/weekend affinities; churn risk
  flattens the habit towards uniform. The weights are scaled so the hourly shopping
  probabilities sum to ``shopping_frequency`` — the expected sessions per simulated week
  equal the configured frequency; hours that would exceed 1 are capped at 1 and
  the rest is spread over the other hours ("water filling"). Idle browsing follows the
  same weights, about ``IDLE_PER_WEEK_MAX × impulsivity`` times a week;
- the **coupon lift**: known relevant coupons raise the chance to shop by at most
  ``COUPON_LIFT_MAX``, in proportion to discount sensitivity and coupon affinity, damped
  by churn risk, saturating at ``COUPON_SATURATION`` coupons;
- the **tolerance** (Bernstein's inequality, valid for sums of Bernoulli draws and for
  Poisson sizes, also at small counts): ``P(|X − E| ≥ t) ≤ 2·exp(−t² / (2(V + t/3)))``; with
  the right side set to ``α / m`` (family error ``α``, Bonferroni over ``m`` tests),
  ``t = L/3 + sqrt(L²/9 + 2·V·L)``, ``L = ln(2m/α)``.

Profiles are indexed by hour of week (0 = Monday 00:00 … 167 = Sunday 23:00, see
``offer_engine.calendar.hour_of_week``).
"""

from __future__ import annotations

import math
from array import array
from functools import lru_cache

from personas.model import TIME_OF_DAY_HOURS, WEEKDAYS, Persona

DEFAULT_ALPHA = 0.01
"""Family error of a calibration report: a correct model fails a report this rarely."""
PREFERRED_DAY_WEIGHT = 3.0
"""A preferred day's hours weigh this much more than other days' of the same kind."""
HOUR_PROFILE: tuple[float, ...] = (
    0.0046, 0.0043, 0.0025, 0.0015, 0.0020, 0.0053, 0.0119, 0.0189, 0.0267, 0.0393, 0.0544,
    0.0648, 0.0669, 0.0704, 0.0748, 0.0848, 0.0959, 0.0969, 0.0858, 0.0713, 0.0535, 0.0342,
    0.0196, 0.0097,
)  # fmt: skip
"""Share of trips per local hour 0–23, shaped on real shopping: Complete
Journey's 155,848 baskets, timestamps shifted −5 h to local time
(``personas.derive.sources.CJ_HOUR_SHIFT``). A flat "awake" day (the previous shape) put
too many trips in the early morning and late evening (hour-of-day TV complement 0.85)."""
PREFERRED_HOUR_BOOST: dict[str, float] = {
    "morning": 3.8,
    "afternoon": 1.6,
    "evening": 2.0,
    "night": 22.0,
}
"""Weight of the preferred time of day's hours over ``HOUR_PROFILE``: fitted so that a
household whose modal time of day is X makes the share of its trips in X that Complete
Journey's households do (about half, for every X; night hours are rare in the profile,
hence their large boost)."""
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


def bernstein_tolerance(variance: float, *, alpha: float, tests: int) -> float:
    """Half-width ``t`` with ``P(|X − E| ≥ t) ≤ alpha / tests`` (Bernstein, increments ≤ 1)."""
    if variance <= 0:
        return 1e-9
    big_l = math.log(2.0 * max(1, tests) / alpha)
    return big_l / 3.0 + math.sqrt(big_l * big_l / 9.0 + 2.0 * variance * big_l)


def _hour_weights(tod: str) -> list[float]:
    """A day's hour weights: the real hour-of-day profile, preferred hours boosted."""
    preferred = {h % 24 for h in TIME_OF_DAY_HOURS[tod]}
    boost = PREFERRED_HOUR_BOOST[tod]
    return [w * (boost if h in preferred else 1.0) for h, w in enumerate(HOUR_PROFILE)]


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
    mean = sum(raw) / len(raw)
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
    # cost ~0.3 ms per persona, paid by 10,000 agents in their first hour).
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
    p_shop = water_fill(weights, min(frequency, float(len(weights))))
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
