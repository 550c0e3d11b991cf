"""Builders for report tests: a run directory as the harness leaves it, and a run's rows
in the real (embedded) database.

Locust's CSVs are written by Locust's own ``StatsCSVFileWriter`` in a subprocess (so the
format is exactly Locust 2.47's, and this test process never imports locust, which
monkey-patches the standard library). Database rows follow a known behavior model so
tests can assert figures computed from their inputs.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

from db.models import (
    Agent,
    AgentHour,
    Coupon,
    OfferCycle,
    Order,
    ShoppingSession,
    ShoppingSessionEvent,
    SimulationRun,
    User,
    UserCoupon,
)
from reports.hour_table import HOUR_COLUMNS

SIM_START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday

_LOCUST_SCRIPT = r"""
import csv, json, sys, time
import locust.stats as ls
from locust.env import Environment

spec = json.load(sys.stdin)
clock = [spec["t0"]]
ls.time.time = lambda: clock[0]  # a deterministic clock for rps and timestamps
env = Environment()
env.stats.reset_all()
w = ls.StatsCSVFileWriter(env, ls.PERCENTILES_TO_REPORT, spec["prefix"], full_history=False)
hist = csv.writer(w.stats_history_csv_filehandle)
hist.writerow(w.stats_history_csv_columns)
step = spec["duration_s"] / max(1, len(spec["requests"]))
next_hist = spec["t0"]
for i, (rtype, name, ms, err) in enumerate(spec["requests"]):
    clock[0] = spec["t0"] + i * step
    env.stats.log_request(rtype, name, ms, 100)
    if err:
        env.stats.log_error(rtype, name, err)
    if clock[0] >= next_hist:
        w._stats_history_data_rows(hist, clock[0])
        next_hist += 5
clock[0] = spec["t0"] + spec["duration_s"]
w._stats_history_data_rows(hist, clock[0])
w.requests_csv(csv.writer(w.requests_csv_filehandle))
w.failures_csv(csv.writer(w.failures_csv_filehandle))
w.exceptions_csv(csv.writer(w.exceptions_csv_filehandle))
w.close_files()
"""


def write_locust_csvs(
    run_dir: Path, requests: list[tuple[str, str, int, str | None]], *, duration_s: float = 60.0
) -> None:
    """Write ``locust_*.csv`` with Locust's own writer for the given requests
    (type, name, response ms, error message or None), spread over ``duration_s``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "prefix": str(run_dir / "locust"),
        "requests": requests,
        "duration_s": duration_s,
        "t0": 1_700_000_000.0,
    }
    subprocess.run(
        [sys.executable, "-c", _LOCUST_SCRIPT],
        input=json.dumps(spec),
        text=True,
        check=True,
        capture_output=True,
        timeout=120,
    )


