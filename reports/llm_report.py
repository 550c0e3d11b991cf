"""The model's part of a run: ``summary.json``'s ``llm`` block and the workbook's LLM sheet.

A run with ``--llm-url`` leaves ``llm.json`` in its directory (the master's sum of every
process's counts, ``harness.agent.llm.LlmTotals``). The report reads it as it is — calls,
tokens in/out, decisions by who decided and the model's share of them, fallbacks by reason,
p50/p95 latency, the cache's hit rate, the token budget and what the master granted of it —
and adds the cost when the run was given ``--llm-price IN,OUT`` (dollars per million prompt
and completion tokens), in cents like every amount of the summary, with the cost and tokens
per 1,000 model decisions. A run without ``llm.json`` has no ``llm`` block and no sheet.

With the database, the block also says how realistic each decider's sessions were, side by
side for the same run (``realism``; :func:`add_decider_realism`): per who decided the
session's basket (``rules`` — outside the share —, ``llm``, ``fallback``), the sessions,
the share with an empty basket, basket size (items, mean and median; an empty basket
counts as 0), distinct categories per basket, the share of
sessions that applied a coupon, that completed, and the mean order value. A better model
plugged in shows its answer in the same table.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from db.errors import ConfigError

if TYPE_CHECKING:  # light at import: ``--llm-price`` is checked with the options
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

    from reports.sources import RunFiles
    from reports.summary import RunReport

LLM_JSON = "llm.json"
USD_FINE = '"$"#,##0.0000'
"""Model calls cost fractions of a cent: four decimals."""


def parse_price(text: str) -> tuple[float, float]:
    """``"IN,OUT"`` → dollars per million prompt and completion tokens.

    Raises:
        ConfigError: not two finite numbers ≥ 0 (one line naming ``--llm-price``).
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        price_in, price_out = float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(
            f"--llm-price {text}: expected IN,OUT dollars per million prompt and completion "
            "tokens, e.g. 0.15,0.60"
        ) from None
    for v in (price_in, price_out):
        if not math.isfinite(v) or v < 0:
            raise ConfigError(f"--llm-price {text}: prices must be finite numbers >= 0")
    return price_in, price_out


def read_llm_json(files: RunFiles) -> dict[str, Any] | None:
    """The run's ``llm.json`` (``None``: the run had no ``--llm-url``).

    Raises:
        ConfigError: the file exists but is not a JSON object.
    """
    path = files.run_dir / LLM_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def llm_summary(files: RunFiles) -> dict[str, Any] | None:
    """``summary.json``'s ``llm`` block (``None`` without ``llm.json``)."""
    raw = read_llm_json(files)
    if raw is None:
        return None
    decisions = {str(k): int(v) for k, v in (raw.get("decisions") or {}).items()}
    model_decided = decisions.get("llm", 0)
    t_in, t_out = int(raw.get("tokens_in", 0)), int(raw.get("tokens_out", 0))
    calls = int(raw.get("calls", 0))
    block: dict[str, Any] = {
        "model": raw.get("model", ""),
        "calls": calls,
        "decisions": decisions,
        "decisions_total": sum(decisions.values()),
        "share_llm": raw.get("share_llm", 0.0),
        "tokens_in": t_in,
        "tokens_out": t_out,
        "tokens_per_call": round((t_in + t_out) / calls, 1) if calls else None,
        "fallbacks": {str(k): int(v) for k, v in (raw.get("fallbacks") or {}).items()},
        "fallback_rate": raw.get("fallback_rate", 0.0),
        "latency_p50_ms": raw.get("latency_ms_p50"),
        "latency_p95_ms": raw.get("latency_ms_p95"),
        "cache_hit_rate": raw.get("cache_hit_rate", 0.0),
        "budget_tokens": int(raw.get("budget_tokens", 0)),
    }
    if "budget_granted" in raw:
        block["budget_granted"] = int(raw["budget_granted"])
    price = str((files.manifest.get("options") or {}).get("llm_price") or "")
    if price:
        price_in, price_out = parse_price(price)
        cents = (t_in * price_in + t_out * price_out) / 1e6 * 100
        block["price_usd_per_million_tokens"] = {"in": price_in, "out": price_out}
        block["cost_cents"] = round(cents, 6)
        per = 1000 / model_decided if model_decided else None
        block["cost_per_1000_decisions_cents"] = round(cents * per, 4) if per else None
    return block


