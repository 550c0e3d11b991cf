"""The golden behaviour event stream: record it, recompute it, say where it first differs.

Refactors of how an agent's hour is run must hold "same seed → the same
decisions and events as before". This module replays a fixed population on the same
offline path ``loadsim calibrate`` uses (the sample workbook, the generated catalog,
``weekly_wallet``, ``decide_shop`` then ``run_agent_hour`` on one compiled graph and one
``InMemoryShop`` per agent) and canonicalises every behaviour event. Unlike calibration it
also plays idle hours through the graph (the harness does), so idle browses are covered.

The stored file (``tests/data/golden_events.json``) keeps a sha256 per persona, one short
digest per event grouped by simulated hour, and totals — enough to name the first
differing persona / hour / event without storing the events themselves.

Re-record (only for an intended behaviour change)::

    .venv/bin/python -m tests.golden_events --record
    # or: LOADSIM_RECORD_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden_events.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

GOLDEN_PATH = Path(__file__).resolve().parent / "data" / "golden_events.json"
PERSONAS = 40
WEEKS = 2
SEED = 13
ROUND = 6
"""Decimal places kept for floats in payloads (probabilities): robust to last-bit noise."""


def _canon(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, ROUND)
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def canonical_event(ev: Any) -> str:
    """One event as a stable JSON line (the fields the recorder stores)."""
    row = [
        ev.event_type,
        ev.product_id,
        ev.user_coupon_id,
        ev.quantity,
        ev.price_cents,
        ev.sim_time,
        _canon(ev.payload or {}),
    ]
    return json.dumps(row, sort_keys=True, separators=(",", ":"))


def compute_stream() -> dict[str, dict[int, list[str]]]:
    """persona id → simulated hour → canonical events (hours without events omitted)."""
    from behaviors.calibration import CALIBRATION_START, slot_seconds
    from behaviors.graph import compile_shopping_graph
    from behaviors.memory_shop import InMemoryShop
    from behaviors.offers import count_relevant_coupons
    from behaviors.rhythm import HOURS_PER_WEEK, decide_shop
    from behaviors.run import hour_rng, run_agent_hour
    from behaviors.shop import Product
    from behaviors.synthetic import weekly_wallet
    from personas import SAMPLE_PATH
    from personas.catalog import DEFAULT_CATALOG_SEED, generate_catalog
    from personas.reader import read_personas

    data = generate_catalog(seed=DEFAULT_CATALOG_SEED)
    # Ids in generation order, as the --mock-db catalog cache assigns them.
    stores = {s.code: i + 1 for i, s in enumerate(data.stores)}
    products = [
        Product(id=i + 1, name=p.name, category=p.category, brand=p.brand,
                price_cents=p.price_cents, store_id=stores.get(p.store_code))
        for i, p in enumerate(data.products)
    ]  # fmt: skip
    personas = read_personas(SAMPLE_PATH)[:PERSONAS]
    graph = compile_shopping_graph()
    out: dict[str, dict[int, list[str]]] = {}
    for persona in personas:
        shop = InMemoryShop(products, store_id=stores.get(persona.preferred_store))
        offset = timedelta(seconds=slot_seconds(persona.persona_id, SEED))
        seen = None
        hours: dict[int, list[str]] = {}
        for week in range(WEEKS):
            shop.set_wallet(weekly_wallet(persona, week))
            relevant = count_relevant_coupons(persona, seen)
            for h in range(HOURS_PER_WEEK):
                sim_hour = week * HOURS_PER_WEEK + h
                slot = CALIBRATION_START + timedelta(hours=sim_hour) + offset
                d = decide_shop(
                    persona,
                    sim_time=slot,
                    rng=hour_rng(SEED, persona.persona_id, sim_hour),
                    relevant_coupons=relevant,
                )
                if d.kind == "none":
                    continue
                r = run_agent_hour(
                    persona,
                    run_seed=SEED,
                    sim_hour=sim_hour,
                    slot_time=slot,
                    shop=shop,
                    checkout_key=f"golden:{SEED}:{persona.persona_id}:{sim_hour}",
                    relevant_coupons=relevant,
                    graph=graph,
                )
                head = json.dumps(
                    ["hour", r.decision, r.outcome, r.abandon_reason, r.item_count,
                     r.cart_value_cents, r.discount_cents, r.coupon_applied],
                )  # fmt: skip
                hours[sim_hour] = [head] + [canonical_event(e) for e in r.events]
                if r.wallet_seen is not None:
                    seen = r.wallet_seen
                    relevant = count_relevant_coupons(persona, seen)
        out[persona.persona_id] = hours
    return out


def _short(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()[:6]


def summarise(stream: dict[str, dict[int, list[str]]]) -> dict[str, Any]:
    """The stored form: per persona a full sha256 and per-hour short event digests."""
    personas: dict[str, Any] = {}
    counts: Counter[str] = Counter()
    for pid, hours in stream.items():
        h = hashlib.sha256()
        for hour in sorted(hours):
            for line in hours[hour]:
                h.update(f"{hour}|{line}\n".encode())
                kind = json.loads(line)[0]
                counts["hours" if kind == "hour" else kind] += 1
        personas[pid] = {
            "sha256": h.hexdigest(),
            "hours": {str(k): "".join(_short(x) for x in v) for k, v in sorted(hours.items())},
        }
    return {
        "about": "tests/golden_events.py: re-record only on an intended behaviour change",
        "seed": SEED,
        "personas_n": PERSONAS,
        "weeks": WEEKS,
        "counts": dict(sorted(counts.items())),
        "personas": personas,
    }


def first_difference(golden: dict[str, Any], stream: dict[str, dict[int, list[str]]]) -> str | None:
    """A readable line naming the first differing persona / hour / event, or ``None``."""
    now = summarise(stream)
    for key in ("seed", "personas_n", "weeks"):
        if golden.get(key) != now[key]:
            return f"{key}: golden {golden.get(key)!r}, now {now[key]!r} (re-record?)"
    gp, np_ = golden["personas"], now["personas"]
    if list(gp) != list(np_):
        return f"persona list differs: golden {list(gp)[:5]}…, now {list(np_)[:5]}…"
    for pid in gp:
        if gp[pid]["sha256"] == np_[pid]["sha256"]:
            continue
        gh, nh = gp[pid]["hours"], np_[pid]["hours"]
        for hour in sorted({*gh, *nh}, key=int):
            a, b = gh.get(hour, ""), nh.get(hour, "")
            if a == b:
                continue
            old = [a[i : i + 6] for i in range(0, len(a), 6)]
            new = stream[pid].get(int(hour), [])
            for i in range(max(len(old), len(new))):
                o = old[i] if i < len(old) else None
                n = new[i] if i < len(new) else None
                if n is None or o != _short(n):
                    what = "hour header" if i == 0 else f"event #{i - 1}"
                    return (
                        f"persona {pid}, sim hour {hour}, {what}: golden digest {o}, "
                        f"now {n if n is not None else '<missing>'}"
                    )
        return f"persona {pid}: digest differs (hour tables equal — hash scheme changed?)"
    if golden.get("counts") != now["counts"]:
        return f"counts differ: golden {golden.get('counts')}, now {now['counts']}"
    return None


def record(path: Path = GOLDEN_PATH) -> dict[str, Any]:
    """Recompute and write the golden file."""
    summary = summarise(compute_stream())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=0, sort_keys=False) + "\n")
    return summary


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        print("usage: python -m tests.golden_events --record", file=sys.stderr)
        raise SystemExit(2)
    s = record()
    print(f"{GOLDEN_PATH}: {s['counts']}")
