"""How a run with a simulated end ends, on a fake clock — no Locust run.

- An overloaded agent (every session longer than a simulated hour: "late, never missed")
  never catches up; the end must not wait for its debt. After the drain deadline it starts
  no session and counts what it still owes missed: every hour of the run is acted or
  missed exactly once, and nothing is owed a bounded real time after the end.
- A user with nothing left sleeps (it used to spin on a 0 s wait until stopped).
- Stopped after the end, a user counts the hour a kill cut and the slots it still owed.
- The director's end (``RunEnd``) stops as soon as no process owes an hour, waits for a
  worker that has not reported since the end, and at its bound tops the owed hours up as
  missed so ``hours.csv`` adds up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

import harness.agent.schedule as schedule_mod
import harness.control.finish as finish_mod
from harness.agent.schedule import MAX_SLEEP_S, AgentSlots, pending_hours
from harness.config.messages import WorkerReport
from harness.config.wire import MessageError
from harness.control.finish import CLOSE_S, RunEnd, hours_rows
from harness.control.hour_book import HourBook
from harness.control.run_state import RunState
from tests.fake_wall import Wall, WallRuntime

SCALE = 1800.0  # a simulated hour = 2 real seconds
HOUR_S = 3600 / SCALE
START = datetime(2026, 1, 10, 9, tzinfo=UTC)
HOURS = 8
DRAIN = 3.0


class FakeRuntime(WallRuntime):
    def __init__(self, wall: Wall) -> None:
        super().__init__(wall, START, SCALE, HOURS, drain_s=DRAIN)
        self.revoked: set[int] = set()


class FakeHours:
    """An agent's hours: every session takes ``session_s`` real seconds (overloaded)."""

    def __init__(self, wall: Wall, session_s: float) -> None:
        self.wall, self.session_s = wall, session_s
        self.agent_id = 1
        self.acted: list[tuple[int, float]] = []  # (hour, real time the session started)
        self.missed_hours: list[int] = []

    def run(self, hour: int, slot: datetime, slip: float | None) -> str:
        self.acted.append((hour, self.wall.t))
        self.wall.t += self.session_s
        return "completed"

    def missed(self, hour: int) -> None:
        self.missed_hours.append(hour)


@pytest.fixture()
def world(monkeypatch):
    wall = Wall()
    monkeypatch.setattr(schedule_mod, "time", wall)
    monkeypatch.setattr(finish_mod, "time", wall)
    return SimpleNamespace(wall=wall, rt=FakeRuntime(wall), agents=[])


def _agent(world, *, session_s: float, offset_s: float = 1800.0) -> AgentSlots:
    """An agent that joins at the run's start (its first slot is hour 0's)."""
    a = AgentSlots(world.rt, FakeHours(world.wall, session_s), offset_s, world.rt.clock.now())
    world.agents.append(a)
    return a


def _pending(world):
    return pending_hours(world.rt, world.agents)


def _drive(world, a: AgentSlots, until: float) -> None:
    """Locust's loop for one user: act, then sleep ``wait_time`` (a 0 s wait still takes
    a little real time: the process is busy)."""
    while world.wall.t < until:
        a.step()
        world.wall.t += max(a.wait(), 0.01)


def test_an_overloaded_agent_stops_owing_at_the_drain_deadline_and_every_hour_adds_up(world):
    a = _agent(world, session_s=1.5 * HOUR_S)  # each session runs past the next slot
    real_end = world.rt.clock.real_time_at(world.rt.sim_end)
    deadline = real_end + DRAIN
    _drive(world, a, until=deadline + 5 * HOUR_S)
    acted = [h for h, _ in a.hours.acted]
    missed = a.hours.missed_hours
    # Every hour of the run exactly once, acted or missed: nothing lost, nothing twice.
    assert sorted(acted + missed) == list(range(HOURS))
    assert missed, "an agent that is always late must have missed hours at the end"
    # No session starts after the drain deadline: the debt is counted, not worked off.
    assert all(started < deadline for _, started in a.hours.acted)
    assert a.pending_hour() is None


def test_after_its_last_slot_a_user_sleeps_instead_of_spinning(world):
    a = _agent(world, session_s=0.01)
    _drive(world, a, until=world.rt.clock.real_time_at(world.rt.sim_end) + 1.0)
    assert sorted(h for h, _ in a.hours.acted) == list(range(HOURS))
    assert a.pending_hour() is None
    assert a.wait() == MAX_SLEEP_S


def test_the_drain_deadline_is_the_same_instant_for_every_agent(world):
    a = _agent(world, session_s=0.01)
    real_end = world.rt.clock.real_time_at(world.rt.sim_end)
    world.wall.t = real_end + DRAIN - 0.1
    assert not a.drained()  # sessions keep their pace, late slots are still acted
    world.wall.t = real_end + DRAIN + 0.1
    assert a.drained()  # sessions finish unpaced, what is still owed is counted missed


def test_stopped_after_the_end_a_user_counts_the_cut_hour_and_what_it_owed(world):
    a = _agent(world, session_s=0.01)
    a.next_hour = 6
    a.playing = 5  # killed inside hour 5's session: never counted
    world.wall.t = world.rt.clock.real_time_at(world.rt.sim_end) + 0.5
    assert _pending(world) == {5: 1}
    a.at_stop()
    assert a.hours.missed_hours == [5, 6, 7]
    assert a.hours.acted == []
    assert _pending(world) == {}


