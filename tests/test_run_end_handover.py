"""Every live agent-hour of a hand-over is counted, and a run whose hours do not add up
fails (exit 3, the hours named).

A worker joining a run takes half the first worker's users: those stop, give their
personas back, and the new worker's users lease them. The master's lease book
(``harness.control.lease_broker``) counts each lease live from the hour of its grant to
the hour of its release; the agents count each of those hours acted, missed or not owed
(``harness.agent.schedule``). The join e2e found agent-hours nobody counted; the three
ways it lost them, each driven here with the real schedule and the real broker on a fake
wall clock:

- a release read by the master just after an hour's edge ended the lease in the next
  hour, which its user never counted (``Release.hour`` now says where it ended);
- a late agent (its slot passed, not acted yet: an overloaded worker) stopped for the
  hand-over counted nothing for that hour (now: missed);
- a grant that came for a user already gone stayed in the book (now: taken out).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

import harness.agent.schedule as schedule_mod
import harness.control.lease_broker as broker_mod
from harness.agent.hourstats import HourAggregate
from harness.agent.schedule import AgentSlots
from harness.config.messages import Grant, LeaseRequest, Release
from harness.control import finish
from harness.control.finish import hours_rows
from harness.control.hour_book import HourBook
from harness.control.lease_broker import LeaseBroker
from harness.control.leases import LeasePool, PoolEntry
from harness.control.run_state import RunState
from harness.outputs.run_files import RunFiles
from tests.fake_wall import CountingHours, Wall, WallRuntime

SCALE = 1800.0  # one simulated hour = 2 real seconds
HOUR_S = 3600 / SCALE
START = datetime(2026, 1, 10, 9, tzinfo=UTC)
HOURS = 4


class World:
    """One persona, a master's broker and the users of two workers, on one fake wall."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.wall = Wall()
        monkeypatch.setattr(schedule_mod, "time", self.wall)
        monkeypatch.setattr(broker_mod, "time", self.wall)
        self.rt = WallRuntime(self.wall, START, SCALE, HOURS)
        self.sent: list[tuple[str, dict, str | None]] = []
        runner = SimpleNamespace(send_message=lambda k, d, client_id=None: self.sent.append((k, d, client_id)))  # fmt: skip
        pool = LeasePool([PoolEntry(0, 100, "P000", "s", {"persona_id": "P000"})], seed=1)
        self.broker = LeaseBroker(pool, runner=runner, rt=self.rt)
        self.broker.set_limit(1)

    def at(self, hour: float) -> None:
        """Move the wall to ``hour`` simulated hours after the start."""
        self.wall.t = self.rt.clock.real_time_at(START) + hour * HOUR_S

    def lease(self, req: str, node: str) -> None:
        self.broker.on_lease(LeaseRequest(req_ids=[req]), node)

    def granted(self, offset_s: float) -> AgentSlots:
        """The last grant, taken by its user: its schedule starts at the grant's instant."""
        grant = Grant.from_msg(self.sent[-1][1])
        return AgentSlots(
            self.rt, CountingHours(self.rt), offset_s, self.rt.clock.now(real=grant.at)
        )

    def rows(self) -> list[dict]:
        agg = HourAggregate()
        agg.merge(self.rt.collector.drain())
        director = SimpleNamespace(
            opts=SimpleNamespace(time_scale=SCALE, ramp=((0, 1.0),), sim_start=START),
            rt=SimpleNamespace(clock=None), files=None, agg=agg, leases=self.broker,
            users_at_hour={}, pool=self.broker.pool, settings_cycle_days=7.0,
        )  # fmt: skip
        director.book = HourBook(director.rt, RunState(), held=self.broker.live_at)
        return hours_rows(director)


def _gaps(rows: list[dict]) -> dict[int, int]:
    return {
        r["sim_hour"]: r["live_users"] - (r["acted"] + r["missed"] + r["not_owed"])
        for r in rows
        if r["live_users"] != r["acted"] + r["missed"] + r["not_owed"]
    }


def _run_out(world: World, slots: AgentSlots) -> None:
    """The new holder plays to the simulated end, then is stopped."""
    while world.wall.t < world.rt.clock.real_time_at(world.rt.sim_end) + 1.0:
        slots.step()
        world.wall.t += 0.01
    slots.at_stop()


def test_a_release_read_after_the_hours_edge_ends_the_lease_where_its_user_stopped(monkeypatch):
    w = World(monkeypatch)
    w.at(0.01)
    w.lease("a", "w1")
    first = w.granted(offset_s=600.0)  # slot 10 min into each hour
    w.lease("b", "w2")  # queued: the one persona is held
    for h in (0.2, 1.2):
        w.at(h)
        first.step()  # acts hours 0 and 1
    w.at(1.999)
    stopped_in = first.at_stop()  # the hand-over: stopped at the end of hour 1
    assert stopped_in == 1
    w.at(2.02)  # the master reads its release in hour 2 (a loaded master, a slow wire)
    w.broker.on_release(Release(agent_id=0, hour=stopped_in), "w1")
    second = w.granted(offset_s=600.0)  # w2's user gets it in hour 2, before its slot
    _run_out(w, second)
    rows = w.rows()
    assert [(r["live_users"], r["acted"], r["not_owed"]) for r in rows] == [
        (1, 1, 0), (1, 1, 0), (1, 1, 0), (1, 1, 0),
    ]  # fmt: skip
    assert _gaps(rows) == {}


