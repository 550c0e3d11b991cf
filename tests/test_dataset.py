"""The run's training dataset (``reports.dataset``) on real Postgres: a small run played by
the real agent-hour code (``harness.agent.hour.AgentHours``) through the real recorder,
then written to Parquet and read back with pandas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.synthetic import random_personas, weekly_wallet
from harness.agent.catalog_cache import CatalogCache
from harness.agent.hour import AgentHours
from harness.agent.hourstats import HourCollector
from harness.agent.recorder import Recorder
from harness.cli import main
from personas.catalog import generate_catalog, seed_catalog
from personas.model import Persona
from personas.seed import seed_personas
from reports.dataset import write_dataset
from reports.dataset.schema import FILES, GENERATOR, ROLES
from tests.test_reports_support import write_manifest

SIM_START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday
HOURS = 48


class _DbShop(InMemoryShop):
    """The in-memory shop of ``--mock-api`` runs that also writes each order into the
    database as the reference API does (``orders`` + ``order_items``), so the dataset has
    orders to export."""

    def __init__(self, engine: Engine, user_id: int, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._engine, self._user_id = engine, user_id

    def checkout(self, idempotency_key: str) -> Any:
        lines = list(self.cart().lines)
        order = super().checkout(idempotency_key)
        with self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO orders (id, user_id, idempotency_key, subtotal_cents, "
                    "discount_cents, total_cents, is_simulated, simulated_at) VALUES "
                    "(:id, :u, :k, :s, :d, :t, true, now())"
                ),
                dict(id=order.order_id, u=self._user_id, k=idempotency_key,
                     s=order.subtotal_cents, d=order.discount_cents, t=order.total_cents),
            )  # fmt: skip
            for ln in lines:
                conn.execute(
                    text(
                        "INSERT INTO order_items (order_id, product_id, quantity, "
                        "unit_price_cents) VALUES (:o, :p, :q, :c)"
                    ),
                    dict(o=order.order_id, p=ln.product_id, q=ln.quantity, c=ln.unit_price_cents),
                )
        return order


def play_run(
    engine: Engine, run_id: str, personas: list[Persona], *, hours: int = HOURS
) -> dict[str, int]:
    """Seed catalog and personas, then play ``hours`` simulated hours of every persona
    through ``AgentHours`` and the real ``Recorder``; returns the hours' counters."""
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=42))
        seed_personas(conn, personas=personas)
        conn.execute(
            text(
                "INSERT INTO simulation_runs (run_id, time_scale, seed, sim_start) "
                "VALUES (:r, 96, 3, :s)"
            ),
            dict(r=run_id, s=SIM_START),
        )
        ids = {
            pid: (int(a), int(u))
            for pid, a, u in conn.execute(text("SELECT persona_id, id, user_id FROM agents"))
        }
    catalog = CatalogCache.from_db(engine)
    rt = SimpleNamespace(
        run=SimpleNamespace(seed=3, run_id=run_id, replay_until_hour=2),
        recorder=Recorder(engine, run_id=run_id, worker="w1"), collector=HourCollector(),
        graph=compile_shopping_graph(), measure_graph=lambda ms, exc=None: None,
        llm=None, opts=SimpleNamespace(llm_share=0.0),  # the rules decide every hour
    )  # fmt: skip
    for p in personas:
        agent_id, user_id = ids[p.persona_id]
        shop = _DbShop(engine, user_id, catalog.products, weekly_wallet(p, 0))
        agent = AgentHours(rt, agent_id=agent_id, persona=p, shop=shop)
        for h in range(hours):
            agent.run(h, SIM_START + timedelta(hours=h, minutes=17), 0.01)
    rt.recorder.flush()
    totals: dict[str, int] = {}
    for b in rt.collector._hours.values():
        for k, v in b.counts.items():
            totals[k] = totals.get(k, 0) + v
    return totals


