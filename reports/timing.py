"""Time metrics: realized time scale, slip, missed sessions (docs/ARCHITECTURE.md, Simulated time).

Slip is how late an agent acted against its slot; as a share of a simulated hour
(``3600 / time_scale`` real seconds) it is the honest measure of whether a time scale is
sustainable. Exact percentiles come from ``agent_hours.slip_seconds`` (database); a
``--mock-db`` run only has ``hours.csv``'s per-hour percentiles, from which the overall
figures are acted-weighted means and the worst hour is reported separately.

The **realized time scale** is simulated time over the real time it took, measured: the
harness records when its loop saw each simulated hour begin and end (``hours.csv``'s
``real_start``/``real_end``); the clock's own instants (``real_time``) are the plan, used
only for files written before those columns existed. The **accounting** of agent-hours —
``acted + missed + not_owed`` against the live agent-hours of the master's lease book
(``live_users``) — is checked per hour and reported (``agent_hours_account``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from reports import hour_table


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 string or datetime as an aware UTC timestamp; None if unparseable."""
    if value is None or value == "":
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if ts is pd.NaT:
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.to_pydatetime()


def sim_hour_seconds(time_scale: float | None) -> float | None:
    """Real seconds in one simulated hour (75 s at 48x, 37.5 s at 96x)."""
    return 3600.0 / time_scale if time_scale else None


def hours_from_db(
    agent_hours: pd.DataFrame,
    sessions: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    sim_start: datetime | None = None,
    time_scale: float | None = None,
) -> pd.DataFrame:
    """The ``hours.csv`` table (``reports.hour_table`` columns) rebuilt from the database
    rows: for a master that died before writing its hours, or the hours of an earlier
    segment that a kill cut off. What the rows cannot say (real time, ramp stage, target
    users, offer cycle) stays empty; ``live_users`` is the agents with a row that hour.

    Args:
        sim_start: the run's simulated start, for ``sim_time`` (empty without it).
        time_scale: for ``slip_p99_pct_hour`` (empty without it).
    """
    if not len(agent_hours):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in hour_table.HOUR_COLUMNS})
    missed = (agent_hours["decision"] == "missed") | (agent_hours["outcome"] == "missed")
    ah = agent_hours.assign(
        # The writer's definition: an agent that took its slot acted, whatever it decided.
        acted=~missed,
        failed=agent_hours["outcome"] == "failed",
        missed=missed,
        slip=agent_hours["slip_seconds"].astype(float),
    )
    # Vectorized per-hour aggregation: a month-long run has ~700 hours x 372 agents.
    g = ah.groupby("sim_hour")
    out = pd.DataFrame(
        {
            "live_users": g.size(),
            "acted": g["acted"].sum(),
            "failed": g["failed"].sum(),
            "missed": g["missed"].sum(),
            "slip_p50_s": g["slip"].quantile(0.5),
            "slip_p95_s": g["slip"].quantile(0.95),
            "slip_p99_s": g["slip"].quantile(0.99),
        }
    )
    s = sessions.assign(
        shopped=sessions["kind"] == "shop",
        idle=sessions["kind"] == "idle_browse",
        completed=sessions["status"] == "completed",
        abandoned=sessions["status"] == "abandoned",
    )
    per = s.groupby("sim_hour")[["shopped", "idle", "completed", "abandoned"]].sum()
    out = out.join(per, how="left")
    out["not_owed"] = 0  # held but not owed hours leave no row: live_users is rows here
    out["orders"] = orders.groupby("sim_hour").size() if len(orders) else 0
    counts = ["live_users", *hour_table.SUMMED_COLUMNS]
    out[counts] = out[counts].fillna(0).astype(int)
    out = out.reset_index()
    if sim_start is not None:
        start = pd.Timestamp(sim_start)
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        out["sim_time"] = start + pd.to_timedelta(out["sim_hour"].astype(int), unit="h")
    hour_s = sim_hour_seconds(time_scale)
    if hour_s:
        out["slip_p99_pct_hour"] = out["slip_p99_s"] * 100.0 / hour_s
    return out.reindex(columns=list(hour_table.HOUR_COLUMNS))


