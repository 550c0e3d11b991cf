"""The run at a glance: the ``verdict`` block of ``summary.json``.

Four questions, answered first everywhere (``summary.json``, ``summary.txt``, the console,
``report.html``):

- **gates** — each ``--threshold`` with its limit, the measured value (both in the
  gate's canonical unit, named in ``unit``) and pass/fail;
- **api** — did the target hold up: HTTP error rate at most ``API_ERROR_RATE_MAX`` and no
  outage or breaker trip in the run log (``None`` for a ``--mock-api`` run: no HTTP);
- **clock** — did the simulated clock keep its pace, from measured times: the realized
  time scale against the set one, slip p99 as a share of a simulated hour and missed
  sessions — the sustainability rule of ``reports.compare``;
- **data** — what the run produced: simulated hours, sessions, orders, requests, the
  database rows and the files written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from db.errors import ConfigError
from reports.thresholds import Threshold, evaluate, exit_code_for, parse_threshold, unit_of

API_ERROR_RATE_MAX = 0.01
"""HTTP requests failing (fraction) above which the API did not hold up."""
RUN_LOG = "simulation_runs.log"
API_EVENTS = ("breaker_trip", "outage")
"""Run-log events that say the target (or its contract) did not hold."""
TIMELINE_EVENTS = ("breaker_trip", "outage", "pause", "resume", "offer_cycle", "run_end")


def read_run_log(run_dir: Path) -> list[dict[str, Any]]:
    """The run log's JSON lines (``harness.outputs.run_files``); unreadable lines skipped."""
    path = Path(run_dir) / RUN_LOG
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def gate_thresholds(
    manifest: dict[str, Any], exprs: Iterable[str] | None, notes: list[str]
) -> list[Threshold]:
    """The gates to judge: ``exprs`` when given (``loadsim report --threshold``), else the
    run's own ``--threshold`` options as its manifest recorded them. A recorded expression
    this version cannot parse is named in ``notes`` (the harness validated it at start)."""
    if exprs is not None:
        return [parse_threshold(e) for e in exprs]
    gates = []
    for e in (manifest.get("options") or {}).get("thresholds") or []:
        try:
            gates.append(parse_threshold(str(e)))
        except ConfigError as exc:
            notes.append(f"gate not judged: {exc}")
    return gates


def build_verdict(
    summary: dict[str, Any],
    *,
    gates: list[Threshold],
    events: list[dict[str, Any]],
    outputs: dict[str, Any] | None = None,
    mock_api: bool = False,
) -> dict[str, Any]:
    """The verdict block for a computed summary.

    Args:
        summary: ``reports.summary.build_summary``'s dict.
        gates: parsed ``--threshold`` gates (may be empty).
        events: the run log's records (``read_run_log``).
        outputs: the files written so far (``summary["outputs"]``).
        mock_api: the run had no HTTP target.
    """
    results = evaluate(gates, summary)
    gate_rows = [
        {
            "expr": r.expr,
            "metric": g.metric,
            "kind": r.kind,
            "op": g.op,
            "threshold": r.limit,
            "value": r.actual,
            "unit": unit_of(g),
            "pass": bool(r.ok),
            "detail": r.detail,
        }
        for g, r in zip(gates, results, strict=True)
    ]
    api = _api(summary, events, mock_api=mock_api)
    clock = _clock(summary)
    gates_ok = all(r.ok for r in results)
    return {
        "ok": gates_ok and api["held"] is not False and clock["held"] is not False,
        "gates_ok": gates_ok,
        "gates_exit_code": exit_code_for(results),
        "gates": gate_rows,
        "api": api,
        "clock": clock,
        "data": _data(summary, outputs or {}),
    }


def _api(
    summary: dict[str, Any], events: list[dict[str, Any]], *, mock_api: bool
) -> dict[str, Any]:
    load = summary["load"]
    trips = [e for e in events if e.get("event") in API_EVENTS]
    reasons: list[str] = []
    rate = load.get("error_rate")
    if mock_api:
        held = None
        reasons.append("--mock-api run: no HTTP target")
    elif not load.get("requests"):
        held = None
        reasons.append("no HTTP requests recorded")
    else:
        if rate is not None and rate > API_ERROR_RATE_MAX:
            reasons.append(f"error rate {100 * rate:.2f}% > {100 * API_ERROR_RATE_MAX:g}%")
        for e in trips:
            what = e.get("reason") or e.get("detail") or ""
            hour = e.get("sim_hour")
            reasons.append(
                f"{e['event']}" + (f" at sim hour {hour}" if hour is not None else "")
                + (f" ({what})" if what else "")
            )  # fmt: skip
        held = not reasons
    return {
        "held": held,
        "requests": load.get("requests"),
        "error_rate_fraction": rate,
        "error_rate_max_fraction": API_ERROR_RATE_MAX,
        "p95_ms": load.get("p95_ms"),
        "p99_ms": load.get("p99_ms"),
        "breaker_trips": sum(1 for e in trips if e.get("event") == "breaker_trip"),
        "outages": sum(1 for e in trips if e.get("event") == "outage"),
        "reasons": reasons,
    }


