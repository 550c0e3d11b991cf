"""``harness.outputs.tracing``: each agent session one trace (its graph nodes, the requests
each node sent), the run's status as OTel instruments — on the real OpenTelemetry SDK
(in-memory exporter and reader; the OTLP path of a real run is in
``tests/test_e2e_harness.py``), and nothing at all when ``--otel`` is off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.synthetic import make_catalog, random_personas, weekly_wallet
from harness.agent.hour import AgentHours
from harness.agent.hourstats import HourCollector
from harness.outputs import tracing
from harness.outputs.prometheus import METRICS

SAT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
HTTP = {"cart_add": ("POST", "/api/cart/add"), "checkout": ("POST", "/api/orders/checkout"),
        "wallet": ("GET", "/api/wallet")}  # fmt: skip


class RequestFiringShop:
    """An in-memory shop that fires what Locust's ``request`` event carries for the
    actions that are HTTP requests against a target (as ``HttpShop`` does through
    ``FastHttpSession``), from inside the node that calls it."""

    def __init__(self, inner: InMemoryShop) -> None:
        self._inner = inner
        self.fired: list[str] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in HTTP:
            return target

        def call(*a: Any, **kw: Any) -> Any:
            out = target(*a, **kw)
            method, path = HTTP[name]
            self.fired.append(f"{method} {path}")
            tracing._on_request(  # the listener enable_tracing adds to events.request
                request_type=method, name=path, response_time=3.0, response_length=10,
                response=SimpleNamespace(status_code=200), exception=None,
            )  # fmt: skip
            return out

        return call


class Recorder:
    def claim(self, **kw: Any) -> int:
        return kw["sim_hour"] + 1

    def finish(self, **kw: Any) -> None:
        pass

    def quiet(self, **kw: Any) -> None:
        pass


@pytest.fixture()
def spans(monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer(tracing.SCOPE))
    return exporter


def _agent(graph: Any, shop: Any) -> AgentHours:
    shopper = max(random_personas(30, seed=11), key=lambda p: p.shopping_frequency)
    rt = SimpleNamespace(
        run=SimpleNamespace(seed=3, run_id="r", replay_until_hour=-1), recorder=Recorder(),
        collector=HourCollector(), graph=graph, measure_graph=lambda ms, exc=None: None,
        llm=None,
    )  # fmt: skip
    wallet = weekly_wallet(shopper, 0)
    return AgentHours(
        rt, agent_id=7, persona=shopper, shop=shop(InMemoryShop(make_catalog(), wallet))
    )


def test_each_session_is_one_trace_of_its_nodes_and_their_requests(spans, monkeypatch):
    slots = [SAT + timedelta(hours=h, minutes=17) for h in range(72)]
    tracer = tracing._tracer
    monkeypatch.setattr(tracing, "_tracer", None)  # --otel off
    plain = _agent(compile_shopping_graph(), RequestFiringShop)
    untraced = [plain.run(h, slot, 0.0) for h, slot in enumerate(slots)]
    monkeypatch.setattr(tracing, "_tracer", tracer)  # --otel on
    traced = _agent(compile_shopping_graph(tracing.node_wrapper()), RequestFiringShop)
    outcomes = list(
        zip([traced.run(h, slot, 0.0) for h, slot in enumerate(slots)], untraced, strict=True)
    )
    # The wrapped graph plays exactly what the plain one plays, request for request.
    assert [a for a, _ in outcomes] == [b for _, b in outcomes]
    assert traced.shop.fired == plain.shop.fired and traced.shop.fired
    played = [h for h, (a, _) in enumerate(outcomes) if a != "none"]
    assert len(played) >= 3

    got = spans.get_finished_spans()
    roots = [s for s in got if s.parent is None]
    assert [s.name for s in roots] == [tracing.SESSION_SPAN] * len(played)
    assert [s.attributes["loadsim.sim_hour"] for s in roots] == played
    by_trace: dict[int, list[Any]] = {}
    for s in got:
        by_trace.setdefault(s.context.trace_id, []).append(s)
    assert len(by_trace) == len(played)  # one trace per session, nothing outside one
    http_seen = []
    for root in roots:
        members = by_trace[root.context.trace_id]
        ids = {s.context.span_id: s for s in members}
        nodes = [s for s in members if s.name.startswith(tracing.NODE_PREFIX)]
        requests = [s for s in members if s.kind == SpanKind.CLIENT]
        assert len(nodes) + len(requests) + 1 == len(members)
        assert nodes[0].name == "node decide_shop"
        assert all(n.parent.span_id == root.context.span_id for n in nodes)
        assert all(n.attributes["langgraph.node"] == n.name[len("node ") :] for n in nodes)
        for r in requests:  # each request under the node that sent it
            assert ids[r.parent.span_id].name.startswith(tracing.NODE_PREFIX)
            assert r.attributes["http.response.status_code"] == 200
            assert r.end_time - r.start_time == 3_000_000
        http_seen += [r.name for r in sorted(requests, key=lambda s: s.start_time)]
        a = root.attributes
        assert a["loadsim.run_id"] == "r" and a["loadsim.agent_id"] == 7
        assert a["loadsim.decision"] in ("shop", "idle")
        assert a["loadsim.outcome"] == outcomes[a["loadsim.sim_hour"]][0]
        assert a["loadsim.order"] == (a["loadsim.outcome"] == "completed")
    assert http_seen == traced.shop.fired
    assert "node complete_checkout" in {s.name for s in got}


def test_a_failed_flow_is_an_error_span_and_a_request_outside_a_session_is_not_traced(spans):
    from behaviors.shop import ShopUnavailable

    class Down:
        def __init__(self, inner: InMemoryShop) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            if name in ("categories", "cart_clear"):
                return getattr(self._inner, name)

            def fail(*a: Any, **kw: Any) -> Any:
                raise ShopUnavailable("down", kind="api_5xx")

            return fail

    agent = _agent(compile_shopping_graph(tracing.node_wrapper()), Down)
    outcomes = [agent.run(h, SAT + timedelta(hours=h), 0.0) for h in range(72)]
    assert "failed" in outcomes
    tracing._on_request(request_type="POST", name="/time/advance", response_time=1.0)
    roots = [s for s in spans.get_finished_spans() if s.parent is None]
    assert {s.name for s in roots} == {tracing.SESSION_SPAN}
    failed = [s for s in roots if s.attributes["loadsim.outcome"] == "failed"]
    assert len(failed) == outcomes.count("failed")
    assert {(s.status.status_code, s.status.description) for s in failed} == {
        (StatusCode.ERROR, "flow failed: api_5xx")
    }


def test_off_costs_nothing_and_changes_nothing():
    tracing.disable_tracing()
    assert tracing.tracing_on() is False
    assert tracing.node_wrapper() is None
    with tracing.session_span(run_id="r", agent_id=1, sim_hour=0, decision="shop", sim_at=SAT) as s:
        assert s is None
    tracing.end_session(None, None)
    tracing._on_request(request_type="GET", name="/x", response_time=1.0)  # ignored
    # One shared no-op: no object per session.
    kw = {"run_id": "r", "agent_id": 1, "sim_hour": 0, "decision": "shop", "sim_at": SAT}
    assert tracing.session_span(**kw) is tracing.session_span(**kw)


def test_the_status_metrics_are_the_prometheus_ones_read_once_per_collection():
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter(tracing.SCOPE)
    reads = []
    status = {
        "sim_hour": 5, "sim_time_seconds": 1768036800.0, "time_scale": 1800, "paused": False,
        "target_users": 60, "personas_leased": 58, "personas_total": 60,
        "totals": {"shopped": 40, "idle": 7, "orders": 29, "failed": 1, "missed": 3},
        "hour_sessions": 4, "hour_orders": 2, "hour_failed": 0, "slip_p95_ms": 12.5,
        "slip_p99_ms": 40.0, "breaker": "closed", "offer_cycle": 1, "offer_cycles_run": 2,
    }  # fmt: skip

    def source() -> dict[str, Any]:
        reads.append(1)
        return status

    names = tracing.install_status_metrics(source, meter=meter, max_age_s=60)
    assert names == [tracing.otel_name(n, k) for n, k, _, _ in METRICS] + ["loadsim.breaker_state"]
    data = reader.get_metrics_data()
    got = {
        m.name: {tuple(sorted((p.attributes or {}).items())): p.value for p in m.data.data_points}
        for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }  # fmt: skip
    assert reads == [1]  # one status read for every instrument of the collection
    assert got["loadsim.sim_hour"] == {(): 5}
    assert got["loadsim.agents_active"] == {(): 58}
    assert got["loadsim.sessions"] == {(): 47}  # shopped + idle
    assert got["loadsim.orders"] == {(): 29}
    assert got["loadsim.missed_sessions"] == {(): 3}
    assert got["loadsim.slip_p99_ms"] == {(): 40.0}
    assert got["loadsim.paused"] == {(): 0}
    assert got["loadsim.breaker_open"] == {(): 0}
    assert got["loadsim.offer_cycles"] == {(): 2}
    assert got["loadsim.breaker_state"] == {(("state", "closed"),): 1, (("state", "open"),): 0}
    assert "loadsim.ramp_fraction" not in got  # unknown in the status: not observed
