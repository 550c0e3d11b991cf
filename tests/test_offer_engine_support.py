"""Shared helpers for the offer-engine DB tests (no tests here).

A population is a synthetic catalog (6 frontstore + 88 category/brand coupons) and N
simulated users with personas, written to the real embedded Postgres (``clean_db``
truncates after each test).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from db.settings import SimSettings
from offer_engine.synthetic import seed_catalog, seed_users

T0 = datetime(2025, 1, 6, tzinfo=UTC)
"""Simulated start of every test run (a Monday)."""
DAY = timedelta(days=1)


@dataclass
class Population:
    engine: Engine
    user_ids: list[int]


def make_settings(**overrides: object) -> SimSettings:
    """The owner's defaults (7-day cycles, 14-day expiry, 2 + 30, capacity 32) + overrides."""
    base: dict[str, object] = {
        "OFFER_CYCLE_DAYS": 7,
        "OFFER_EXPIRATION_DAYS": 14,
        "MAX_WALLET_CAPACITY": 32,
        "FRONTSTORE_PER_CYCLE": 2,
        "CATEGORY_BRAND_PER_CYCLE": 30,
        "WALLET_FULL_POLICY": "replace_oldest",
    }
    base.update(overrides)
    return SimSettings(**base)  # type: ignore[arg-type]


def populate(engine: Engine, users: int, *, prefix: str = "t") -> Population:
    with engine.begin() as conn:
        seed_catalog(conn, prefix=prefix)
        ids = seed_users(conn, count=users, prefix=prefix)
    return Population(engine=engine, user_ids=ids)


def active_counts(engine: Engine) -> dict[int, int]:
    """Active coupons per user (users with none are absent)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT user_id, count(*) FROM user_coupons WHERE status = 'active'"
                " GROUP BY user_id"
            )
        ).all()
    return {r[0]: r[1] for r in rows}


def wallet_snapshot(engine: Engine) -> list[tuple]:
    """Every user_coupons row's observable state, for "nothing changed" comparisons."""
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT id, user_id, coupon_id, status, offer_cycle_id, assigned_sim_at,"
                    " expires_sim_at, removed_sim_at, removed_reason FROM user_coupons ORDER BY id"
                )
            )
        ]


def redeem(engine: Engine, *, user_id: int, count: int, sim_time: datetime) -> int:
    """What a checkout does to a wallet: active → redeemed (only if still active)."""
    with engine.begin() as conn:
        return conn.execute(
            text(
                "UPDATE user_coupons SET status = 'redeemed', redeemed_sim_at = :t WHERE id IN"
                " (SELECT id FROM user_coupons WHERE user_id = :u AND status = 'active'"
                "  ORDER BY id LIMIT :n) AND status = 'active'"
            ),
            {"u": user_id, "n": count, "t": sim_time},
        ).rowcount
