"""The Simulation tab's rows: the director's status turned into labelled, readable values.

Pure functions (no Flask, no Locust) so the wording is tested in microseconds. Locust's
extended tables render every cell as plain text (no HTML, no per-cell formatter can come
through JSON), so each value is a finished string. A row's ``key`` is the status key and
``raw`` its unformatted value, for scripts that read ``/stats/requests``; its ``name`` is
its position (see :func:`status_rows`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, SupportsFloat, SupportsIndex

if TYPE_CHECKING:
    from harness.agent.hourstats import HourBucket

TAB_KEY = "simulation"
TAB_TITLE = "Simulation"

#: The table's columns (Locust's ``extended_tables`` structure).
STRUCTURE: list[dict[str, str]] = [
    {"key": "metric", "title": "Metric"},
    {"key": "value", "title": "Value"},
]

_DASH = "—"
_FLOATABLE = (SupportsFloat, SupportsIndex, str, bytes, bytearray)


def status_rows(status: Mapping[str, Any], *, base_path: str = "") -> list[dict[str, Any]]:
    """The tab's rows, in reading order.

    Args:
        status: ``SimulationDirector.status()`` (values may be None/0 before a run starts).
        base_path: Locust's ``--web-base-path``, to name the controls page's address.

    Returns:
        One dict per row: ``name`` (``"01"``, ``"02"``… the display order), ``key`` (the
        status key), ``metric`` (label), ``value`` (text), ``raw`` (the status value).
    """
    s = dict(status)
    scale = _num(s.get("time_scale"))
    rows = [
        ("state", "State", _state(s), _state_raw(s)),
        ("sim_time", "Simulated clock", _clock(s.get("sim_time")), s.get("sim_time")),
        ("sim_hour", "Simulated hour of the run", _int(s.get("sim_hour")), s.get("sim_hour")),
        ("time_scale", "Time scale", _scale(scale), scale),
        ("ramp", "Ramp stage", _ramp(s), s.get("ramp_fraction")),
        ("personas", "Personas leased / active / total", _personas(s), s.get("personas_leased")),
        (
            "hour_sessions",
            "Sessions this sim hour",
            _int(s.get("hour_sessions")),
            s.get("hour_sessions"),
        ),
        ("hour_orders", "Orders this sim hour", _int(s.get("hour_orders")), s.get("hour_orders")),
        ("hour_failed", "Failed agents this sim hour", _failed(s), s.get("hour_failed")),
        (
            "hour_missed",
            "Missed sessions this sim hour",
            _int(s.get("hour_missed")),
            s.get("hour_missed"),
        ),
        ("offer_cycle", "Offer cycle", _cycle(s), s.get("offer_cycle")),
        ("breaker", "Circuit breaker", str(s.get("breaker") or _DASH), s.get("breaker")),
        (
            "slip_p95_ms",
            "Slip p95 (this sim hour)",
            _slip(s.get("slip_p95_ms"), scale),
            s.get("slip_p95_ms"),
        ),
        ("run_id", "Run", str(s.get("run_id") or "not started"), s.get("run_id")),
        ("controls", "Pause / Resume / Checkpoint", _controls(base_path), None),
    ]
    # Locust's table sorts rows by their ``name`` field until a header is clicked, so
    # ``name`` carries the reading order and ``key`` the stable status key.
    return [
        {"name": f"{i:02d}", "key": k, "metric": m, "value": v, "raw": r}
        for i, (k, m, v, r) in enumerate(rows, start=1)
    ]


def timing_rows(timings: list[dict[str, Any]], *, start: int) -> list[dict[str, Any]]:
    """One row per harness timing (``harness.agent.timings``: action slip, database
    transactions, graph time, lease round trips, offer cycles), numbered on from ``start``.

    These are the harness's own measurements, never in Locust's request statistics (which
    hold only the HTTP requests sent to the target).

    Args:
        timings: ``HarnessTimings.rows()`` (``name``, ``count``, ``p50_ms``, ``p95_ms``,
            ``p99_ms``, ``max_ms``, ``mean_ms``, ``errors``).
        start: the display position of the first row (after the status rows).

    Returns:
        Rows as :func:`status_rows`': ``key`` ``timing.<name>``, ``raw`` the timing's dict.
    """
    out = []
    for i, t in enumerate(timings, start=start):
        errors = int(t.get("errors") or 0)
        value = (
            f"{int(t['count']):,} timed · p50 {_ms(t.get('p50_ms'))} · p95 {_ms(t.get('p95_ms'))}"
            f" · p99 {_ms(t.get('p99_ms'))} · max {_ms(t.get('max_ms'))}"
            + (f" · {errors:,} failed" if errors else "")
        )
        out.append(
            {
                "name": f"{i:02d}",
                "key": f"timing.{t['name']}",
                "metric": f"Harness timing: {t['name']}",
                "value": value,
                "raw": dict(t),
            }
        )
    return out


def hour_points(
    buckets: Mapping[int, HourBucket], *, current: int | None = None
) -> list[dict[str, Any]]:
    """One point per simulated hour, from the first hour with counts to the last (or the
    ``current`` hour, when later): what the Simulation tab's charts draw.

    Args:
        buckets: The master's merged counters by simulated hour
            (``HourAggregate.hours``: each with ``counts`` and ``slip_percentile(q)``).
        current: The hour the clock is in (drawn even before anything was counted in it).

    Returns:
        Dicts with ``hour``, ``sessions`` (shop + idle browse), ``orders``, ``failed``,
        ``missed``, ``acted`` and ``slip_p50_ms`` / ``slip_p99_ms`` (``None`` without slip);
        an hour with no counters between two that have them is all zeros.
    """
    if not buckets:
        return []
    first = min(buckets)
    last = max(max(buckets), current if current is not None else first)
    out = []
    for h in range(first, last + 1):
        b = buckets.get(h)
        c = b.counts if b is not None else {}
        out.append(
            {
                "hour": h,
                "sessions": int(c.get("shopped", 0)) + int(c.get("idle", 0)),
                "orders": int(c.get("orders", 0)),
                "failed": int(c.get("failed", 0)),
                "missed": int(c.get("missed", 0)),
                "acted": int(c.get("acted", 0)),
                "slip_p50_ms": b.slip_percentile(50) if b is not None else None,
                "slip_p99_ms": b.slip_percentile(99) if b is not None else None,
            }
        )
    return out


def _ms(v: object) -> str:
    n = _num(v)
    if n is None:
        return _DASH
    return f"{n:.1f} ms" if n < 100 else f"{n:,.0f} ms"


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text (``metric,value,key,raw``) for the Download Data tab."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["metric", "value", "key", "raw"])
    for row in rows:
        raw = row.get("raw")
        writer.writerow([row["metric"], row["value"], row["key"], "" if raw is None else raw])
    return buf.getvalue()


def _state(s: Mapping[str, Any]) -> str:
    if not s.get("run_id"):
        return "not started"
    if s.get("paused"):
        reason = s.get("paused_reason")
        return f"PAUSED — {reason}" if reason else "PAUSED"
    return "running"


def _state_raw(s: Mapping[str, Any]) -> str:
    if not s.get("run_id"):
        return "not_started"
    return "paused" if s.get("paused") else "running"


def _clock(iso: object) -> str:
    if not iso:
        return _DASH
    try:
        t = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    # The weekday matters to personas (preferred days), so it is shown with the time.
    return t.strftime("%a %Y-%m-%d %H:%M:%S") + (" UTC" if t.utcoffset() is not None else "")


def _scale(scale: float | None) -> str:
    if not scale:
        return _DASH
    # "sim hours per real minute" is the figure people reason with (96x: 1.6 h/min).
    return f"{scale:g}x — 1 real minute = {scale / 60:.3g} simulated hours"


def _ramp(s: Mapping[str, Any]) -> str:
    frac = _num(s.get("ramp_fraction"))
    if frac is None:
        return _DASH
    target = s.get("target_users")
    users = f" → {target} users" if target is not None else ""
    return f"{frac * 100:.0f} % of personas{users}"


def _personas(s: Mapping[str, Any]) -> str:
    leased = _int(s.get("personas_leased"))
    active = _int(s.get("target_users"))
    total = _int(s.get("personas_total"))
    return f"{leased} / {active} / {total}"


def _failed(s: Mapping[str, Any]) -> str:
    failed = int(_num(s.get("hour_failed")) or 0)
    acted = int(_num(s.get("hour_acted")) or 0)
    if not acted:
        return str(failed)
    # The breaker compares this share with --breaker-threshold, so show it as a share too.
    return f"{failed} of {acted} acted ({failed / acted * 100:.1f} %)"


def _cycle(s: Mapping[str, Any]) -> str:
    cycle = s.get("offer_cycle")
    if cycle is None:
        return _DASH
    runs = int(_num(s.get("offer_cycles_run")) or 0)
    return f"#{int(cycle) + 1} since sim start ({runs} run by the engine)"


def _slip(ms: object, scale: float | None) -> str:
    value = _num(ms)
    if value is None:
        return _DASH
    if not scale:
        return f"{value:.0f} ms"
    # Slip as a share of a simulated hour's real length is what says a scale is sustainable.
    share = value / 1000 / (3600 / scale) * 100
    return f"{value:.0f} ms = {share:.1f} % of a sim hour"


def _controls(base_path: str) -> str:
    return f"the Simulation bar at the bottom right, or the page {base_path}/simulation"


def _int(v: object) -> str:
    n = _num(v)
    return _DASH if n is None else str(int(n))


def _num(v: object) -> float | None:
    # What float() takes (a number, a numeric string); anything else is no number, as
    # the TypeError below would say.
    if v is None or isinstance(v, bool) or not isinstance(v, _FLOATABLE):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
