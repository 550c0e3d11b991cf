"""The control plane's typed messages: every message survives the wire
(msgpack, as Locust sends it), a malformed one is refused with one readable line and never
reaches a handler nor raises in the sender, and no code in ``harness/`` sends a raw dict."""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.agent.hourstats import HourCollector
from harness.config.messages import (
    MESSAGES,
    ContractError,
    DbFingerprint,
    Grant,
    GrantItem,
    Hello,
    LeaseEntry,
    LeaseRequest,
    LlmTokensAsk,
    LlmTokensGrant,
    MessageError,
    Refused,
    Release,
    Revoke,
    RunConfig,
    WorkerReport,
)
from harness.config.options import HarnessOptions
from offer_engine.clock import SimClock

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "harness"


def _locust_protocol():
    """Locust's own rpc codec (``locust/rpc/protocol.py``), loaded by path: importing the
    ``locust`` package would monkey-patch this pytest process (and break its ssl)."""
    (pkg,) = importlib.util.find_spec("locust").submodule_search_locations
    spec = importlib.util.spec_from_file_location("_locust_rpc", Path(pkg) / "rpc/protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RPC = _locust_protocol()


def _run_config() -> RunConfig:
    """A run config as the director builds one (real clock, options, fingerprint)."""
    start = datetime(2026, 3, 2, tzinfo=UTC)
    return RunConfig(
        run_id="r1", seed=7, sim_start=start.isoformat(), sim_end=None,
        clock=SimClock.start(sim_start=start, scale=1800.0, real=1.8e9).to_dict(), api_url="http://x:1",
        database_url=None, rate_share=12.5, mock_api=False, mock_db=False,
        replay_until_hour=3, catalog_version=2,
        options={"processes": 3, "routes": {"health": "/health"}},
        harness=HarnessOptions().to_json(), db_share=4,
        db=DbFingerprint.from_url("postgresql://app@db.example.com:6432/shop").to_msg(),
    )  # fmt: skip


def _report() -> WorkerReport:
    c = HourCollector()
    c.count(4, ("acted", "shopped"), slip_s=0.25)
    c.count(5, ("missed",))
    return WorkerReport(hours=c.drain(), throttled=3, unavailable=1)


EXAMPLES = [
    Hello(),
    _run_config(),
    Refused(reason="this worker's DATABASE_URL is a@b:5432/c but the run's database is …"),
    LeaseRequest(req_ids=["w1:1", "w1:2"]),
    Grant(grants=[GrantItem(req_id="w1:1", entry=LeaseEntry(
        agent_id=3, user_id=103, persona={"persona_id": "P003", "age": 41}))]),
    Release(agent_id=3),
    Release(req_id="w1:2"),
    Revoke(agent_ids=[3, 9]),
    ContractError(method="GET", path="/api/products", status=404, detail="Not Found",
                  cause="the route is wrong", agent_id=3),
    LlmTokensAsk(tokens=720, spent=540),
    LlmTokensGrant(tokens=270, left=0),
    _report(),
]  # fmt: skip


def _over_the_wire(name: str, payload: dict) -> dict:
    """Through Locust's own rpc serialisation (msgpack), as a worker receives it."""
    return RPC.Message.unserialize(RPC.Message(name, payload, "node").serialize()).data


def test_every_message_has_an_example_and_a_unique_name():
    assert {type(m) for m in EXAMPLES} == set(MESSAGES)
    names = [m.NAME for m in MESSAGES]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: f"{type(m).__name__}")
def test_every_message_round_trips_through_msgpack(message):
    back = type(message).from_msg(_over_the_wire(message.NAME, message.to_msg()))
    assert back == message


def test_the_wire_format_the_fake_worker_and_older_peers_speak_is_still_understood():
    assert LeaseRequest.from_msg({"req_id": "fake:1"}).req_ids == ["fake:1"]  # tests/fake_worker
    assert Hello.from_msg({}) == Hello() and Hello.from_msg(None) == Hello()
    single = {
        "req_id": "w:1",
        "entry": {"agent_id": 1, "user_id": 2, "persona": {"persona_id": "P"}},
    }
    assert Grant.from_msg(single).grants[0].entry.agent_id == 1
    assert Release(agent_id=3).to_msg() == {"agent_id": 3}  # no None fields on the wire
    assert LeaseRequest(req_ids=["a"]).to_msg() == {"req_ids": ["a"]}
    newer = {**_run_config().to_msg(), "a_field_from_a_newer_master": 1}
    assert RunConfig.from_msg(newer) == _run_config()  # unknown keys are ignored


