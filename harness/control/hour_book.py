"""The hour book: which simulated hour the run is in, what every process did in it, and
when an hour is over — its progress line, its ``hours.csv`` row, its breaker verdict.

Part of the master's (or standalone's) director (``harness.control.director``). The
counters come from every process (the master's own collector each step, the workers'
through Locust's reports, see ``harness.config.messages.WorkerReport``).

**Hours lost to a dead worker are counted missed**: when a worker dies,
its personas are re-leased (``harness.control.lease_broker``) and the new holder starts at
the *current* hour — replaying the hours in between would act them late on a clock that
has moved on, and a late order is a different order. So every hour touched by a death (from
the hour the worker may have last reported in — 10 real seconds before Locust marked it
missing — to the hour after its personas were re-leased) is topped up in ``hours.csv``:
``unheld = live agent-hours − (acted + missed + not_owed)`` is added to its ``missed`` and
shown in its ``unheld`` column (recomputed at the run's end, when late reports have
arrived), and logged as a ``hours_unheld`` run-log event when the hour is written.
``acted + missed + not_owed`` then equals the live agent-hours of the hour (the lease book,
where a persona re-leased within the hour counts for both holders), and the
``missed_sessions=0`` gate cannot pass over them. A grant that never reached its worker
(``harness.control.lease_broker``) is topped up the same way over the hours its persona
was held in. The dead worker's last ≤ 3 s of counts never arrive; those agent-hours count missed here
(the database, when there is one, still has them).

**When each hour really began and ended.** The simulated clock maps real time to
simulated time by construction, so ``hours.csv``'s ``real_time`` (the clock's instant for
the hour's start) says what was planned, not what happened. The book also records when
its loop (every 0.25 s) first saw each hour begin and end — ``real_start``/``real_end``:
a pause stretches an hour, a starved master sees its hours late — and the report's
realized time scale is derived from those (``reports.timing``).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from harness.agent.hourstats import HourAggregate
from harness.config.options import ramp_fraction
from harness.control.finish import append_hour
from harness.control.status import hour_line
from offer_engine.calendar import cycle_of_hour, hour_of, start_of_hour

log = logging.getLogger("loadsim")

REPORT_DELAY_S = 4.0
"""Hour H is written this many real seconds after it ended (worker reports come every 3 s)."""


class HourBook:
    """The merged counters and the current/reported hour of one run."""

    def __init__(self, director: Any) -> None:
        self.d = director
        self.agg = HourAggregate()
        self.current_hour = -1
        self.reported_hour = -1
        self.users_at_hour: dict[int, int] = {}
        """Locust's user count in each hour: the most seen during it (``locust_users``)."""
        self.began_at: dict[int, float] = {}
        """When this loop first saw each hour begun (epoch seconds)."""
        self.ended_at: dict[int, float] = {}
        """When this loop first saw each hour over (the next begun, or the run's end)."""
        self.expected_at_hour: dict[int, int] = {}
        self.unheld_hours: set[int] = set()
        """Hours a dead worker's window touched (kept for the run: a handful)."""
        self.cut_owed: dict[int, int] = {}
        """At most how many agent-hours of each hour workers' users still owed when the
        run's end stopped waiting (:meth:`mark_cut`)."""

    def start_at(self, from_hour: int) -> None:
        """``--resume``: hours below ``from_hour`` were written by the earlier segment."""
        self.current_hour = self.reported_hour = from_hour - 1

    def step(self) -> None:
        """One director step: merge this process's counters, enter new hours, write due ones."""
        d, rt = self.d, self.d.rt
        self.agg.merge(rt.collector.drain())
        hour = self.clock_hour()
        # Live users in an hour: the most seen during it (the ramp steps up inside hours).
        users = d.env.runner.user_count
        self.users_at_hour[hour] = max(self.users_at_hour.get(hour, 0), users)
        self.expected_at_hour[hour] = max(self.expected_at_hour.get(hour, 0), d.pool.limit)
        if hour > self.current_hour:
            self.note_hours(self.current_hour, hour, time.time())
            for h in range(self.current_hour + 1, hour + 1):
                d._on_new_hour(h)
            self.current_hour = hour
        if rt.sim_end is not None and hour not in self.ended_at and rt.clock.now() >= rt.sim_end:
            self.ended_at[hour] = time.time()  # the run's last hour is over
        self.report_due()

    def note_hours(self, last: int, hour: int, now: float) -> None:
        """The loop sees hour ``hour`` begun at ``now``; ``last`` was the current one (and
        any hour in between — a loop starved that long — began and ended unseen, now)."""
        if last in self.began_at:
            self.ended_at.setdefault(last, now)
        for h in range(last + 1, hour + 1):
            self.began_at.setdefault(h, now)
            if h < hour:
                self.ended_at.setdefault(h, now)

    def clock_hour(self) -> int:
        """The simulated hour the clock is in (a bounded run's last hour once past its end)."""
        rt = self.d.rt
        hour = hour_of(rt.sim_start, rt.clock.now())
        if rt.sim_end is not None:
            hour = min(hour, hour_of(rt.sim_start, rt.sim_end - timedelta(microseconds=1)))
        return hour

    def report_due(self) -> None:
        """Write hour H a few real seconds after it ended — also while the clock is paused,
        for the hours that ended before the pause (the pause checkpoint counts them done)."""
        d = self.d
        while self.reported_hour < self.current_hour:
            h = self.reported_hour + 1
            clock, end = d.rt.clock, start_of_hour(d.opts.sim_start, h + 1)
            if clock.paused:
                if end > clock.now():
                    return  # the hour the clock stopped in is not over
                clock = clock.resume(real=clock.real_t0)  # the clock as it ran
            end_real = clock.real_time_at(end)
            if end_real is None or time.time() < end_real + REPORT_DELAY_S:
                return
            self.note_unheld(h)
            log.info("%s", hour_line(d, h))
            self.reported_hour = h
            append_hour(d, h)
            self.agg.compact(h)  # its row is written: keep percentiles, drop the histogram
            self.users_at_hour.pop(h - 48, None)
            self.began_at.pop(h - 48, None)
            self.ended_at.pop(h - 48, None)
            if h - 48 not in self.unheld_hours:
                self.expected_at_hour.pop(h - 48, None)
            d._after_hour(h)

    def mark_unheld(self, first: int, last: int) -> None:
        """Hours ``first..last`` had personas held by a worker that died (see the module).
        Hours already written are noted now (the run's end rewrites their rows), the
        others when they are written."""
        new = set(range(max(0, first), last + 1)) - self.unheld_hours
        self.unheld_hours |= new
        for h in sorted(new):
            if h <= self.reported_hour:
                self.note_unheld(h)

    def mark_cut(self, owed: dict[int, int], last: int) -> None:
        """Workers' users still owed hours when the run's end stopped waiting
        (``harness.control.finish.RunEnd``; ``owed``: users by the hour they were at, each
        owing that hour and every later one up to ``last``). What their processes can no
        longer report is topped up as missed like a dead worker's hours — never more than
        those users owed, so hours where users joined after their slot stay as they are."""
        if not owed:
            return
        users = 0
        for h in range(max(0, min(owed)), last + 1):
            users += owed.get(h, 0)
            self.cut_owed[h] = self.cut_owed.get(h, 0) + users

    def unheld(self, h: int) -> int:
        """Agent-hours of hour ``h`` nobody acted nor counted because their holder died
        (0 outside the hours :meth:`mark_unheld` named)."""
        if h not in self.unheld_hours and h not in self.cut_owed:
            return 0
        c = self.agg.get(h).counts
        done = c.get("acted", 0) + c.get("missed", 0) + c.get("not_owed", 0)
        # The lease book's agent-hours when there is one: a persona re-leased within the
        # hour counts for both holders (the dead one's unreported, the new one's counted).
        leases = getattr(self.d, "leases", None)
        held = leases.live_at(h) if leases is not None else self.expected_at_hour.get(h, 0)
        gap = max(0, held - done)
        return gap if h in self.unheld_hours else min(gap, self.cut_owed[h])

    def note_unheld(self, h: int) -> None:
        gap = self.unheld(h)
        if gap <= 0:
            return
        log.warning(
            "simulated hour %d: %d agent-hours of personas whose worker died counted missed", h, gap
        )
        if self.d.files is not None:
            self.d.files.log_event("hours_unheld", sim_hour=h, missed=gap,
                                   expected=self.expected_at_hour.get(h, 0))  # fmt: skip

    def checkpoint(self, *, reason: str = "manual", hour: int | None = None) -> str | None:
        """Write ``<runs-dir>/<run_id>/checkpoints/hour-<H>.json`` and the ``simulation_state``
        row. ``hour``: hours below it are complete (default: the last reported hour + 1)."""
        from harness.control.resilience import Checkpoint, write_checkpoint

        d = self.d
        if d.run is None or d.rt.clock is None:
            return None
        h = self.reported_hour + 1 if hour is None else hour
        cycle = cycle_of_hour(h, d.settings_cycle_days)
        cp = Checkpoint(
            run_id=d.run.run_id, hour=h,
            sim_time=start_of_hour(d.opts.sim_start, h).isoformat(), seed=d.run.seed,
            time_scale=d.opts.time_scale, offer_cycle=cycle,
            ramp_fraction=ramp_fraction(d.opts.ramp, h), clock=d.rt.clock.to_dict(),
            counters=self.agg.totals(), reason=reason, written_at=time.time(),
        )  # fmt: skip
        path = write_checkpoint(cp, Path(d.opts.runs_dir))  # with the run (--runs-dir)
        if d.engine is not None:
            from offer_engine.state import save_clock

            try:
                with d.engine.begin() as conn:
                    save_clock(conn, key=d.run.run_id, clock=d.rt.clock, cycle_number=cycle)
            except Exception:  # noqa: BLE001 - the file checkpoint is already safe
                log.exception("could not save simulation_state")
        d.last_checkpoint = str(path)
        if d.files is not None:
            d.files.log_event("checkpoint", sim_hour=h, reason=reason, path=str(path))
        log.info("checkpoint at simulated hour %d (%s): %s", h, reason, path)
        return str(path)
