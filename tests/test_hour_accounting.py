"""Nothing waits forever in silence, and every live agent-hour is accounted for — on fake
clocks and fake runners, no Locust run.

- A lease whose grant is dropped or malformed ends after its bound: one log line, a failed
  hour (error kind ``lease``), the master frees the persona it had granted, a late grant is
  ignored; the user asks again and gets one.
- A run that went through its hours without one acted or missed fails (exit 3, a reason).
- A headless run whose pause checkpoint raises still exits 5, the reason naming it.
- Each live agent-hour of the master's lease book is acted, missed or not owed, through a
  ramp whose users join before and after their slots (``acted + missed + not_owed ==
  live_users`` in ``hours.csv``'s rows).
- The hour book records when each hour began and ended; the realized time scale comes
  from those measurements, not from the clock's plan.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import gevent
import pandas as pd
import pytest

import harness.agent.schedule as schedule_mod
import harness.control.lease_broker as broker_mod
from harness.agent.hourstats import HourAggregate, HourCollector
from harness.agent.lease_client import LeaseClient
from harness.agent.schedule import AgentSlots, lease_failed
from harness.config.messages import Grant, LeaseRequest, Release
from harness.config.wire import listener
from harness.control import finish
from harness.control.finish import hours_rows
from harness.control.hour_book import HourBook
from harness.control.lease_broker import LeaseBroker
from harness.control.leases import LeasePool, PoolEntry
from harness.control.run_guard import RunGuard
from harness.control.run_state import RunState
from offer_engine import calendar
from offer_engine.clock import SimClock
from reports.timing import agent_hours_account, time_metrics
from tests.fake_wall import CountingHours, Wall, WallRuntime

SCALE = 1800.0  # one simulated hour = 2 real seconds
START = datetime(2026, 1, 10, 9, tzinfo=UTC)


def _entries(n: int) -> list[PoolEntry]:
    return [PoolEntry(i, 100 + i, f"P{i:03d}", "s", {"persona_id": f"P{i:03d}"}) for i in range(n)]


class _Runner:
    """Locust's runner as the lease client and broker use it: messages recorded, and
    optionally handed on (``deliver``) — or dropped, to inject the fault."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict, str | None]] = []
        self.deliver = None

    def send_message(self, kind, data, client_id=None):
        self.sent.append((kind, data, client_id))
        if self.deliver is not None:
            self.deliver(kind, data, client_id)


# ------------------------------------------------------------------ a lost grant


def _wired(*, drop_grants: bool, malformed: bool = False):
    """A worker's lease client and the master's broker over one in-process 'wire'."""
    runner = _Runner()
    client = LeaseClient(SimpleNamespace(runner=runner), spawn_rate=1000)
    client.answer_timeout_s = 0.3
    broker = LeaseBroker(LeasePool(_entries(3), seed=1), runner=runner)
    on_grant = listener(Grant, lambda g, _node: client.on_grants(g))
    state = {"drop": drop_grants}

    def deliver(kind, data, client_id):
        if kind == "loadsim_lease":
            gevent.spawn(broker.on_lease, LeaseRequest.from_msg(data), "w1")
        elif kind == "loadsim_release":
            gevent.spawn(broker.on_release, Release.from_msg(data), "w1")
        elif kind == "loadsim_grant" and not state["drop"]:
            if malformed:  # what the uuid-grant bug looked like: the checker refuses it
                data = {"grants": [{"req_id": g["req_id"], "entry": {**g["entry"], "agent_id": "x"}}
                                   for g in data["grants"]]}  # fmt: skip
            gevent.spawn(on_grant, msg=SimpleNamespace(data=data, node_id="master"))

    runner.deliver = deliver
    return runner, client, broker, state


