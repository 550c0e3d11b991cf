"""CI gates: ``--threshold EXPR`` parsed at start-up, evaluated on the run's summary.

Grammar: ``METRIC[SELECTOR] OP NUMBER[UNIT]`` or the bare word ``calibration``.
OP is one of ``< <= > >= = == !=``; UNIT is ``ms``, ``s`` or ``%`` where the metric
allows one. Examples: ``p95<800ms``, ``p99<2s``, ``p95[/api/cart/add]<500ms``,
``error_rate<1%``, ``rps>20``, ``slip_p99<10%`` (of a simulated hour),
``slip_p99<5s``, ``missed_sessions=0``, ``failed_flows<5``, ``conversion>30%``,
``calibration``. ``conversion`` is completed ÷ shop sessions (idle browses excluded);
``completed_per_shop_session`` is the same figure under a name that says so, and
``orders_per_session`` divides orders by every session, idle browses included.

Kinds and exit codes (docs/ARCHITECTURE.md, Failures and exit codes): *load* gates (latency, errors, throughput,
slip, missed sessions, failed flows) exit 3; *behavior* gates (calibration,
conversion, abandonment, basket size, sessions per day) exit 4. Precedence: when both
kinds fail the exit code is 3 — a run that could not carry the load does not produce
behavior worth judging. A gate whose metric was not measured (e.g. ``calibration`` on a
``--mock-db`` run) fails: CI must not pass on a figure nobody computed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from db.errors import ConfigError

Kind = Literal["load", "behavior"]
EXIT_OK, EXIT_LOAD, EXIT_BEHAVIOR = 0, 3, 4

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
}
_EXPR = re.compile(
    r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(?P<sel>[^\]]+)\])?\s*"
    r"(?P<op><=|>=|==|!=|<|>|=)\s*(?P<num>[0-9]*\.?[0-9]+)\s*(?P<unit>ms|s|%)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Metric:
    kind: Kind
    units: dict[str | None, float]
    """Accepted units → factor to the canonical unit."""
    canonical: str
    get: Callable[[dict[str, Any], str | None, str | None], Any]
    """(summary, selector, unit) → value in canonical units (or None)."""
    selector: bool = False


def _latency(q: str) -> Callable[[dict[str, Any], str | None, str | None], Any]:
    def get(s: dict[str, Any], sel: str | None, _unit: str | None) -> Any:
        if sel is None:
            return s["load"].get(f"{q}_ms")
        hits = [e for e in s["load"]["endpoints"] if e["name"] == sel]
        return max((e[f"{q}_ms"] for e in hits if e[f"{q}_ms"] is not None), default=None)

    return get


def _slip(q: str) -> Callable[[dict[str, Any], str | None, str | None], Any]:
    def get(s: dict[str, Any], _sel: str | None, unit: str | None) -> Any:
        if unit in ("s", "ms"):
            v = s["time"].get(f"slip_{q}_s")
            return None if v is None else v * 1000.0  # canonical: ms
        return s["time"].get(f"slip_{q}_pct_hour")

    return get


def _path(*keys: str) -> Callable[[dict[str, Any], str | None, str | None], Any]:
    def get(s: dict[str, Any], _sel: str | None, _unit: str | None) -> Any:
        v: Any = s
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return v

    return get


def _failed_flow_rate(s: dict[str, Any], _sel: str | None, _unit: str | None) -> Any:
    slots = s["time"].get("agent_slots")
    return (s["time"]["failed_flows"] / slots) if slots else None


_LAT = {None: 1.0, "ms": 1.0, "s": 1000.0}
_RATIO = {None: 1.0, "%": 0.01}
_COUNT: dict[str | None, float] = {None: 1.0}
_SLIP = {"%": 1.0, None: 1.0, "s": 1000.0, "ms": 1.0}

METRICS: dict[str, _Metric] = {
    **{q: _Metric("load", _LAT, "ms", _latency(q), selector=True) for q in ("p50", "p95", "p99")},
    "error_rate": _Metric("load", _RATIO, "", _path("load", "error_rate")),
    "rps": _Metric("load", _COUNT, "req/s", _path("load", "rps")),
    **{f"slip_{q}": _Metric("load", _SLIP, "%", _slip(q)) for q in ("p50", "p95", "p99")},
    "missed_sessions": _Metric("load", _COUNT, "", _path("time", "missed_sessions")),
    "failed_flows": _Metric("load", _COUNT, "", _path("time", "failed_flows")),
    "failed_flow_rate": _Metric("load", _RATIO, "", _failed_flow_rate),
    "orders_per_min": _Metric("load", _COUNT, "/min", _path("orders_per_real_minute")),
    "conversion": _Metric("behavior", _RATIO, "", _path("behavior", "overall", "conversion")),
    "completed_per_shop_session": _Metric(
        "behavior", _RATIO, "", _path("behavior", "overall", "completed_per_shop_session")
    ),
    "orders_per_session": _Metric(
        "behavior", _RATIO, "", _path("behavior", "overall", "orders_per_session")
    ),
    "abandonment": _Metric("behavior", _RATIO, "", _path("behavior", "overall", "abandonment")),
    "basket_size": _Metric(
        "behavior", _COUNT, "items", _path("behavior", "overall", "basket_size_mean")
    ),
    "sessions_per_day": _Metric(
        "behavior", _COUNT, "/sim day", _path("behavior", "overall", "per_sim_day", "sessions")
    ),
}
CALIBRATION = "calibration"


@dataclass(frozen=True)
class Threshold:
    """A parsed gate. ``limit`` is in the metric's canonical unit (ms, fraction, % of a
    simulated hour for slip in %, ms for slip in s/ms, count)."""

    expr: str
    metric: str
    kind: Kind
    op: str | None = None
    limit: float | None = None
    unit: str | None = None
    selector: str | None = None


def unit_of(t: Threshold) -> str:
    """The unit a gate's ``limit`` and measured value are in: ``ms``, ``fraction`` (rates;
    ``1%`` is 0.01), ``% of sim hour`` (slip given in %), ``count``, ``req/s``, …"""
    if t.metric == CALIBRATION:
        return "ok/fail"
    if t.metric.startswith("slip_"):
        return "ms" if t.unit in ("s", "ms") else "% of sim hour"
    m = METRICS[t.metric]
    if m.units is _RATIO:
        return "fraction"
    return m.canonical or "count"


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: ``actual`` and ``limit`` in the same (canonical) unit."""

    expr: str
    ok: bool
    actual: Any
    limit: float | None
    kind: Kind
    detail: str = ""


