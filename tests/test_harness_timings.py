"""The harness's own timings: their own instrument, never Locust's request statistics.

Locust's stats must hold exactly the HTTP requests sent to the target; action slip,
database transactions, graph time, lease round trips and offer cycles go to
``harness.agent.timings`` (HDR histograms merged across workers, ``harness_timings.csv``).
"""

from __future__ import annotations

import ast
import csv
import json
import logging
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from harness.agent.timings import (
    GRAPH,
    LEASE,
    REPORT_KEY,
    SLIP,
    HarnessTimings,
    cycle_name,
    db_name,
)
from harness.webui.rows import status_rows, timing_rows
from reports.harness_timings import COLUMNS, TIMINGS_CSV, read_timings

ROOT = Path(__file__).resolve().parents[1]


def _wire(t: HarnessTimings) -> dict:
    """What a worker's report carries, through msgpack as Locust sends it."""
    return msgpack.unpackb(msgpack.packb(t.drain()), raw=False)


def test_two_workers_histograms_merge_on_the_master():
    w1, w2, master = HarnessTimings(), HarnessTimings(), HarnessTimings()
    for ms in range(1, 101):  # 1..100 ms
        w1.record(db_name("claim_hour"), float(ms))
    for ms in range(101, 201):  # 101..200 ms
        w2.record(db_name("claim_hour"), float(ms), error=ms > 190)
    w2.record(GRAPH, 2500.0)
    master.record(cycle_name("local"), 40.0)  # the master's own

    master.merge(_wire(w1), sender="w1")
    master.merge(_wire(w2), sender="w2")

    rows = {r["name"]: r for r in master.rows()}
    assert list(rows) == ["db.claim_hour", "graph.shopping_graph", "offer_cycle.local"]
    claim = rows["db.claim_hour"]
    assert claim["count"] == 200 and claim["errors"] == 10
    # The union of 1..200 ms: within HDR's 2 significant digits (1 %).
    assert claim["p50_ms"] == pytest.approx(100, rel=0.01)
    assert claim["p95_ms"] == pytest.approx(190, rel=0.01)
    assert claim["p99_ms"] == pytest.approx(198, rel=0.01)
    assert claim["max_ms"] == pytest.approx(200, rel=0.01)
    assert claim["mean_ms"] == pytest.approx(100.5, rel=0.01)
    assert rows["graph.shopping_graph"]["count"] == 1
    assert rows["offer_cycle.local"]["p50_ms"] == pytest.approx(40, rel=0.01)
    # A drained worker starts afresh: its next report carries only what came after.
    assert w1.drain() == {} and w1.rows() == []
    w1.record(db_name("claim_hour"), 5.0)
    master.merge(_wire(w1))
    assert {r["name"]: r for r in master.rows()}["db.claim_hour"]["count"] == 201


def test_sub_millisecond_timings_keep_their_resolution():
    t = HarnessTimings()
    for _ in range(10):
        t.record(db_name("session_commit"), 0.42)
    (row,) = t.rows()
    assert row["p50_ms"] == pytest.approx(0.42, rel=0.01)


def test_a_malformed_report_entry_is_skipped_not_fatal(caplog):
    good = HarnessTimings()
    good.record(SLIP, 12.0)
    wire = _wire(good)
    wire["db.bogus"] = {"hdr": "not base64 hdr", "errors": 0}
    wire["db.neg"] = {"hdr": wire[SLIP]["hdr"], "errors": -3}
    master = HarnessTimings()
    with caplog.at_level(logging.WARNING, logger="loadsim"):
        master.merge(wire, sender="worker7")
        master.merge(["not", "a", "map"], sender="worker8")
    assert [r["name"] for r in master.rows()] == [SLIP]
    assert "worker7" in caplog.text and "'db.bogus'" in caplog.text and "'db.neg'" in caplog.text
    assert "worker8" in caplog.text


def test_csv_has_its_columns_and_reads_back(tmp_path):
    t = HarnessTimings()
    t.record(LEASE, 3.0)
    t.record(LEASE, 7.0, error=True)
    path = t.write_run_csv(tmp_path)
    assert path == tmp_path / TIMINGS_CSV
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        body = list(reader)
    assert header == [
        "name", "count", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "errors",
    ]  # fmt: skip
    assert tuple(header) == COLUMNS
    assert [r[0] for r in body] == ["lease.round_trip"] and body[0][1] == "2"
    (row,) = read_timings(tmp_path)
    assert row["count"] == 2 and row["errors"] == 1
    assert row["max_ms"] == pytest.approx(7.0, rel=0.01)
    assert not list(tmp_path.glob("*.tmp"))
    # Nothing timed: the header alone (a run that timed nothing still has its file).
    HarnessTimings().write_run_csv(tmp_path)
    assert path.read_text().splitlines() == [",".join(COLUMNS)]
    assert read_timings(tmp_path / "nowhere") == []


