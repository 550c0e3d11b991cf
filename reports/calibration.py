"""Behavior fidelity of a run: realized behavior vs the personas' configured values.

ARCHITECTURE §9: over many simulated weeks an agent's realized sessions per week,
basket size and abandonment match its attributes within sampling error. This checks
the run's database rows (overall, session-weighted) with the z tests of
``reports.stats``. ``behaviors.calibration`` (issue 6) checks the rules offline on the
in-memory shop; this module checks what a real run actually did, through the real API.

A metric with too little data is *skipped* (not failed); the run is calibrated when at
least one metric was checked and none failed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.stats import (
    Z_TOLERANCE,
    z_count_vs_expected,
    z_mean_residual,
    z_proportion_vs_expected,
)

HOURS_PER_WEEK = 168
MIN_SESSIONS = 30
"""Below this many finished sessions a rate is too noisy to judge."""


def check_calibration(
    *,
    sessions: pd.DataFrame,
    agent_hours: pd.DataFrame,
    personas: pd.DataFrame,
    z_tolerance: float = Z_TOLERANCE,
) -> dict[str, Any]:
    """Compare realized sessions/week, basket size and abandonment with the personas.

    Args:
        sessions: the run's ``shopping_sessions`` frame.
        agent_hours: the run's ``agent_hours`` frame (the exposure: hours each agent
            was live and decided something; ``missed`` hours excluded).
        personas: ``reports.behavior.persona_frame`` of the run's agents.
        z_tolerance: allowed distance in standard errors.

    Returns:
        ``{"checked": bool, "ok": bool, "z_tolerance": float, "metrics": [...]}``; each
        metric has ``metric``, ``configured``, ``realized``, ``n``, ``z``, ``status``
        (ok / fail / skipped) and ``note``.
    """
    known = personas.dropna(subset=["shopping_frequency"]).set_index("agent_id")
    metrics = [
        _sessions_per_week(sessions, agent_hours, known, z_tolerance),
        _basket(sessions, known, z_tolerance),
        _abandonment(sessions, known, z_tolerance),
    ]
    checked = [m for m in metrics if m["status"] != "skipped"]
    return {
        "checked": bool(checked),
        "ok": bool(checked) and all(m["status"] == "ok" for m in checked),
        "z_tolerance": z_tolerance,
        "metrics": metrics,
    }


def _result(
    metric: str, configured: Any, realized: Any, n: int, z: float | None, tol: float, note: str = ""
) -> dict[str, Any]:
    status = "skipped" if z is None else ("ok" if abs(z) <= tol else "fail")
    return {
        "metric": metric,
        "configured": configured,
        "realized": realized,
        "n": n,
        "z": None if z is None else round(float(z), 3),
        "status": status,
        "note": note,
    }


def _sessions_per_week(
    sessions: pd.DataFrame, agent_hours: pd.DataFrame, known: pd.DataFrame, tol: float
) -> dict[str, Any]:
    name = "sessions_per_week"
    if not len(agent_hours):
        return _result(name, None, None, 0, None, tol, "no agent_hours rows (exposure unknown)")
    span = int(agent_hours["sim_hour"].nunique())
    ah = agent_hours[
        (agent_hours["decision"] != "missed") & agent_hours["agent_id"].isin(known.index)
    ]
    exposure = ah.groupby("agent_id").size()
    weeks = float(exposure.sum()) / HOURS_PER_WEEK
    expected = (
        float((exposure * known.loc[exposure.index, "shopping_frequency"]).sum()) / HOURS_PER_WEEK
    )
    shop = sessions[(sessions["kind"] == "shop") & sessions["agent_id"].isin(exposure.index)]
    observed = int(len(shop))
    configured = expected / weeks if weeks else None
    realized = observed / weeks if weeks else None
    if span < HOURS_PER_WEEK:
        # Shopping follows preferred days and times of day: a window shorter than a
        # week over- or under-samples them, so a weekly rate cannot be judged.
        return _result(
            name,
            configured,
            realized,
            observed,
            None,
            tol,
            f"run covers {span} < {HOURS_PER_WEEK} simulated hours",
        )
    z = z_count_vs_expected(observed, expected)
    return _result(name, configured, realized, observed, z, tol, f"{weeks:.1f} agent-weeks")


def _finished_shop(sessions: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    shop = sessions[
        (sessions["kind"] == "shop")
        & sessions["status"].isin(["completed", "abandoned"])
        & sessions["agent_id"].isin(known.index)
    ]
    return shop


def _basket(sessions: pd.DataFrame, known: pd.DataFrame, tol: float) -> dict[str, Any]:
    shop = _finished_shop(sessions, known)
    n = int(len(shop))
    if n < MIN_SESSIONS:
        return _result(
            "basket_size", None, None, n, None, tol, f"fewer than {MIN_SESSIONS} sessions"
        )
    configured = known.loc[shop["agent_id"], "avg_basket_size"].to_numpy(dtype=float)
    realized = shop["item_count"].to_numpy(dtype=float)
    resid = realized - configured
    z = z_mean_residual(float(resid.mean()), float(resid.std(ddof=1)), n)
    return _result("basket_size", float(configured.mean()), float(realized.mean()), n, z, tol)


def _abandonment(sessions: pd.DataFrame, known: pd.DataFrame, tol: float) -> dict[str, Any]:
    shop = _finished_shop(sessions, known)
    n = int(len(shop))
    if n < MIN_SESSIONS:
        return _result(
            "abandonment", None, None, n, None, tol, f"fewer than {MIN_SESSIONS} sessions"
        )
    p = known.loc[shop["agent_id"], "cart_abandonment_rate"].to_numpy(dtype=float)
    k = int((shop["status"] == "abandoned").sum())
    z = z_proportion_vs_expected(k, float((p * (1 - p)).sum()), float(p.sum()))
    return _result("abandonment", float(p.mean()), k / n, n, z, tol)