def test_a_grant_carries_the_owners_uuid_user_ids():
    """An adopted database keys users by uuid (the fixture schema): a grant with a string
    ``user_id`` is a valid grant, not a malformed one (it was refused, and no user ever got
    a persona on an owner's database)."""
    uid = "0b9e8f4c-1d2a-4c3b-9e8f-4c1d2a4c3b9e"
    grant = Grant(grants=[GrantItem(req_id="w1:1", entry=LeaseEntry(
        agent_id=3, user_id=uid, persona={"persona_id": "P003"}))])  # fmt: skip
    back = Grant.from_msg(_over_the_wire(Grant.NAME, grant.to_msg()))
    assert back.grants[0].entry.user_id == uid
    with pytest.raises(MessageError) as exc:
        Grant.from_msg({"req_id": "a", "entry": {"agent_id": 1, "user_id": 1.5,
                                                 "persona": {"persona_id": "P"}}})  # fmt: skip
    assert str(exc.value) == (
        "loadsim_grant.grants[0].entry.user_id: expected an integer or a string, got float 1.5"
    )


def test_a_grant_mixing_integer_and_uuid_user_ids_reaches_the_handler_typed():
    """Through Locust's listener as a worker receives it: each ``user_id`` keeps its own
    type (an integer stays an integer, a uuid a string — neither is coerced into the
    other), and a ``True`` user id is refused, not read as 1."""
    from harness.config.wire import listener

    uid = "6f1c2b9e-8a7d-4e3f-b2a1-0c9d8e7f6a5b"
    grant = Grant(grants=[
        GrantItem(req_id="w1:1", entry=LeaseEntry(agent_id=3, user_id=103, persona={"persona_id": "P3"})),
        GrantItem(req_id="w1:2", entry=LeaseEntry(agent_id=4, user_id=uid, persona={"persona_id": "P4"})),
    ])  # fmt: skip
    got: list[Grant] = []
    on_grant = listener(Grant, lambda m, node: got.append(m))
    wire = _over_the_wire(Grant.NAME, grant.to_msg())
    on_grant(msg=SimpleNamespace(node_id="master", data=wire))
    assert got == [grant]
    assert [type(g.entry.user_id) for g in got[0].grants] == [int, str]
    wire["grants"][0]["entry"]["user_id"] = True
    on_grant(msg=SimpleNamespace(node_id="master", data=wire))
    assert len(got) == 1


MALFORMED = [
    (Release, {"agent_id": "7"}, "loadsim_release.agent_id: expected an integer, got str '7'"),
    (Release, {}, "loadsim_release: exactly one of agent_id and req_id must be set"),
    (Release, {"agent_id": True}, "loadsim_release.agent_id: expected an integer, got bool"),
    (LeaseRequest, {"req_ids": "w:1"}, "loadsim_lease.req_ids: expected a list, got str"),
    (LeaseRequest, {}, "loadsim_lease: no req_ids"),
    (Grant, {"grants": [{"req_id": "a", "entry": {"agent_id": 1, "persona": {}}}]},
     "loadsim_grant.grants[0].entry: missing field 'user_id'"),
    (Grant, {"grants": [{"req_id": "a", "entry": {"agent_id": 1, "user_id": 2, "persona": {}}}]},
     "loadsim_grant.grants[0].entry: persona without a persona_id"),
    (Revoke, {"agent_ids": [1, "x"]}, "loadsim_revoke.agent_ids[1]: expected an integer"),
    (Refused, ["no"], "loadsim_refused: expected a map, got list"),
    (RunConfig, {"run_id": "r"}, "loadsim_config: missing field 'seed'"),
    (RunConfig, {**_run_config().to_msg(), "db": {"host": "h"}}, "db: missing field 'port'"),
    (RunConfig, {**_run_config().to_msg(), "rate_share": "fast"},
     "loadsim_config.rate_share: expected a number, got str 'fast'"),
    (WorkerReport, {"hours": {"four": {}}}, "loadsim: hours: 'four' is not an hour number"),
    (WorkerReport, {"hours": {"4": {"counts": {"acted": "1"}}}},
     "hours['4'].counts: expected a map of integer counters"),
    (ContractError, {"status": "404"}, "loadsim_contract.status: expected an integer"),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "payload", "says"), MALFORMED, ids=lambda x: str(x)[:30])