_IN_LOCUST = r"""
import json
import msgpack
from locust import events
from locust.env import Environment

from harness.agent.runtime import ProcessRuntime, attach_runtime
from harness.config.messages import Grant, GrantItem, LeaseEntry
from harness.config.options import HarnessOptions
from harness.wiring import install


def env():
    e = Environment(events=events)
    e.create_local_runner()
    return e


out = {}
# 1. Every measurement the runtime takes, on Locust's real Environment and stats.
e = env()
fired = []
spy = lambda **kw: fired.append(kw.get("request_type"))
e.events.request.add_listener(spy)
rt = ProcessRuntime(e, HarnessOptions(), "local")
rt.measure_db("claim_hour", 3.0, None)
rt.measure_db("session_commit", 9.0, RuntimeError("db down"))
rt.measure_graph(120.0)
rt.measure_slip(15.0)
got = []
rt.leases.pending["r1"] = type("R", (), {"set": lambda self, v: got.append(v)})()
rt.leases._asked["r1"] = 0.0  # asked long ago: a positive round trip
entry = LeaseEntry(agent_id=1, user_id=1, persona={})
rt.leases.on_grants(Grant(grants=[GrantItem(req_id="r1", entry=entry)]))
e.events.request.remove_listener(spy)
out["fired"] = fired
out["stats"] = [e.stats.total.num_requests, e.stats.total.num_failures, len(e.stats.entries)]
out["granted"] = len(got)
out["rows"] = rt.timings.rows()
# 2. The wiring's report handlers: worker -> msgpack -> master.
we, me = env(), env()
worker = ProcessRuntime(we, HarnessOptions(), "worker")
master = ProcessRuntime(me, HarnessOptions(), "master")
attach_runtime(we, worker)
attach_runtime(me, master)
worker.measure_graph(80.0)
data = {}
install._ENV = we
install._on_report_to_master("w1", data)
out["report_keys"] = sorted(data)
out["shipped"] = sorted(data["loadsim_timings"])
out["worker_after"] = worker.timings.rows()
install._ENV = me
install._on_worker_report("w1", msgpack.unpackb(msgpack.packb(data), raw=False))
out["master"] = master.timings.rows()
print(json.dumps(out))
"""


def _in_locust() -> dict:
    """Run :data:`_IN_LOCUST` in its own process (importing locust monkey-patches the
    standard library, which the pytest process must never do)."""
    r = subprocess.run(
        [sys.executable, "-c", _IN_LOCUST], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def in_locust() -> dict:
    return _in_locust()


def test_the_runtime_never_fires_a_request_event(in_locust):
    """In-process, on Locust's real Environment and stats: every harness measurement the
    runtime takes (DB, graph, slip, a lease's round trip) goes to its timings and none to
    ``events.request`` — Locust's table, CSV, exit code and --otel stay HTTP only."""
    assert in_locust["fired"] == []
    assert in_locust["stats"] == [0, 0, 0]  # total requests, failures, entries
    assert in_locust["granted"] == 1
    rows = {r["name"]: r for r in in_locust["rows"]}
    assert {n: r["count"] for n, r in rows.items()} == {
        "action_slip": 1,
        "db.claim_hour": 1,
        "db.session_commit": 1,
        "graph.shopping_graph": 1,
        "lease.round_trip": 1,
    }
    assert rows["db.session_commit"]["errors"] == 1
    assert rows["db.claim_hour"]["errors"] == 0


def test_worker_reports_carry_the_timings_to_the_master(in_locust):
    """The wiring's own handlers: a worker's ``report_to_master`` drains its timings under
    their own key, the master's ``worker_report`` merges them."""
    assert in_locust["report_keys"] == ["loadsim", REPORT_KEY]  # the hour book, the timings
    assert in_locust["shipped"] == [GRAPH]
    assert in_locust["worker_after"] == []  # shipped: the worker starts afresh
    (row,) = in_locust["master"]
    assert row["name"] == GRAPH and row["count"] == 1
    assert row["p50_ms"] == pytest.approx(80, rel=0.01)


def test_simulation_tab_shows_each_timing_after_the_status_rows():
    t = HarnessTimings()
    for ms in (1.0, 2.0, 3.0, 4.0, 250.0):
        t.record(db_name("claim_hour"), ms, error=ms > 100)
    status = status_rows({})
    rows = timing_rows(t.rows(), start=len(status) + 1)
    (row,) = rows
    assert row["name"] == f"{len(status) + 1:02d}"
    assert row["key"] == "timing.db.claim_hour"
    assert row["metric"] == "Harness timing: db.claim_hour"
    assert row["value"] == (
        # 250 ms reads 251: HDR keeps 2 significant digits (the bucket's highest value).
        "5 timed · p50 3.0 ms · p95 251 ms · p99 251 ms · max 251 ms · 1 failed"
    )
    assert row["raw"]["count"] == 5


# ------------------------------------------------------------------ no pseudo-requests

_SOURCES = ["harness", "behaviors", "reports", "offer_engine", "personas", "db"]


def _python_files(root: Path) -> list[Path]:
    files = [root / "locustfile.py"]
    for d in _SOURCES:
        files += sorted((root / d).rglob("*.py"))
    return [f for f in files if f.is_file()]


def _offenders(root: Path) -> list[str]:
    """Code that fires a request event itself, or passes ``events.request`` anywhere but
    to an HTTP client's ``request_event=``."""
    offenders = []
    for path in _python_files(root):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.keyword) and node.arg == "request_type":
                offenders.append(f"{where}: request_type=")
            if isinstance(node, ast.Attribute) and node.attr == "request":
                inner = node.value
                if isinstance(inner, ast.Attribute) and inner.attr == "events":
                    up = parents.get(node)
                    if not (isinstance(up, ast.keyword) and up.arg == "request_event"):
                        offenders.append(f"{where}: events.request other than request_event=")
    return offenders