def _clock(summary: dict[str, Any]) -> dict[str, Any]:
    from reports.compare import SCALE_TOLERANCE, SLIP_LIMIT_PCT, sustainability

    t = summary["time"]
    s = sustainability(summary)
    measured = t.get("realized_time_scale") is not None or t.get("slip_p99_pct_hour") is not None
    return {
        "held": bool(s["sustainable"]) if measured else None,
        "time_scale_set": t.get("time_scale"),
        "time_scale_realized": t.get("realized_time_scale"),
        "time_scale_tolerance_fraction": SCALE_TOLERANCE,
        "real_seconds": t.get("real_seconds"),
        "real_seconds_source": t.get("real_seconds_source"),
        "slip_p99_ms": None if t.get("slip_p99_s") is None else 1000.0 * t["slip_p99_s"],
        "slip_p99_pct_hour": t.get("slip_p99_pct_hour"),
        "slip_p99_max_pct_hour": SLIP_LIMIT_PCT,
        "missed_sessions": t.get("missed_sessions"),
        "reasons": list(s["reasons"]) if measured else ["no measured times (no hours, no slip)"],
    }


def _data(summary: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    beh, t, load = summary["behavior"]["overall"], summary["time"], summary["load"]
    src = summary["sources"]
    return {
        "sim_hours": t.get("sim_hours"),
        "sim_days": t.get("sim_days"),
        "sessions": beh.get("sessions"),
        "shop_sessions": beh.get("shop_sessions"),
        "orders": beh.get("orders"),
        "http_requests": load.get("requests"),
        "database_rows": bool(src.get("database")),
        "behavior_source": src.get("behavior"),
        "files_read": sorted(k for k, v in (src.get("files") or {}).items() if v),
        "files_written": sorted(_flatten(outputs)),
    }


def _flatten(outputs: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in outputs.items():
        if k == "errors":
            continue
        out.extend(v if isinstance(v, list) else [v])
    return [str(x) for x in out]


def render_verdict(verdict: dict[str, Any]) -> list[str]:
    """The verdict as console lines (the first lines of ``summary.txt``)."""

    def yes(v: bool | None) -> str:
        return "n/a" if v is None else ("yes" if v else "NO")

    api, clock, data = verdict["api"], verdict["clock"], verdict["data"]
    failed = [g for g in verdict["gates"] if not g["pass"]]
    why = [f"{len(failed)} of {len(verdict['gates'])} gates failed"] if failed else []
    why += ["the API did not hold"] if api["held"] is False else []
    why += ["the clock did not hold"] if clock["held"] is False else []
    lines = ["verdict: OK" if verdict["ok"] else "verdict: NOT OK — " + ", ".join(why)]
    for g in verdict["gates"]:
        value = "-" if g["value"] is None else _num(g["value"])
        limit = "" if g["threshold"] is None else f" (limit {_num(g['threshold'])} {g['unit']})"
        detail = f" — {g['detail']}" if g["detail"] else ""
        lines.append(
            f"  [{'PASS' if g['pass'] else 'FAIL'}] {g['kind']} gate {g['expr']}: "
            f"{value}{limit}{detail}"
        )
    if not verdict["gates"]:
        lines.append("  gates: none set (--threshold)")
    lines.append(
        f"  API held: {yes(api['held'])}"
        + (f" — {'; '.join(api['reasons'])}" if api["reasons"] else "")
    )
    lines.append(
        f"  clock held: {yes(clock['held'])}"
        + (f" — {'; '.join(clock['reasons'])}" if clock["reasons"] else "")
    )
    lines.append(
        f"  data: {_num(data['sim_hours'])} sim hours, {_num(data['sessions'])} sessions, "
        f"{_num(data['orders'])} orders, {_num(data['http_requests'])} HTTP requests, "
        f"database rows: {'yes' if data['database_rows'] else 'no'}"
    )
    return lines


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return f"{v:,}" if isinstance(v, int) else str(v)