@pytest.mark.parametrize("malformed", [False, True], ids=["dropped", "malformed"])
def test_a_lost_grant_ends_after_its_bound_with_one_line_and_the_persona_is_freed(
    malformed, caplog
):
    runner, client, broker, state = _wired(drop_grants=not malformed, malformed=malformed)
    caplog.set_level(logging.WARNING)
    t0 = time.monotonic()
    assert client.lease("r1") is None  # no answer: the wait ended, not forever
    waited = time.monotonic() - t0
    assert 0.3 <= waited < 1.0, waited
    gevent.sleep(0.05)  # the Release reaches the broker
    assert broker.pool.leased == 0 and broker.lost_grants == 1  # the persona is free again
    lines = [
        r.getMessage() for r in caplog.records if "lease request r1 got no answer" in r.getMessage()
    ]
    assert len(lines) == 1
    assert any("grant never arrived" in r.getMessage() for r in caplog.records)
    # A second timeout is counted, not logged again.
    assert client.lease("r2") is None
    gevent.sleep(0.05)
    assert client.timeouts == 2 and broker.lost_grants == 2
    assert sum("got no answer" in r.getMessage() for r in caplog.records) == 1
    # A wire that delivers: the next request gets a persona, the pool holds exactly one.
    _, client2, broker2, _ = _wired(drop_grants=False)
    entry = client2.lease("r3")
    assert entry is not None and entry["agent_id"] in {0, 1, 2}
    assert entry["granted_at"] is not None and broker2.pool.leased == 1


def test_a_grant_arriving_after_its_request_was_given_up_is_ignored():
    runner = _Runner()
    client = LeaseClient(SimpleNamespace(runner=runner), spawn_rate=1000)
    client.answer_timeout_s = 0.15
    assert client.lease("late") is None
    assert runner.sent[-1] == ("loadsim_release", {"req_id": "late"}, None)
    entry = {"agent_id": 7, "user_id": 107, "persona": {"persona_id": "P007"}}
    client.on_grants(Grant.from_msg({"grants": [{"req_id": "late", "entry": entry}]}))
    # No Release(agent_id): the master freed it on the Release(req_id) (it may already
    # have granted the persona again, to another user of this worker).
    assert runner.sent[-1] == ("loadsim_release", {"req_id": "late"}, None)


def test_a_queued_request_given_up_is_dropped_not_granted():
    runner = _Runner()
    broker = LeaseBroker(LeasePool(_entries(1), seed=1), runner=runner)
    broker.on_lease(LeaseRequest(req_ids=["a", "b"]), "w1")  # b waits: one persona
    broker.on_release(Release(req_id="b"), "w1")
    assert broker.lost_grants == 0 and list(broker.pool.queue) == []
    broker.on_release(Release(agent_id=0), "w1")
    assert broker.pool.leased == 0  # nobody was waiting any more


def test_a_user_whose_lease_times_out_counts_a_failed_hour():
    collector = HourCollector()
    clock = SimClock.start(sim_start=START, scale=SCALE)
    rt = SimpleNamespace(clock=clock, sim_start=START, sim_end=START + timedelta(hours=8),
                         collector=collector, hour_of=lambda t: calendar.hour_of(START, t))  # fmt: skip
    lease_failed(rt)
    counts = collector.drain()
    ((hour, data),) = counts.items()
    assert hour == "0" and data["counts"]["failed"] == 1 and data["errors"] == {"lease": 1}
    assert data["counts"]["acted"] == 0  # a failed lease is not an acted hour


# ------------------------------------------------------------------ a run that did nothing


def _finished_director(*, acted: int, lease_errors: int = 0, lost: int = 0, not_owed: int = 0):
    agg = HourAggregate()
    for h in range(3):
        counts = {"acted": acted, "failed": lease_errors, "not_owed": not_owed}
        agg.merge({str(h): {"counts": counts,
                            "errors": {"lease": lease_errors} if lease_errors else {}}})  # fmt: skip
    return SimpleNamespace(
        stopped_early=False, current_hour=2, agg=agg,
        leases=SimpleNamespace(lost_grants=lost, live_at=lambda h: 0),
    )  # fmt: skip


