"""Helpers for the owner-database tests: a database made from an owner-like app schema
(never modified), a snapshot of the app's schema, and a checksum of every row that is not
simulated.

Two schemas, both mapped by ``tests/data/owner_map.toml``: the project's own
(``tests/data/owner_app_schema.sql``, always there, so a fresh clone runs every owner test)
and an independently written counterpart beside the project
(``../shared/fixtures/owner_app_schema.sql``). Tests that use the counterpart skip with one
line naming the missing file outside CI, and fail under ``CI=true``, where it must be there.

The checksum's notion of "simulated" is written here from the schemas' own columns,
independently of the map under test, so a map that marked the wrong rows would be caught.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
MAP_FILE = ROOT / "tests" / "data" / "owner_map.toml"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
"""Where the independent counterpart lives, beside the project (absent on a fresh clone)."""

REAL = {
    "users": "NOT is_simulated",
    "agents": "user_id IN (SELECT id FROM public.users WHERE NOT is_simulated)",
    "cart_items": "user_id IN (SELECT id FROM public.users WHERE NOT is_simulated)",
    "orders": "NOT is_simulated",
    "order_items": "order_id IN (SELECT id FROM public.orders WHERE NOT is_simulated)",
    "user_coupons": "NOT is_simulation",
    "user_offer_cycles": "NOT is_simulation",
    "offer_cycles": "NOT is_simulation",
    "shopping_sessions": "NOT is_simulated",
    "shopping_session_events": (
        "session_id IN (SELECT id FROM public.shopping_sessions WHERE NOT is_simulated)"
    ),
}
"""Which rows of each fixture table are real (tables not listed: every row is real)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class OwnerSchema:
    """One owner-like app schema and the facts its real rows give ``loadsim db check``."""

    name: str
    file: Path
    users: int
    """Real customers in ``users``."""
    category_brand_coupons: int
    products: int
    categories: int

    @property
    def sql_path(self) -> Path:
        """The schema file, or skip (fail under ``CI=true``) with one line naming it."""
        if not self.file.is_file():
            reason = f"{self.file} is missing (the {self.name} owner schema)"
            if in_ci():
                pytest.fail(f"CI=true and {reason}", pytrace=False)
            pytest.skip(reason)
        return self.file


PROJECT = OwnerSchema(
    "project", ROOT / "tests" / "data" / "owner_app_schema.sql",
    users=3, category_brand_coupons=2, products=5, categories=3,
)  # fmt: skip
SHARED = OwnerSchema(
    "shared", SHARED_FIXTURES / "owner_app_schema.sql",
    users=2, category_brand_coupons=1, products=2, categories=2,
)  # fmt: skip
BOTH = [pytest.param(PROJECT, id="project"), pytest.param(SHARED, id="shared")]
"""For ``parametrize``: the project's schema and the independent counterpart."""

_PGCRYPTO = "create extension if not exists pgcrypto;"


def create_owner_db(pg_server: object, name: str, schema: OwnerSchema = PROJECT) -> str:
    """A fresh database made from ``schema``'s SQL, executed as one script.

    The embedded Postgres (pgserver's wheel) ships no ``pgcrypto``; the shared fixture
    creates it only for ``gen_random_uuid()``, which Postgres has in core since 13. So when
    the extension is unavailable, that one statement is left out — every table, constraint
    and real customer row is created exactly as written.
    """
    sql = schema.sql_path.read_text()
    url = pg_server.create_database(f"{name}_{schema.name}", drop_first=True)  # type: ignore[attr-defined]
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            available = conn.execute(
                text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgcrypto'")
            ).scalar_one()
            if not available:
                sql = sql.replace(_PGCRYPTO, "")
            conn.exec_driver_sql(sql)
    finally:
        eng.dispose()
    return url


def app_tables(engine: Engine) -> dict[str, list[str]]:
    """``{table: [column, …]}`` of schema ``public`` (base tables only)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.table_name, c.column_name FROM information_schema.columns c"
                " JOIN information_schema.tables t USING (table_schema, table_name)"
                " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
                " ORDER BY c.table_name, c.ordinal_position"
            )
        ).all()
    out: dict[str, list[str]] = {}
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return out


def schema_snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Everything that defines ``public``: columns (type, null, default), constraints,
    indexes, triggers, and the list of schemas."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public' ORDER BY 1, 2",
        "triggers": "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
        " WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)"
        " ORDER BY 1, 2",
        "schemas": "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg_%'"
        " AND nspname <> 'information_schema' ORDER BY 1",
    }
    with engine.connect() as conn:
        return {k: [tuple(r) for r in conn.execute(text(q))] for k, q in queries.items()}


def real_rows_checksum(engine: Engine, tables: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    """``{table: (rows, md5)}`` over the real rows, with the columns each table had when
    ``tables`` was taken (so an additive column cannot change the checksum by itself)."""
    out = {}
    with engine.connect() as conn:
        for table, cols in sorted(tables.items()):
            collist = ", ".join(f'"{c}"' for c in cols)
            where = REAL.get(table, "true")
            n, digest = conn.execute(
                text(
                    f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"
                    f' FROM (SELECT {collist} FROM public."{table}" WHERE {where}) r'
                )
            ).one()
            out[table] = (int(n), str(digest))
    return out


def loadsim(
    *args: str, url: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess:
    """``loadsim …`` as a real process against ``url``."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    full.pop("LOADSIM_DB_MAP", None)
    full.update(DATABASE_URL=url, **env)
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True, text=True, env=full, timeout=180, cwd=cwd or ROOT,
    )  # fmt: skip
