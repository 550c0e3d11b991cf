"""Small deterministic samplers on a caller-supplied ``random.Random``.

Only ``rng`` methods whose output is specified by Python itself (``random()``) are used, so
a seed gives the same draws on every platform and in every process.
"""

from __future__ import annotations

import math
import random


class KeyedRandom(random.Random):
    """A ``random.Random`` seeded with a string ``key`` that it remembers.

    Same stream as ``random.Random(key)``. Rules that need a stream shared by several of
    an agent's hours (``behaviors.rhythm``'s day plan) derive it from the key, so no caller
    has to pass another argument."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson(``lam``) draw (Knuth's product method; ``lam`` ≤ ~50 here)."""
    if lam <= 0:
        return 0
    limit = math.exp(-lam)
    k = 0
    prod = rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(``n``, ``p``) draw by ``n`` Bernoulli trials (``n`` is a basket size)."""
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    return sum(1 for _ in range(n) if rng.random() < p)


def logistic_shift(base: float, delta: float) -> float:
    """Move probability ``base`` by ``delta`` on the log-odds scale.

    0 and 1 stay 0 and 1: a persona configured never (always) to abandon keeps doing so,
    whatever modulates it.
    """
    if base <= 0.0:
        return 0.0
    if base >= 1.0:
        return 1.0
    z = math.log(base / (1.0 - base)) + delta
    return 1.0 / (1.0 + math.exp(-z))