def test_a_run_that_acted_and_missed_nothing_fails_with_a_reason():
    why = finish.nothing_done(_finished_director(acted=0, lease_errors=5, lost=5))
    assert why == (
        "no agent-hour was acted or counted missed in 3 simulated hour(s): 15 lease requests "
        "got no answer in time and 5 grants never reached their worker (dropped or malformed "
        "on the way — see the log)"
    )
    assert finish.nothing_done(_finished_director(acted=1)) is None
    # A resumed segment whose hours were all done before the kill: held, not owed.
    assert finish.nothing_done(_finished_director(acted=0, not_owed=4)) is None
    stopped = _finished_director(acted=0)
    stopped.stopped_early = True  # SIGTERM before any slot: not a failure of the run
    assert finish.nothing_done(stopped) is None


# ------------------------------------------------------------------ a pause that raises


def test_a_headless_pause_whose_checkpoint_raises_still_exits_5(monkeypatch):
    quits = []
    events = []
    rt = SimpleNamespace(clock=SimClock.start(sim_start=START, scale=SCALE), worker_name="master",
                         counters=SimpleNamespace(consecutive_unavailable=0, throttled=0))  # fmt: skip

    def checkpoint(**_kw):
        raise OSError("No space left on device")

    files = SimpleNamespace(log_event=lambda kind, **kw: events.append((kind, kw)))
    state = RunState(run=SimpleNamespace(run_id="r"), files=files)

    def guard_over(rt, state):
        return RunGuard(rt, state, book=SimpleNamespace(clock_hour=lambda: 3),
                        broadcast=lambda: None, checkpoint=checkpoint, headless=True,
                        quit=lambda: quits.append(1))  # fmt: skip

    guard = guard_over(rt, state)
    guard.halt("target unavailable (test)")
    gevent.sleep(0)
    assert rt.clock.paused  # the clock stopped first
    assert state.exit_code == 5 and quits == [1]  # and the headless run still ends
    (stop,) = [kw for kind, kw in events if kind == "headless_stop"]
    assert stop["reason"] == (
        "target unavailable (test); the pause checkpoint failed (OSError: No space left on device)"
    )
    # Even a pause that raises outside its steps ends the run.
    state2 = RunState(run=state.run, files=files)
    rt2 = SimpleNamespace(**{**vars(rt), "clock": SimClock.start(sim_start=START, scale=SCALE)})
    guard2 = guard_over(rt2, state2)
    monkeypatch.setattr(guard2, "pause", lambda _msg: (_ for _ in ()).throw(RuntimeError("boom")))
    guard2.halt("circuit breaker")
    gevent.sleep(0)
    assert state2.exit_code == 5 and quits == [1, 1]


# ------------------------------------------------------------------ the agent-hours add up


