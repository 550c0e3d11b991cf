"""The hour book: which simulated hour the run is in, what every process did in it, and
when an hour is over — its progress line, its ``hours.csv`` row, its breaker verdict.

Part of the master's (or standalone's) director (``harness.control.director``). The
counters come from every process (the master's own collector each step, the workers'
through Locust's reports, see ``harness.config.messages.WorkerReport``).

**Every hour the run enters has one row**, whatever was counted in it: an hour no
process counted anything in — hour 0 passing before any worker's user held a persona, on
a loaded machine — is a row of zeros beside its live users (the lease book's), never a
gap in ``hours.csv``.

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
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.agent.hourstats import HourAggregate, HourBucket, HourCollector
from harness.agent.schedule import EndClock
from harness.config.options import ramp_fraction
from harness.control.run_state import RunState
from offer_engine.calendar import cycle_of_hour, hour_of, start_of_hour

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from harness.control.leases import LeasePool

log = logging.getLogger("loadsim")

REPORT_DELAY_S = 4.0
"""Hour H is written this many real seconds after it ended (worker reports come every 3 s)."""


class BookClock(EndClock, Protocol):
    """What the hour book reads of its process's runtime (``ProcessRuntime``): the clock
    (replaced on pause/resume, so read there each time), the simulated start and end, the
    options and this process's own hour counters."""

    @property
    def sim_start(self) -> datetime | None: ...
    @property
    def collector(self) -> HourCollector: ...


def _nothing(_hour: int) -> None:
    """No listener."""


