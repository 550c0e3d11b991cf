"""Compare runs (typically time scales, e.g. 48x vs 96x over the same simulated week).

Behavior is normalized per simulated day, so runs of different real length line up;
each behavior metric of every run is tested against the first run (the baseline) with
the sampling-error tests of ``reports.stats``: a difference beyond ``Z_TOLERANCE``
standard errors is flagged — a sign that the time scale distorts behavior (the target
did not keep up, sessions were missed or failed). Load and time rows are shown side by
side but not flagged: they are expected to differ between time scales.

Sustainability of each time scale (docs/ARCHITECTURE.md, Simulated time): slip p99 below
10 % of a simulated hour and no missed sessions; the latency share (API p95, or an
agent's whole shopping flow p95 when the harness measured it, as a share of the real
length of a simulated hour) tells whether the scale can be raised — the owner's rule:
raise to 96x when latency is under 20 % of the cycle.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from reports.build import collect_report, write_json
from reports.harness_timings import GRAPH_TIMING, p95_of
from reports.stats import Z_TOLERANCE, z_two_means, z_two_proportions, z_two_rates
from reports.summary import RunReport

SLIP_LIMIT_PCT = 10.0
RAISE_SCALE_LIMIT_PCT = 20.0
SCALE_TOLERANCE = 0.05
"""Realized time scale within 5 % of the configured one counts as keeping up."""

ZFunc = Callable[[dict[str, Any], dict[str, Any]], float | None]


def _beh(s: dict[str, Any]) -> dict[str, Any]:
    return s["behavior"]["overall"]


def _per_day(key: str) -> tuple[Callable[[dict[str, Any]], Any], ZFunc]:
    def value(s: dict[str, Any]) -> Any:
        return (_beh(s).get("per_sim_day") or {}).get(key)

    def z(a: dict[str, Any], b: dict[str, Any]) -> float | None:
        ca, cb = _beh(a).get(key), _beh(b).get(key)
        da, db = a["time"].get("sim_days"), b["time"].get("sim_days")
        if ca is None or cb is None or not da or not db:
            return None
        return z_two_rates(cb, db, ca, da)

    return value, z


def _prop(num: str, den: Callable[[dict[str, Any]], Any], key: str) -> tuple[Any, ZFunc]:
    def value(s: dict[str, Any]) -> Any:
        return _beh(s).get(key)

    def z(a: dict[str, Any], b: dict[str, Any]) -> float | None:
        ka, kb, na, nb = _beh(a).get(num), _beh(b).get(num), den(_beh(a)), den(_beh(b))
        if ka is None or kb is None or na is None or nb is None:
            return None
        return z_two_proportions(kb, nb, ka, na)

    return value, z


def _mean(key: str, std: str, n: str) -> tuple[Any, ZFunc]:
    def value(s: dict[str, Any]) -> Any:
        return _beh(s).get(key)

    def z(a: dict[str, Any], b: dict[str, Any]) -> float | None:
        ba, bb = _beh(a), _beh(b)
        if None in (ba.get(key), bb.get(key), ba.get(std), bb.get(std)):
            return None
        return z_two_means(bb[key], bb[std], bb.get(n) or 0, ba[key], ba[std], ba.get(n) or 0)

    return value, z


BEHAVIOR_ROWS: dict[str, tuple[Callable[[dict[str, Any]], Any], ZFunc]] = {
    "sessions / sim day": _per_day("sessions"),
    "shop sessions / sim day": _per_day("shop_sessions"),
    "idle browses / sim day": _per_day("idle_browses"),
    "orders / sim day": _per_day("orders"),
    "coupon views / sim day": _per_day("coupon_views"),
    "coupon applies / sim day": _per_day("coupon_applies"),
    "coupon redemptions / sim day": _per_day("coupon_redemptions"),
    "conversion": _prop("completed", lambda b: b.get("shop_sessions"), "conversion"),
    "abandonment": _prop(
        "abandoned",
        lambda b: (b.get("completed") or 0) + (b.get("abandoned") or 0),
        "abandonment",
    ),
    "basket size": _mean("basket_size_mean", "basket_size_std", "basket_size_n"),
    "order value (cents)": _mean("order_value_mean_cents", "order_value_std_cents", "orders"),
}

LOAD_ROWS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "time scale": lambda s: s["time"].get("time_scale"),
    "realized time scale": lambda s: s["time"].get("realized_time_scale"),
    "simulated hours": lambda s: s["time"].get("sim_hours"),
    "real seconds": lambda s: s["time"].get("real_seconds"),
    "API requests": lambda s: s["load"].get("requests"),
    "requests/s": lambda s: s["load"].get("rps"),
    "API p50 ms": lambda s: s["load"].get("p50_ms"),
    "API p95 ms": lambda s: s["load"].get("p95_ms"),
    "API p99 ms": lambda s: s["load"].get("p99_ms"),
    "error rate": lambda s: s["load"].get("error_rate"),
    "slip p99 s": lambda s: s["time"].get("slip_p99_s"),
    "slip p99 % of sim hour": lambda s: s["time"].get("slip_p99_pct_hour"),
    "missed sessions": lambda s: s["time"].get("missed_sessions"),
    "failed flows": lambda s: s["time"].get("failed_flows"),
    "orders per real minute": lambda s: s.get("orders_per_real_minute"),
}


def sustainability(summary: dict[str, Any]) -> dict[str, Any]:
    """Whether a run's time scale was sustainable, and whether it could be raised."""
    t, load = summary["time"], summary["load"]
    hour_s = t.get("sim_hour_real_s")
    slip = t.get("slip_p99_pct_hour")
    missed = t.get("missed_sessions")

    def share(ms: float | None) -> float | None:
        return (100.0 * ms / 1000.0 / hour_s) if (ms is not None and hour_s) else None

    api_share = share(load.get("p95_ms"))
    # The flow's latency is the harness's own graph timing (harness_timings.csv), never
    # in Locust's stats, which hold the API's requests only.
    flow_share = share(p95_of(summary.get("harness_timings") or [], GRAPH_TIMING))
    shares = [x for x in (api_share, flow_share) if x is not None]
    latency_share = max(shares) if shares else None
    scale, realized = t.get("time_scale"), t.get("realized_time_scale")
    kept_pace = None if not (scale and realized) else realized >= scale * (1 - SCALE_TOLERANCE)
    reasons = []
    if slip is None:
        reasons.append("slip unknown")
    elif slip >= SLIP_LIMIT_PCT:
        reasons.append(f"slip p99 {slip:.1f}% ≥ {SLIP_LIMIT_PCT:.0f}% of a sim hour")
    if missed:
        reasons.append(f"{missed} missed sessions")
    if kept_pace is False:
        reasons.append(f"clock ran at {realized:.1f}x of {scale:.0f}x")
    sustainable = not reasons
    can_raise = sustainable and latency_share is not None and latency_share < RAISE_SCALE_LIMIT_PCT
    return {
        "time_scale": scale,
        "sustainable": sustainable,
        "reasons": reasons,
        "slip_p99_pct_hour": slip,
        "missed_sessions": missed,
        "api_p95_share_pct": api_share,
        "flow_p95_share_pct": flow_share,
        "latency_share_pct": latency_share,
        "can_raise_scale": can_raise,
        "verdict": (
            ("sustainable" if sustainable else "NOT sustainable: " + "; ".join(reasons))
            + (
                f"; latency {latency_share:.1f}% of the sim hour < {RAISE_SCALE_LIMIT_PCT:.0f}%:"
                " the scale can be raised (e.g. 2x)"
                if can_raise
                else ""
            )
        ),
    }