def test_every_live_agent_hour_of_a_ramp_is_acted_missed_or_not_owed(monkeypatch):
    """A 6-hour ramp (4, 10, 16, 20 agents): users join at seeded instants, before and after
    their slots; some are stopped mid-run (a hand-over). The agents count into a real
    collector; the broker's lease book counts live agent-hours; ``hours.csv``'s rows add up."""
    import random

    hours = 6
    wall = Wall()
    monkeypatch.setattr(schedule_mod, "time", wall)
    monkeypatch.setattr(broker_mod, "time", wall)
    rt = WallRuntime(wall, START, SCALE, hours)
    runner = _Runner()
    broker = LeaseBroker(LeasePool(_entries(40), seed=3), runner=runner, rt=rt)
    rng = random.Random(7)
    hour_s = 3600 / SCALE
    # (real time the user starts, real time it stops or None)
    joins = [(rng.uniform(0, 0.3), None) for _ in range(4)]
    joins += [(hour_s * (1 + rng.random()), None) for _ in range(6)]
    joins += [(hour_s * (2 + rng.random()), None) for _ in range(6)]
    joins += [(hour_s * (3 + rng.random()), hour_s * (4 + rng.random())) for _ in range(4)]
    t0 = wall.t
    events = sorted([(t0 + t, "join", i) for i, (t, _) in enumerate(joins)]
                    + [(t0 + s, "stop", i) for i, (_, s) in enumerate(joins) if s is not None])  # fmt: skip
    by_user: dict[int, tuple[AgentSlots, int]] = {}
    end_real = rt.clock.real_time_at(rt.sim_end)
    tick = 0.01
    while wall.t < end_real + 4.0:
        while events and events[0][0] <= wall.t:
            _, kind, i = events.pop(0)
            if kind == "join":
                broker.on_lease(LeaseRequest(req_ids=[f"u{i}"]), "local")
                grant = Grant.from_msg(runner.sent[-1][1])
                item = grant.grants[0]
                wall.t += 0.004  # the grant's trip to the worker
                start = rt.clock.now(real=grant.at)
                offset = rng.uniform(0, 3600)
                by_user[i] = (AgentSlots(rt, CountingHours(rt), offset, start), item.entry.agent_id)
            else:
                slots, agent = by_user.pop(i)
                hour = slots.at_stop()  # the hour it stopped in: where the lease ends
                broker.on_release(Release(agent_id=agent, hour=hour), "local")
        for slots, _ in by_user.values():
            slots.step()
        wall.t += tick
    for slots, _ in by_user.values():
        slots.at_stop()
    agg = HourAggregate()
    agg.merge(rt.collector.drain())
    director = SimpleNamespace(
        opts=SimpleNamespace(time_scale=SCALE, ramp=((0, 1.0),), sim_start=START),
        rt=SimpleNamespace(clock=None), files=None, agg=agg, leases=broker, users_at_hour={},
        pool=broker.pool, settings_cycle_days=7.0,
    )  # fmt: skip
    director.book = HourBook(director.rt, RunState(), held=broker.live_at)
    rows = hours_rows(director)
    assert [r["sim_hour"] for r in rows] == list(range(hours))
    for r in rows:
        assert r["acted"] + r["missed"] + r["not_owed"] == r["live_users"], r
    assert sum(r["not_owed"] for r in rows) > 0  # the ramp's late joiners are named
    assert [r["live_users"] for r in rows][:3] == [4, 10, 16]
    account = agent_hours_account(pd.DataFrame(rows))
    assert account is not None and account["adds_up"] and account["off_by_hour"] == {}
    # Without the not_owed column the same rows would not add up (the check can fail).
    broken = pd.DataFrame(rows).assign(not_owed=0)
    assert not agent_hours_account(broken)["adds_up"]


