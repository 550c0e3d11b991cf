"""Load metrics from Locust's CSVs (pure functions: frames in, frames/dicts out).

API latency is HTTP requests only: the harness also reports ``DB`` and ``GRAPH``
measurements through Locust's stats, and Locust's own "Aggregated" row mixes them in.
When non-HTTP rows exist, the API percentiles are recomputed as the request-weighted
mixture of the per-endpoint percentile curves (Locust keeps no raw samples in CSV).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from reports.sources import PERCENTILE_COLUMNS

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_QUANTILES = tuple(float(c.rstrip("%")) / 100 for c in PERCENTILE_COLUMNS)
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


def is_http(request_type: str) -> bool:
    """True for HTTP request types (GET, POST, ...); False for DB, GRAPH and friends."""
    return str(request_type).upper() in HTTP_METHODS


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


def mixture_percentile(stats_rows: pd.DataFrame, q: float) -> float | None:
    """The q-quantile (0–1) of the union of several endpoints' latency distributions.

    Each endpoint's CDF is the piecewise-linear curve through its reported percentiles
    (from its minimum at 0); the union's CDF is their request-weighted mean, inverted
    by bisection. Exact when there is one endpoint; within the spacing of Locust's
    percentile columns otherwise.

    Args:
        stats_rows: rows of ``locust_stats.csv`` (one per endpoint).
        q: the quantile, e.g. 0.95.

    Returns:
        Milliseconds, or None when no row has requests.
    """
    curves: list[tuple[float, list[float], list[float]]] = []
    for _, row in stats_rows.iterrows():
        n = float(row.get("Request Count") or 0)
        if n <= 0:
            continue
        xs = [float(row.get("Min Response Time") or 0)]
        qs = [0.0]
        for col, qq in zip(PERCENTILE_COLUMNS, _QUANTILES, strict=True):
            v = row.get(col)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            xs.append(max(float(v), xs[-1]))
            qs.append(qq)
        curves.append((n, xs, qs))
    if not curves:
        return None
    total = sum(n for n, _, _ in curves)

    def cdf(x: float) -> float:
        acc = 0.0
        for n, xs, qs in curves:
            if x >= xs[-1]:
                f = 1.0
            elif x < xs[0]:
                f = 0.0
            else:
                f = qs[-1]
                for i in range(1, len(xs)):
                    if x < xs[i]:
                        span = xs[i] - xs[i - 1]
                        f = qs[i - 1] + (qs[i] - qs[i - 1]) * ((x - xs[i - 1]) / span)
                        break
            acc += n * f
        return acc / total

    lo = min(xs[0] for _, xs, _ in curves)
    hi = max(xs[-1] for _, xs, _ in curves)
    for _ in range(60):
        mid = (lo + hi) / 2
        if cdf(mid) < q:
            lo = mid
        else:
            hi = mid
    return round(hi, 1)


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
    """The Load section of the summary (API = HTTP request types only).

    Returns:
        ``requests``, ``failures``, ``error_rate`` (fraction), ``rps``, ``p50_ms``,
        ``p95_ms``, ``p99_ms``, ``endpoints`` and ``non_http`` (lists of row dicts),
        ``errors_by_kind``, ``exceptions``. Rates and percentiles are ``None`` when the
        run made no HTTP request (not measured).
    """
    rows = stats[stats["Name"] != "Aggregated"]
    http_rows = rows[rows["Type"].map(is_http).astype(bool)]
    endpoints = endpoint_frame(stats)
    http_mask = endpoints["type"].map(is_http).astype(bool)
    api = endpoints[http_mask]
    other = endpoints[~http_mask]
    requests = int(api["requests"].sum())
    fails = int(api["failures"].sum())
    agg = stats[stats["Name"] == "Aggregated"]
    if len(other) == 0 and len(agg) == 1 and requests:
        # Locust's own aggregate is exact when every row is HTTP.
        a = agg.iloc[0]
        p50, p95, p99 = (_num(a["50%"]), _num(a["95%"]), _num(a["99%"]))
    else:
        p50, p95, p99 = (mixture_percentile(http_rows, q) for q in (0.5, 0.95, 0.99))
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
        "non_http": _records(other),
        "errors_by_kind": {str(k): int(v) for k, v in by_kind.items()},
        "exceptions": int(exceptions["Count"].fillna(0).sum()) if len(exceptions) else 0,
    }


def history_frame(history: pd.DataFrame) -> pd.DataFrame:
    """The Aggregated rows of ``locust_stats_history.csv``: elapsed seconds, users, rps,
    failures/s and current p95 (all request types: Locust aggregates them together)."""
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
