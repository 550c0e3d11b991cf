"""Behavior and offer metrics (pure functions over the frames of ``reports.dbcollect``).

Definitions, kept identical everywhere (summary, segments, comparison, gates):
- *shop sessions* are sessions of kind ``shop``; *idle browses* are kind ``idle_browse``;
- *conversion* = completed / shop sessions;
- *abandonment* = abandoned / (completed + abandoned) — unfinished sessions excluded;
- *basket size* = ``item_count`` of finished shop sessions (zeros included);
- *order value* = ``orders.total_cents`` of the run's orders.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from personas.model import Persona

SEGMENT_UNKNOWN = "unknown"


def persona_frame(agents: pd.DataFrame) -> pd.DataFrame:
    """One row per agent: ``agent_id``, ``segment`` and the calibrated attributes.

    A persona JSON that no longer validates gets segment ``unknown`` rather than
    failing the report (reports read history; the model may have moved on).
    """
    rows = []
    for agent_id, persona_id, raw in zip(
        agents["agent_id"], agents["persona_id"], agents["persona"], strict=True
    ):
        try:
            p = Persona(**(raw or {}))
        except Exception:  # noqa: BLE001 - any validation problem means "unknown"
            rows.append(
                {"agent_id": agent_id, "persona_id": persona_id, "segment": SEGMENT_UNKNOWN}
            )
            continue
        rows.append(
            {
                "agent_id": agent_id,
                "persona_id": persona_id,
                "segment": p.segment,
                "shopping_frequency": p.shopping_frequency,
                "avg_basket_size": p.avg_basket_size,
                "cart_abandonment_rate": p.cart_abandonment_rate,
                "raw": raw,
            }
        )
    cols = [
        "agent_id",
        "persona_id",
        "segment",
        "shopping_frequency",
        "avg_basket_size",
        "cart_abandonment_rate",
        "raw",
    ]
    return pd.DataFrame(rows, columns=cols)


def _ratio(a: float, b: float) -> float | None:
    return (a / b) if b else None


def _mean_std(values: pd.Series) -> tuple[float | None, float | None, int]:
    v = values.dropna().astype(float)
    n = int(len(v))
    if n == 0:
        return None, None, 0
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    return float(v.mean()), (0.0 if math.isnan(std) else std), n


def behavior_metrics(
    sessions: pd.DataFrame, event_counts: pd.DataFrame, orders: pd.DataFrame
) -> dict[str, Any]:
    """Behavior counts and rates for one set of rows (a run, or one segment of it)."""
    shop = sessions[sessions["kind"] == "shop"]
    completed = int((shop["status"] == "completed").sum())
    abandoned = int((shop["status"] == "abandoned").sum())
    finished = shop[shop["status"].isin(["completed", "abandoned"])]
    basket_mean, basket_std, basket_n = _mean_std(finished["item_count"])
    value_mean, value_std, value_n = _mean_std(orders["total_cents"])
    events = (
        event_counts.groupby("event_type")["count"].sum()
        if len(event_counts)
        else pd.Series(dtype="int64")
    )
    reasons = shop.loc[shop["status"] == "abandoned", "abandon_reason"].fillna("unspecified")
    return {
        "sessions": int(len(sessions)),
        "shop_sessions": int(len(shop)),
        "idle_browses": int((sessions["kind"] == "idle_browse").sum()),
        "completed": completed,
        "abandoned": abandoned,
        "unfinished": int((shop["status"] == "active").sum()),
        "replayed_sessions": int(sessions["is_replay"].fillna(False).astype(bool).sum()),
        "conversion": _ratio(completed, len(shop)),
        "abandonment": _ratio(abandoned, completed + abandoned),
        "basket_size_mean": basket_mean,
        "basket_size_std": basket_std,
        "basket_size_n": basket_n,
        "orders": int(len(orders)),
        "order_value_mean_cents": value_mean,
        "order_value_std_cents": value_std,
        "revenue_cents": int(orders["total_cents"].sum()) if len(orders) else 0,
        "discount_cents": int(orders["discount_cents"].sum()) if len(orders) else 0,
        "coupon_views": int(events.get("view_coupon", 0)),
        "coupon_applies": int(events.get("apply_coupon", 0)),
        "coupon_redemptions": int(orders["user_coupon_id"].notna().sum()) if len(orders) else 0,
        "product_views": int(events.get("view_product", 0)),
        "events": int(sum(events.values)) if len(event_counts) else 0,
        "abandon_reasons": {str(k): int(v) for k, v in reasons.value_counts().items()},
    }


def segment_frame(
    sessions: pd.DataFrame,
    event_counts: pd.DataFrame,
    orders: pd.DataFrame,
    personas: pd.DataFrame,
) -> pd.DataFrame:
    """Behavior metrics per persona segment (channel/income band/frequency band)."""
    seg_of = dict(zip(personas["agent_id"], personas["segment"], strict=True))
    rows = []
    segments = sorted(set(seg_of.values()) | ({SEGMENT_UNKNOWN} if len(sessions) else set()))
    for seg in segments:
        ids = {a for a, s in seg_of.items() if s == seg}
        if seg == SEGMENT_UNKNOWN:
            ids |= set(sessions["agent_id"]) - set(seg_of)
        m = behavior_metrics(
            sessions[sessions["agent_id"].isin(ids)],
            event_counts[event_counts["agent_id"].isin(ids)],
            orders[orders["agent_id"].isin(ids)],
        )
        if seg == SEGMENT_UNKNOWN and not m["sessions"]:
            continue
        m.pop("abandon_reasons")
        rows.append({"segment": seg, "agents": len(ids), **m})
    return pd.DataFrame(rows)


def behavior_from_hours(hours: pd.DataFrame) -> dict[str, Any]:
    """The behavior counts ``hours.csv`` can give (``--mock-db`` runs): no basket,
    order value or coupon figures, which only the database records."""

    def total(col: str) -> int:
        return int(hours[col].fillna(0).sum()) if col in hours and len(hours) else 0

    shopped, completed, abandoned = total("shopped"), total("completed"), total("abandoned")
    return {
        "sessions": shopped + total("idle"),
        "shop_sessions": shopped,
        "idle_browses": total("idle"),
        "completed": completed,
        "abandoned": abandoned,
        "conversion": _ratio(completed, shopped),
        "abandonment": _ratio(abandoned, completed + abandoned),
        "basket_size_mean": None,
        "order_value_mean_cents": None,
        "orders": total("orders"),
        "coupon_views": None,
        "coupon_applies": None,
        "coupon_redemptions": None,
    }


def offer_metrics(cycles: pd.DataFrame, coupons: pd.DataFrame) -> dict[str, Any]:
    """Offer cycles run and what they did to wallets.

    ``assigned``/``expired``/``replaced`` come from each cycle's ``stats`` JSON (what the
    engine reported doing); ``redeemed``/``active`` from the run's ``user_coupons``.
    """
    stats = [s if isinstance(s, dict) else {} for s in cycles.get("stats", [])]

    def stat_sum(key: str) -> int:
        return int(sum(float(s.get(key) or 0) for s in stats))

    durations = pd.Series([s.get("duration_s") for s in stats], dtype="float64").dropna()
    by_status = coupons.groupby("status")["count"].sum() if len(coupons) else {}
    return {
        "cycles": int(len(cycles)),
        "assigned": stat_sum("assigned"),
        "expired": stat_sum("expired"),
        "replaced": stat_sum("replaced"),
        "redeemed": int(by_status.get("redeemed", 0)),
        "wallet_active": int(by_status.get("active", 0)),
        "cycle_duration_s_mean": float(durations.mean()) if len(durations) else None,
        "cycle_duration_s_max": float(durations.max()) if len(durations) else None,
    }


def cycles_frame(cycles: pd.DataFrame) -> pd.DataFrame:
    """One row per offer cycle with its stats flattened (for the Offers sheet)."""
    rows = []
    for _, c in cycles.iterrows():
        st = c["stats"] if isinstance(c["stats"], dict) else {}
        rows.append(
            {
                "cycle_number": int(c["cycle_number"]),
                "status": c["status"],
                "simulated_start": c["simulated_start_date"],
                "assigned": st.get("assigned"),
                "expired": st.get("expired"),
                "replaced": st.get("replaced"),
                "duration_s": st.get("duration_s"),
            }
        )
    return pd.DataFrame(rows)
