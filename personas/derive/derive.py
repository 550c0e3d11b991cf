"""``derive_personas``: a transaction source → held-out split → one persona per household."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from personas import vocab
from personas.derive.baskets import baskets, week_index
from personas.derive.estimators import estimate, population
from personas.derive.sources import TxData
from personas.derive.split import Split, split_households
from personas.model import Persona


@dataclass
class DeriveResult:
    """The personas, each attribute's source, the split and the run's provenance."""

    personas: list[Persona]
    sources: dict[str, dict[str, str]]
    split: Split
    provenance: dict[str, Any] = field(default_factory=dict)
    household_of: dict[str, str] = field(default_factory=dict)
    """persona_id → source household id."""


def catalog_typical_cents(tx: TxData) -> dict[str, float]:
    """Per category, the price personas will shop at: the synthetic catalog's typical price
    for Complete Journey; for the database the source's own lines (same catalog, ratio 1)."""
    if tx.source == "database":
        ln = tx.lines
        return {str(c): float(v) for c, v in ln.groupby("category")["value_cents"].mean().items()}
    return {c: float(vocab.typical_price_cents(c)) for c in vocab.CATEGORIES}


def derive_personas(
    tx: TxData,
    *,
    households: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> DeriveResult:
    """Estimate one persona per sampled household of ``tx``.

    Args:
        tx: the source in the common shape.
        households: how many personas (drawn from the derive half, stratified).
        seed: the split's and the sample's seed.
        progress: called with a short line now and then (long sources).

    Raises:
        ValueError: too many households asked for, or a source without baskets.
    """
    say = progress or (lambda _m: None)
    if tx.lines.empty:
        raise ValueError(f"{tx.source}: no non-simulated orders to derive from")
    split = split_households(tx.households, n=households, seed=seed)
    say(
        f"split: {len(split.derive)} derive / {len(split.holdout)} held-out households, "
        f"sampling {len(split.sample)}"
    )
    part = tx.subset(split.derive)
    b = baskets(part)
    b["week"] = week_index(b["ts"])
    pop = population(part.lines, b, catalog_typical_cents(tx))
    wanted = set(split.sample)
    b = b[b["household"].isin(wanted)]
    ln = part.lines[part.lines["household"].isin(wanted)]
    by_b = dict(tuple(b.groupby("household")))
    by_l = dict(tuple(ln.groupby("household")))
    personas: list[Persona] = []
    sources: dict[str, dict[str, str]] = {}
    household_of: dict[str, str] = {}
    for i, hid in enumerate(split.sample, start=1):
        facts = tx.households.loc[hid] if hid in tx.households.index else None
        values, src = estimate(hid, by_b[hid], by_l[hid], facts, pop)
        p = Persona(**values)
        personas.append(p)
        sources[p.persona_id] = src
        household_of[p.persona_id] = hid
        if i % 100 == 0:
            say(f"estimated {i}/{len(split.sample)} households")
    prov = {
        "source": tx.source,
        "seed": seed,
        "households": len(personas),
        "derive_households": len(split.derive),
        "holdout_households": len(split.holdout),
        "hour_shift_h": tx.hour_shift,
        "price_ratio": round(pop.price_ratio, 6),
        "source_mean_line_cents": round(tx.mean_line_cents, 3),
        "period": f"{tx.lines['ts'].min()} – {tx.lines['ts'].max()}",
        "notes": " | ".join(tx.notes),
    }
    return DeriveResult(personas, sources, split, prov, household_of)
