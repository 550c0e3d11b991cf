"""Held-out split and stratified sample of households (seeded, reproducible).

Strata are (income band, household size) as the source labels them, ``unknown`` where it
has no demographics. Every stratum is shuffled with the seed and cut in two halves:
``derive`` (personas are estimated from these) and ``holdout`` (realism is scored against
these). The ``N`` households of the workbook are then drawn from the derive half,
proportionally to the strata (largest remainder), so the sample keeps the source's mix.
Derivation and scoring therefore never share a household.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Split:
    """Which households derive and which are held out; ``sample`` ⊆ ``derive``."""

    derive: tuple[str, ...]
    holdout: tuple[str, ...]
    sample: tuple[str, ...]
    strata: dict[str, str]


def _stratum(row: pd.Series) -> str:
    inc = row.get("income")
    size = row.get("size")
    inc = inc if isinstance(inc, str) else "unknown"
    size = size if isinstance(size, str) else "unknown"
    return f"{inc}|{size}"


def split_households(households: pd.DataFrame, *, n: int, seed: int) -> Split:
    """Split ``households`` (index = id; ``income``/``size`` columns) and sample ``n``.

    Raises:
        ValueError: ``n`` < 1 or more than the derive half holds.
    """
    rng = random.Random(f"derive-split:{seed}")
    strata = {str(h): _stratum(r) for h, r in households.iterrows()}
    by: dict[str, list[str]] = {}
    for h in sorted(strata):
        by.setdefault(strata[h], []).append(h)
    derive: dict[str, list[str]] = {}
    holdout: list[str] = []
    for key in sorted(by):
        members = by[key][:]
        rng.shuffle(members)
        # an odd stratum gives its extra household to alternate halves
        cut = (len(members) + (rng.random() < 0.5)) // 2
        derive[key] = members[:cut]
        holdout += members[cut:]
    pool = sum(len(v) for v in derive.values())
    if n < 1:
        raise ValueError("--households must be ≥ 1")
    if n > pool:
        raise ValueError(
            f"--households {n} exceeds the derive half ({pool} households of "
            f"{len(strata)}; the other half is held out for scoring)"
        )
    quotas = {k: n * len(v) / pool for k, v in derive.items()}
    take = {k: int(q) for k, q in quotas.items()}
    rest = n - sum(take.values())
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - take[k]), k))[:rest]:
        take[k] += 1
    sample = [h for k in sorted(derive) for h in derive[k][: take[k]]]
    rng.shuffle(sample)  # workbook order: any first-N prefix is itself a random subsample
    return Split(
        derive=tuple(sorted(h for v in derive.values() for h in v)),
        holdout=tuple(sorted(holdout)),
        sample=tuple(sample),
        strata=strata,
    )
