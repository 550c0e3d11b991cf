"""CI gates: parsing (bad input → ConfigError, exit 2), evaluation, exit codes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from db.errors import ConfigError
from reports.thresholds import (
    EXIT_BEHAVIOR,
    EXIT_LOAD,
    EXIT_OK,
    GateResult,
    evaluate,
    exit_code_for,
    parse_threshold,
    parse_thresholds,
    render_gates,
)


def _summary() -> dict[str, Any]:
    """A summary shaped like ``build_run_report``'s, with known figures."""
    return {
        "load": {
            "requests": 1000,
            "failures": 5,
            "error_rate": 0.005,
            "rps": 25.0,
            "p50_ms": 120.0,
            "p95_ms": 640.0,
            "p99_ms": 1500.0,
            "endpoints": [
                {
                    "type": "POST",
                    "name": "/api/cart/add",
                    "p50_ms": 90.0,
                    "p95_ms": 300.0,
                    "p99_ms": 450.0,
                },
                {
                    "type": "POST",
                    "name": "/api/orders/checkout",
                    "p50_ms": 200.0,
                    "p95_ms": 900.0,
                    "p99_ms": 2100.0,
                },
            ],
        },
        "time": {
            "slip_p50_s": 0.5,
            "slip_p95_s": 2.0,
            "slip_p99_s": 6.0,
            "slip_p50_pct_hour": 0.5 / 75 * 100,
            "slip_p95_pct_hour": 2.0 / 75 * 100,
            "slip_p99_pct_hour": 6.0 / 75 * 100,
            "missed_sessions": 0,
            "failed_flows": 3,
            "agent_slots": 600,
        },
        "behavior": {
            "overall": {
                "conversion": 0.62,
                "abandonment": 0.3,
                "basket_size_mean": 6.2,
                "per_sim_day": {"sessions": 40.0},
            }
        },
        "orders_per_real_minute": 12.5,
        "calibration": {
            "checked": True,
            "ok": True,
            "metrics": [{"metric": "basket_size", "status": "ok"}],
        },
    }


@pytest.mark.parametrize(
    ("expr", "metric", "limit", "kind"),
    [
        ("p95<800ms", "p95", 800.0, "load"),
        ("p99 < 2s", "p99", 2000.0, "load"),
        ("P50<=300", "p50", 300.0, "load"),
        ("error_rate<1%", "error_rate", 0.01, "load"),
        ("error_rate<0.02", "error_rate", 0.02, "load"),
        ("rps>20", "rps", 20.0, "load"),
        ("slip_p99<10%", "slip_p99", 10.0, "load"),
        ("slip_p99<5s", "slip_p99", 5000.0, "load"),
        ("missed_sessions=0", "missed_sessions", 0.0, "load"),
        ("failed_flows<5", "failed_flows", 5.0, "load"),
        ("conversion>30%", "conversion", 0.30, "behavior"),
        ("basket_size>=4.5", "basket_size", 4.5, "behavior"),
    ],
)
def test_parse_normalizes_units(expr: str, metric: str, limit: float, kind: str) -> None:
    t = parse_threshold(expr)
    assert (t.metric, t.kind) == (metric, kind)
    assert t.limit == pytest.approx(limit)