def _db_counts(engine: Engine, run_id: str) -> dict[str, int]:
    sql = {
        "events": "SELECT count(*) FROM shopping_session_events WHERE run_id = :r",
        "sessions": "SELECT count(*) FROM shopping_sessions WHERE run_id = :r",
        "orders": "SELECT count(*) FROM shopping_sessions s JOIN orders o ON o.id = s.order_id "
        "WHERE s.run_id = :r",
        "agent_hours": "SELECT count(*) FROM agent_hours WHERE run_id = :r",
        "personas": "SELECT count(DISTINCT agent_id) FROM agent_hours WHERE run_id = :r",
    }
    with engine.connect() as conn:
        return {k: int(conn.execute(text(q), {"r": run_id}).scalar_one()) for k, q in sql.items()}


@pytest.fixture()
def played(clean_db, tmp_path: Path) -> dict[str, Any]:
    personas = random_personas(12, seed=11)
    counters = play_run(clean_db, "ds1", personas)
    run_dir = tmp_path / "runs" / "ds1"
    write_manifest(run_dir, sim_start=SIM_START.isoformat(), persona_file=str(tmp_path / "none"))
    return dict(engine=clean_db, run_dir=run_dir, counters=counters, personas=personas)


def _frames(d: Path) -> dict[str, pd.DataFrame]:
    return {n: pd.read_parquet(d / f"{n}.parquet") for n in FILES}


def test_row_counts_equal_the_database_and_agent_hours_equal_acted(played) -> None:
    engine, run_dir = played["engine"], played["run_dir"]
    res = write_dataset(run_dir, engine)
    d = run_dir / "dataset"
    assert res.path == d and sorted(p.name for p in d.iterdir()) == sorted(
        [f"{n}.parquet" for n in FILES] + ["schema.json", "README.md"]
    )
    frames = _frames(d)
    truth = _db_counts(engine, "ds1")
    assert {n: len(f) for n, f in frames.items()} == truth == res.counts
    assert truth["events"] > 0 and truth["orders"] > 0 and truth["sessions"] > 0
    # every agent-hour, the hours without a visit included, equals what the hours counted
    assert len(frames["agent_hours"]) == played["counters"]["acted"] == 12 * HOURS
    hours = frames["agent_hours"]
    assert (hours["decision"] == "none").sum() > len(hours) / 2  # the negatives are there
    assert set(hours["decision"]) <= {"shop", "idle", "none", "missed"}
    assert hours["is_replay"].sum() == 12 * 2  # replay_until_hour=2: hours 0 and 1
    assert hours["sim_time"].min() == pd.Timestamp(SIM_START)
    # payload fields are typed columns, and the catalogue knows every key the graph writes
    ev = frames["events"]
    starts = ev[ev["event_type"] == "session_start"]
    assert starts["payload_p_shop"].dtype == "float64" and starts["payload_p_shop"].notna().all()
    assert ev["payload_other"].isna().all()
    views = ev[ev["event_type"] == "view_product"]
    assert all(isinstance(c[0], str) for c in views["payload_categories"])
    # orders carry their lines; their sum is the order's subtotal
    orders = frames["orders"]
    for _, o in orders.iterrows():
        assert (
            sum(ln["quantity"] * ln["unit_price_cents"] for ln in o["lines"]) == o["subtotal_cents"]
        )
    personas = frames["personas"]
    assert personas["persona_id"].is_unique and len(personas) == 12
    assert personas["preferred_days"].map(len).min() >= 1
    assert personas["cart_abandonment_rate"].dtype == "float64"
    card = (d / "README.md").read_text()
    assert f"| events.parquet | {truth['events']} |" in card
    assert "code version: `test`" in card and "seed: 7" in card


