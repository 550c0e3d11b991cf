"""What the director tells people about a running simulation: the live status the web UI's
Simulation tab shows (and ``/metrics`` scrapes, ``metrics_status``), and the one progress
line logged per simulated hour.

Pure reads of the director's state (``director`` is a ``SimulationDirector``; typed loosely
so this module does not import it back).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from harness.config.options import ramp_fraction
from offer_engine.calendar import cycle_of, start_of_hour

if TYPE_CHECKING:
    from harness.control.director import SimulationDirector


def live_status(director: SimulationDirector) -> dict[str, Any]:
    """The status dict behind the Simulation tab, its ``/simulation/status`` and CSV."""
    d = director
    rt = d.rt
    now = rt.clock.now() if rt.clock is not None else None
    hour = max(d.current_hour, 0)
    b = d.agg.get(hour)
    p95 = b.slip_percentile(95)
    cycle = None
    if now is not None:
        cycle = cycle_of(d.opts.sim_start, now, d.settings_cycle_days)
    return {
        "run_id": d.run.run_id if d.run else None,
        "sim_time": now.isoformat() if now else None,
        "sim_hour": hour,
        "time_scale": d.opts.time_scale,
        "paused": d.paused,
        "paused_reason": d.paused_reason,
        "ramp_fraction": ramp_fraction(d.opts.ramp, hour),
        "target_users": d.pool.limit,
        "personas_total": d.pool.size,
        "personas_leased": d.pool.leased,
        "hour_acted": b.counts["acted"],
        "hour_sessions": b.counts["shopped"] + b.counts["idle"],
        "hour_orders": b.counts["orders"],
        "hour_failed": b.counts["failed"],
        "hour_missed": b.counts["missed"],
        "offer_cycle": cycle,
        "offer_cycles_run": len(d.cycles_run),
        "breaker": d.breaker_state,
        "slip_p95_ms": p95,
    }


def metrics_status(director: SimulationDirector) -> dict[str, Any]:
    """The director's live status (:func:`live_status`) plus what a
    scraper needs besides: every hour's totals, slip p99 and the simulated time."""
    st = live_status(director)
    sim_time = st.get("sim_time")
    book = getattr(director, "book", None)
    if book is not None and director.rt.clock is not None:
        # The clock's own hour: the status's hour follows the director's loop, which may
        # lag the clock by a loop step (half a simulated hour at 1800x).
        st["sim_hour"] = book.clock_hour()
    bucket = director.agg.get(max(director.current_hour, 0))
    return {
        **st,
        "totals": director.agg.totals(),
        "slip_p99_ms": bucket.slip_percentile(99),
        "sim_time_seconds": datetime.fromisoformat(sim_time).timestamp() if sim_time else None,
    }


def hour_line(director: SimulationDirector, h: int) -> str:
    """The progress line for simulated hour ``h`` (logged a few seconds after it ended)."""
    d = director
    b = d.agg.get(h)
    book = getattr(d, "book", None)  # hours a dead worker held count missed
    c = {**b.counts, "missed": b.counts["missed"] + (book.unheld(h) if book is not None else 0)}
    sec_per_hour = 3600 / d.opts.time_scale
    p95 = b.slip_percentile(95)
    sim_t = start_of_hour(d.opts.sim_start, h)
    users = d.rt.runner.user_count
    slip = "-" if p95 is None else f"{p95:.0f} ms ({p95 / 10 / sec_per_hour:.2f}% of an hour)"
    return (
        f"sim {sim_t.strftime('%a %Y-%m-%d %H:00')} | hour {h} | users {users} "
        f"(leased {d.pool.leased}/{d.pool.size}) | acted {c['acted']} shopped {c['shopped']} "
        f"idle {c['idle']} | completed {c['completed']} abandoned {c['abandoned']} "
        f"failed {c['failed']} missed {c['missed']} | orders {c['orders']} | slip p95 {slip}"
    )