def test_a_malformed_payload_is_refused_in_one_readable_line(cls, payload, says):
    with pytest.raises(MessageError) as exc:
        cls.from_msg(payload)
    text = str(exc.value)
    assert says in text and "\n" not in text, text


def test_a_sender_cannot_misspell_a_field():
    with pytest.raises(TypeError):
        Release(agentid=3)  # type: ignore[call-arg]


_LOCAL_RUN = r"""
import json, logging, sys
from locust.env import Environment
from harness.config import wire
from harness.config.messages import Release, listen, send

lines = []
handler = logging.Handler()
handler.emit = lambda r: lines.append([r.levelname, r.getMessage(), bool(r.exc_info)])
logging.getLogger("loadsim").addHandler(handler)
logging.getLogger("loadsim").setLevel(logging.DEBUG)
runner = Environment().create_local_runner()
got = []
listen(runner, Release, lambda msg, node: got.append([msg.agent_id, node]))
raised = []
for payload in ({"agent_id": "x"},) * 3 + ({"agent_id": 1, "req_id": "w:1"}, ["junk"]):
    try:
        runner.send_message("loadsim_release", payload)
    except BaseException as exc:
        raised.append(repr(exc))
send(runner, Release(agent_id=5))
print(json.dumps({"got": got, "raised": raised, "lines": lines,
                  "malformed": wire.MALFORMED["loadsim_release"]}))
"""


def test_a_malformed_message_is_logged_once_ignored_and_never_raises_in_the_sender():
    """Through Locust's own LocalRunner (standalone, the listener runs inside the sender's
    ``send_message``), in its own process (Locust monkey-patches): bad payloads reach no
    handler and raise nothing; one warning line per kind of fault, repeats only counted;
    a good message then arrives typed."""
    r = subprocess.run(
        [sys.executable, "-c", _LOCAL_RUN], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["got"] == [[5, "local"]] and out["raised"] == [] and out["malformed"] == 5
    warned = [m for level, m, _ in out["lines"] if level == "WARNING"]
    assert len(warned) == 3, out["lines"]  # 'x' once (of three), both set, not a map
    assert warned[0].startswith("malformed loadsim_release message from local ignored: ")
    assert "agent_id: expected an integer, got str 'x'" in warned[0]
    assert "exactly one of agent_id and req_id" in warned[1] and "expected a map" in warned[2]
    assert not any(exc for _, _, exc in out["lines"]) and "Traceback" not in r.stderr


def test_a_malformed_worker_report_is_ignored_by_the_director(caplog):
    from harness.control.director import SimulationDirector

    merged, reports, ends = [], [], []
    fake = SimpleNamespace(
        book=SimpleNamespace(agg=SimpleNamespace(merge=merged.append)),
        guard=SimpleNamespace(on_report=lambda *a: reports.append(a)),
        end=SimpleNamespace(on_report=lambda *a: ends.append(a)),
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="loadsim"):
        SimulationDirector.on_worker_report(fake, "w1", {"loadsim": {"throttled": "lots"}})
        SimulationDirector.on_worker_report(fake, "w1", {"stats": []})  # not the harness's
        SimulationDirector.on_worker_report(fake, "w2", {"loadsim": _report().to_msg()})
    assert reports == [("w2", 1, 3)] and len(merged) == 1 and "4" in merged[0]
    assert ends == [("w2", None)]  # the run's end: nothing owed is known before the end
    assert [r.getMessage()[:36] for r in caplog.records] == ["malformed loadsim message from w1 ig"]


def _calls(path: Path, name: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == name
    ]  # fmt: skip


def test_no_code_in_harness_sends_or_reads_a_raw_dict():
    """A static scan: no ``send_message(`` is handed a dict literal (or ``dict(...)``),
    and Locust's message API is touched only by the codec (``harness.config.wire``)."""
    raw, outside = [], []
    for path in sorted(HARNESS.rglob("*.py")):
        rel = path.relative_to(HARNESS.parent)
        for call in _calls(path, "send_message"):
            args = [*call.args, *(k.value for k in call.keywords)]
            if any(isinstance(a, ast.Dict) or (isinstance(a, ast.Call) and getattr(
                    a.func, "id", None) == "dict") for a in args):  # fmt: skip
                raw.append(f"{rel}:{call.lineno}")
        for name in ("send_message", "register_message"):
            if path.name != "wire.py" and _calls(path, name):
                outside.append(f"{rel}: {name}")
        if path.name != "wire.py" and "msg.data" in path.read_text():
            outside.append(f"{rel}: msg.data")
    assert raw == [] and outside == [], (raw, outside)
