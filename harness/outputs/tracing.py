"""OpenTelemetry beside Locust's ``--otel``: each agent session a trace, the simulation's
state as metrics.

Locust's ``--otel`` sets the global tracer and meter providers (exporters from the usual
``OTEL_*`` variables) before the harness's ``init`` runs; this module only takes a tracer
and a meter from them. Without ``--otel`` nothing here is called: :func:`session_span`
hands back a shared ``nullcontext`` and the graph is compiled without wrappers, so a run
pays one attribute check per session.

A session's trace (one agent, one simulated hour that shops or idles)::

    agent_session            agent, hour, decision, simulated time; outcome, order
    ├── node decide_shop     one span per graph node that ran (``langgraph.node``)
    ├── node browse_products
    ├── node add_to_cart
    │   └── POST /api/cart/add     one CLIENT span per HTTP request the node sent
    └── ...

The HTTP spans come from Locust's ``request`` event (the harness's client is Locust's
``FastHttpSession``, which Locust's own auto-instrumentation of ``requests``/``urllib3``
does not see): each request that fires inside a session becomes a child of the node that
sent it, with the request's real start and duration. Requests outside a session (the
director's control calls) are not traced.

The metrics are the ones ``--prometheus-port`` serves (``harness.outputs.prometheus``),
read from the same status on every collection, as observable instruments named
``loadsim.<name>`` (a Prometheus counter's ``_total`` dropped: an OTel-to-Prometheus
exporter adds it back), on the master or a standalone run. The harness's own timings
(database commits, the graph, offer cycles, slip per action) are histograms recorded by
``harness.agent.timings``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from locust.env import Environment
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

    from behaviors.run import HourResult
    from harness.outputs.prometheus import Reader

log = logging.getLogger("loadsim")

SCOPE = "loadsim"
SESSION_SPAN = "agent_session"
NODE_PREFIX = "node "

_P = ParamSpec("_P")
_R = TypeVar("_R")

_tracer: Tracer | None = None
_NOOP: AbstractContextManager[None] = nullcontext(None)


def enable_tracing(environment: Environment) -> bool:
    """Take the tracer Locust's ``--otel`` set up and turn every request fired inside a
    session into a child span. Returns whether tracing is on (the SDK importable)."""
    global _tracer
    try:
        import opentelemetry.sdk.trace  # noqa: F401 - only to know the SDK is there
        from opentelemetry import trace
    except ImportError:
        return False  # harness.agent.timings already said the SDK is missing
    _tracer = trace.get_tracer(SCOPE)
    events = getattr(environment, "events", None)
    if events is not None:
        events.request.add_listener(_on_request)
    return True


def disable_tracing() -> None:
    """Back to no-op (tests; a process serves one run)."""
    global _tracer
    _tracer = None


def tracing_on() -> bool:
    return _tracer is not None


def session_span(
    *, run_id: str, agent_id: int, sim_hour: int, decision: str, sim_at: datetime
) -> AbstractContextManager[Span | None]:
    """The agent session's root span (current while the graph runs), or a no-op."""
    if _tracer is None:
        return _NOOP
    return _session(_tracer, run_id, agent_id, sim_hour, decision, sim_at)


@contextmanager
def _session(
    tracer: Tracer, run_id: str, agent_id: int, sim_hour: int, decision: str, sim_at: datetime
) -> Iterator[Span]:
    attrs: dict[str, AttributeValue] = {
        "loadsim.run_id": run_id,
        "loadsim.agent_id": int(agent_id),
        "loadsim.sim_hour": int(sim_hour),
        "loadsim.decision": decision,
        "loadsim.sim_time": sim_at.isoformat() if hasattr(sim_at, "isoformat") else str(sim_at),
    }
    with tracer.start_as_current_span(SESSION_SPAN, attributes=attrs) as span:
        yield span


def end_session(span: Span | None, result: HourResult) -> None:
    """Write the played hour's outcome on its session span (no-op without one)."""
    if span is None:
        return
    span.set_attribute("loadsim.outcome", str(result.outcome))
    span.set_attribute("loadsim.order", result.order is not None)
    if result.abandon_reason:
        span.set_attribute("loadsim.abandon_reason", str(result.abandon_reason))
    if result.outcome == "failed":
        from opentelemetry.trace import Status, StatusCode

        kind = result.error.kind if result.error is not None else "error"
        span.set_status(Status(StatusCode.ERROR, f"flow failed: {kind}"))


def node_wrapper() -> Callable[[Callable[..., Any]], Callable[..., Any]] | None:
    """What ``behaviors.graph.compile_shopping_graph(wrap=...)`` wraps each node with:
    a span per node run, current while the node sends its requests. ``None`` when off."""
    if _tracer is None:
        return None
    return traced_node


