"""Behavior fidelity of a run: realized behavior vs what the personas and rules said.

docs/ARCHITECTURE.md, Personas: an agent's realized sessions per week, basket size and abandonment match
its attributes within sampling error. ``behaviors.calibration`` proves the
*rules* do so offline; this module checks what a real run did through the real target,
where rejections, failures and missed hours can distort it. Each check is a count with a
stated expectation ``E`` and variance ``V``, judged with the same Bernstein tolerance the
offline calibration uses (``personas.expectations.bernstein_tolerance``, family error
``alpha`` over the checks made):

- **sessions per week**: expected from each agent-hour's own chance to shop
  (``personas.expectations.profile_for``: weekly frequency spread over preferred days and
  hours, so runs shorter than a week are judged fairly). Coupons raise that chance by a
  lift the database does not record for quiet hours, so the expectation is a bracket
  ``[no lift, maximum lift]``; without the run's simulated start the weekly frequency is
  used and the run must cover a whole week.
- **abandonment**: with the ``p_abandon`` each checkout decision recorded in its event
  payload, ``E = Σp`` and ``V = Σp(1−p)``; realized = sessions that ended abandoned
  (a rejected checkout counts, which is the distortion being looked for). Without
  payloads, the personas' ``cart_abandonment_rate``.
- **basket size**: realized items vs the planned basket the rule recorded (``items`` in
  the ``cart_add_item`` payload), V from the Poisson model of basket sizes; without
  payloads, the personas' ``avg_basket_size`` (basket = ``1 + Poisson(m − 1)``).

A metric with too little data is *skipped*; the run is calibrated when at least one metric
was checked and none failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from offer_engine.calendar import HOURS_PER_WEEK, hour_of_week
from personas.expectations import (
    COUPON_SATURATION,
    DEFAULT_ALPHA,
    bernstein_tolerance,
    coupon_lift,
    profile_for,
)
from personas.model import Persona

MIN_SESSIONS = 30
"""Below this many finished sessions a rate is too noisy to judge."""
CHECKS = 3


def check_calibration(
    *,
    sessions: pd.DataFrame,
    agent_hours: pd.DataFrame,
    personas: pd.DataFrame,
    session_facts: pd.DataFrame | None = None,
    sim_start: datetime | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """Compare realized sessions/week, basket size and abandonment with expectations.

    Args:
        sessions: the run's ``shopping_sessions`` frame.
        agent_hours: the run's ``agent_hours`` frame (the exposure; missed hours excluded).
        personas: ``reports.behavior.persona_frame`` of the run's agents (with ``raw``).
        session_facts: per session ``planned_items`` and ``p_abandon`` from the event
            payloads (``reports.dbcollect``), or None.
        sim_start: the simulated time of sim hour 0.
        alpha: family error of the checks.

    Returns:
        ``{"checked", "ok", "alpha", "metrics": [...]}``; each metric has ``metric``,
        ``configured``, ``expected``, ``realized`` (per unit), ``n``, ``tolerance`` (per
        unit), ``status`` (ok / fail / skipped), ``basis`` and ``note``.
    """
    known = personas.dropna(subset=["shopping_frequency"]).set_index("agent_id")
    facts = session_facts if session_facts is not None else pd.DataFrame()
    shop = sessions[
        (sessions["kind"] == "shop")
        & sessions["status"].isin(["completed", "abandoned"])
        & sessions["agent_id"].isin(known.index)
    ]
    if len(facts):
        shop = shop.merge(facts, left_on="id", right_on="session_id", how="left")
    metrics = [
        _sessions_per_week(sessions, agent_hours, known, sim_start, alpha),
        _basket(shop, known, alpha),
        _abandonment(shop, known, alpha),
    ]
    checked = [m for m in metrics if m["status"] != "skipped"]
    return {
        "checked": bool(checked),
        "ok": bool(checked) and all(m["status"] == "ok" for m in checked),
        "alpha": alpha,
        "metrics": metrics,
    }


def _result(
    metric: str,
    *,
    n: int,
    units: float = 0.0,
    configured: Any = None,
    expected: tuple[float, float] | None = None,
    realized: float | None = None,
    variance: float = 0.0,
    alpha: float,
    basis: str = "",
    note: str = "",
) -> dict[str, Any]:
    """Judge a count: ok when ``realized`` lies within ``[lo − t, hi + t]``."""
    if expected is None or realized is None or not units:
        status, tol = "skipped", None
    else:
        tol = bernstein_tolerance(variance, alpha=alpha, tests=CHECKS)
        lo, hi = expected
        status = "ok" if lo - tol <= realized <= hi + tol else "fail"

    def per(x: float | None) -> float | None:
        return None if x is None or not units else x / units

    exp = None if expected is None else [per(expected[0]), per(expected[1])]
    return {
        "metric": metric,
        "configured": configured,
        "expected": exp if exp is None or exp[0] != exp[1] else exp[0],
        "realized": per(realized),
        "n": n,
        "tolerance": per(tol),
        "status": status,
        "basis": basis,
        "note": note,
    }


def _personas(known: pd.DataFrame) -> dict[int, Persona]:
    out = {}
    for agent_id, raw in known["raw"].items():
        try:
            out[agent_id] = Persona(**raw)
        except Exception:  # noqa: BLE001 - persona_frame already flagged it unknown
            continue
    return out


def _sessions_per_week(
    sessions: pd.DataFrame,
    agent_hours: pd.DataFrame,
    known: pd.DataFrame,
    sim_start: datetime | None,
    alpha: float,
) -> dict[str, Any]:
    name = "sessions_per_week"
    if not len(agent_hours):
        return _result(name, n=0, alpha=alpha, note="no agent_hours rows (exposure unknown)")
    ah = agent_hours[
        (agent_hours["decision"] != "missed") & agent_hours["agent_id"].isin(known.index)
    ]
    exposure = ah.groupby("agent_id")["sim_hour"].apply(lambda s: s.to_numpy(dtype=int))
    weeks = float(sum(len(h) for h in exposure)) / HOURS_PER_WEEK
    observed = int(((sessions["kind"] == "shop") & sessions["agent_id"].isin(exposure.index)).sum())
    configured = (
        float(sum(known.loc[a, "shopping_frequency"] * len(h) for a, h in exposure.items()))
        / HOURS_PER_WEEK
        / weeks
        if weeks
        else None
    )
    personas = _personas(known)
    if sim_start is None:
        span = int(agent_hours["sim_hour"].nunique())
        if span < HOURS_PER_WEEK:
            # Preferred days and hours make a partial week unrepresentative.
            return _result(
                name,
                n=observed,
                units=weeks,
                configured=configured,
                alpha=alpha,
                note=f"no simulated start and {span} < {HOURS_PER_WEEK} hours",
            )
        e = configured * weeks if configured else 0.0
        return _result(
            name,
            n=observed,
            units=weeks,
            configured=configured,
            expected=(e, e),
            realized=observed,
            variance=e,
            alpha=alpha,
            basis="weekly frequency",
        )
    start_how = hour_of_week(sim_start)
    lo = hi = var = 0.0
    for agent_id, hours in exposure.items():
        p = personas.get(agent_id)
        if p is None:
            continue
        base = np.asarray(profile_for(p)[0])[(start_how + hours) % HOURS_PER_WEEK]
        top = np.minimum(1.0, base * (1.0 + coupon_lift(p, COUPON_SATURATION)))
        lo += float(base.sum())
        hi += float(top.sum())
        var += float(max((base * (1 - base)).sum(), (top * (1 - top)).sum()))
    return _result(
        name,
        n=observed,
        units=weeks,
        configured=configured,
        expected=(lo, hi),
        realized=observed,
        variance=var,
        alpha=alpha,
        basis="rhythm profile per agent-hour, coupon lift 0..max",
        note=f"{weeks:.1f} agent-weeks",
    )


def _basket(shop: pd.DataFrame, known: pd.DataFrame, alpha: float) -> dict[str, Any]:
    n = int(len(shop))
    if n < MIN_SESSIONS:
        return _result("basket_size", n=n, alpha=alpha, note=f"fewer than {MIN_SESSIONS} sessions")
    m = known.loc[shop["agent_id"], "avg_basket_size"].to_numpy(dtype=float)
    realized = float(shop["item_count"].sum())
    planned = shop["planned_items"] if "planned_items" in shop else pd.Series(dtype=float)
    if planned.notna().sum() >= MIN_SESSIONS:
        # Executed vs planned (after the budget): a shortfall means the target rejected
        # adds. Poisson variance of the planned sizes keeps the tolerance honest.
        s = shop[planned.notna()]
        plan = float(s["planned_items"].sum())
        return _result(
            "basket_size",
            n=len(s),
            units=len(s),
            configured=float(m.mean()),
            expected=(plan, plan),
            realized=float(s["item_count"].sum()),
            variance=max(plan - len(s), 1.0),
            alpha=alpha,
            basis="planned basket (rule payload)",
        )
    e = float(m.sum())
    return _result(
        "basket_size",
        n=n,
        units=n,
        configured=float(m.mean()),
        expected=(e, e),
        realized=realized,
        variance=float(np.maximum(m - 1, 0).sum()),
        alpha=alpha,
        basis="avg_basket_size (1 + Poisson(m - 1))",
    )


def _abandonment(shop: pd.DataFrame, known: pd.DataFrame, alpha: float) -> dict[str, Any]:
    n = int(len(shop))
    if n < MIN_SESSIONS:
        return _result("abandonment", n=n, alpha=alpha, note=f"fewer than {MIN_SESSIONS} sessions")
    configured = float(known.loc[shop["agent_id"], "cart_abandonment_rate"].mean())
    recorded = shop["p_abandon"] if "p_abandon" in shop else pd.Series(dtype=float)
    if recorded.notna().sum() >= MIN_SESSIONS:
        s = shop[recorded.notna()]
        p = s["p_abandon"].to_numpy(dtype=float)
        basis = "p_abandon recorded by decide_checkout"
    else:
        s = shop
        p = known.loc[s["agent_id"], "cart_abandonment_rate"].to_numpy(dtype=float)
        basis = "cart_abandonment_rate"
    k = float((s["status"] == "abandoned").sum())
    e = float(p.sum())
    return _result(
        "abandonment",
        n=len(s),
        units=len(s),
        configured=configured,
        expected=(e, e),
        realized=k,
        variance=float((p * (1 - p)).sum()),
        alpha=alpha,
        basis=basis,
    )


def sim_start_of(manifest: dict[str, Any], db_run: dict[str, Any] | None) -> datetime | None:
    """The simulated time of sim hour 0 (manifest first, then ``simulation_runs``)."""
    from reports.timing import parse_instant

    return parse_instant(manifest.get("sim_start") or (db_run or {}).get("sim_start"))