_DECIDER_SQL = """
WITH s AS (
  SELECT e.session_id,
    coalesce(
      max(e.payload->>'decided_by') FILTER (WHERE e.event_type = 'cart_add_item'),
      max(e.payload->>'basket_decided_by') FILTER (WHERE e.event_type = 'abandon')
    ) AS decided_by,
    coalesce(sum(e.quantity) FILTER (WHERE e.event_type = 'cart_add_item'), 0) AS items,
    count(DISTINCT p.category) FILTER (WHERE e.event_type = 'cart_add_item') AS categories,
    bool_or(e.event_type = 'apply_coupon') AS coupon,
    bool_or(e.event_type = 'checkout_complete') AS completed,
    max(e.price_cents) FILTER (WHERE e.event_type = 'checkout_complete') AS order_cents
  FROM shopping_session_events e
  LEFT JOIN products p ON p.id = e.product_id
  WHERE e.run_id = :run_id
  GROUP BY e.session_id
)
SELECT decided_by, count(*) AS sessions,
  avg((items = 0)::int)::float8 AS empty_basket_rate,
  avg(items)::float8 AS basket_items_mean,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY items)::float8 AS basket_items_p50,
  avg(categories)::float8 AS categories_mean,
  avg(coupon::int)::float8 AS coupon_rate,
  avg(completed::int)::float8 AS completed_rate,
  avg(order_cents)::float8 AS order_value_mean_cents
FROM s WHERE decided_by IS NOT NULL
GROUP BY decided_by ORDER BY decided_by
"""
DECIDER_METRICS = (
    "sessions", "empty_basket_rate", "basket_items_mean", "basket_items_p50",
    "categories_mean", "coupon_rate", "completed_rate", "order_value_mean_cents",
)  # fmt: skip
"""The realism table's rows (each a column per decider)."""


def decider_realism(conn: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """Per who decided the basket (``rules``, ``llm``, ``fallback``), the sessions that
    reached the basket and how they shopped (``DECIDER_METRICS``).

    Who decided is the ``decided_by`` of the session's ``cart_add_item`` events or, for a
    basket that put nothing in the cart (the rules bought nothing, or the shop refused
    every line), the ``basket_decided_by`` of its ``abandon`` event: such a session counts
    with 0 items and 0 categories, never drops out of its decider's row."""
    from sqlalchemy import text

    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute(text(_DECIDER_SQL), {"run_id": run_id}).mappings():
        out[str(row["decided_by"])] = {
            k: (None if row[k] is None else round(float(row[k]), 4)) if k != "sessions"
            else int(row[k])
            for k in DECIDER_METRICS
        }  # fmt: skip
    return out


def add_decider_realism(report: RunReport, engine: Any) -> None:
    """Add the model-versus-rules table to the report's ``llm`` block (a database error:
    a note, no table)."""
    from sqlalchemy.exc import SQLAlchemyError

    llm = report.summary.get("llm")
    if llm is None:
        return
    try:
        with engine.connect() as conn:
            llm["realism"] = decider_realism(conn, str(report.summary.get("run_id")))
    except SQLAlchemyError as exc:
        report.summary["sources"]["notes"].append(
            f"LLM realism table unavailable ({type(exc).__name__})"
        )


def llm_sheet(wb: Workbook, title: str, report: RunReport) -> Worksheet | None:
    """The LLM sheet: the ``llm`` block in the workbook's units, then one row per fallback
    reason (``None``: the run had no model)."""
    from reports.xlsx import DEC, INT, MS, PCT, kv_sheet

    llm = report.summary.get("llm")
    if not llm:
        return None
    rows: list[tuple[str, Any, str | None]] = [
        ("model", llm["model"], None),
        ("model calls", llm["calls"], INT),
        ("decisions (all)", llm["decisions_total"], INT),
        *((f"decisions by {who}", n, INT) for who, n in sorted(llm["decisions"].items())),
        ("model-decided share of decisions (%)", llm["share_llm"], PCT),
        ("tokens in (prompt)", llm["tokens_in"], INT),
        ("tokens out (completion)", llm["tokens_out"], INT),
        ("tokens per call", llm["tokens_per_call"], DEC),
        ("fallback rate of asked decisions (%)", llm["fallback_rate"], PCT),
        ("latency p50 (ms)", llm["latency_p50_ms"], MS),
        ("latency p95 (ms)", llm["latency_p95_ms"], MS),
        ("cache hit rate (%)", llm["cache_hit_rate"], PCT),
        ("token budget (0: unlimited)", llm["budget_tokens"], INT),
    ]
    if "budget_granted" in llm:
        rows.append(("tokens granted by the master", llm["budget_granted"], INT))
    if "cost_cents" in llm:
        rows.append(("cost ($)", llm["cost_cents"] / 100, USD_FINE))
        per = llm["cost_per_1000_decisions_cents"]
        rows.append(
            ("cost per 1,000 model decisions ($)", None if per is None else per / 100, USD_FINE)
        )
    rows.extend((f"fallbacks: {r}", n, INT) for r, n in sorted(llm["fallbacks"].items()))
    labels = {
        "sessions": ("sessions deciding a basket", INT),
        "empty_basket_rate": ("sessions with an empty basket (%)", PCT),
        "basket_items_mean": ("basket items, mean", DEC),
        "basket_items_p50": ("basket items, median", DEC),
        "categories_mean": ("categories per basket, mean", DEC),
        "coupon_rate": ("sessions applying a coupon (%)", PCT),
        "completed_rate": ("sessions completing (%)", PCT),
        "order_value_mean_cents": ("order value, mean ($)", DEC),
    }
    for who, figures in sorted((llm.get("realism") or {}).items()):
        for key in DECIDER_METRICS:
            label, fmt = labels[key]
            value = figures.get(key)
            if key.endswith("_cents") and value is not None:
                value = value / 100
            rows.append((f"realism, basket decided by {who}: {label}", value, fmt))
    return kv_sheet(wb, title, rows)