def traced_node(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    name = fn.__name__

    # functools.wraps keeps the node's name and signature (LangGraph passes ``runtime``
    # by the parameters it sees, and infers the state schema from the annotations).
    @functools.wraps(fn)
    def node(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        tracer = _tracer
        if tracer is None:
            return fn(*args, **kwargs)
        with tracer.start_as_current_span(NODE_PREFIX + name, attributes={"langgraph.node": name}):
            return fn(*args, **kwargs)

    return node


def _on_request(
    request_type: str,
    name: str,
    response_time: float | None,
    response_length: int | None = None,
    response: object = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    """Locust's ``request`` event: a CLIENT span under the current node, if any."""
    tracer = _tracer
    if tracer is None:
        return
    from opentelemetry import trace

    parent = trace.get_current_span()
    if not parent.get_span_context().is_valid:
        return  # not inside a session: control traffic
    end_ns = time.time_ns()
    dur_ns = int(max(0.0, response_time or 0.0) * 1_000_000)
    start_ns = int(start_time * 1e9) if start_time else end_ns - dur_ns
    status = int(getattr(response, "status_code", 0) or 0)
    attrs: dict[str, AttributeValue] = {
        "http.request.method": request_type,
        "url.template": name,
        "http.response.status_code": status,
    }
    if response_length is not None:
        attrs["http.response.body.size"] = int(response_length)
    span = tracer.start_span(
        f"{request_type} {name}", kind=trace.SpanKind.CLIENT, start_time=start_ns, attributes=attrs
    )
    if exception is not None:
        span.set_attribute("error.type", type(exception).__name__)
        span.set_status(trace.Status(trace.StatusCode.ERROR, str(exception)[:200]))
    span.end(end_time=max(end_ns, start_ns + dur_ns))


# ------------------------------------------------------------------ metrics


def install_status_metrics(
    source: Callable[[], dict[str, Any]], *, meter: Meter | None = None, max_age_s: float = 0.5
) -> list[str]:
    """Register the ``--prometheus-port`` metrics as observable OTel instruments on
    ``meter`` (default: the global meter provider's); ``source()`` is read at most once per
    collection. Returns the names registered (empty without the SDK)."""
    try:
        import opentelemetry.sdk.metrics  # noqa: F401 - only to know the SDK is there
        from opentelemetry import metrics
    except ImportError:
        return []
    from harness.outputs.prometheus import BREAKER_STATES, METRICS

    meter = meter if meter is not None else metrics.get_meter(SCOPE)
    cache: dict[str, Any] = {"at": -1e18, "status": {}}

    def status() -> dict[str, Any]:
        now = time.monotonic()
        if now - cache["at"] > max_age_s:
            try:
                cache["status"] = source()
            except Exception:  # noqa: BLE001 - a collection must not take the run down
                log.exception("otel: reading the run's status failed")
                cache["status"] = {}
            cache["at"] = now
        return cache["status"]

    names = []
    for prom_name, kind, help_text, read in METRICS:
        name = otel_name(prom_name, kind)
        callback = _observer(status, read, metrics.Observation)
        if kind == "counter":
            meter.create_observable_counter(name, callbacks=[callback], description=help_text)
        else:
            meter.create_observable_gauge(name, callbacks=[callback], description=help_text)
        names.append(name)

    def breaker(_options: CallbackOptions) -> Iterator[Observation]:
        state = status().get("breaker")
        if state is not None:
            for s in BREAKER_STATES:
                yield metrics.Observation(int(state == s), {"state": s})

    meter.create_observable_gauge(
        "loadsim.breaker_state", callbacks=[breaker],
        description="Circuit breaker state (1 on the current one).",
    )  # fmt: skip
    names.append("loadsim.breaker_state")
    return names


def otel_name(prom_name: str, kind: str) -> str:
    """``loadsim_sessions_total`` (counter) → ``loadsim.sessions``."""
    base = prom_name.removeprefix("loadsim_")
    if kind == "counter":
        base = base.removesuffix("_total")
    return "loadsim." + base


def _observer(
    status: Callable[[], dict[str, Any]],
    read: Reader,
    observation: type[Observation],
) -> Callable[[CallbackOptions], Iterator[Observation]]:
    import math

    def observe(_options: CallbackOptions) -> Iterator[Observation]:
        value = read(status())
        if isinstance(value, bool):
            value = int(value)
        if value is not None and math.isfinite(float(value)):
            yield observation(value)

    return observe