def write_manifest(run_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A manifest per the harness contract; ``overrides`` replace keys."""
    manifest = {
        "run_id": run_dir.name,
        "seed": 7,
        "time_scale": 48.0,
        "sim_start": SIM_START.isoformat(),
        "sim_duration_hours": 24,
        "ramp": [[0, 0.1], [2, 0.25], [4, 0.5], [6, 0.75], [8, 1.0]],
        "persona_file": "personas.xlsx",
        "persona_file_sha256": "0" * 64,
        "personas_total": 30,
        "code_version": "test",
        "started_at": "2025-01-01T10:00:00+00:00",
        "ended_at": "2025-01-01T10:30:00+00:00",
        "mock_api": False,
        "mock_db": False,
        "target": "embedded reference_api",
        "database": "embedded",
        "rate_limit": 50,
        "processes": 1,
        "options": {},
        "exit_code": 0,
    }
    manifest.update(overrides)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


HOURS_HEADER = ",".join(HOUR_COLUMNS)


def write_hours(run_dir: Path, rows: list[dict[str, Any]], *, time_scale: float = 48.0) -> None:
    """Write ``hours.csv``; each row gives at least sim_hour and the counts it cares
    about (missing counts are 0). Real time advances 3600/scale s per sim hour."""
    real0 = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    cols = HOURS_HEADER.split(",")
    lines = [HOURS_HEADER]
    for r in rows:
        h = r["sim_hour"]
        full = {c: 0 for c in cols}
        full["segment"] = 1
        full.update(
            sim_time=(SIM_START + timedelta(hours=h)).isoformat(),
            real_time=(real0 + timedelta(seconds=h * 3600 / time_scale)).isoformat(),
            stage_fraction=1.0,
        )
        full.update(r)
        lines.append(",".join(str(full[c]) for c in cols))
    (run_dir / "hours.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def persona_json(
    i: int,
    *,
    freq: float,
    basket: float,
    abandon: float,
    channel: str = "app",
    income: str = "middle",
) -> dict[str, Any]:
    """A valid 28-attribute persona (``personas.model.Persona``) as stored in agents."""
    return {
        "persona_id": f"P{i:04d}",
        "name": f"Persona {i}",
        "age": 30 + i % 40,
        "gender": "female",
        "income_band": income,
        "city": "Springfield",
        "household_size": 2,
        "occupation": "teacher",
        "shopping_frequency": freq,
        "preferred_days": ["Sat", "Sun"],
        "preferred_time_of_day": "evening",
        "weekday_affinity": 0.5,
        "weekend_affinity": 0.5,
        "browse_depth": 5,
        "avg_basket_size": basket,
        "budget_per_trip": 10_000,
        "impulsivity": 0.2,
        "cart_abandonment_rate": abandon,
        "preferred_categories": ["dairy"],
        "preferred_brands": ["acme"],
        "brand_loyalty": 0.5,
        "preferred_store": "S1",
        "discount_sensitivity": 0.5,
        "price_consciousness": 0.5,
        "coupon_affinity": 0.5,
        "deal_seeking": 0.5,
        "churn_risk": 0.1,
        "channel": channel,
    }


@dataclass
class RunSpec:
    """What to generate for one run: agents follow their personas unless distorted."""

    run_id: str
    seed: int = 1
    time_scale: float = 48.0
    sim_hours: int = 168
    agents: list[dict[str, Any]] = field(default_factory=list)
    abandon_factor: float = 1.0
    """Multiplies every abandonment chance: 1.0 follows the personas."""
    slip_seconds: float = 1.0
    missed_every: int = 0
    """Every n-th agent hour is missed (0: none)."""
    shop_factor: float = 1.0
    """Multiplies every chance to shop: 1.0 follows the personas."""
    rule_payloads: bool = False
    """Record the rules' payloads (planned ``items``, ``p_abandon`` = the persona's rate)
    as the behaviors graph does."""


@dataclass
class RunTruth:
    """Counts of what was inserted, for assertions."""

    shop_sessions: int = 0
    idle_browses: int = 0
    completed: int = 0
    abandoned: int = 0
    items: int = 0
    order_total_cents: int = 0
    coupon_views: int = 0
    coupon_applies: int = 0
    redemptions: int = 0
    missed: int = 0
    agent_hours: int = 0
    agent_ids: list[int] = field(default_factory=list)


def populate_run(conn: Connection, spec: RunSpec, *, id_offset: int = 0) -> RunTruth:
    """Insert a run's rows following ``spec`` (a simple behavior model with the personas'
    frequency, basket and abandonment as its parameters). ``id_offset`` keeps users and
    agents of several runs apart."""
    rng = random.Random(f"{spec.seed}")
    truth = RunTruth()
    conn.execute(
        insert(SimulationRun),
        [
            {
                "run_id": spec.run_id,
                "time_scale": spec.time_scale,
                "seed": spec.seed,
                "status": "completed",
                "sim_start": SIM_START,
            }
        ],
    )
    agent_ids = []
    for i, p in enumerate(spec.agents):
        uid = conn.execute(
            insert(User)
            .values(email=f"{spec.run_id}-{i}@sim.test", is_simulated=True)
            .returning(User.id)
        ).scalar_one()
        pj = dict(p, persona_id=f"{spec.run_id}-{p['persona_id']}")
        aid = conn.execute(
            insert(Agent)
            .values(user_id=uid, persona_id=pj["persona_id"], persona=pj)
            .returning(Agent.id)
        ).scalar_one()
        agent_ids.append((aid, uid, p))
    truth.agent_ids = [a for a, _, _ in agent_ids]
    cycle_id = conn.execute(
        insert(OfferCycle)
        .values(
            run_id=spec.run_id,
            cycle_number=0,
            simulated_start_date=SIM_START,
            simulated_end_date=SIM_START + timedelta(days=7),
            status="done",
            stats={"assigned": 40, "expired": 3, "replaced": 2, "duration_s": 1.5},
        )
        .returning(OfferCycle.id)
    ).scalar_one()
    coupon_id = conn.execute(
        insert(Coupon)
        .values(
            code=f"{spec.run_id}-C",
            kind="frontstore",
            title="5 off",
            discount_type="amount",
            discount_value=500,
            is_simulated=True,
        )
        .returning(Coupon.id)
    ).scalar_one()
    hours_rows, events = [], []
    slot = 0
    for aid, uid, p in agent_ids:
        for h in range(spec.sim_hours):
            slot += 1
            slip = spec.slip_seconds * (0.5 + rng.random())
            if spec.missed_every and slot % spec.missed_every == 0:
                hours_rows.append(
                    dict(
                        run_id=spec.run_id,
                        agent_id=aid,
                        sim_hour=h,
                        decision="missed",
                        outcome="missed",
                        slip_seconds=None,
                    )
                )
                truth.missed += 1
                continue
            at = SIM_START + timedelta(hours=h, minutes=10)
            if rng.random() < p["shopping_frequency"] / 168 * spec.shop_factor:
                b = p["avg_basket_size"]
                items = rng.randint(max(0, int(b) - 2), int(b) + 2) + (b - int(b) > rng.random())
                abandon = rng.random() < min(1.0, p["cart_abandonment_rate"] * spec.abandon_factor)
                viewed, applied = rng.random() < 0.5, False
                applied = viewed and rng.random() < 0.5
                order_id = None
                if not abandon:
                    uc_id = None
                    if applied:
                        uc_id = conn.execute(
                            insert(UserCoupon)
                            .values(
                                user_id=uid,
                                coupon_id=coupon_id,
                                status="redeemed",
                                offer_cycle_id=cycle_id,
                                is_simulation=True,
                            )
                            .returning(UserCoupon.id)
                        ).scalar_one()
                        truth.redemptions += 1
                    total = 1000 * items
                    order_id = conn.execute(
                        insert(Order)
                        .values(
                            user_id=uid,
                            idempotency_key=f"{spec.run_id}-{aid}-{h}",
                            subtotal_cents=total,
                            total_cents=total,
                            is_simulated=True,
                            simulated_at=at,
                            user_coupon_id=uc_id,
                        )
                        .returning(Order.id)
                    ).scalar_one()
                    truth.order_total_cents += total
                sid = conn.execute(
                    insert(ShoppingSession)
                    .values(
                        run_id=spec.run_id,
                        agent_id=aid,
                        sim_hour=h,
                        kind="shop",
                        status="abandoned" if abandon else "completed",
                        abandon_reason="changed_mind" if abandon else None,
                        item_count=items,
                        cart_value_cents=1000 * items,
                        coupon_applied=applied and not abandon,
                        order_id=order_id,
                        started_sim_at=at,
                    )
                    .returning(ShoppingSession.id)
                ).scalar_one()
                kinds = ["session_start", "view_product"] + ["cart_add_item"] * items
                kinds += ["view_coupon"] * viewed + ["apply_coupon"] * applied
                kinds.append("abandon" if abandon else "checkout_complete")
                payloads = {
                    "cart_add_item": {"rule": "add_to_cart", "items": items},
                    "abandon": {"rule": "decide_checkout", "p_abandon": p["cart_abandonment_rate"]},
                    "checkout_complete": {
                        "rule": "decide_checkout",
                        "p_abandon": p["cart_abandonment_rate"],
                    },
                }
                for seq, k in enumerate(kinds):
                    events.append(
                        dict(
                            session_id=sid,
                            seq=seq,
                            run_id=spec.run_id,
                            agent_id=aid,
                            event_type=k,
                            sim_time=at,
                            quantity=1 if k == "cart_add_item" else None,
                            payload=payloads.get(k, {"p": 0.5, "draw": 0.25})
                            if spec.rule_payloads
                            else {"p": 0.5, "draw": 0.25},
                        )
                    )
                truth.shop_sessions += 1
                truth.items += items
                truth.coupon_views += viewed
                truth.coupon_applies += applied
                truth.abandoned += abandon
                truth.completed += not abandon
                decision, outcome = "shop", "abandoned" if abandon else "completed"
            elif rng.random() < 0.01:
                sid = conn.execute(
                    insert(ShoppingSession)
                    .values(
                        run_id=spec.run_id,
                        agent_id=aid,
                        sim_hour=h,
                        kind="idle_browse",
                        status="completed",
                        started_sim_at=at,
                    )
                    .returning(ShoppingSession.id)
                ).scalar_one()
                events.append(
                    dict(
                        session_id=sid,
                        seq=0,
                        run_id=spec.run_id,
                        agent_id=aid,
                        event_type="idle_browse",
                        sim_time=at,
                        quantity=None,
                        payload=None,
                    )
                )
                truth.idle_browses += 1
                decision, outcome = "idle", "idle"
            else:
                decision, outcome = "none", "none"
            hours_rows.append(
                dict(
                    run_id=spec.run_id,
                    agent_id=aid,
                    sim_hour=h,
                    decision=decision,
                    outcome=outcome,
                    slip_seconds=slip,
                )
            )
    truth.agent_hours = len(hours_rows)
    conn.execute(insert(AgentHour), hours_rows)
    if events:
        conn.execute(insert(ShoppingSessionEvent), events)
    return truth


def population(n: int, *, start: int = 0) -> list[dict[str, Any]]:
    """``n`` personas with varied frequency, basket and abandonment over two segments."""
    out = []
    for i in range(start, start + n):
        out.append(
            persona_json(
                i,
                freq=[2.0, 5.0, 8.0][i % 3],
                basket=[4.0, 6.5, 9.0][i % 3],
                abandon=[0.1, 0.3, 0.5][(i // 3) % 3],
                channel=["app", "voice"][i % 2],
            )
        )
    return out
