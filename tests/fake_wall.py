"""A fake real-time wall and the slice of a process runtime that the agent schedule
(``harness.agent.schedule``) and the master's lease broker read, for tests that drive both
on the same fake time (``monkeypatch.setattr(module, "time", wall)``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

from harness.agent.hourstats import HourCollector
from offer_engine import calendar
from offer_engine.clock import SimClock


class Wall:
    """The fake real time every module under test reads (``time.time``)."""

    def __init__(self) -> None:
        self.t = 1_000_000.0

    def time(self) -> float:
        return self.t


class WallClock:
    """A ``SimClock`` read at the fake wall time (as ``SimClock.now()`` reads now)."""

    def __init__(self, wall: Wall, start: datetime, scale: float) -> None:
        self.inner = SimClock.start(sim_start=start, scale=scale, real=wall.t)
        self.wall, self.paused = wall, False

    def now(self, real: float | None = None) -> datetime:
        return self.inner.now(real=self.wall.t if real is None else real)

    def real_time_at(self, sim: datetime) -> float | None:
        return self.inner.real_time_at(sim)


class WallRuntime:
    """What the schedule and the broker read of a process's runtime, on a fake wall."""

    def __init__(
        self, wall: Wall, start: datetime, scale: float, hours: int, drain_s: float = 3.0
    ) -> None:
        self.wall = wall
        self.clock = WallClock(wall, start, scale)
        self.sim_start, self.sim_end = start, start + timedelta(hours=hours)
        self.opts = SimpleNamespace(drain_seconds=drain_s)
        self.collector = HourCollector()

    def slot_time(self, hour: int, offset_s: float) -> datetime:
        return calendar.slot_time(self.sim_start, hour, offset_s)

    def hour_of(self, t: datetime) -> int:
        return calendar.hour_of(self.sim_start, t)


class CountingHours:
    """An agent's hours: each acted hour counts at once in the runtime's collector."""

    def __init__(self, rt: WallRuntime) -> None:
        self.rt, self.agent_id = rt, 0

    def run(self, hour: int, slot: datetime, slip: float | None) -> str:
        self.rt.collector.count(hour, ("acted", "none"))
        return "none"

    def missed(self, hour: int) -> None:
        self.rt.collector.count(hour, ("missed",))