def test_every_column_is_in_the_schema_with_a_role(played) -> None:
    d = write_dataset(played["run_dir"], played["engine"]).path
    doc = json.loads((d / "schema.json").read_text())
    for name in FILES:
        written = pq.read_schema(d / f"{name}.parquet")
        cols = doc["files"][f"{name}.parquet"]["columns"]
        assert [c["name"] for c in cols] == written.names
        for c in cols:
            assert c["role"] in ROLES and c["meaning"], c
            assert c["type"] == str(written.field(c["name"]).type)
    roles = {c["name"]: c["role"] for c in doc["files"]["events.parquet"]["columns"]}
    for gen in ("payload_p_shop", "payload_p_abandon", "payload_draw", "payload_p_idle"):
        assert roles[gen] == GENERATOR
    (lines,) = [c for c in doc["files"]["orders.parquet"]["columns"] if c["name"] == "lines"]
    line_type = pq.read_schema(d / "orders.parquet").field("lines").type.value_type
    assert [(f["name"], f["type"]) for f in lines["fields"]] == [
        (f.name, str(f.type)) for f in line_type
    ]
    p_roles = {c["name"]: c["role"] for c in doc["files"]["personas.parquet"]["columns"]}
    assert p_roles["cart_abandonment_rate"] == GENERATOR and p_roles["age"] == "observable"


def test_no_generator_leaves_the_generator_columns_out(played) -> None:
    realism = played["run_dir"] / "realism"
    realism.mkdir()
    (realism / "realism.csv").write_text(
        "statistic,score,sim_mean,real_mean,retailsynth,gated,note\n"
        "basket size,0.9123,9.1,8.7,,True,\n"
    )
    d = write_dataset(played["run_dir"], played["engine"], generator=False).path
    assert "| basket size | 0.9123 | 9.1 | 8.7 |" in (d / "README.md").read_text()
    doc = json.loads((d / "schema.json").read_text())
    assert doc["generator_columns_included"] is False
    for name in FILES:
        cols = doc["files"][f"{name}.parquet"]["columns"]
        assert GENERATOR not in {c["role"] for c in cols}
        assert [c["name"] for c in cols] == pq.read_schema(d / f"{name}.parquet").names
    ev = pd.read_parquet(d / "events.parquet")
    assert "payload_p_shop" not in ev and "payload_draw" not in ev and "event_type" in ev
    assert "cart_abandonment_rate" not in pd.read_parquet(d / "personas.parquet")


