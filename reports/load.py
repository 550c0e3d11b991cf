"""Load metrics from Locust's CSVs (pure functions: frames in, frames/dicts out).

Locust's statistics hold exactly the HTTP requests the harness sent to the target: the
harness's own timings (action slip, database transactions, graph time, lease round trips,
offer cycles) never go through Locust's ``events.request`` (``harness.agent.timings``;
they are in ``harness_timings.csv``). So every row of ``locust_stats.csv`` is an endpoint
of the API and Locust's own *Aggregated* row is the API's: nothing is filtered here.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

ENDPOINT_COLUMNS = [
    "type",
    "name",
    "requests",
    "failures",
    "failure_rate",
    "rps",
    "avg_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
]


def endpoint_frame(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per (type, name) from ``locust_stats.csv``, without the Aggregated row."""
    rows = stats[stats["Name"] != "Aggregated"]
    out = pd.DataFrame(
        {
            "type": rows["Type"].astype(str),
            "name": rows["Name"].astype(str),
            "requests": rows["Request Count"].fillna(0).astype(int),
            "failures": rows["Failure Count"].fillna(0).astype(int),
            "rps": rows["Requests/s"].astype(float),
            "avg_ms": rows["Average Response Time"].astype(float),
            "p50_ms": rows["50%"].astype(float),
            "p95_ms": rows["95%"].astype(float),
            "p99_ms": rows["99%"].astype(float),
            "max_ms": rows["Max Response Time"].astype(float),
        }
    )
    out["failure_rate"] = (out["failures"] / out["requests"].where(out["requests"] > 0)).fillna(0.0)
    return out[ENDPOINT_COLUMNS].reset_index(drop=True)


_STATUS = re.compile(r"\b([1-5]\d\d)\b")


def error_kind(error: str) -> str:
    """Classify a Locust failure message: http_5xx, rate_limited, http_4xx, timeout,
    connection, or other."""
    text = str(error)
    low = text.lower()
    if "timeout" in low or "timed out" in low:
        return "timeout"
    m = _STATUS.search(text)
    if m and ("error" in low or "status" in low or "http" in low):
        code = int(m.group(1))
        if code == 429:
            return "rate_limited"
        if code >= 500:
            return "http_5xx"
        if code >= 400:
            return "http_4xx"
    if any(k in low for k in ("connection", "refused", "reset", "unreachable", "broken pipe")):
        return "connection"
    return "other"


def errors_frame(failures: pd.DataFrame) -> pd.DataFrame:
    """``locust_failures.csv`` with an added ``kind`` column."""
    out = pd.DataFrame(
        {
            "method": failures["Method"].astype(str),
            "name": failures["Name"].astype(str),
            "error": failures["Error"].astype(str),
            "occurrences": failures["Occurrences"].fillna(0).astype(int),
        }
    )
    out["kind"] = [error_kind(e) for e in out["error"]]
    return out[["kind", "method", "name", "error", "occurrences"]].reset_index(drop=True)


def load_metrics(
    stats: pd.DataFrame, failures: pd.DataFrame, exceptions: pd.DataFrame
) -> dict[str, Any]:
    """The Load section of the summary: the API's requests, as Locust counted them.

    Returns:
        ``requests``, ``failures``, ``error_rate`` (fraction), ``rps``, ``p50_ms``,
        ``p95_ms``, ``p99_ms`` (Locust's Aggregated row), ``endpoints`` (list of row
        dicts), ``errors_by_kind``, ``exceptions``. Rates and percentiles are ``None``
        when the run made no HTTP request (not measured).
    """
    api = endpoint_frame(stats)
    requests = int(api["requests"].sum())
    fails = int(api["failures"].sum())
    agg = stats[stats["Name"] == "Aggregated"]
    p50 = p95 = p99 = None
    if len(agg) == 1 and requests:
        a = agg.iloc[0]
        p50, p95, p99 = (_num(a["50%"]), _num(a["95%"]), _num(a["99%"]))
    errors = errors_frame(failures)
    by_kind = errors.groupby("kind")["occurrences"].sum().astype(int).to_dict()
    return {
        "requests": requests,
        "failures": fails,
        # No HTTP request (e.g. a --mock-api run): not measured, so None — a gate on it
        # must fail ("not measured"), never pass on a 0.0 nobody computed.
        "error_rate": (fails / requests) if requests else None,
        "rps": round(float(api["rps"].sum()), 3) if requests else None,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "endpoints": _records(api),
        "errors_by_kind": {str(k): int(v) for k, v in by_kind.items()},
        "exceptions": int(exceptions["Count"].fillna(0).sum()) if len(exceptions) else 0,
    }


def history_frame(history: pd.DataFrame) -> pd.DataFrame:
    """The Aggregated rows of ``locust_stats_history.csv``: elapsed seconds, users, rps,
    failures/s and current p95 — of the API's HTTP requests, the only ones in Locust's
    statistics."""
    agg = history[history["Name"] == "Aggregated"]
    if not len(agg):
        return pd.DataFrame(columns=["elapsed_s", "users", "rps", "fail_s", "p95_ms"])
    t0 = float(agg["Timestamp"].min())
    return pd.DataFrame(
        {
            "elapsed_s": agg["Timestamp"].astype(float) - t0,
            "users": agg["User Count"].astype(float),
            "rps": agg["Requests/s"].astype(float),
            "fail_s": agg["Failures/s"].astype(float),
            "p95_ms": agg["95%"].astype(float),
        }
    ).reset_index(drop=True)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (_num(v) if isinstance(v, float) else v) for k, v in rec.items()})
    return out
