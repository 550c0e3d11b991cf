"""``loadsim personas derive --from database``: the owner's real customers (non-simulated
orders) become personas through the same estimators, read-only — and agents derived from
them realize those customers' frequency and basket size within sampling error."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from db import migrate
from db.models import metadata
from harness.cli.app import main

CUSTOMERS = 40
WEEKS = 12


@pytest.fixture(scope="module")
def real_db(pg_server):
    from sqlalchemy import create_engine

    from db.engine import normalize_url
    from personas.catalog import generate_catalog, seed_catalog

    url = pg_server.create_database("test_derive_database", drop_first=True)
    migrate.upgrade(url)
    eng = create_engine(normalize_url(url))
    rng = random.Random(7)
    truth = {}
    with eng.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=7))
        products = conn.execute(text("SELECT id, store_id, price_cents FROM products")).all()
        by_store: dict[int, list] = {}
        for p in products:
            by_store.setdefault(p.store_id, []).append(p)
        stores = sorted(by_store)
        start = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
        for i in range(CUSTOMERS + 1):
            simulated = i == CUSTOMERS  # one simulated user: must be ignored
            uid = conn.execute(
                text("INSERT INTO users (email, is_simulated) VALUES (:e, :s) RETURNING id"),
                {"e": f"c{i}@example.com", "s": simulated},
            ).scalar_one()
            per_week = 1 + i % 3
            mean_lines = 4 + 3 * (i % 4)
            shelf = by_store[stores[i % len(stores)]]
            n_orders, n_lines = 0, 0
            for w in range(WEEKS):
                for t in range(per_week):
                    at = start + timedelta(weeks=w, days=2 * t + (i % 2), hours=17)
                    k = min(len(shelf), 1 + int(rng.expovariate(1 / (mean_lines - 1))))
                    items = rng.sample(shelf, k)
                    total = sum(p.price_cents for p in items)
                    oid = conn.execute(
                        text(
                            "INSERT INTO orders (user_id, idempotency_key, subtotal_cents, "
                            "total_cents, is_simulated, created_at) VALUES (:u, :k, :t, :t, "
                            ":s, :at) RETURNING id"
                        ),
                        {"u": uid, "k": f"o{i}-{w}-{t}", "t": total, "s": simulated, "at": at},
                    ).scalar_one()
                    for p in items:
                        conn.execute(
                            text(
                                "INSERT INTO order_items (order_id, product_id, quantity, "
                                "unit_price_cents) VALUES (:o, :p, 1, :c)"
                            ),
                            {"o": oid, "p": p.id, "c": p.price_cents},
                        )
                    n_orders += 1
                    n_lines += k
            if not simulated:
                truth[str(uid)] = (n_orders / WEEKS, n_lines / n_orders)
    yield url, eng, truth
    eng.dispose()


def _checksum(eng) -> dict[str, str]:
    out = {}
    with eng.connect() as conn:
        for name in metadata.tables:
            out[name] = conn.execute(
                text(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f'FROM "{name}" t'
                )  # fmt: skip
            ).scalar_one()
    return out


def test_database_customers_become_personas_that_shop_like_them(real_db, tmp_path, monkeypatch):
    url, eng, truth = real_db
    monkeypatch.setenv("DATABASE_URL", url)
    before = _checksum(eng)
    out = tmp_path / "owners.xlsx"
    argv = ["personas", "derive", "--from", "database", "--households", "20", "-o", str(out)]
    assert main(argv) == 0
    assert _checksum(eng) == before  # read-only: no row changed anywhere

    from behaviors.calibration import calibrate
    from harness.agent.catalog_cache import CatalogCache
    from personas.catalog import generate_catalog
    from personas.derive.workbook import read_provenance
    from personas.reader import read_personas
    from reports.realism import OrderCollector

    personas = read_personas(out)
    meta, split = read_provenance(out)
    assert meta["source"] == "database" and meta["price_ratio"] == pytest.approx(1.0, rel=0.05)
    assert len(split) == CUSTOMERS  # the simulated user's orders were not read
    derived = {p.persona_id: p.persona_id.removeprefix("H") for p in personas}
    assert set(derived.values()) <= set(truth)

    weeks = 8
    catalog = CatalogCache.from_generated(generate_catalog(seed=7))
    col = OrderCollector(list(catalog.products))
    report = calibrate(
        personas, weeks=weeks, seed=4, products=list(catalog.products),
        store_ids=catalog.stores, on_session=col,
    )  # fmt: skip
    assert report.passed
    sim = col.frame().lines
    orders = sim.groupby("household")["basket"].nunique()
    lines = sim.groupby("basket").size()
    real_freq = [truth[h][0] for h in derived.values()]
    real_lines = sum(truth[h][1] * truth[h][0] for h in derived.values()) / sum(real_freq)
    n = len(personas) * weeks
    sim_freq = orders.sum() / n
    # sampling error: Poisson counts of orders; lines per basket ~ geometric (sd ≈ mean)
    se_f = math.sqrt(sum(real_freq) / len(real_freq) / n)
    print(
        f"orders/week sim {sim_freq:.3f} real {sum(real_freq) / len(real_freq):.3f} ± {se_f:.3f}; lines/basket sim {lines.mean():.2f} real {real_lines:.2f} ± {real_lines / math.sqrt(len(lines)):.2f}"
    )
    assert abs(sim_freq - sum(real_freq) / len(real_freq)) <= 3 * se_f
    se_l = real_lines / math.sqrt(len(lines))
    assert abs(lines.mean() - real_lines) <= 3 * se_l
