"""One agent's slots: which hour is next, acted late or missed, and the run's end.

``PersonaUser`` (``harness.agent.user``) holds one :class:`AgentSlots` per leased persona
and only adds Locust's side (leases, shop, waiting state). Kept apart from Locust so the
schedule runs — and is tested — on a fake clock in any process.

Each simulated hour the agent acts once, at a stable offset inside the hour. A session may
run past the next slot: that hour then starts when the session ends (late, with its slip),
never overlapping it and never counted as missed. Slots whose whole hour passed while the
agent was busy or the worker overloaded are counted missed, never silently dropped.

**The run's end** (``--sim-duration``): every slot before the simulated end is acted or
counted missed, never lost. An overloaded agent whose sessions keep running into the next
hour ("late, never missed") never catches up — its debt only grows — so the end cannot wait
for it: once the clock reaches the end, a late agent keeps acting what it owes for at most
``--drain-seconds`` (the *drain deadline*: the end's real time plus the drain, the same
instant in every process, read from the shared clock); after it a paced session still going
finishes unpaced (as a stopping user's does) and whatever is still owed is counted missed
at once. Until the deadline a session that began before the end keeps its pace: the end
waits for it (its real-time spacing is what ``--pace on`` measures). An agent with nothing
left sleeps until it is stopped (it used to spin on a 0 s wait). :func:`pending_hours` tells
the run's end (``harness.control.finish.RunEnd``, through each worker's report) which users
still owe an hour, so the run stops as soon as none does.

**Hours not owed.** Every hour an agent's persona is leased in is acted, missed or *not
owed* — counted ``not_owed``, so that ``hours.csv`` adds up against the master's lease book
(``acted + missed + not_owed == live_users``, ``harness.control.lease_broker``): the hour
it joined in when its slot there had already passed (a ramp's new users; its schedule
starts at the grant's instant, the one the book counts), the hour it is stopped in
before the simulated end with that hour's slot still ahead (a user handed over or
stopped), and an hour whose row an earlier holder of the persona already wrote (a dead
worker's, or the segment before a ``--resume``: the claim is skipped). Counters only: no
``agent_hours`` row is written for them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from harness.agent.hourstats import HourCollector
    from harness.config.options import HarnessOptions
    from offer_engine.clock import SimClock

log = logging.getLogger("loadsim.user")


class EndClock(Protocol):
    """What the drain deadline reads of a runtime (``ProcessRuntime``): the clock, the
    simulated end and the options (``--drain-seconds``)."""

    @property
    def clock(self) -> SimClock | None: ...
    @property
    def sim_end(self) -> datetime | None: ...
    @property
    def opts(self) -> HarnessOptions: ...


class SlotClock(EndClock, Protocol):
    """What a schedule reads of its process's runtime (``ProcessRuntime``; tests give a
    stand-in on a fake wall clock)."""

    @property
    def sim_start(self) -> datetime | None: ...
    @property
    def collector(self) -> HourCollector: ...
    def hour_of(self, t: datetime) -> int: ...
    def slot_time(self, hour: int, offset_s: float) -> datetime: ...


class HourPlayer(Protocol):
    """What a schedule asks of an agent's hours (``harness.agent.hour.AgentHours``)."""

    def run(self, hour: int, slot: datetime, slip_s: float | None) -> str: ...
    def missed(self, hour: int) -> None: ...


MAX_SLEEP_S = 30.0  # re-check the clock at least this often (a pause/resume re-anchors it)
PAUSED_POLL_S = 1.0


def drain_deadline(rt: EndClock) -> float | None:
    """Epoch seconds after which the run's end stops waiting for late slots: the simulated
    end's real time plus ``--drain-seconds`` (``None``: open-ended run, or paused clock).

    Args:
        rt: The process's runtime (``harness.agent.runtime.ProcessRuntime``).
    """
    if rt.sim_end is None or rt.clock is None:
        return None
    real_end = rt.clock.real_time_at(rt.sim_end)
    return None if real_end is None else real_end + rt.opts.drain_seconds


def pending_hours(
    rt: SlotClock | None, schedules: Iterable[AgentSlots | None]
) -> dict[int, int] | None:
    """Once the clock has reached the run's simulated end: how many of this process's
    agents still have an hour to act or count, by that hour (``{}``: none). ``None``
    before the end (every agent owes its next slot then, nothing to count).

    Args:
        rt: The process's runtime.
        schedules: Its users' schedules (``None`` for a user still waiting for a persona).
    """
    if rt is None or rt.sim_end is None or rt.clock is None or rt.clock.now() < rt.sim_end:
        return None
    owing: Counter[int] = Counter()
    for slots in schedules:
        hour = slots.pending_hour() if slots is not None else None
        if hour is not None:
            owing[hour] += 1
    return dict(owing)


def lease_failed(rt: SlotClock) -> None:
    """A user's lease request got no answer within its bound
    (``harness.agent.lease_client``): a failed hour (error kind ``lease``, not acted) in
    the hour the wait ended — an hour of the run only.

    Args:
        rt: The process's runtime.
    """
    if rt.clock is None or rt.sim_start is None:
        return
    now = rt.clock.now()
    if rt.sim_end is None or now < rt.sim_end:
        rt.collector.count(rt.hour_of(now), ("failed",), error_kind="lease")