def fill_missing_hours(
    hours: pd.DataFrame, from_db: pd.DataFrame, *, recount_upto: int | None = None
) -> pd.DataFrame:
    """``hours`` (the file) plus the database's rows for the hours the file lacks (a
    killed segment never wrote its last hours): the file's rows win where both exist —
    except hours up to ``recount_upto``, whose counts and slips come from the database.

    ``recount_upto`` is for a resumed run: its later segment re-played the hours after
    the checkpoint, and its counters saw again the quiet hours the killed segment had
    recorded, while the hours the kill cut short lost that segment's counters. The
    database holds each agent-hour once: it is the count for those hours.
    """
    if not len(from_db):
        return hours
    if not len(hours):
        return from_db.reset_index(drop=True)
    out = hours
    if recount_upto is not None:
        db = from_db.set_index("sim_hour")
        cols = [*hour_table.SUMMED_COLUMNS, *hour_table.SLIP_COLUMNS, "slip_p99_pct_hour"]
        out = hours.set_index("sim_hour")
        redo = [h for h in out.index if h <= recount_upto and h in db.index]
        for c in cols:
            if not pd.api.types.is_integer_dtype(db[c]):
                out[c] = out[c].astype(float)
            out.loc[redo, c] = db.loc[redo, c].to_numpy()
        out = out.reset_index()
    extra = from_db[~from_db["sim_hour"].isin(set(out["sim_hour"]))]
    if not len(extra):
        return out
    extra = extra.assign(**{hour_table.SEGMENT_COLUMN: float("nan")})
    both = pd.concat([out, extra.reindex(columns=out.columns)], ignore_index=True)
    return both.sort_values("sim_hour", kind="stable").reset_index(drop=True)


def last_replayed_hour(agent_hours: pd.DataFrame) -> int | None:
    """The last simulated hour a ``--resume`` re-played (rows flagged ``is_replay``)."""
    if "is_replay" not in agent_hours or not len(agent_hours):
        return None
    replayed = agent_hours.loc[agent_hours["is_replay"].fillna(False).astype(bool), "sim_hour"]
    return int(replayed.max()) if len(replayed) else None


def _instants(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col, utc=True, errors="coerce", format="ISO8601")


def _measured(hours: pd.DataFrame) -> tuple[float, float] | None:
    """(simulated seconds, real seconds) of the hours whose real beginning and end the
    harness saw (``real_start``/``real_end``): each such hour is 3600 simulated seconds
    in the real time between the two. Rows without both (the hour a run paused or ended
    in, an older file, rebuilt from the database) are left out."""
    if not len(hours) or "real_start" not in hours or "real_end" not in hours:
        return None
    spans = (_instants(hours["real_end"]) - _instants(hours["real_start"])).dt.total_seconds()
    spans = spans[spans.notna() & (spans > 0)]
    if not len(spans):
        return None
    return 3600.0 * len(spans), float(spans.sum())


def _realized(hours: pd.DataFrame) -> tuple[float, float] | None:
    """(simulated seconds, real seconds) the run's hour rows span by the clock's planned
    instants (``real_time``), summed per segment: the time between a kill and its
    ``--resume`` is not simulated time. Rows whose real time is unknown (a paused clock,
    rebuilt from the database) are left out."""
    if not len(hours) or "real_time" not in hours:
        return None
    h = hours.dropna(subset=["sim_time", "real_time"])
    seg = hour_table.SEGMENT_COLUMN
    groups = h.groupby(h[seg].fillna(0)) if seg in h and len(h) else [(0, h)]
    d_sim = d_real = 0.0
    for _, g in groups:
        if len(g) < 2:
            continue
        g = g.sort_values("sim_hour")
        ds = (g["sim_time"].iloc[-1] - g["sim_time"].iloc[0]).total_seconds()
        dr = (g["real_time"].iloc[-1] - g["real_time"].iloc[0]).total_seconds()
        if ds > 0 and dr > 0:
            d_sim, d_real = d_sim + ds, d_real + dr
    return (d_sim, d_real) if d_real > 0 else None


