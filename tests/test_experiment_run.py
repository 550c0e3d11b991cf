"""``--experiment`` on a run, piece by piece on real Postgres: the option refuses a bad
file in one line; the master's assignment goes into the manifest and
``experiment_assignments``; a grant carries the arm (and the arm's persona-side
attributes); the recorder writes the arm on the session and in every event's payload —
and, without an experiment, writes exactly what it wrote before."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from behaviors.synthetic import random_personas
from db.errors import ConfigError
from harness.agent.hour import ending_of
from harness.agent.lease_client import LeaseClient
from harness.agent.recorder import Recorder
from harness.config.messages import Grant, LeaseRequest
from harness.config.options import HarnessOptions
from harness.control.experiment_arms import ExperimentArms, experiment_for
from harness.control.lease_broker import LeaseBroker
from harness.control.leases import LeasePool, PoolEntry
from personas.catalog import generate_catalog, seed_catalog
from personas.seed import seed_personas
from reports.export import export_events
from tests.experiment_files import two_arms
from tests.test_recorder_finish import a_shopping_session

FILE = two_arms(
    seed=7, discount_multiplier=2.0, wallet_capacity=4, persona={"price_consciousness": 0.95}
)


def _ns(**kw):
    return SimpleNamespace(**kw)


def test_the_option_refuses_a_bad_file_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(FILE.replace("wallet_capacity", "wallet_capacityy"))
    with pytest.raises(ConfigError) as err:
        HarnessOptions.from_parsed(_ns(experiment=str(bad)))
    assert str(err.value).startswith(f"{bad}: line 9: [arms.deeper] wallet_capacityy: unknown")
    good = tmp_path / "two_arms.toml"
    good.write_text(FILE)
    opts = HarnessOptions.from_parsed(_ns(experiment=str(good)))
    assert opts.experiment == str(good)
    assert HarnessOptions.from_json(opts.to_json()).experiment == str(good)  # to workers
    assert HarnessOptions.from_parsed(_ns()).experiment == ""


def _entries(personas, ids=None):
    ids = ids or {p.persona_id: i + 1 for i, p in enumerate(personas)}
    return [
        PoolEntry(int(ids[p.persona_id]), 1000 + int(ids[p.persona_id]), p.persona_id,
                  p.segment, p.model_dump(mode="json"))
        for p in personas
    ]  # fmt: skip


class _Runner:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, str | None]] = []

    def send_message(self, kind, data, client_id=None):
        self.sent.append((kind, data, client_id))


def test_a_grant_carries_the_arm_and_its_persona_side_attributes(tmp_path):
    f = tmp_path / "two_arms.toml"
    f.write_text(FILE)
    entries = _entries(random_personas(40, seed=3))
    pool = LeasePool(entries, seed=1)
    assert experiment_for(_ns(experiment=""), pool) is None
    arms = experiment_for(_ns(experiment=str(f)), pool)
    assert arms is not None
    described = arms.describe()
    assert described["contents"] == FILE and described["control"] == "current"
    assert sum(described["personas_per_arm"].values()) == 40
    assert set(described["counts"]) == {"current", "deeper"}
    runner = _Runner()
    client = LeaseClient(SimpleNamespace(runner=runner), spawn_rate=1000)
    results = [client.ask(f"w:{i}") for i in range(40)]
    client._send()
    broker = LeaseBroker(pool, runner=runner, experiment=arms)
    broker.on_lease(LeaseRequest.from_msg(runner.sent[0][1]), "w")
    grant = Grant.from_msg(next(m[1] for m in runner.sent if m[0] == "loadsim_grant"))
    client.on_grants(grant)
    got = [r.get(timeout=1) for r in results]
    assert {g["arm"] for g in got} == {"current", "deeper"}
    for g in got:
        assert g["arm"] == arms.arm_of_agent[g["agent_id"]]
        original = next(e.persona for e in entries if e.agent_id == g["agent_id"])
        if g["arm"] == "deeper":
            assert g["persona"]["price_consciousness"] == 0.95
        else:
            assert g["persona"] == original
    # the local engine's wallets: only the arm that changes something has a policy
    base = SimpleNamespace(model_copy=lambda update: ("copied", tuple(sorted(update))))
    policies = arms.wallet_policies(base)
    deeper_users = {u for u, a in arms.arm_of_user.items() if a == "deeper"}
    assert set(policies) == deeper_users
    assert set(policies.values()) == {(("copied", ("max_wallet_capacity",)), 2.0)}


def test_a_grant_without_an_experiment_carries_no_arm():
    runner = _Runner()
    broker = LeaseBroker(LeasePool(_entries(random_personas(3, seed=3)), seed=1), runner=runner)
    broker.on_lease(LeaseRequest(req_ids=["a"]), "w")
    entry = runner.sent[0][1]["grants"][0]["entry"]
    assert entry.get("arm") is None


def test_assignments_and_the_arm_of_sessions_and_events_in_the_database(engine, clean_db, tmp_path):
    f = tmp_path / "two_arms.toml"
    f.write_text(FILE)
    personas = random_personas(20, seed=5)
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=42))
        seed_personas(conn, personas=personas)
        conn.execute(
            text("INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES ('r', 96, 1)")
        )
        ids = dict(conn.execute(text("SELECT persona_id, id FROM agents")).all())
    arms = ExperimentArms.for_pool(str(f), _entries(personas, ids))
    arms.record(engine, run_id="r")
    arms.record(engine, run_id="r")  # a resumed run: nothing doubles
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT agent_id, arm, stratum, persona_id FROM experiment_assignments")
        ).all()
    assert len(stored) == 20
    assert {r.agent_id: r.arm for r in stored} == arms.arm_of_agent
    assert all(r.stratum.startswith("income=") for r in stored)

    p, h, slot, result = a_shopping_session(personas)
    agent_id = int(ids[p.persona_id])
    rec = Recorder(engine, run_id="r", worker="t")
    rec.arms[agent_id] = arms.arm_of_agent[agent_id]
    sid = rec.claim(
        agent_id=agent_id, sim_hour=h, decision="shop", sim_at=slot, is_replay=False, token="x"
    )
    rec.finish(agent_id=agent_id, sim_hour=h, session_id=sid, result=result, slip_s=0.1,
               is_replay=False, **ending_of(result))  # fmt: skip
    plain = Recorder(engine, run_id="r", worker="t")  # no experiment: as before
    sid2 = plain.claim(
        agent_id=agent_id, sim_hour=h + 1, decision="shop", sim_at=slot, is_replay=False, token="y"
    )
    plain.finish(agent_id=agent_id, sim_hour=h + 1, session_id=sid2, result=result, slip_s=0.1,
                 is_replay=False, **ending_of(result))  # fmt: skip
    with engine.connect() as conn:
        s_arm = dict(conn.execute(text("SELECT id, arm FROM shopping_sessions")).all())
        payloads = conn.execute(
            text("SELECT session_id, payload FROM shopping_session_events ORDER BY session_id, seq")
        ).all()
    arm = arms.arm_of_agent[agent_id]
    assert s_arm == {sid: arm, sid2: None}
    with_arm = [pl for s, pl in payloads if s == sid]
    without = [pl for s, pl in payloads if s == sid2]
    assert len(with_arm) == len(without) == len(result.events)
    for ev, a, b in zip(result.events, with_arm, without, strict=True):
        assert a == {**(ev.payload or {}), "arm": arm}
        assert b == ev.payload or (b is None and not ev.payload)
    # the training export carries the session's arm (empty without an experiment)
    out = tmp_path / "events.csv"
    with engine.connect() as conn:
        n = export_events(conn, run_id="r", out=out)
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert n == 2 * len(result.events)
    assert {(int(r["session_id"]), r["arm"]) for r in rows} == {(sid, arm), (sid2, "")}