class AgentSlots:
    """The schedule of one leased agent.

    Args:
        rt: The process's runtime (clock, run's simulated end, slot times, options).
        hours: The agent's hours (``harness.agent.hour.AgentHours``): ``run`` and ``missed``.
        offset_s: The agent's stable offset inside every simulated hour.
        now: The simulated time the agent starts at (its first slot is the next one).
    """

    def __init__(self, rt: SlotClock, hours: HourPlayer, offset_s: float, now: datetime) -> None:
        self.rt = rt
        self.hours = hours
        self.offset_s = offset_s
        hour = rt.hour_of(now)
        # A user that joins mid-hour starts with the first slot still ahead of it.
        self.next_hour = hour if rt.slot_time(hour, offset_s) >= now else hour + 1
        if self.next_hour > hour:
            self.not_owed(hour)  # joined after its slot: this hour is not its to act
        self.after_session = False
        """The last hour played a session (which may have run past the next slot)."""
        self.playing: int | None = None
        """The hour being played (cleared once counted; still set if a kill cut it)."""

    # ------------------------------------------------------------------ queries

    def slot(self, hour: int) -> datetime:
        return self.rt.slot_time(hour, self.offset_s)

    def last_slot_passed(self) -> bool:
        """Every slot before the simulated end has been acted or counted."""
        end = self.rt.sim_end
        return end is not None and self.slot(self.next_hour) >= end

    def pending_hour(self) -> int | None:
        """The hour this agent still has to act or count before the run's end (``None``:
        nothing, or an open-ended run)."""
        if self.playing is not None:
            return self.playing
        if self.rt.sim_end is None or self.last_slot_passed():
            return None
        return self.next_hour

    def drained(self) -> bool:
        """The drain deadline has passed: nothing more is acted, a session stops pacing."""
        deadline = drain_deadline(self.rt)
        return deadline is not None and time.time() >= deadline

    def wait(self) -> float:
        """Real seconds to sleep before the next look (Locust's ``wait_time``)."""
        rt = self.rt
        if self.last_slot_passed():
            return MAX_SLEEP_S  # nothing left but to be stopped: no spinning on a 0 s wait
        assert rt.clock is not None  # a schedule is made once the run's clock exists
        real = rt.clock.real_time_at(self.slot(self.next_hour))
        if real is None:  # paused
            return PAUSED_POLL_S
        return max(0.0, min(MAX_SLEEP_S, real - time.time()))

    # ------------------------------------------------------------------ acting

    def step(self) -> None:
        """One look (Locust's task): act the due slot, late or not, or count missed ones."""
        rt = self.rt
        if rt.clock is None or rt.clock.paused or self.last_slot_passed():
            return  # paused, or the run's simulated period is over (the shape ends the run)
        now = rt.clock.now()
        if now < self.slot(self.next_hour):
            return
        if self.drained():  # the end waited long enough: what is still owed is missed
            self.miss_owed()
            return
        # Slots whose whole hour has passed (the next slot is due too) were missed — except
        # the hour right after a session that ran past it: that one is acted, late.
        after_session, self.after_session = self.after_session, False
        while not after_session and self.slot(self.next_hour + 1) <= now:
            self.hours.missed(self.next_hour)
            self.next_hour += 1
            if self.last_slot_passed():
                return  # the rest lies beyond the run's simulated period
        hour = self.next_hour
        slot = self.slot(hour)
        real_slot = rt.clock.real_time_at(slot)
        slip = max(0.0, time.time() - real_slot) if real_slot is not None else None
        self.next_hour += 1
        self.playing = hour
        outcome = self.hours.run(hour, slot, slip)
        self.playing = None  # counted (not in a ``finally``: a kill leaves it for at_stop)
        if outcome == "skipped":  # an earlier holder (or segment) has this hour's row
            self.not_owed(hour)
        self.after_session = outcome not in ("none", "skipped")

    def not_owed(self, hour: int) -> None:
        """Count hour ``hour`` as held but not owed (only an hour of the run)."""
        rt = self.rt
        if rt.sim_end is None or rt.slot_time(hour, 0.0) < rt.sim_end:
            rt.collector.count(hour, ("not_owed",))

    def miss_owed(self) -> int:
        """Count every slot still owed before the simulated end missed; how many."""
        n = 0
        while not self.last_slot_passed():
            self.hours.missed(self.next_hour)
            self.next_hour += 1
            n += 1
        return n

    def at_stop(self) -> int | None:
        """The user stops: every hour it held the persona in up to now is counted, so the
        hours add up; returns the simulated hour it stopped in (the persona's last, where
        the master's lease book ends the lease; ``None``: no clock yet). The hour a kill
        cut is counted missed. Once the clock reached the simulated end, so are the slots
        still owed. Stopped earlier (SIGTERM, breaker, a hand-over) its hours end where its
        clock stopped: a slot that passed unacted (a late agent, a session that ran past
        it) is missed, and the hour it is in is not owed when its slot there is still ahead."""
        rt = self.rt
        if rt.clock is None:
            return None
        now = rt.clock.now()
        hour = rt.hour_of(now)
        if self.playing is not None:  # killed inside the hour: it was never counted
            log.warning("agent %s: hour %s cut by the stop, counted missed",
                        getattr(self.hours, "agent_id", "?"), self.playing)  # fmt: skip
            self.hours.missed(self.playing)
            self.playing = None
        if rt.sim_end is not None and now >= rt.sim_end:
            self.miss_owed()
            return hour
        while self.next_hour <= hour and self.slot(self.next_hour) <= now:
            self.hours.missed(self.next_hour)  # its slot passed, the agent never acted it
            self.next_hour += 1
        if self.next_hour == hour:  # its slot in this hour still ahead: not owed by it
            self.not_owed(hour)
            self.next_hour += 1
        return hour