def test_no_code_fires_a_request_event_of_its_own():
    """Only Locust's HTTP client may put a request in Locust's stats: no code of the
    project calls ``events.request.fire`` (or passes a ``request_type``), and the one
    use of ``events.request`` is handing it to ``FastHttpSession(request_event=…)``."""
    assert _offenders(ROOT) == []


def test_the_scan_sees_a_pseudo_request(tmp_path):
    """The scan above is not vacuous: the code this project had before is caught."""
    bad = tmp_path / "harness" / "x.py"
    bad.parent.mkdir()
    bad.write_text(
        "def m(env, ms):\n"
        "    fire = env.events.request.fire\n"
        "    fire(request_type='PACE', name='action_slip', response_time=ms,\n"
        "         response_length=0, exception=None, context={})\n"
    )
    ok = tmp_path / "harness" / "ok.py"
    ok.write_text("def s(env, F):\n    return F(request_event=env.events.request)\n")
    (tmp_path / "locustfile.py").write_text("")
    assert _offenders(tmp_path) == [
        "harness/x.py:2: events.request other than request_event=",
        "harness/x.py:3: request_type=",
    ]


_OTEL = r"""
import json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from harness.agent.timings import HarnessTimings

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))  # as Locust's --otel does
t = HarnessTimings()
on = t.enable_otel()
t.record("db.claim_hour", 4.0)
t.record("db.claim_hour", 6.0, error=True)
t.record("graph.shopping_graph", 1500.0)
out = {"on": on, "metrics": {}}
for rm in reader.get_metrics_data().resource_metrics:
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            points = [
                {"count": p.count, "sum": round(p.sum, 6), "attrs": dict(p.attributes or {})}
                for p in m.data.data_points
            ]
            out["metrics"][m.name] = {"unit": m.unit, "scope": sm.scope.name, "points": points}
print(json.dumps(out))
"""


def test_with_otel_each_timing_is_a_loadsim_histogram_in_seconds():
    """Locust's ``--otel`` sets the meter provider; the harness's timings are recorded into
    it as ``loadsim.<name>`` histograms (seconds), failed ones with ``error=true``."""
    r = subprocess.run(
        [sys.executable, "-c", _OTEL], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["on"] is True
    got = out["metrics"]
    assert set(got) == {"loadsim.db.claim_hour", "loadsim.graph.shopping_graph"}
    claim = got["loadsim.db.claim_hour"]
    assert claim["unit"] == "s" and claim["scope"] == "loadsim"
    assert sorted((p["count"], p["sum"], p["attrs"]) for p in claim["points"]) == [
        (1, 0.004, {}),
        (1, 0.006, {"error": True}),
    ]
    assert got["loadsim.graph.shopping_graph"]["points"] == [{"count": 1, "sum": 1.5, "attrs": {}}]


def test_without_the_otel_sdk_the_timings_say_so_and_go_on(caplog):
    """``--otel`` without ``locust[otel]``: one warning, the timings still recorded."""
    import builtins

    real_import = builtins.__import__

    def no_sdk(name, *a, **kw):  # noqa: ANN001, ANN002, ANN003
        if name.startswith("opentelemetry.sdk"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *a, **kw)

    t = HarnessTimings()
    with caplog.at_level(logging.WARNING, logger="loadsim"):
        builtins.__import__ = no_sdk
        try:
            on = t.enable_otel()
        finally:
            builtins.__import__ = real_import
    assert on is False
    assert caplog.messages == [
        "--otel: the OpenTelemetry SDK is not installed, harness timings are not exported "
        "(pip install 'locust[otel]')"
    ]
    t.record(SLIP, 3.0)
    assert [r["name"] for r in t.rows()] == [SLIP]