def test_parse_calibration_and_selector() -> None:
    cal = parse_threshold(" Calibration ")
    assert (cal.metric, cal.kind, cal.op) == ("calibration", "behavior", None)
    sel = parse_threshold("p95[/api/cart/add]<500ms")
    assert (sel.selector, sel.limit) == ("/api/cart/add", 500.0)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("p95<800kb", "expected METRIC OP NUMBER"),
        ("latency<5", "unknown metric 'latency'"),
        ("p95 800ms", "expected METRIC OP NUMBER"),
        ("", "expected METRIC OP NUMBER"),
        ("missed_sessions<5%", "unit % not valid for missed_sessions"),
        ("error_rate<5ms", "unit ms not valid for error_rate"),
        ("rps[/api/cart]>3", "takes no [endpoint] selector"),
    ],
)
def test_bad_expression_is_a_config_error(expr: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_threshold(expr)
    assert exc.value.exit_code == 2
    assert fragment in str(exc.value)
    assert repr(expr) in str(exc.value)


def test_parse_thresholds_stops_at_the_first_bad_one() -> None:
    with pytest.raises(ConfigError, match="bogus"):
        parse_thresholds(["p95<800ms", "bogus>1"])


def test_gates_that_hold_exit_zero() -> None:
    s = _summary()
    gates = parse_thresholds(
        [
            "p95<800ms",
            "p99<2s",
            "error_rate<1%",
            "rps>20",
            "slip_p99<10%",
            "slip_p99<7s",
            "missed_sessions=0",
            "failed_flows<5",
            "failed_flow_rate<1%",
            "conversion>50%",
            "orders_per_min>10",
            "calibration",
            "p95[/api/cart/add]<500ms",
        ]
    )
    results = evaluate(gates, s)
    assert [r.expr for r in results if not r.ok] == []
    assert exit_code_for(results) == EXIT_OK
    by_expr = {r.expr: r for r in results}
    assert by_expr["p95<800ms"].actual == s["load"]["p95_ms"]
    assert by_expr["slip_p99<10%"].actual == pytest.approx(8.0)  # 6 s of a 75-s sim hour
    assert by_expr["failed_flow_rate<1%"].actual == pytest.approx(3 / 600)


def test_load_gate_failure_exits_3_and_names_the_gate() -> None:
    results = evaluate(parse_thresholds(["p95<500ms", "error_rate<1%"]), _summary())
    assert [r.ok for r in results] == [False, True]
    assert exit_code_for(results) == EXIT_LOAD
    text = render_gates(results)
    assert "[FAIL] load gate p95<500ms: 640" in text
    assert "[PASS] load gate error_rate<1%" in text


def test_endpoint_selector_reads_that_endpoint() -> None:
    results = evaluate(parse_thresholds(["p95[/api/orders/checkout]<800ms"]), _summary())
    assert results[0].actual == 900.0 and not results[0].ok


def test_behavior_only_failure_exits_4() -> None:
    s = _summary()
    s["calibration"] = {
        "checked": True,
        "ok": False,
        "metrics": [{"metric": "abandonment", "status": "fail"}],
    }
    results = evaluate(parse_thresholds(["calibration", "conversion>70%", "p95<800ms"]), s)
    assert [r.ok for r in results] == [False, False, True]
    assert "abandonment" in results[0].detail
    assert exit_code_for(results) == EXIT_BEHAVIOR


def test_load_failure_takes_precedence_over_behavior() -> None:
    s = _summary()
    s["time"]["missed_sessions"] = 4
    results = evaluate(parse_thresholds(["missed_sessions=0", "conversion>70%"]), s)
    assert not any(r.ok for r in results)
    assert exit_code_for(results) == EXIT_LOAD


def test_unmeasured_metric_fails_the_gate() -> None:
    s = copy.deepcopy(_summary())
    s["load"]["p95_ms"] = None
    s["calibration"] = {"checked": False, "ok": False, "metrics": [], "note": "needs the database"}
    results = evaluate(parse_thresholds(["p95<800ms", "calibration"]), s)
    assert [r.ok for r in results] == [False, False]
    assert results[0].detail == "not measured"
    assert "needs the database" in results[1].detail


def test_exit_code_for_no_gates_is_zero() -> None:
    assert exit_code_for([]) == 0
    assert exit_code_for([GateResult("x", True, 1.0, 2.0, "behavior")]) == 0


def test_a_run_without_http_requests_fails_its_error_rate_gate():
    """A --mock-api run makes no HTTP request: error rate and rps are not measured, so
    gates on them fail (exit 3) instead of passing on a 0.0 nobody computed."""
    import pandas as pd

    from reports.load import load_metrics
    from reports.sources import PERCENTILE_COLUMNS

    def row(kind: str, name: str, n: int) -> dict[str, Any]:
        base = {"Type": kind, "Name": name, "Request Count": n, "Failure Count": 0,
                "Requests/s": n / 60, "Average Response Time": 3.0, "Min Response Time": 1.0,
                "Max Response Time": 9.0}  # fmt: skip
        return base | {c: 5.0 for c in PERCENTILE_COLUMNS}

    # Locust's stats hold HTTP requests only: a --mock-api run's is its empty Aggregated row.
    stats = pd.DataFrame([row("", "Aggregated", 0)])
    failures = pd.DataFrame(columns=["Method", "Name", "Error", "Occurrences"])
    load = load_metrics(stats, failures, pd.DataFrame(columns=["Count"]))
    assert load["requests"] == 0
    assert load["error_rate"] is None and load["rps"] is None and load["p95_ms"] is None
    summary = _summary() | {"load": load}
    results = evaluate(parse_thresholds(["error_rate<1%", "rps<1000", "p95<800ms"]), summary)
    assert [(r.ok, r.detail) for r in results] == [(False, "not measured")] * 3
    assert exit_code_for(results) == EXIT_LOAD