def test_an_hour_no_process_counted_in_still_has_its_row(monkeypatch, tmp_path):
    """The master's hour book through 3 two-second hours on a fake wall, as the master runs
    it: a step every 0.25 s, each reported hour appended to ``hours.csv``, the end rewriting
    the file from the merged counters. The workers' users join late — their first grants
    come in hour 1 — so hour 0 ends with no lease, no report, no counter: it still has its
    row (zeros, 0 live users) in the final file, and every row adds up."""
    import csv

    import harness.control.hour_book as book_mod
    from harness.outputs.run_files import RunFiles

    hours = 3
    wall = Wall()
    monkeypatch.setattr(book_mod, "time", wall)
    monkeypatch.setattr(broker_mod, "time", wall)
    rt = WallRuntime(wall, START, SCALE, hours)
    rt.opts = SimpleNamespace(sim_start=START, time_scale=SCALE, ramp=((0, 1.0),))
    broker = LeaseBroker(LeasePool(_entries(4), seed=3), runner=_Runner(), rt=rt)
    files = RunFiles(tmp_path / "run")
    director = SimpleNamespace(
        opts=rt.opts, rt=rt, files=files, leases=broker, pool=broker.pool,
        settings_cycle_days=7.0,
    )  # fmt: skip
    book = HourBook(rt, RunState(files=files), held=broker.live_at,
                    on_written=lambda h: finish.append_hour(director, h))  # fmt: skip
    director.book, director.agg, director.users_at_hour = book, book.agg, book.users_at_hour
    hour_s = 3600 / SCALE
    end_real = rt.clock.real_time_at(rt.sim_end)
    joined, counted = False, set()
    while wall.t < end_real + 5.0:
        hour = book.clock_hour()
        if not joined and wall.t >= rt.clock.real_time_at(START) + 1.25 * hour_s:
            joined = True  # the workers' 4 users are granted a quarter into hour 1
            broker.on_lease(LeaseRequest(req_ids=[f"u{i}" for i in range(4)]), "w1")
        if joined and hour not in counted and wall.t < end_real:
            counted.add(hour)  # a worker's counts: in hour 1 one user joined after its slot
            late = 1 if hour == 1 else 0
            for i in range(4):
                rt.collector.count(hour, ("not_owed",) if i < late else ("acted", "none"))
        book.step()
        wall.t += 0.25
    assert book.reported_hour == hours - 1  # every hour was reported during the run
    files.write_hours_csv(hours_rows(director))  # the run's end: the final rows
    with open(files.dir / "hours.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["sim_hour"]) for r in rows] == list(range(hours))
    got = [tuple(int(r[k]) for k in ("acted", "missed", "not_owed", "live_users")) for r in rows]
    assert got == [(0, 0, 0, 0), (3, 0, 1, 4), (4, 0, 0, 4)]


# ------------------------------------------------------------------ measured real time


def test_the_realized_scale_comes_from_when_hours_really_began_and_ended():
    book = HourBook(SimpleNamespace(), RunState())
    t = 1_000_000.0
    book.note_hours(-1, 0, t)  # the loop sees hour 0 begin
    book.note_hours(0, 1, t + 2.0)
    book.note_hours(1, 2, t + 4.0 + 3.0)  # hour 1 took 5 s: a 3 s pause in it
    book.ended_at[2] = t + 9.0
    assert book.began_at == {0: t, 1: t + 2.0, 2: t + 7.0}
    assert book.ended_at == {0: t + 2.0, 1: t + 7.0, 2: t + 9.0}

    def iso(x):
        return datetime.fromtimestamp(x, UTC).isoformat()

    plan = START.timestamp()
    hours = pd.DataFrame({
        "sim_hour": [0, 1, 2],
        "sim_time": pd.to_datetime([iso(plan + 3600 * h) for h in range(3)], utc=True),
        "real_time": pd.to_datetime([iso(t + 2.0 * h) for h in range(3)], utc=True),  # the plan
        "real_start": [iso(book.began_at[h]) for h in range(3)],
        "real_end": [iso(book.ended_at[h]) for h in range(3)],
        "acted": [1, 1, 1], "missed": [0] * 3, "failed": [0] * 3, "live_users": [1] * 3,
        "not_owed": [0] * 3, "slip_p99_s": [None] * 3, "segment": [1, 1, 1],
    })  # fmt: skip
    tm = time_metrics(manifest={"time_scale": SCALE}, hours=hours, agent_hours=None,
                      history_elapsed_s=None, db_run=None)  # fmt: skip
    assert tm["realized_time_scale"] == pytest.approx(3 * 3600 / 9.0, rel=1e-3)  # 1200x
    assert tm["real_seconds"] == pytest.approx(9.0)
    assert tm["realized_time_scale_source"] == "hours.csv real_start/real_end (measured)"
    # The clock's plan alone would have said the configured scale.
    planned = time_metrics(manifest={"time_scale": SCALE}, hours=hours.drop(columns=["real_start", "real_end"]),
                           agent_hours=None, history_elapsed_s=None, db_run=None)  # fmt: skip
    assert planned["realized_time_scale"] == pytest.approx(SCALE, rel=1e-3)