def test_stopped_before_the_end_a_user_counts_the_slot_it_let_pass(world):
    """Stopped inside the run (SIGTERM, a hand-over) an agent late for hour 3 counts it
    missed — its slot passed and nobody acted it — and nothing after the hour it stopped
    in: those hours are not its (the lease book ends its lease there)."""
    a = _agent(world, session_s=0.01)
    a.next_hour = 3
    world.wall.t = world.rt.clock.real_time_at(START + timedelta(hours=4))  # SIGTERM at hour 4
    assert _pending(world) is None  # not computed before the end
    assert a.at_stop() == 4
    assert a.hours.missed_hours == [3]
    assert a.next_hour == 5  # hour 4's slot still ahead: not owed by it
    counted = {
        h: {k: n for k, n in c["counts"].items() if n}
        for h, c in world.rt.collector.drain().items()
    }
    assert counted == {"4": {"not_owed": 1}}


# ------------------------------------------------------------------ the director's end


def _director(world, workers: tuple[str, ...] = ()):
    d = SimpleNamespace(
        rt=world.rt, exit_code=None, sim_end_reached_at=None,
        _live_workers=lambda: list(workers),
        opts=SimpleNamespace(time_scale=SCALE, ramp=((0, 1.0),), sim_start=START),
        files=None, pool=SimpleNamespace(size=3, limit=3), users_at_hour={},
        settings_cycle_days=7.0,
    )  # fmt: skip
    d.book = HourBook(world.rt, RunState())
    d.book.current_hour = HOURS - 1
    d.agg = d.book.agg
    return d


def _end(d, local) -> RunEnd:
    """The end with the narrow parts it is built with (as the director builds it)."""
    return RunEnd(rt=d.rt, book=d.book, live_workers=d._live_workers,
                  stopped=lambda: d.exit_code is not None, local=local)  # fmt: skip


def test_the_end_comes_as_soon_as_nobody_owes_an_hour(world):
    d = _director(world)
    end = _end(d, local=lambda: _pending(world))
    a = _agent(world, session_s=0.01)
    a.next_hour = HOURS - 1
    real_end = world.rt.clock.real_time_at(world.rt.sim_end)
    world.wall.t = real_end - 0.5
    assert not end.finished()  # the simulated period is not over
    world.wall.t = real_end + 0.1
    assert not end.finished()  # hour 7's slot is owed
    a.next_hour = HOURS  # it acted its last slot
    assert end.finished() and end.ended == "complete"
    assert world.wall.t < real_end + DRAIN  # not a fixed wait


def test_the_end_waits_for_a_worker_that_has_not_reported_since_the_end(world):
    d = _director(world, workers=("w1",))
    end = _end(d, local=lambda: _pending(world))
    real_end = world.rt.clock.real_time_at(world.rt.sim_end)
    world.wall.t = real_end + 0.1
    end.on_report("w1", None)  # its report was computed before its clock reached the end
    assert not end.finished()
    end.on_report("w1", {"7": 2})
    assert not end.finished()
    end.on_report("w1", {})
    assert end.finished() and end.ended == "complete"


def test_at_its_bound_the_end_tops_the_owed_hours_up_as_missed_and_they_add_up(world):
    d = _director(world, workers=("w1",))
    end = _end(d, local=lambda: _pending(world))
    agents = 3
    # Hours 5-7: the worker reported 3, 2 and 1 of its 3 agents acted before it stalled.
    for h in range(HOURS):
        d.book.expected_at_hour[h] = agents
        acted = {5: 2, 6: 1, 7: 0}.get(h, agents)
        d.agg.merge({str(h): {"counts": {"acted": acted}, "errors": {}}})
    d.book.reported_hour = HOURS - 1
    real_end = world.rt.clock.real_time_at(world.rt.sim_end)
    world.wall.t = real_end + 0.1
    end.on_report("w1", {"5": 1, "6": 1, "7": 1})
    assert not end.finished()
    world.wall.t = real_end + DRAIN + CLOSE_S - 0.1
    assert not end.finished()  # still within the bound
    world.wall.t += 0.2
    assert end.finished() and end.ended == "cut"
    rows = {r["sim_hour"]: r for r in hours_rows(d)}
    for h in range(HOURS):
        assert rows[h]["acted"] + rows[h]["missed"] == agents, rows[h]
    assert [rows[h]["unheld"] for h in (4, 5, 6, 7)] == [0, 1, 2, 3]


def test_the_top_up_never_exceeds_what_the_stalled_users_owed(world):
    """A worker's user stuck in hour 0 (users joined after their slot there: that hour's
    gap is not owed) and this process's own users (they count what they owe as they stop):
    only what the worker's users owed is topped up."""
    d = _director(world, workers=("w1",))
    own = {3: 4}
    end = _end(d, local=lambda: own)
    for h in range(HOURS):
        d.book.expected_at_hour[h] = 300
        d.agg.merge({str(h): {"counts": {"acted": 134 if h == 0 else 290}, "errors": {}}})
    real_end = world.rt.clock.real_time_at(world.rt.sim_end)
    end.on_report("w1", {"0": 1})
    world.wall.t = real_end + DRAIN + CLOSE_S + 0.1
    assert end.finished() and end.ended == "cut"
    rows = {r["sim_hour"]: r for r in hours_rows(d)}
    assert [rows[h]["unheld"] for h in range(HOURS)] == [1] * HOURS  # not 166 in hour 0


def test_a_stop_or_a_trip_ends_the_run_at_once(world):
    d = _director(world)
    d.exit_code = 5
    assert _end(d, local=lambda: _pending(world)).finished()


def test_the_worker_report_carries_what_is_owed_and_rejects_nonsense():
    msg = WorkerReport(pending={"7": 2}).to_msg()
    assert WorkerReport.from_msg(msg).pending == {"7": 2}
    assert WorkerReport.from_msg(WorkerReport().to_msg()).pending is None
    with pytest.raises(MessageError):
        WorkerReport.from_msg({"pending": {"seven": 2}})
    with pytest.raises(MessageError):
        WorkerReport.from_msg({"pending": {"7": "two"}})