class HourBook:
    """The merged counters and the current/reported hour of one run."""

    def __init__(
        self,
        rt: BookClock,
        state: RunState,
        *,
        engine: Engine | None = None,
        pool: LeasePool | None = None,
        users: Callable[[], int] = lambda: 0,
        held: Callable[[int], int] | None = None,
        on_new_hour: Callable[[int], None] = _nothing,
        on_written: Callable[[int], None] = _nothing,
        after_hour: Callable[[int], None] = _nothing,
    ) -> None:
        """
        Args:
            rt: the run's clock, simulated start and end, options and this process's
                counters (the process's runtime).
            state: the run (its config and output files, once started).
            engine: the run database (``simulation_state`` with each checkpoint), if any.
            pool: the persona pool (the ramp's current limit: agents expected per hour).
            users: Locust's live user count now.
            held: the lease book's live agent-hours of an hour (default: the most agents
                the ramp expected in it).
            on_new_hour: called for each hour the clock enters, in order.
            on_written: hour ``h`` is reported (its progress line, its ``hours.csv`` row).
            after_hour: hour ``h``'s row is written: its verdict (breaker, checkpoint).
        """
        self.rt = rt
        self.state = state
        self.engine = engine
        self.pool = pool
        self.users = users
        self.held = held
        self.on_new_hour = on_new_hour
        self.on_written = on_written
        self.after_hour = after_hour
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
        rt = self.rt
        assert rt.clock is not None  # the director steps once the clock started
        self.agg.merge(rt.collector.drain())
        hour = self.clock_hour()
        # Live users in an hour: the most seen during it (the ramp steps up inside hours).
        users = self.users()
        self.users_at_hour[hour] = max(self.users_at_hour.get(hour, 0), users)
        limit = self.pool.limit if self.pool is not None else 0
        self.expected_at_hour[hour] = max(self.expected_at_hour.get(hour, 0), limit)
        if hour > self.current_hour:
            self.note_hours(self.current_hour, hour, time.time())
            for h in range(self.current_hour + 1, hour + 1):
                # Every hour the run enters has its row, counted in or not: an hour no
                # process counted anything in (hour 0 before any worker's user held a
                # persona, say) is a row of zeros with its live users, not a gap.
                self.agg.hours.setdefault(h, HourBucket())
                self.on_new_hour(h)
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
        rt = self.rt
        assert rt.clock is not None and rt.sim_start is not None  # set when the run starts
        hour = hour_of(rt.sim_start, rt.clock.now())
        if rt.sim_end is not None:
            hour = min(hour, hour_of(rt.sim_start, rt.sim_end - timedelta(microseconds=1)))
        return hour

    def report_due(self) -> None:
        """Write hour H a few real seconds after it ended — also while the clock is paused,
        for the hours that ended before the pause (the pause checkpoint counts them done)."""
        while self.reported_hour < self.current_hour:
            h = self.reported_hour + 1
            clock, end = self.rt.clock, start_of_hour(self.rt.opts.sim_start, h + 1)
            assert clock is not None  # hours are entered only once the clock started
            if clock.paused:
                if end > clock.now():
                    return  # the hour the clock stopped in is not over
                clock = clock.resume(real=clock.real_t0)  # the clock as it ran
            end_real = clock.real_time_at(end)
            if end_real is None or time.time() < end_real + REPORT_DELAY_S:
                return
            self.note_unheld(h)
            self.reported_hour = h
            self.on_written(h)
            self.agg.compact(h)  # its row is written: keep percentiles, drop the histogram
            self.users_at_hour.pop(h - 48, None)
            self.began_at.pop(h - 48, None)
            self.ended_at.pop(h - 48, None)
            if h - 48 not in self.unheld_hours:
                self.expected_at_hour.pop(h - 48, None)
            self.after_hour(h)

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
        held = self.held(h) if self.held is not None else self.expected_at_hour.get(h, 0)
        gap = max(0, held - done)
        return gap if h in self.unheld_hours else min(gap, self.cut_owed[h])

    def unaccounted(self, live_at: Callable[[int], int]) -> dict[int, int]:
        """Agent-hours of each hour nobody acted, counted missed (a dead worker's unheld
        hours included) nor named not owed: ``live_at(h)`` (the lease book's live
        agent-hours) less those — the hours where ``hours.csv``'s row does not add up."""
        gaps: dict[int, int] = {}
        for h in sorted(self.agg.hours):
            c = self.agg.get(h).counts
            done = c.get("acted", 0) + c.get("missed", 0) + c.get("not_owed", 0) + self.unheld(h)
            if live_at(h) > done:
                gaps[h] = live_at(h) - done
        return gaps

    def note_unheld(self, h: int) -> None:
        gap = self.unheld(h)
        if gap <= 0:
            return
        log.warning(
            "simulated hour %d: %d agent-hours of personas whose worker died counted missed", h, gap
        )
        if self.state.files is not None:
            self.state.files.log_event("hours_unheld", sim_hour=h, missed=gap,
                                   expected=self.expected_at_hour.get(h, 0))  # fmt: skip

    def checkpoint(self, *, reason: str = "manual", hour: int | None = None) -> str | None:
        """Write ``<runs-dir>/<run_id>/checkpoints/hour-<H>.json`` and the ``simulation_state``
        row. ``hour``: hours below it are complete (default: the last reported hour + 1)."""
        from harness.control.resilience import Checkpoint, write_checkpoint

        run, clock, o = self.state.run, self.rt.clock, self.rt.opts
        if run is None or clock is None:
            return None
        h = self.reported_hour + 1 if hour is None else hour
        cycle = cycle_of_hour(h, self.state.cycle_days)
        cp = Checkpoint(
            run_id=run.run_id, hour=h,
            sim_time=start_of_hour(o.sim_start, h).isoformat(), seed=run.seed,
            time_scale=o.time_scale, offer_cycle=cycle,
            ramp_fraction=ramp_fraction(o.ramp, h), clock=clock.to_dict(),
            counters=self.agg.totals(), reason=reason, written_at=time.time(),
        )  # fmt: skip
        path = write_checkpoint(cp, Path(o.runs_dir))  # with the run (--runs-dir)
        if self.engine is not None:
            from offer_engine.state import save_clock

            try:
                with self.engine.begin() as conn:
                    save_clock(conn, key=run.run_id, clock=clock, cycle_number=cycle)
            except Exception:  # noqa: BLE001 - the file checkpoint is already safe
                log.exception("could not save simulation_state")
        self.state.last_checkpoint = str(path)
        if self.state.files is not None:
            self.state.files.log_event("checkpoint", sim_hour=h, reason=reason, path=str(path))
        log.info("checkpoint at simulated hour %d (%s): %s", h, reason, path)
        return str(path)
