"""``loadsim realism``: how close simulated shopping is to real households'.

Simulated side, one of:
- **offline** (``--offline PERSONAS --weeks N``): every persona lives N weeks on its own
  in-memory shop in virtual time through ``behaviors.calibration.calibrate`` — the same
  runner, rules and graph as ``loadsim calibrate`` — and ``OrderCollector`` (its
  ``on_session`` hook) keeps the completed orders (the CLI wires the two: reports does not
  import behaviors, docs/ARCHITECTURE.md, Rooms);
- **a finished run** (``RUN``): the run's orders in the database (their simulated times).

Real side: Complete Journey's **held-out** households — the ``holdout`` rows of the
workbook's ``Provenance`` sheet (``loadsim personas derive`` writes it), so no household
both shaped the personas and scores them. A workbook without provenance is scored against
every Complete Journey household, and the report says so.

Basket values are compared at one price level: real values × ``price_ratio`` (the
catalog's typical price / the source's mean line value, from the provenance); the
unadjusted comparison is reported, not gated. Hours are local: Complete Journey's shift
(``personas.derive.sources.CJ_HOUR_SHIFT``) is printed with the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from personas.derive.sources import TxData
from personas.model import Persona
from reports.realism_stats import Row, Sample, compare, observe, samples

DEFAULT_THRESHOLD = 0.9


@dataclass
class RealismReport:
    """The scored rows, the lines printed above the table, and both sides' samples."""

    rows: list[Row]
    header: list[str] = field(default_factory=list)
    sim: dict[str, Sample] = field(default_factory=dict)
    real: dict[str, Sample] = field(default_factory=dict)

    def failures(self, threshold: float) -> list[Row]:
        return [r for r in self.rows if r.spec.gated and not r.score >= threshold]


class OrderCollector:
    """``on_session`` hook for ``calibrate``: completed orders as common-shape lines."""

    def __init__(self, products: Sequence[Any]):
        self.by_id = {p.id: p for p in products}
        self.rows: list[tuple] = []

    def __call__(self, persona: Persona, sim_hour: int, slot: datetime, r: Any) -> None:
        if r.outcome != "completed" or r.order is None:
            return
        ts = pd.Timestamp(slot).tz_localize(None) if slot.tzinfo else pd.Timestamp(slot)
        coupon = r.order.discount_cents > 0
        from personas.vocab import STORE_BRANDS

        own = {b for b, _ in STORE_BRANDS}
        for ev in r.events:
            if ev.event_type != "cart_add_item" or ev.product_id is None:
                continue
            p = self.by_id.get(ev.product_id)
            qty = ev.quantity or 1
            self.rows.append(
                (
                    persona.persona_id,
                    str(r.order.order_id),
                    ts,
                    str(ev.product_id),
                    p.category if p else "other",
                    bool(p and p.brand in own),
                    float((ev.price_cents or 0) * qty),
                    False,
                    coupon,
                    qty,
                )
            )

    def frame(self) -> TxData:
        from personas.derive.sources import LINE_COLUMNS

        lines = pd.DataFrame(self.rows, columns=list(LINE_COLUMNS))
        lines["ts"] = pd.to_datetime(lines["ts"])
        return TxData("simulated", lines, pd.DataFrame(index=pd.Index([], name="household")))


def score_against(
    sim: TxData,
    real: TxData,
    *,
    window_weeks: int,
    price_ratio: float,
    sim_weeks: dict[str, range] | None = None,
    progress: Callable[[str], None] | None = None,
    skip: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[Row], dict[str, Sample], dict[str, Sample]]:
    """Score a simulated frame against a real one (both in the common shape): the rows and
    both sides' samples."""
    say = progress or (lambda _m: None)
    say(f"summarising {len(sim.lines):,} simulated and {len(real.lines):,} real lines")
    s = samples(observe(sim, window_weeks=window_weeks, weeks=sim_weeks))
    r = samples(observe(real, window_weeks=window_weeks), value_scale=price_ratio)
    r["basket value, unadjusted"] = samples(observe(real, window_weeks=window_weeks))[
        "basket value, unadjusted"
    ]
    if real.hour_shift:  # the same comparison without the stated shift, reported only
        raw = TxData(
            real.source,
            real.lines.assign(ts=real.lines["ts"] - pd.Timedelta(hours=real.hour_shift)),
            real.households,
        )
        r["hour-of-day share, unshifted"] = samples(observe(raw, window_weeks=window_weeks))[
            "hour-of-day share"
        ]
        s["hour-of-day share, unshifted"] = s["hour-of-day share"]
    return compare(s, r, skip=lambda name: name in skip), s, r


def reference_households(workbook: Path | None) -> tuple[set[str] | None, dict, list[str]]:
    """Held-out household ids from a derived workbook (None = all), its provenance, notes."""
    from personas.derive.workbook import read_provenance

    if workbook is None:
        return None, {}, ["reference: every Complete Journey household (no provenance given)"]
    got = read_provenance(workbook)
    if got is None:
        return (
            None,
            {},
            [
                f"reference: every Complete Journey household ({workbook.name} has no Provenance "
                "sheet, so held-out households are unknown)"
            ],
        )
    meta, split = got
    held = {h for h, s in split.items() if s == "holdout"}
    return (
        held,
        meta,
        [
            f"reference: {len(held)} held-out {meta.get('source')} households "
            f"(personas derived from other households, seed {meta.get('seed')})"
        ],
    )