def _split_of_persona(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = [f[["persona_id", "split"]] for f in frames.values()]
    return pd.concat(parts).drop_duplicates()


def test_persona_split_puts_each_persona_in_one_split(played) -> None:
    d = write_dataset(played["run_dir"], played["engine"]).path
    pairs = _split_of_persona(_frames(d))
    assert pairs["persona_id"].is_unique  # no persona in two splits, across all files
    assert set(pairs["split"]) <= {"train", "validation", "test"}
    assert pairs["split"].notna().all()


def test_time_split_trains_on_the_first_hours(played) -> None:
    d = write_dataset(played["run_dir"], played["engine"], split="time").path
    frames = _frames(d)
    hours = frames["agent_hours"]
    # 48 hours: the first whole day trains, the second tests
    assert set(hours.loc[hours["sim_hour"] < 24, "split"]) == {"train"}
    assert set(hours.loc[hours["sim_hour"] >= 24, "split"]) == {"test"}
    ev = frames["events"]
    assert (ev["split"] == ev["sim_hour"].map(lambda h: "train" if h < 24 else "test")).all()
    assert frames["personas"]["split"].isna().all()


def test_held_out_households_are_in_test_and_provenance_travels(clean_db, tmp_path) -> None:
    from personas.derive.derive import DeriveResult
    from personas.derive.split import Split
    from personas.derive.workbook import write_derived

    personas = random_personas(10, seed=4)
    households = {p.persona_id: f"h{i}" for i, p in enumerate(personas)}
    # A hand-made workbook: personas derive never samples the held-out half, so two of
    # these personas' households are declared held out to see them go to test.
    held = {households[personas[0].persona_id], households[personas[1].persona_id]}
    split = Split(
        derive=tuple(sorted(set(households.values()) - held)), holdout=tuple(sorted(held)),
        sample=tuple(households.values()), strata={},
    )  # fmt: skip
    sources = {p.persona_id: {"age": "demographics: AGE_DESC"} for p in personas}
    prov = {"source": "completejourney", "seed": 9, "households": 10, "holdout_households": 2}
    wb = write_derived(
        DeriveResult(personas, sources, split, prov, households), tmp_path / "derived.xlsx"
    )
    play_run(clean_db, "ds2", personas, hours=6)
    run_dir = tmp_path / "runs" / "ds2"
    write_manifest(run_dir, persona_file=str(wb), sim_start=SIM_START.isoformat())
    d = write_dataset(run_dir, clean_db).path
    frames = _frames(d)
    pers = frames["personas"].set_index("persona_id")
    for p in personas[:2]:
        assert pers.loc[p.persona_id, "split"] == "test"
        assert pers.loc[p.persona_id, "household_split"] == "holdout"
    assert pers.loc[personas[3].persona_id, "household"] == "h3"
    assert pers.loc[personas[3].persona_id, "source_age"] == "demographics: AGE_DESC"
    hours = frames["agent_hours"]
    held_ids = {p.persona_id for p in personas[:2]}
    assert set(hours.loc[hours["persona_id"].isin(held_ids), "split"]) == {"test"}
    assert _split_of_persona(frames)["persona_id"].is_unique
    card = (d / "README.md").read_text()
    assert "completejourney" in card and "2 households held out" in card


def test_cli_rebuilds_the_dataset_from_the_database(played, settings_env, capsys) -> None:
    run_dir = played["run_dir"]
    url = played["engine"].url.render_as_string(hide_password=False)
    settings_env.setenv("DATABASE_URL", url)
    argv = ["dataset", "ds1", "--runs-dir", str(run_dir.parent), "--no-generator"]
    assert main([*argv, "--split", "time"]) == 0
    out = capsys.readouterr().out
    assert f"dataset of run ds1 written to {run_dir / 'dataset'}" in out
    doc = json.loads((run_dir / "dataset" / "schema.json").read_text())
    assert doc["split"] == "time" and doc["generator_columns_included"] is False
    n = _db_counts(played["engine"], "ds1")["events"]
    assert doc["files"]["events.parquet"]["rows"] == n


def test_cli_without_the_database_is_one_line_exit_2(tmp_path, settings_env, capsys) -> None:
    run_dir = tmp_path / "runs" / "gone"
    write_manifest(run_dir)
    settings_env.setenv("DATABASE_URL", "postgresql+psycopg://u:secret@127.0.0.1:9/none")
    assert main(["dataset", "gone", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "secret" not in err
    assert "cannot reach the database" in err and "gone" in err
    assert not (run_dir / "dataset").exists()


def test_cli_mock_db_run_has_no_rows_exit_2(tmp_path, settings_env, capsys) -> None:
    run_dir = tmp_path / "runs" / "mock"
    write_manifest(run_dir, mock_db=True)
    assert main(["dataset", "mock", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--mock-db" in err
    assert not (run_dir / "dataset").exists()


def test_cli_unknown_run_in_the_database_exit_2(clean_db, tmp_path, settings_env, capsys) -> None:
    run_dir = tmp_path / "runs" / "other"
    write_manifest(run_dir)
    settings_env.setenv("DATABASE_URL", clean_db.url.render_as_string(hide_password=False))
    assert main(["dataset", "other", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run in the database" in err
    assert not (run_dir / "dataset").exists()


def test_experiment_arms_travel_as_a_context_column(played) -> None:
    engine, run_dir = played["engine"], played["run_dir"]
    with engine.begin() as conn:
        agents = conn.execute(
            text("SELECT DISTINCT agent_id FROM agent_hours WHERE run_id = 'ds1' ORDER BY 1")
        ).scalars()
        arm_of = {a: ("treatment" if i % 2 else "control") for i, a in enumerate(agents)}
        for a, arm in arm_of.items():
            conn.execute(
                text(
                    "INSERT INTO experiment_assignments (run_id, agent_id, persona_id, arm, "
                    "stratum) SELECT 'ds1', id, persona_id, :arm, 's' FROM agents WHERE id = :a"
                ),
                dict(a=a, arm=arm),
            )
            conn.execute(
                text("UPDATE shopping_sessions SET arm = :arm WHERE agent_id = :a"),
                dict(a=a, arm=arm),
            )
    d = write_dataset(run_dir, engine).path
    frames = _frames(d)
    for name, f in frames.items():
        assert (f["arm"] == f["agent_id"].map(arm_of)).all(), name
    doc = json.loads((d / "schema.json").read_text())
    arm_col = [c for c in doc["files"]["events.parquet"]["columns"] if c["name"] == "arm"]
    assert arm_col[0]["role"] == "context"
    assert "control (" in (d / "README.md").read_text()


def test_run_end_call_logs_one_line_when_the_database_is_gone(tmp_path, caplog) -> None:
    from db.engine import create_db_engine
    from reports.dataset import write_run_dataset

    run_dir = tmp_path / "runs" / "r"
    write_manifest(run_dir)
    engine = create_db_engine("postgresql+psycopg://u:pw@127.0.0.1:9/none", total_connections=1)
    try:
        with caplog.at_level("INFO", logger="loadsim"):
            assert write_run_dataset(run_dir, engine) is None
    finally:
        engine.dispose()
    (rec,) = [r for r in caplog.records if "dataset" in r.getMessage()]
    assert rec.levelname == "WARNING" and rec.exc_info is None
    assert "\n" not in rec.getMessage() and "loadsim dataset RUN" in rec.getMessage()
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json"]
    assert write_run_dataset(run_dir, None) is None  # --mock-db: nothing to write


def test_cli_refuses_an_output_directory_that_is_not_a_dataset(tmp_path, capsys) -> None:
    run_dir = tmp_path / "runs" / "r1"
    write_manifest(run_dir)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["dataset", "r1", "--runs-dir", str(tmp_path / "runs"), "-o", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"-o {mine}: exists and is not a dataset directory" in err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_split_rules_are_stable_and_proportionate() -> None:
    from reports.dataset.split import persona_split, time_cutoff

    ids = [f"H{i}" for i in range(10_000)]
    splits = [persona_split(p) for p in ids]
    assert splits == [persona_split(p) for p in ids]  # the same in every run
    share = {s: splits.count(s) / len(ids) for s in ("train", "validation", "test")}
    assert abs(share["train"] - 0.8) < 0.02 and abs(share["test"] - 0.1) < 0.02
    # whole days from two days on: 4 weeks -> 3 weeks train; short runs by hours
    assert [time_cutoff(h) for h in (1, 2, 10, 48, 72, 672)] == [1, 1, 7, 24, 48, 504]


def test_model_decided_baskets_and_unknown_payload_keys(played) -> None:
    engine, run_dir = played["engine"], played["run_dir"]
    llm = {"decided_by": "llm", "llm_model": "m", "prompt_hash": "ab", "tokens_in": 120,
           "tokens_out": 30, "latency_ms": 412.5, "llm_cached": False}  # fmt: skip
    with engine.begin() as conn:
        sid, seq = conn.execute(
            text("SELECT session_id, seq FROM shopping_session_events WHERE run_id = 'ds1' "
                 "AND event_type = 'cart_add_item' ORDER BY id LIMIT 1")
        ).one()  # fmt: skip
        conn.execute(
            text("UPDATE shopping_session_events SET payload = payload || CAST(:p AS jsonb) "
                 "WHERE session_id = :s AND seq = :q"),
            dict(p=json.dumps({**llm, "new_key": [1, 2]}), s=sid, q=seq),
        )  # fmt: skip
    ev = pd.read_parquet(write_dataset(run_dir, engine).path / "events.parquet")
    row = ev[(ev["session_id"] == sid) & (ev["seq"] == seq)].iloc[0]
    assert {k: row[f"payload_{k}"] for k in llm} == llm
    assert json.loads(row["payload_other"]) == {"new_key": [1, 2]}  # kept, not lost
    assert ev["payload_other"].notna().sum() == 1