def _load_report(run_dir: Path, engine: Engine | None) -> RunReport:
    report = collect_report(run_dir, engine=engine)
    saved = run_dir / "summary.json"
    if engine is None and saved.is_file():
        # The summary written at the end of the run had the database; a rebuild without
        # an engine would only see hours.csv. Files (hours, history) come from disk.
        stored = json.loads(saved.read_text(encoding="utf-8"))
        if stored.get("sources", {}).get("database"):
            report.summary = stored
    return report


def compare_runs(run_dirs: list[Path], *, engine: Engine | None, out_dir: Path) -> dict[str, Any]:
    """Line runs up side by side and write ``comparison.json``, ``comparison.xlsx`` and
    ``plots/compare_*.png`` into ``out_dir``.

    Args:
        run_dirs: two or more run directories; the first is the baseline.
        engine: the database the runs wrote to (None: use each run's summary.json /
            files only).
        out_dir: where to write the comparison.

    Returns:
        ``{"runs", "behavior", "load", "sustainability", "flags", "notes",
        "z_tolerance"}``; ``behavior`` rows hold ``values``, ``z`` (vs the baseline) and
        ``flagged``.
    """
    from reports.compare_render import write_comparison_outputs

    reports = [_load_report(Path(d), engine) for d in run_dirs]
    sums = [r.summary for r in reports]
    base = sums[0]
    behavior = []
    for name, (value, zf) in BEHAVIOR_ROWS.items():
        zs = [None] + [zf(base, s) for s in sums[1:]]
        flagged = any(z is not None and abs(z) > Z_TOLERANCE for z in zs)
        behavior.append(
            {"metric": name, "values": [value(s) for s in sums], "z": zs, "flagged": flagged}
        )
    load = [{"metric": n, "values": [f(s) for s in sums]} for n, f in LOAD_ROWS.items()]
    notes = []
    periods = {(s["manifest"].get("sim_start"), s["time"].get("sim_hours")) for s in sums}
    if len(periods) > 1:
        notes.append(
            "runs cover different simulated periods: per-day figures are comparable, but "
            "weekly rhythm (preferred days) can differ"
        )
    for s in sums:
        if s["behavior"]["source"] != "database":
            notes.append(f"{s['run_id']}: behavior from hours.csv only (fewer rows compared)")
    result = {
        "runs": [
            {"run_id": s["run_id"], "time_scale": s["time"].get("time_scale"), "dir": str(d)}
            for s, d in zip(sums, run_dirs, strict=True)
        ],
        "z_tolerance": Z_TOLERANCE,
        "behavior": behavior,
        "load": load,
        "sustainability": [sustainability(s) for s in sums],
        "flags": [b["metric"] for b in behavior if b["flagged"]],
        "notes": notes,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_comparison_outputs(result, reports, out_dir)
    write_json(result, out_dir / "comparison.json")
    return result
