"""Assemble a run's summary (the dict behind ``summary.json``) and its tables.

Collect (``reports.sources`` files, ``reports.dbcollect`` rows) → frame (the pure
functions of ``load``/``behavior``/``timing``/``calibration``) → this module puts the
pieces together as one ``RunReport``; renderers (``xlsx``, ``plots``, ``console``) only
read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reports import behavior as bh
from reports.calibration import check_calibration, sim_start_of
from reports.dbcollect import RunRows
from reports.load import endpoint_frame, errors_frame, history_frame, load_metrics
from reports.sources import RunFiles
from reports.timing import fill_missing_hours, hours_from_db, last_replayed_hour, time_metrics

SUMMARY_VERSION = 1
MANIFEST_KEYS = (
    "run_id",
    "seed",
    "time_scale",
    "sim_start",
    "sim_duration_hours",
    "ramp",
    "persona_file",
    "persona_file_sha256",
    "personas_total",
    "code_version",
    "started_at",
    "ended_at",
    "mock_api",
    "mock_db",
    "target",
    "database",
    "rate_limit",
    "processes",
    "exit_code",
    "status",
    "end_errors",
    "segments",
)
PER_DAY_KEYS = (
    "sessions",
    "shop_sessions",
    "idle_browses",
    "completed",
    "abandoned",
    "orders",
    "coupon_views",
    "coupon_applies",
    "coupon_redemptions",
)
"""Behavior counts that the comparison normalizes per simulated day."""


UNITS = {
    "rates": "fractions 0-1 (error_rate, failure_rate, conversion, *_fraction); "
    "keys ending _pct or _pct_hour are percents",
    "latency": "milliseconds (*_ms)",
    "slip": "seconds (*_s) or percent of a simulated hour (*_pct_hour); the verdict "
    "and hourly charts give milliseconds (*_ms)",
    "money": "cents (*_cents)",
    "time": "simulated hours (sim_hour*), real seconds (real_seconds)",
}
"""One convention for every figure of the summary, named in its key."""


@dataclass
class RunReport:
    """The summary dict plus the frames the renderers draw and tabulate."""

    summary: dict[str, Any]
    endpoints: pd.DataFrame
    errors: pd.DataFrame
    segments: pd.DataFrame
    cycles: pd.DataFrame
    hours: pd.DataFrame
    history: pd.DataFrame
    funnel: list[tuple[str, int]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    """The whole manifest (settings and options included) for the Manifest sheet."""


def build_summary(files: RunFiles, rows: RunRows | None) -> RunReport:
    """Compute every section of the summary from what was collected.

    Args:
        files: the run directory's files.
        rows: the run's database rows, or None (``--mock-db`` run, or no engine given).
    """
    manifest = files.manifest
    notes = list(files.notes)
    load = load_metrics(files.stats, files.failures, files.exceptions)
    history = history_frame(files.history)
    elapsed = float(history["elapsed_s"].max()) if len(history) else None

    db = rows is not None and rows.run is not None
    if rows is not None:
        notes.extend(rows.notes)
    if db:
        assert rows is not None  # db says so
        personas = bh.persona_frame(rows.agents)
        overall = bh.behavior_metrics(rows.sessions, rows.event_counts, rows.orders)
        segments = bh.segment_frame(rows.sessions, rows.event_counts, rows.orders, personas)
        offers = bh.offer_metrics(rows.cycles, rows.coupons)
        cycles = bh.cycles_frame(rows.cycles)
        calibration = check_calibration(
            sessions=rows.sessions,
            agent_hours=rows.agent_hours,
            personas=personas,
            session_facts=rows.session_facts,
            sim_start=sim_start_of(manifest, rows.run),
        )
        agent_hours = rows.agent_hours
        funnel = _funnel_db(overall, rows)
        source = "database"
    else:
        overall = bh.behavior_from_hours(files.hours)
        segments = pd.DataFrame()
        offers = _offers_from_hours(files.hours)
        cycles = pd.DataFrame()
        calibration = {
            "checked": False,
            "ok": False,
            "metrics": [],
            "note": "needs the database (sessions and personas); this run has none",
        }
        agent_hours = None
        funnel = _funnel_hours(overall)
        source = "hours.csv"
        notes.append(
            "behavior from hours.csv only (no database): basket size, order value, "
            "coupon figures and segments are unavailable"
        )

    hours = files.hours
    if db:
        assert rows is not None  # db says so
        # The file's hours, plus the database's for any hour the file lacks (a master
        # killed before writing them; an earlier segment of a resumed run).
        rebuilt = hours_from_db(
            rows.agent_hours, rows.sessions, rows.orders,
            sim_start=sim_start_of(manifest, rows.run), time_scale=manifest.get("time_scale"),
        )  # fmt: skip
        upto = last_replayed_hour(rows.agent_hours)
        filled = fill_missing_hours(hours, rebuilt, recount_upto=upto)
        if len(filled) > len(hours):
            notes.append(
                f"{len(filled) - len(hours)} simulated hour(s) missing from hours.csv "
                "rebuilt from the database"
            )
        if upto is not None:
            notes.append(
                f"hours 0-{upto} (re-played by a --resume) counted from the database, "
                "where each agent-hour is recorded once"
            )
        hours = filled
    segments_run = manifest.get("segments") or []
    if len(segments_run) > 1:
        notes.append(
            f"{len(segments_run)} segments (resumed run): hours cover every segment; "
            "locust_stats.csv (latency, errors) covers the last segment only"
        )
    status = manifest.get("status")
    if status and status != "completed":
        # Partial data is reported as partial: say how the run ended.
        notes.append(
            f"the run ended early (status {status}, exit {manifest.get('exit_code')}): "
            "figures cover the simulated hours it reached"
        )
    if manifest.get("end_errors"):
        notes.append("end of run: " + ", ".join(manifest["end_errors"]) + " failed (see the log)")
    time = time_metrics(
        manifest=manifest,
        hours=hours,
        agent_hours=agent_hours,
        history_elapsed_s=elapsed,
        db_run=rows.run if db and rows is not None else None,
    )
    _name_the_rates(overall)
    days = time["sim_days"]
    overall["per_sim_day"] = {
        k: (overall[k] / days if days and overall.get(k) is not None else None)
        for k in PER_DAY_KEYS
    }
    real_min = (time["real_seconds"] or 0) / 60.0

    summary = {
        "summary_version": SUMMARY_VERSION,
        "run_id": files.run_id,
        "units": UNITS,
        "manifest": {k: redact_value(k, manifest[k]) for k in MANIFEST_KEYS if k in manifest},
        "sources": {
            "files": files.present,
            "database": db,
            "behavior": source,
            "notes": notes,
        },
        "load": load,
        "behavior": {
            "source": source,
            "overall": overall,
            "segments": _records(segments),
        },
        "offers": offers,
        "time": time,
        "orders_per_real_minute": (overall["orders"] / real_min) if real_min else None,
        "calibration": calibration,
    }
    from reports.llm_report import llm_summary

    llm = llm_summary(files)
    if llm is not None:  # --llm-url: the model's decisions (llm.json)
        summary["llm"] = llm
    return RunReport(
        summary=summary,
        endpoints=endpoint_frame(files.stats),
        errors=errors_frame(files.failures),
        segments=segments,
        cycles=cycles,
        hours=hours,
        history=history,
        funnel=funnel,
        manifest=manifest,
    )


def redact_value(key: str, value: Any) -> Any:
    """Belt and braces: the harness redacts the manifest, but a report must never be
    where a credential leaks (a URL with a password, a key named like a secret): the one
    redaction of ``db.redact``."""
    from db.redact import redact_value as _redact_value

    return _redact_value(key, value)


def _offers_from_hours(hours: pd.DataFrame) -> dict[str, Any]:
    cycles = None
    if len(hours) and "offer_cycle" in hours and hours["offer_cycle"].notna().any():
        cycles = int(hours["offer_cycle"].dropna().nunique())
    return {
        "cycles": cycles,
        "assigned": None,
        "expired": None,
        "replaced": None,
        "redeemed": None,
        "wallet_active": None,
        "cycle_duration_s_mean": None,
        "cycle_duration_s_max": None,
        "note": "offer details need the database",
    }


def _name_the_rates(overall: dict[str, Any]) -> None:
    """Rates under names that say what they divide: ``conversion`` (kept for gates, the
    comparison and the workbook) is completed ÷ *shop* sessions — idle browses excluded —
    which reads far higher than orders ÷ every session."""
    sessions, orders = overall.get("sessions"), overall.get("orders")
    overall["completed_per_shop_session"] = overall.get("conversion")
    overall["orders_per_session"] = (orders / sessions) if sessions and orders is not None else None
    shop = overall.get("shop_sessions")
    overall["orders_per_shop_session"] = (orders / shop) if shop and orders is not None else None


def _funnel_db(overall: dict[str, Any], rows: RunRows) -> list[tuple[str, int]]:
    s = rows.sessions
    shop_ids = set(s.loc[s["kind"] == "shop", "id"])
    ev = rows.event_counts

    def with_event(kind: str) -> int:
        if not len(ev):
            return 0
        return len(set(ev.loc[ev["event_type"] == kind, "session_id"]) & shop_ids)

    # Each step counts shop sessions that reached it (a session is counted once).
    return [
        ("shop sessions", len(shop_ids)),
        ("viewed products", with_event("view_product")),
        ("added to cart", with_event("cart_add_item")),
        ("viewed a coupon", with_event("view_coupon")),
        ("applied a coupon", with_event("apply_coupon")),
        ("checkout complete", int(overall["completed"])),
    ]


def _funnel_hours(overall: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        ("sessions", int(overall["sessions"])),
        ("shop sessions", int(overall["shop_sessions"])),
        ("checkout complete", int(overall["completed"])),
    ]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    if not len(df):
        return []
    return [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        for r in df.to_dict(orient="records")
    ]