def parse_threshold(expr: str) -> Threshold:
    """Parse one ``--threshold`` expression.

    Raises:
        ConfigError: unknown metric, bad operator or number, or a unit the metric does
            not accept — with the expression and what would be valid.
    """
    text = (expr or "").strip()
    if text.lower() == CALIBRATION:
        return Threshold(expr=text, metric=CALIBRATION, kind="behavior")
    m = _EXPR.match(text)
    names = ", ".join([*METRICS, CALIBRATION])
    if not m:
        raise ConfigError(
            f"--threshold {expr!r}: expected METRIC OP NUMBER[ms|s|%] "
            f"(e.g. p95<800ms, error_rate<1%) or 'calibration'; metrics: {names}"
        )
    name = m["name"].lower()
    metric = METRICS.get(name)
    if metric is None:
        raise ConfigError(f"--threshold {expr!r}: unknown metric {name!r}; known: {names}")
    unit = m["unit"].lower() if m["unit"] else None
    if unit not in metric.units:
        allowed = ", ".join(u or "no unit" for u in metric.units)
        raise ConfigError(
            f"--threshold {expr!r}: unit {unit or 'none'} not valid for {name} ({allowed})"
        )
    if m["sel"] and not metric.selector:
        raise ConfigError(f"--threshold {expr!r}: {name} takes no [endpoint] selector")
    limit = float(m["num"]) * metric.units[unit]
    return Threshold(
        expr=text,
        metric=name,
        kind=metric.kind,
        op=m["op"],
        limit=limit,
        unit=unit,
        selector=m["sel"].strip() if m["sel"] else None,
    )


def parse_thresholds(exprs: Iterable[str]) -> list[Threshold]:
    """Parse every expression (the harness calls this at start-up, before any load)."""
    return [parse_threshold(e) for e in exprs]


def evaluate(thresholds: Iterable[Threshold], summary: dict[str, Any]) -> list[GateResult]:
    """Evaluate gates against a run summary (``reports.build.build_run_report``)."""
    results = []
    for t in thresholds:
        if t.metric == CALIBRATION:
            cal = summary.get("calibration") or {}
            failed = [m["metric"] for m in cal.get("metrics", []) if m["status"] == "fail"]
            if not cal.get("checked"):
                detail = "not checked: " + (cal.get("note") or "too little data")
            else:
                detail = "failed: " + ", ".join(failed) if failed else "within tolerance"
            results.append(
                GateResult(
                    t.expr,
                    bool(cal.get("ok")),
                    "ok" if cal.get("ok") else "fail",
                    None,
                    t.kind,
                    detail,
                )
            )
            continue
        metric = METRICS[t.metric]
        actual = metric.get(summary, t.selector, t.unit)
        if actual is None:
            results.append(GateResult(t.expr, False, None, t.limit, t.kind, "not measured"))
            continue
        ok = _OPS[t.op or "<"](float(actual), float(t.limit or 0.0))
        results.append(GateResult(t.expr, ok, float(actual), t.limit, t.kind))
    return results


def exit_code_for(results: Iterable[GateResult]) -> int:
    """0 when every gate holds; 3 when any load gate failed (takes precedence);
    4 when only behavior gates failed."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return EXIT_OK
    return EXIT_LOAD if any(r.kind == "load" for r in failed) else EXIT_BEHAVIOR


def render_gates(results: Iterable[GateResult]) -> str:
    """One line per gate: ``PASS``/``FAIL``, the expression, actual vs limit."""
    lines = []
    for r in results:
        actual = (
            "-"
            if r.actual is None
            else (f"{r.actual:.4g}" if isinstance(r.actual, float) else str(r.actual))
        )
        limit = "" if r.limit is None else f" (limit {r.limit:.4g})"
        extra = f" — {r.detail}" if r.detail else ""
        lines.append(
            f"[{'PASS' if r.ok else 'FAIL'}] {r.kind} gate {r.expr}: {actual}{limit}{extra}"
        )
    return "\n".join(lines)