def time_metrics(
    *,
    manifest: dict[str, Any],
    hours: pd.DataFrame,
    agent_hours: pd.DataFrame | None,
    history_elapsed_s: float | None,
    db_run: dict[str, Any] | None,
) -> dict[str, Any]:
    """The Time section of the summary.

    Args:
        manifest: the run manifest (may be empty).
        hours: ``hours.csv`` as read (may be empty).
        agent_hours: the run's ``agent_hours`` rows, or None without a database.
        history_elapsed_s: real seconds covered by Locust's history, if any.
        db_run: the ``simulation_runs`` row, if any.
    """
    scale = manifest.get("time_scale") or (db_run or {}).get("time_scale")
    scale = float(scale) if scale else None
    hour_s = sim_hour_seconds(scale)

    started = parse_instant(manifest.get("started_at") or (db_run or {}).get("started_at"))
    ended = parse_instant(manifest.get("ended_at") or (db_run or {}).get("ended_at"))
    real_seconds, real_source = None, "unknown"
    realized = None
    measured = _measured(hours)
    spans = None if measured is not None else _realized(hours)
    if measured is not None:
        # Measured: the hours the harness saw begin and end, each in its own real time.
        realized = measured[0] / measured[1]
        real_seconds = measured[1]
        real_source = "hours.csv real_start/real_end (measured)"
    elif spans is not None:
        # The simulated window only: rows mark hour starts, so the last hour adds one
        # more hour at the realized pace. Set-up and teardown (in started/ended_at)
        # are not simulated time and would understate orders per real minute.
        realized = spans[0] / spans[1]
        real_seconds = spans[1] + 3600.0 / realized
        real_source = "hours.csv real_time (the clock's plan)"
    if real_seconds is None and started and ended:
        real_seconds, real_source = (ended - started).total_seconds(), "manifest"
    if real_seconds is None and history_elapsed_s:
        real_seconds, real_source = history_elapsed_s, "locust history"

    if agent_hours is None:  # no database: read as a run that recorded no hours
        agent_hours = pd.DataFrame()
    have_db = len(agent_hours) > 0
    sim_hours: int | None
    if len(hours):
        sim_hours = int(hours["sim_hour"].nunique())
    elif have_db:
        sim_hours = int(agent_hours["sim_hour"].nunique())
    else:
        sim_hours = manifest.get("sim_duration_hours")
    if realized is None and sim_hours and real_seconds:
        realized = sim_hours * 3600.0 / real_seconds

    slip_source = "none"
    p50 = p95 = p99 = worst = None
    if have_db and agent_hours["slip_seconds"].notna().any():
        slip = agent_hours["slip_seconds"].dropna().astype(float)
        p50, p95, p99 = (float(slip.quantile(q)) for q in (0.5, 0.95, 0.99))
        slip_source = "agent_hours"
        per_hour = agent_hours.groupby("sim_hour")["slip_seconds"].quantile(0.99)
        worst = float(per_hour.max())
    elif len(hours) and hours["slip_p99_s"].notna().any():
        w = hours["acted"].fillna(0).astype(float).clip(lower=0)
        w = w if w.sum() > 0 else pd.Series(1.0, index=hours.index)

        def wmean(col: str) -> float | None:
            v = hours[col].astype(float)
            m = v.notna()
            return float(np.average(v[m], weights=w[m])) if m.any() and w[m].sum() else None

        p50, p95, p99 = wmean("slip_p50_s"), wmean("slip_p95_s"), wmean("slip_p99_s")
        worst = float(hours["slip_p99_s"].max())
        slip_source = "hours.csv (acted-weighted mean of hourly percentiles)"

    def pct(v: float | None) -> float | None:
        return (100.0 * v / hour_s) if (v is not None and hour_s) else None

    if have_db:
        ah = agent_hours
        missed = int(((ah["decision"] == "missed") | (ah["outcome"] == "missed")).sum())
        failed = int((ah["outcome"] == "failed").sum())
        failed_kinds = ah.loc[ah["outcome"] == "failed", "error_kind"].fillna("unspecified")
        failure_kinds = {str(k): int(v) for k, v in failed_kinds.value_counts().items()}
        agent_slots = int(len(ah))
    else:
        missed = int(hours["missed"].fillna(0).sum()) if len(hours) else 0
        failed = int(hours["failed"].fillna(0).sum()) if len(hours) else 0
        failure_kinds = {}
        agent_slots = int(hours["live_users"].fillna(0).sum()) if len(hours) else 0
    # Hours a dead worker held: missed, with no database row; already in the
    # counters' ``missed``, so added only to the database's count.
    unheld = 0
    if len(hours) and "unheld" in hours:
        num = pd.to_numeric(hours["unheld"], errors="coerce").fillna(0)
        if have_db:
            # The database's own account: the hour's agents without a row (a dead worker's
            # last unreported hours do have rows; the counters could not know).
            rows = agent_hours.groupby("sim_hour").size()
            target = pd.to_numeric(hours["target_users"], errors="coerce")
            for h, t in zip(hours.loc[num > 0, "sim_hour"], target[num > 0], strict=True):
                if pd.notna(t):
                    unheld += max(0, int(t) - int(rows.get(int(h), 0)))
            missed += unheld
            agent_slots += unheld
        else:
            unheld = int(num.sum())

    return {
        "time_scale": scale,
        "realized_time_scale": round(realized, 3) if realized else None,
        "realized_time_scale_source": real_source if realized else None,
        "sim_hour_real_s": hour_s,
        "sim_hours": sim_hours,
        "sim_days": (sim_hours / 24.0) if sim_hours else None,
        "real_seconds": real_seconds,
        "real_seconds_source": real_source,
        "slip_source": slip_source,
        "slip_p50_s": p50,
        "slip_p95_s": p95,
        "slip_p99_s": p99,
        "slip_p50_pct_hour": pct(p50),
        "slip_p95_pct_hour": pct(p95),
        "slip_p99_pct_hour": pct(p99),
        "slip_p99_worst_hour_pct": pct(worst),
        "agent_slots": agent_slots,
        "missed_sessions": missed,
        "unheld_sessions": unheld,
        "failed_flows": failed,
        "failed_flow_kinds": failure_kinds,
        "agent_hours_account": agent_hours_account(hours),
    }


def agent_hours_account(hours: pd.DataFrame) -> dict[str, Any] | None:
    """Every live agent-hour acted, missed or not owed, per ``hours.csv`` row: the totals
    and the hours where ``acted + missed + not_owed`` is not ``live_users`` (``None``: the
    file has no lease book — written before ``not_owed`` existed, or rebuilt from the
    database)."""
    need = ("live_users", "acted", "missed", "not_owed")
    if not len(hours) or any(c not in hours for c in need):
        return None
    num = {c: pd.to_numeric(hours[c], errors="coerce") for c in need}
    known = num["live_users"].notna() & num["not_owed"].notna()
    if not known.any():
        return None
    acted, missed, not_owed, live = (
        num[c][known].fillna(0).astype(int) for c in ("acted", "missed", "not_owed", "live_users")
    )
    gap = live - (acted + missed + not_owed)
    off = {int(h): int(g) for h, g in zip(hours.loc[known, "sim_hour"], gap, strict=True) if g}
    return {
        "live": int(live.sum()),
        "acted": int(acted.sum()),
        "missed": int(missed.sum()),
        "not_owed": int(not_owed.sum()),
        "adds_up": not off,
        "off_by_hour": off,
    }
