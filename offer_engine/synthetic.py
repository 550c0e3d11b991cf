"""A synthetic coupon catalog and simulated shoppers, for the offer engine's tests and
benchmark (not the embedded default's seeding, which lives with the personas).

Everything written is marked simulated. Set-based where it matters: 10,000 users are
three ``INSERT … SELECT generate_series`` statements, not 20,000 round trips.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from sqlalchemy import Connection, text

CATEGORIES = (
    "dairy", "bakery", "produce", "meat", "seafood", "frozen",
    "snacks", "beverages", "pantry", "household", "personal_care", "baby",
)  # fmt: skip
BRANDS = (
    "acme", "bluebird", "cedar", "dunmore", "evergreen", "fairway", "goldleaf", "harbor",
    "ironwood", "juniper", "kestrel", "lakeside", "meadow", "northstar", "oakridge", "pinecrest",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Catalog:
    """Counts of the coupons written by :func:`seed_catalog`."""

    frontstore: int
    category_brand: int


def seed_catalog(conn: Connection, *, prefix: str = "oe", frontstore: int = 6) -> Catalog:
    """Insert a coupon catalog: ``frontstore`` any-basket coupons, one coupon per category,
    one per brand, and one per (category, brand) pair on a diagonal band (60 pairs).

    Args:
        conn: Connection; the caller owns the transaction.
        prefix: Coupon code prefix (keeps codes unique across calls).
        frontstore: How many frontstore coupons.

    Returns:
        How many coupons of each kind were written.
    """
    rows: list[dict[str, object]] = []
    for i in range(frontstore):
        rows.append(_coupon(f"{prefix}-F{i}", "frontstore", None, None, i))
    for i, c in enumerate(CATEGORIES):
        rows.append(_coupon(f"{prefix}-C-{c}", "category_brand", c, None, i))
    for i, b in enumerate(BRANDS):
        rows.append(_coupon(f"{prefix}-B-{b}", "category_brand", None, b, i))
    for i, c in enumerate(CATEGORIES):
        for j in range(5):  # each category carries 5 of the 16 brands
            b = BRANDS[(i + j * 3) % len(BRANDS)]
            rows.append(_coupon(f"{prefix}-CB-{c}-{b}", "category_brand", c, b, i + j))
    conn.execute(
        text(
            "INSERT INTO coupons (code, kind, title, discount_type, discount_value,"
            " min_spend_cents, category, brand, is_active, is_simulated)"
            " VALUES (:code, :kind, :title, :dtype, :dvalue, :min_spend, :category, :brand,"
            " true, true)"
        ),
        rows,
    )
    return Catalog(frontstore=frontstore, category_brand=len(rows) - frontstore)


def _coupon(code: str, kind: str, category: str | None, brand: str | None, i: int) -> dict:
    percent = i % 2 == 0
    return {
        "code": code,
        "kind": kind,
        "title": code,
        "dtype": "percent" if percent else "amount",
        "dvalue": 5 + (i % 4) * 5 if percent else 100 + (i % 5) * 100,
        "min_spend": 0 if kind == "frontstore" else 500,
        "category": category,
        "brand": brand,
    }


def persona_for(index: int, *, seed: str = "0") -> dict[str, object]:
    """The offer-relevant part of a synthetic persona (deterministic per index and seed)."""
    rng = random.Random(f"{seed}:persona:{index}")
    return {
        "persona_id": f"syn-{index}",
        "preferred_categories": rng.sample(CATEGORIES, rng.randint(1, 3)),
        "preferred_brands": rng.sample(BRANDS, rng.randint(1, 3)),
        "brand_loyalty": round(rng.random(), 3),
        "discount_sensitivity": round(rng.random(), 3),
    }


def seed_users(
    conn: Connection,
    *,
    count: int,
    prefix: str = "oe",
    seed: str = "0",
    start: int = 0,
    simulated: bool = True,
    status: str = "active",
) -> list[int]:
    """Insert ``count`` users, each with an agent carrying a synthetic persona.

    Args:
        conn: Connection; the caller owns the transaction.
        count: How many users.
        prefix: Email / persona-id prefix (unique per call).
        seed: Persona seed.
        start: First persona index (so several calls can continue a sequence).
        simulated: ``users.is_simulated`` / ``agents.is_simulated``.
        status: ``agents.status``.

    Returns:
        The new users' ids, in index order.
    """
    if count <= 0:
        return []
    personas = [persona_for(start + i, seed=seed) for i in range(count)]
    ids = [
        r[0]
        for r in conn.execute(
            text(
                "INSERT INTO users (email, full_name, is_simulated)"
                " SELECT :prefix || '-' || g || '@sim.invalid', 'Sim ' || g, :sim"
                " FROM generate_series(CAST(:a AS int), CAST(:b AS int)) g ORDER BY g"
                " RETURNING id"
            ),
            {"prefix": prefix, "sim": simulated, "a": start, "b": start + count - 1},
        )
    ]
    conn.execute(
        text(
            "INSERT INTO agents (user_id, persona_id, status, is_simulated, persona)"
            " SELECT u, :prefix || '-' || (p->>'persona_id'), :status, :sim, p"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:personas AS jsonb[])) AS t(u, p)"
        ),
        {
            "prefix": prefix,
            "status": status,
            "sim": simulated,
            "ids": sorted(ids),
            "personas": [_json(p) for p in personas],
        },
    )
    return sorted(ids)


def _json(value: object) -> str:
    return json.dumps(value)


__all__ = ["Catalog", "seed_catalog", "seed_users", "persona_for", "CATEGORIES", "BRANDS"]
