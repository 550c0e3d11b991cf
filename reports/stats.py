"""Sampling-error tests for comparing two runs (``reports.compare``; pure).

All return a z score: how many standard errors apart two figures are. A difference
within ``Z_TOLERANCE`` (3 standard errors, ~0.27 % false alarms per test) is sampling
noise; beyond it, something other than chance differs.
"""

from __future__ import annotations

import math

Z_TOLERANCE = 3.0
"""Default tolerance, in standard errors."""


def z_two_proportions(k1: float, n1: float, k2: float, n2: float) -> float:
    """Pooled two-proportion z test (e.g. conversion in two runs)."""
    if n1 <= 0 or n2 <= 0:
        return 0.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    diff = k1 / n1 - k2 / n2
    if se == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / se


def z_two_rates(c1: float, t1: float, c2: float, t2: float) -> float:
    """Two Poisson rates (counts over exposures, e.g. sessions per simulated day)."""
    if t1 <= 0 or t2 <= 0:
        return 0.0
    var = c1 / t1**2 + c2 / t2**2
    diff = c1 / t1 - c2 / t2
    if var == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / math.sqrt(var)


def z_two_means(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int) -> float:
    """Welch's z for two sample means (e.g. basket size in two runs)."""
    if n1 < 2 or n2 < 2:
        return 0.0
    var = s1**2 / n1 + s2**2 / n2
    diff = m1 - m2
    if var == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / math.sqrt(var)
