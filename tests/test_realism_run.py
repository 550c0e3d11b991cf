"""``loadsim realism RUN``: a finished run's orders, read from the database, give the same
basket statistics as the same sessions scored offline (one definition, two sources)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from db import migrate
from db.engine import normalize_url
from harness.cli.app import main
from personas import SAMPLE_PATH


@pytest.fixture(scope="module")
def run_db(pg_server):
    from behaviors.calibration import calibrate
    from harness.agent.catalog_cache import CatalogCache
    from personas.catalog import generate_catalog, seed_catalog
    from personas.reader import read_personas
    from reports.realism import OrderCollector

    url = pg_server.create_database("test_realism_run", drop_first=True)
    migrate.upgrade(url)
    data = generate_catalog(seed=7)
    catalog = CatalogCache.from_generated(data)
    personas = read_personas(SAMPLE_PATH)[:25]
    col = OrderCollector(list(catalog.products))
    calibrate(personas, weeks=2, seed=3, products=list(catalog.products),
              store_ids=catalog.stores, on_session=col)  # fmt: skip
    lines = col.frame().lines
    eng = create_engine(normalize_url(url))
    with eng.begin() as conn:
        seed_catalog(conn, data=data)
        # the cache numbers products in generation order; the database by SKU
        by_sku = dict(conn.execute(text("SELECT sku, id FROM products")).all())
        pid = {str(i + 1): by_sku[p.sku] for i, p in enumerate(data.products)}
        conn.execute(
            text(
                "INSERT INTO simulation_runs (run_id, time_scale, seed, sim_start, sim_end) "
                "VALUES ('r1', 1, 3, '2025-01-06T00:00:00Z', '2025-01-20T00:00:00Z')"
            )
        )
        agent_of = {}
        for p in personas:
            uid = conn.execute(
                text("INSERT INTO users (email, is_simulated) VALUES (:e, true) RETURNING id"),
                {"e": f"{p.persona_id}@sim.example"},
            ).scalar_one()
            agent_of[p.persona_id] = conn.execute(
                text(
                    "INSERT INTO agents (user_id, persona_id, persona) VALUES (:u, :p, "
                    "CAST(:j AS jsonb)) RETURNING id"
                ),
                {"u": uid, "p": p.persona_id, "j": json.dumps(p.model_dump(mode="json"))},
            ).scalar_one()
        for n, (basket, g) in enumerate(lines.groupby("basket")):
            hh, ts = g["household"].iloc[0], g["ts"].iloc[0]
            total = int(g["value_cents"].sum())
            disc = 1 if g["coupon"].iloc[0] else 0
            oid = conn.execute(
                text(
                    "INSERT INTO orders (user_id, idempotency_key, subtotal_cents, "
                    "discount_cents, total_cents, is_simulated) SELECT user_id, :k, :t, :d, "
                    ":t, true FROM agents WHERE id = :a RETURNING id"
                ),
                {"k": basket, "t": total, "d": disc, "a": agent_of[hh]},
            ).scalar_one()
            for r in g.itertuples():
                conn.execute(
                    text(
                        "INSERT INTO order_items (order_id, product_id, quantity, "
                        "unit_price_cents) VALUES (:o, :p, :q, :c)"
                    ),
                    {"o": oid, "p": pid[r.product], "q": int(r.units),
                     "c": int(r.value_cents // r.units)},
                )  # fmt: skip
            conn.execute(
                text(
                    "INSERT INTO shopping_sessions (run_id, agent_id, sim_hour, status, "
                    "started_sim_at, order_id) VALUES ('r1', :a, :h, 'completed', :ts, :o)"
                ),
                {"a": agent_of[hh], "h": n, "ts": ts.tz_localize("UTC"), "o": oid},
            )
    eng.dispose()
    return url, col


def test_run_mode_scores_the_runs_orders_like_offline(run_db, monkeypatch, capsys):
    from harness.cli.commands.realism import _score, run_recorded

    url, col = run_db
    monkeypatch.setenv("DATABASE_URL", url)
    report = run_recorded("r1", personas=SAMPLE_PATH, progress=lambda _m: None)
    rows, _s, _r, _n = _score(col.frame(), SAMPLE_PATH, 2, None, lambda _m: None)
    offline = {r.spec.name: r for r in rows}
    for r in report.rows:
        if r.spec.name in ("lines per basket", "basket value", "hour-of-day share",
                           "day-of-week share", "category share of lines"):  # fmt: skip
            assert r.sim_mean == pytest.approx(offline[r.spec.name].sim_mean), r.spec.name
            assert r.score == pytest.approx(offline[r.spec.name].score), r.spec.name
    names = {r.spec.name for r in report.rows}
    assert "baskets per household-week" in names and "days between trips" in names
    assert main(["realism", "r1", "--personas", str(SAMPLE_PATH)]) == 0
    assert "agents, 14.0 simulated days (2 complete week(s)" in capsys.readouterr().out


def test_unknown_run_is_one_line_exit_2(run_db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", run_db[0])
    assert main(["realism", "no-such-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such run" in err[0]
