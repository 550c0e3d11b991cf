"""``loadsim experiment report RUN`` on real Postgres: a run's randomized personas, their
hours, sessions, orders and wallets become experiment.json (exactly the issue's row keys,
personas that never shopped counted as zeros) and a forest plot; a run without an
experiment is one line, exit 2, nothing written."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text

from behaviors.synthetic import random_personas
from harness.cli.app import main
from harness.control.experiment_arms import ExperimentArms
from harness.control.leases import PoolEntry
from offer_engine.scheduler import advance
from personas.catalog import generate_catalog, seed_catalog
from personas.seed import seed_personas
from reports.experiment import OUTPUT_KEYS
from tests.experiment_files import two_arms
from tests.test_offer_engine_support import T0, make_settings

FILE = two_arms(seed=3, discount_multiplier=2.0)


def _run(engine, tmp_path):
    personas = random_personas(20, seed=5)
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=42))
        seed_personas(conn, personas=personas)
        conn.execute(
            text(
                "INSERT INTO simulation_runs (run_id, time_scale, seed, sim_start, sim_end)"
                " VALUES ('r1', 168, 1, :s, :e)"
            ),
            {"s": T0, "e": T0 + timedelta(days=7)},
        )
        agents = conn.execute(text("SELECT id, user_id, persona_id FROM agents")).all()
    by_pid = {p.persona_id: p for p in personas}
    entries = [
        PoolEntry(a.id, a.user_id, a.persona_id, "s", by_pid[a.persona_id].model_dump(mode="json"))
        for a in agents
    ]
    f = tmp_path / "two_arms.toml"
    f.write_text(FILE)
    arms = ExperimentArms.for_pool(str(f), entries)
    arms.record(engine, run_id="r1")
    settings = make_settings()
    advance(engine, run_id="r1", sim_start=T0, to_sim_time=T0 + timedelta(hours=1),
            settings=settings, policies=arms.wallet_policies(settings))  # fmt: skip
    deeper = sorted(a for a in agents if arms.arm_of_agent[a.id] == "deeper")[:3]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO agent_hours (run_id, agent_id, sim_hour, decision, outcome)"
            " SELECT 'r1', a.id, h, 'none', 'none' FROM agents a, generate_series(0, 167) h"
        ))  # fmt: skip
        for i, a in enumerate(deeper):
            oid = conn.execute(text(
                "INSERT INTO orders (user_id, idempotency_key, subtotal_cents, discount_cents,"
                " total_cents, is_simulated) VALUES (:u, :k, 5000, 500, 4500, true) RETURNING id"
            ), {"u": a.user_id, "k": f"k{i}"}).scalar_one()  # fmt: skip
            conn.execute(text(
                "INSERT INTO shopping_sessions (run_id, agent_id, sim_hour, kind, status,"
                " started_sim_at, order_id, arm) VALUES ('r1', :a, :h, 'shop', 'completed', :t,"
                " :o, 'deeper')"
            ), {"a": a.id, "h": 10 + i, "t": T0, "o": oid})  # fmt: skip
            conn.execute(text(
                "UPDATE user_coupons SET status = 'redeemed' WHERE id = (SELECT min(id) FROM"
                " user_coupons WHERE user_id = :u)"
            ), {"u": a.user_id})  # fmt: skip
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    manifest = {"run_id": "r1", "mock_db": False, "experiment": arms.describe()}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return arms, run_dir


def test_the_readout_of_a_run(engine, clean_db, tmp_path, db_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", db_url)
    arms, run_dir = _run(engine, tmp_path)
    code = main(["experiment", "report", "r1", "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "experiment readout written to" in out
    result = json.loads((run_dir / "experiment.json").read_text())
    assert set(result) == {"arms", "metrics"}
    assert all(tuple(m) == OUTPUT_KEYS for m in result["metrics"])
    per_arm = {a["arm"]: a for a in result["arms"]}
    n_deeper = sum(1 for a in arms.arm_of_agent.values() if a == "deeper")
    assert (
        per_arm["deeper"]["personas"] == n_deeper
        and per_arm["current"]["personas"] == 20 - n_deeper
    )
    assert per_arm["deeper"]["persona_weeks"] == n_deeper  # 168 live hours each
    values = per_arm["deeper"]["values"]
    assert values["orders_per_persona_week"] == round(3 / n_deeper, 6)  # zeros count
    assert values["basket_value"] == 5000 and values["conversion"] == 1.0
    assert values["revenue_per_persona_week"] == round(3 * 4500 / n_deeper, 6)
    assert values["discount_cost_per_persona_week"] == round(3 * 500 / n_deeper, 6)
    assert values["redemption_rate_per_coupon"] == round(3 / (32 * n_deeper), 6)
    assert values["redemption_rate_per_persona_cycle"] == round(3 / n_deeper, 6)
    assert per_arm["current"]["values"]["orders_per_persona_week"] == 0
    assert per_arm["current"]["values"]["basket_value"] is None  # no order at all
    assert per_arm["deeper"]["parameters"]["discount_multiplier"] == 2.0
    orders = next(m for m in result["metrics"] if m["metric"] == "orders_per_persona_week")
    assert (orders["arm"], orders["control"]) == ("deeper", 0.0)
    png = run_dir / "plots" / "experiment_forest.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    # the run's report.xlsx gets the experiment sheet (a second readout replaces it)
    from openpyxl import Workbook, load_workbook

    wb = Workbook()
    wb.active.title = "summary"
    wb.save(run_dir / "report.xlsx")
    for _ in range(2):
        assert main(["experiment", "report", "r1", "--runs-dir", str(tmp_path / "runs")]) == 0
    book = load_workbook(run_dir / "report.xlsx")
    assert book.sheetnames == ["summary", "experiment"]
    rows = list(book["experiment"].iter_rows(values_only=True))
    assert rows[1][: len(OUTPUT_KEYS)] == OUTPUT_KEYS
    assert [r[0] for r in rows[2:9]] == [m["metric"] for m in result["metrics"]]
    assert {r[0] for r in rows[11:13]} == {"current", "deeper"}


def test_a_run_without_an_experiment_is_one_line(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "plain"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": "plain", "mock_db": False}))
    code = main(["experiment", "report", "plain", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "loadsim: error: plain: not an experiment run (manifest.json has no experiment; "
        "run with --experiment FILE)\n"
    )
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json"]


def test_the_realism_report_compares_the_control_arms_offer_response(
    engine, clean_db, tmp_path, db_url, monkeypatch
):
    """``loadsim realism RUN`` of an experiment run: each arm's persona-cycles with a
    redemption beside Complete Journey's 12.0 %, the control arm (from the file the run's
    options name) first. The statistics part is stubbed: it loads Complete Journey (slow)
    and is ``tests/test_realism_run.py``'s."""
    import harness.cli.commands.realism as realism

    monkeypatch.setenv("DATABASE_URL", db_url)
    arms, _run_dir = _run(engine, tmp_path)
    n_deeper = sum(1 for a in arms.arm_of_agent.values() if a == "deeper")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)"
                " SELECT o.id, (SELECT min(id) FROM products), 1, 5000 FROM orders o"
            )
        )
        conn.execute(
            text("UPDATE simulation_runs SET config = CAST(:c AS jsonb)"),
            {"c": json.dumps({"experiment": str(tmp_path / "two_arms.toml")})},
        )
    monkeypatch.setattr(realism, "_score", lambda *a, **k: ([], {}, {}, []))
    report = realism.run_recorded("r1", personas=None, progress=lambda _m: None)
    line = (
        f"offer response (persona-cycles with at least one redemption): control arm 'current' "
        f"0.0% (0 of {20 - n_deeper} persona-cycles); arm 'deeper' {3 / n_deeper:.1%} "
        f"(3 of {n_deeper} persona-cycles) — Complete Journey: 12.0 % of 6,589 "
        "household-campaigns (1,559 households) had at least one redemption (2,102 "
        "redemptions), i.e. 12.0%"
    )
    assert report.header[-1] == line
    # the file gone: the arms, in name order, none called control
    (tmp_path / "two_arms.toml").unlink()
    report = realism.run_recorded("r1", personas=None, progress=lambda _m: None)
    assert report.header[-1].startswith(
        "offer response (persona-cycles with at least one redemption): arm 'current' 0.0%"
    )