def test_a_late_agent_handed_over_counts_the_slot_it_let_pass_missed(monkeypatch):
    w = World(monkeypatch)
    w.at(0.01)
    w.lease("a", "w1")
    first = w.granted(offset_s=600.0)
    w.lease("b", "w2")
    w.at(0.2)
    first.step()  # acts hour 0
    w.at(1.5)  # hour 1's slot (1.17) passed; the overloaded worker has not run it yet
    stopped_in = first.at_stop()
    w.broker.on_release(Release(agent_id=0, hour=stopped_in), "w1")
    second = w.granted(offset_s=600.0)  # hour 1's slot passed before its grant: not owed
    _run_out(w, second)
    rows = w.rows()
    assert [(r["live_users"], r["acted"], r["missed"], r["not_owed"]) for r in rows] == [
        (1, 1, 0, 0), (2, 0, 1, 1), (1, 1, 0, 0), (1, 1, 0, 0),
    ]  # fmt: skip
    assert _gaps(rows) == {}


def test_a_grant_for_a_user_already_gone_leaves_the_book(monkeypatch):
    w = World(monkeypatch)
    w.at(0.3)
    w.lease("gone", "w1")  # granted; its user stopped before the grant arrived
    w.at(1.1)
    w.broker.on_release(Release(agent_id=0), "w1")  # the lease client gives it back
    w.lease("b", "w2")
    second = w.granted(offset_s=3000.0)  # hour 1's slot still ahead: acted
    _run_out(w, second)
    rows = w.rows()
    assert w.broker.live_at(0) == 0  # nobody held it: no agent-hour to count
    assert [(r["sim_hour"], r["live_users"], r["acted"], r["not_owed"]) for r in rows] == [
        (1, 1, 1, 0), (2, 1, 1, 0), (3, 1, 1, 0),
    ]  # fmt: skip
    assert _gaps(rows) == {}


# ------------------------------------------------------------------ a run that does not add up


def _director(counts: dict[int, dict[str, int]], *, unheld: tuple[int, ...] = ()):
    live = {0: 0, 1: 4, 2: 4}
    book = HourBook(SimpleNamespace(), RunState(), held=live.__getitem__)
    book.agg.merge({str(h): {"counts": c} for h, c in counts.items()})
    for h in unheld:
        book.mark_unheld(h, h)
    return SimpleNamespace(
        stopped_early=False, current_hour=2, sim_end_reached_at=time.time(), agg=book.agg,
        book=book, leases=SimpleNamespace(lost_grants=0, live_at=live.__getitem__),
    )  # fmt: skip


def test_a_run_whose_hours_do_not_add_up_fails_with_the_hours_named(tmp_path, capsys):
    """A run that reached its simulated end with live agent-hours nobody acted, counted
    missed nor named not owed (hour 1: 2 of 4) exits 3 with one ``[FAIL] run:`` line naming
    the hour; the same run adding up passes, and a dead worker's unheld hours (counted
    missed) add up."""
    whole = {0: {}, 1: {"acted": 3, "not_owed": 1}, 2: {"acted": 4}}
    assert finish.unaccounted(_director(whole)) is None
    short = {**whole, 1: {"acted": 2}}  # two agent-hours of hour 1 never reported
    why = (
        "2 live agent-hours were neither acted, counted missed nor not owed (hour 1: 2): "
        "hours.csv's rows do not add up"
    )
    assert finish.unaccounted(_director(short)) == why
    assert finish.unaccounted(_director(short, unheld=(1,))) is None  # a dead worker's: missed
    stopped = _director(short)
    stopped.stopped_early = True  # SIGTERM: its last hours are partial, not a failure
    assert finish.unaccounted(stopped) is None
    # Through the run's end: exit 3, the reason printed and in the manifest.
    d = _director(short)

    class Files(RunFiles):
        def write_final_stats(self, environment):  # Locust's own stats: no locust here
            pass

    files = Files(tmp_path / "run")
    files.write_manifest({"run_id": "r"})
    start = datetime(2026, 1, 10, 9, tzinfo=UTC)
    d.__dict__.update(
        run=SimpleNamespace(run_id="r"), files=files, env=None, engine=None, exit_code=None,
        opts=SimpleNamespace(time_scale=SCALE, ramp=((0, 1.0),), sim_start=start, thresholds=[]),
        rt=SimpleNamespace(clock=None, collector=SimpleNamespace(drain=lambda: {}), sim_end=None,
                           timings=SimpleNamespace(write_run_csv=lambda _d: None),
                           llm_totals=None),
        pool=SimpleNamespace(size=4), users_at_hour={}, settings_cycle_days=7.0,
        checkpoint=lambda reason: None, stop_loops=lambda: None,
    )  # fmt: skip
    assert finish.finish_run(d) == 3
    assert f"[FAIL] run: {why}" in capsys.readouterr().out.splitlines()
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["exit_code"] == 3 and m["failure"] == why
