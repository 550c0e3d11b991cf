"""The map's value conventions on a real database: an app in its own schema (not
``public``), money as numeric dollars, a derived coupon kind — read through the views and
written by the mirror triggers with the conversion applied."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from db import migrate
from db.adopt import apply_adoption, plan_adoption
from db.appcheck import inspect_concepts
from db.appmap import build_map
from db.engine import create_db_engine

APP = """
CREATE SCHEMA shop;
CREATE TABLE shop.users (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL,
    is_simulated boolean NOT NULL DEFAULT false);
CREATE TABLE shop.agents (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES shop.users,
    persona_key text UNIQUE, persona jsonb NOT NULL DEFAULT '{}', status text NOT NULL DEFAULT 'active');
CREATE TABLE shop.stores (id serial PRIMARY KEY, code text, name text);
CREATE TABLE shop.products (id serial PRIMARY KEY, store_id int, name text, category text,
    brand text, price numeric(10, 2) NOT NULL);
CREATE TABLE shop.coupons (id serial PRIMARY KEY, category text, brand text, pct int,
    live boolean NOT NULL DEFAULT true);
CREATE TABLE shop.sessions (id bigserial PRIMARY KEY, agent_id bigint, status text,
    basket numeric(10, 2), is_simulated boolean NOT NULL DEFAULT false);
INSERT INTO shop.users (email) VALUES ('real@example.com');
INSERT INTO shop.products (store_id, name, category, brand, price) VALUES (1, 'Milk', 'dairy', 'D', 4.29);
INSERT INTO shop.coupons (category, brand, pct) VALUES (NULL, NULL, 5), ('dairy', 'D', 10);
"""

MAP = {
    "app_schema": "shop",
    "products": {"columns": {"price_cents": {"column": "price", "money": "dollars"}}},
    "agents": {
        "columns": {
            "persona_id": "persona_key",
            "is_simulated": {
                "sql": "(SELECT u.is_simulated FROM users u WHERE u.id = agents.user_id)"
            },
        }
    },
    "coupons": {
        "columns": {
            "kind": {
                "sql": "CASE WHEN category IS NULL AND brand IS NULL THEN 'frontstore'"
                " ELSE 'category_brand' END"
            },
            "discount_type": {"sql": "'percent'"},
            "discount_value": "pct",
            "is_active": "live",
        }
    },
    "shopping_sessions": {
        "table": "sessions",
        "columns": {"cart_value_cents": {"column": "basket", "money": "dollars"}},
    },
    "shopping_session_events": {"table": False},
}


@pytest.fixture()
def shop_db(pg_server):
    url = pg_server.create_database("own_map_shop", drop_first=True)
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql(APP)
    yield url, eng
    eng.dispose()


def test_dollars_are_cents_in_views_and_dollars_in_the_mirror(shop_db):
    url, raw = shop_db
    amap = build_map(MAP, source="test")
    migrate.harness_upgrade(url)
    eng = create_db_engine(url, total_connections=2)
    try:
        with eng.connect() as conn:
            plan = plan_adoption(conn, amap)
        assert plan.blocking == []
        assert plan.additive == [
            'ALTER TABLE "shop"."sessions" ADD COLUMN IF NOT EXISTS "run_id" text NULL;',
            'ALTER TABLE "shop"."sessions" ADD COLUMN IF NOT EXISTS "is_replay" boolean NULL;',
        ]
        apply_adoption(eng, amap, plan)
        with eng.begin() as conn:
            assert conn.execute(text("SELECT price_cents FROM products")).scalar() == 429
            kinds = conn.execute(text("SELECT kind FROM coupons ORDER BY id")).scalars().all()
            assert kinds == ["frontstore", "category_brand"]
            uid = conn.execute(
                text("INSERT INTO users (email, is_simulated) VALUES ('s@x.test', true) RETURNING id")
            ).scalar()  # fmt: skip
            aid = conn.execute(
                text("INSERT INTO agents (user_id, persona_id, persona) VALUES (:u, 'P1', '{}')"
                     " RETURNING id"), {"u": uid},
            ).scalar()  # fmt: skip
            conn.execute(
                text("INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES ('r', 1, 1)")
            )
            sid = conn.execute(
                text("INSERT INTO shopping_sessions (run_id, agent_id, sim_hour, started_sim_at)"
                     " VALUES ('r', :a, 0, now()) RETURNING id"), {"a": aid},
            ).scalar()  # fmt: skip
            conn.execute(
                text("UPDATE shopping_sessions SET status = 'completed', cart_value_cents = 1234"
                     " WHERE id = :s"), {"s": sid},
            )  # fmt: skip
        rows = (
            raw.connect()
            .execute(
                text("SELECT agent_id, status, basket, run_id, is_simulated FROM shop.sessions")
            )
            .all()
        )
        assert [tuple(r) for r in rows] == [(aid, "completed", Decimal("12.34"), "r", True)]
    finally:
        eng.dispose()


def test_money_in_dollars_without_saying_so_is_a_wrong_type(shop_db):
    url, raw = shop_db
    amap = build_map({**MAP, "products": {"columns": {"price_cents": "price"}}}, source="test")
    with raw.connect() as conn:
        reports = {r.name: r for r in inspect_concepts(conn, amap)}
    assert reports["products"].wrong_type == ["price_cents <- price: numeric, expected int"]
    assert reports["products"].status == "wrong type"
    assert reports["shopping_session_events"].stand_in  # table = false: an empty view


def test_an_app_column_a_harness_insert_would_leave_null_blocks_adoption(shop_db):
    url, raw = shop_db
    with raw.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE shop.sessions ADD COLUMN channel text NOT NULL")
    amap = build_map(MAP, source="test")
    with raw.connect() as conn:
        plan = plan_adoption(conn, amap)
    assert [b for b in plan.blocking if "channel" in b] == [
        "shopping_sessions.channel (app column NOT NULL without a default: map a harness"
        " column to it or give it a default): missing"
    ]
