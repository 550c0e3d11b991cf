"""Fixtures for the reference-API tests (imported by the ``test_api_*`` modules).

The API runs for real: ``python -m reference_api`` in a subprocess (the exact command the
harness master launches) on a port it picks itself, against its own freshly migrated
database on the session's embedded Postgres. The seed is a minimal world of rows written
directly, so these tests depend on nothing but the schema.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

SIM_NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
"""The simulated "now" the tests send in ``X-Simulated-Time``."""


@dataclass
class ApiServer:
    """A running ``python -m reference_api`` subprocess."""

    base_url: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    db_url: str,
    log_path: Path,
    *,
    simulation_mode: bool = True,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> ApiServer:
    """Start the API on a free loopback port and wait until ``/health`` answers."""
    env = dict(os.environ, DATABASE_URL=db_url, SIMULATION_MODE=str(simulation_mode).lower())
    env.update(extra_env or {})
    log_file = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_api", "--host", "127.0.0.1", "--port", "0"]
        + ["--db-connections", "8", *extra_args],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 60
    port = None
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log_path.read_text())
        if m:
            port = int(m.group(1))
            break
        time.sleep(0.1)
    if port is None:
        proc.kill()
        raise RuntimeError(f"reference_api did not start:\n{log_path.read_text()}")
    server = ApiServer(f"http://127.0.0.1:{port}", proc, log_path)
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.base_url + "/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"reference_api /health never answered:\n{server.log()}")


def stop_server(server: ApiServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def api_db_url(pg_server) -> str:
    """A database of its own for the API tests, migrated with alembic."""
    from db import migrate

    url = pg_server.create_database(f"api_test_{os.getpid()}", drop_first=True)
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def api_engine(api_db_url) -> Iterator[Engine]:
    from db.engine import create_db_engine

    eng = create_db_engine(api_db_url, total_connections=6)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def api_server(api_db_url, tmp_path_factory) -> Iterator[ApiServer]:
    """The API in simulation mode."""
    server = start_server(api_db_url, tmp_path_factory.mktemp("api") / "server.log")
    yield server
    stop_server(server)


@dataclass
class World:
    """Ids of the seeded rows (see :func:`seed_world`)."""

    stores: list[int] = field(default_factory=list)
    products: dict[str, int] = field(default_factory=dict)
    agents: list[int] = field(default_factory=list)
    users: list[int] = field(default_factory=list)
    real_agent: int = 0
    coupons: dict[str, int] = field(default_factory=dict)
    wallet: dict[str, int] = field(default_factory=dict)
    """user_coupon ids of the first agent's wallet, by name."""
    other_wallet: dict[str, int] = field(default_factory=dict)
    """user_coupon ids of the second agent's wallet."""


def _insert(conn, table: str, **values) -> int:
    cols = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    return conn.execute(
        text(f"INSERT INTO {table} ({cols}) VALUES ({params}) RETURNING id"), values
    ).scalar_one()


def seed_world(engine: Engine, *, agents: int = 3) -> World:
    """Two stores, six products, ``agents`` simulated agents (+ one non-simulated),
    coupons of each kind and wallets for the first two agents."""
    w = World()
    persona = json.dumps({"persona_id": "x"})
    with engine.begin() as conn:
        for i in range(2):
            w.stores.append(
                _insert(
                    conn, "stores", code=f"S{i}", name=f"Store {i}", city="Pune", is_simulated=True
                )
            )
        catalog = {
            "milk": ("dairy", "Amul", 250),
            "cheese": ("dairy", "Gowardhan", 1200),
            "rice": ("grains", "IndiaGate", 900),
            "soap": ("personal", "Dove", 400),
            "tea": ("beverages", "Tata", 650),
            "coffee": ("beverages", "Nescafe", 1500),
        }
        for idx, (name, (cat, brand, price)) in enumerate(catalog.items()):
            w.products[name] = _insert(
                conn, "products", sku=f"SKU-{name}", store_id=w.stores[idx % 2], name=name.title(),
                category=cat, brand=brand, price_cents=price, is_simulated=True,
            )  # fmt: skip
        for i in range(agents + 1):
            real = i == agents
            uid = _insert(
                conn, "users", email=f"u{i}@sim.test", full_name=f"U{i}", is_simulated=not real
            )
            aid = conn.execute(
                text(
                    "INSERT INTO agents (user_id, persona_id, status, is_simulated, persona) "
                    "VALUES (:u, :p, 'active', :sim, CAST(:persona AS jsonb)) RETURNING id"
                ),
                {"u": uid, "p": f"P{i:03d}", "sim": not real, "persona": persona},
            ).scalar_one()
            if real:
                w.real_agent = aid
            else:
                w.users.append(uid)
                w.agents.append(aid)
        specs = {
            "front10": ("frontstore", "percent", 10, 0, None, None),
            "front_min": ("frontstore", "amount", 300, 5000, None, None),
            "dairy200": ("category_brand", "amount", 200, 0, "dairy", None),
            "tata20": ("category_brand", "percent", 20, 0, None, "Tata"),
            "expired": ("frontstore", "amount", 100, 0, None, None),
        }
        for name, (kind, dtype, value, min_spend, cat, brand) in specs.items():
            w.coupons[name] = _insert(
                conn, "coupons", code=f"C-{name}", kind=kind, title=name, discount_type=dtype,
                discount_value=value, min_spend_cents=min_spend, category=cat, brand=brand,
                is_simulated=True,
            )  # fmt: skip
        for owner, target in ((w.users[0], w.wallet), (w.users[1], w.other_wallet)):
            for name, cid in w.coupons.items():
                expires = (
                    SIM_NOW - timedelta(days=1)
                    if name == "expired"
                    else SIM_NOW + timedelta(days=14)
                )
                target[name] = _insert(
                    conn, "user_coupons", user_id=owner, coupon_id=cid, status="active",
                    is_simulation=True, assigned_sim_at=SIM_NOW - timedelta(days=2),
                    expires_sim_at=expires,
                )  # fmt: skip
    return w


def truncate_all(engine: Engine) -> None:
    from db.models import metadata

    names = ", ".join(f'"{t}"' for t in metadata.tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture()
def world(api_engine) -> Iterator[World]:
    """A freshly seeded world; every table truncated after the test."""
    truncate_all(api_engine)
    yield seed_world(api_engine)
    truncate_all(api_engine)


def headers(agent_id: int, now: datetime = SIM_NOW) -> dict[str, str]:
    """The headers the harness sends: dev token and simulated time."""
    return {"Authorization": f"Bearer dev:{agent_id}", "X-Simulated-Time": now.isoformat()}
