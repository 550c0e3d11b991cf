"""A stopping process does not wait for rate-limit tokens: after ``quit``, users
queued behind a throttled bucket end at once — their requests are not sent and their hours
end as a user killed at the stop timeout ends — instead of holding the process for the
whole stop timeout. The director's own waits (standalone) are spared."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gevent
import pytest
from gevent.pool import Group

from behaviors.memory_shop import InMemoryShop
from behaviors.synthetic import make_catalog, random_personas, weekly_wallet
from harness.agent.hour import AgentHours
from harness.agent.rate_limit import RateLimitInterrupted, TokenBucket
from harness.agent.runtime import ProcessRuntime
from harness.config.options import HarnessOptions
from tests.test_agent_hour import Log, _rt

ROOT = Path(__file__).resolve().parent.parent


def _throttled(rate: float = 0.5) -> TokenBucket:
    bucket = TokenBucket(0.0)
    bucket.set_rate(rate, burst=1.0)  # empty: the first request waits 1/rate s
    return bucket


def _wait_all(bucket: TokenBucket, n: int, group: Any = gevent) -> list[Any]:
    return [group.spawn(bucket.acquire) for _ in range(n)]


def test_interrupt_ends_every_queued_wait_at_once_and_sends_nothing():
    bucket = _throttled()
    waiters = _wait_all(bucket, 20)  # ~40 s of waiting at 0.5 req/s
    gevent.sleep(0.1)
    t0 = time.monotonic()
    bucket.interrupt()
    gevent.joinall(waiters, timeout=2)
    took = time.monotonic() - t0
    assert all(w.ready() for w in waiters) and took < 0.5, took
    assert all(isinstance(w.value, RateLimitInterrupted) for w in waiters)  # GreenletExit
    assert bucket.granted == 0
    with pytest.raises(RateLimitInterrupted):  # a later request that would wait: refused
        bucket.acquire()
    bucket.rearm()  # a new start honours waits again
    assert bucket.acquire() > 0.5 and bucket.granted == 1


def test_a_request_whose_token_is_there_still_goes():
    bucket = TokenBucket(0.0)
    bucket.set_rate(10.0, burst=5.0)
    time.sleep(0.6)  # the bucket fills up
    bucket.interrupt()
    assert max(bucket.acquire() for _ in range(3)) < 0.01 and bucket.granted == 3


def test_only_the_chosen_waits_end():
    """Standalone: the users' waits end, the director's control traffic keeps its turn."""
    bucket = _throttled(rate=4.0)
    users = Group()
    user_waits = _wait_all(bucket, 5, users)
    director = gevent.spawn(bucket.acquire)
    gevent.sleep(0.05)
    bucket.interrupt(lambda g: g in users)
    gevent.joinall(user_waits, timeout=1)
    assert all(isinstance(w.value, RateLimitInterrupted) for w in user_waits)
    assert director.get(timeout=3) >= 0.0 and bucket.granted == 1


class _Hooks(SimpleNamespace):
    def __init__(self) -> None:
        super().__init__(listeners=[])

    def add_listener(self, fn: Any) -> None:
        self.listeners.append(fn)

    def fire(self, **kw: Any) -> None:
        for fn in self.listeners:
            fn(**kw)


@pytest.mark.parametrize("role", ["worker", "local"])
def test_the_runtime_ends_user_waits_when_the_run_stops(role):
    users = Group()
    events = SimpleNamespace(test_stopping=_Hooks(), test_start=_Hooks())
    env = SimpleNamespace(events=events, runner=SimpleNamespace(user_greenlets=users),
                          parsed_options=None)  # fmt: skip
    rt = ProcessRuntime(env, HarnessOptions(), role)
    rt.bucket.set_rate(2.0, burst=1.0)
    user_waits = _wait_all(rt.bucket, 4, users)
    other = gevent.spawn(rt.bucket.acquire)  # standalone: the director's greenlet
    gevent.sleep(0.05)
    events.test_stopping.fire(environment=env)
    gevent.joinall(user_waits, timeout=1)
    assert all(isinstance(w.value, RateLimitInterrupted) for w in user_waits)
    gevent.joinall([other], timeout=2)
    spared = other.successful() and not isinstance(other.value, RateLimitInterrupted)
    assert spared == (role == "local"), other.value
    events.test_start.fire(environment=env)
    assert rt.bucket.acquire() >= 0.0  # re-armed


class _BucketShop:
    """An in-memory shop whose every action first takes a token, like ``HttpShop``."""

    def __init__(self, inner: InMemoryShop, bucket: TokenBucket, log: Log) -> None:
        self._inner, self._bucket, self._log = inner, bucket, log

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)

        def call(*a: Any, **kw: Any) -> Any:
            self._bucket.acquire()
            self._log.append(("shop", name))
            return target(*a, **kw)

        return call


def test_an_interrupted_hour_is_left_as_a_killed_users_hour():
    """Through the real graph: the hour is claimed, no request goes, nothing is finished
    or counted by the hour itself — as for a user killed at the stop timeout (the user's
    schedule then counts it, below; the database's pending row is marked abandoned,
    ``run_stopped``, at the run's end); no failed request, no traceback."""
    shopper = max(random_personas(30, seed=11), key=lambda p: p.shopping_frequency)
    log = Log()
    rt = _rt(log)
    bucket = _throttled(rate=0.2)
    shop = _BucketShop(InMemoryShop(make_catalog(), weekly_wallet(shopper, 0)), bucket, log)
    agent = AgentHours(rt, agent_id=7, persona=shopper, shop=shop)
    start = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
    hour = next(
        h for h in range(200)
        if _decides_to_act(shopper, h, start + timedelta(hours=h))
    )  # fmt: skip
    g = gevent.spawn(agent.run, hour, start + timedelta(hours=hour), 0.0)
    gevent.sleep(0.2)
    bucket.interrupt()
    g.join(timeout=2)
    assert g.ready() and isinstance(g.value, RateLimitInterrupted)
    assert log == [("claim", log[0][1])]  # claimed, and not one request sent
    assert rt.recorder.finished == [] and rt.collector.drain() == {}


class _ThrottledHours:
    """An agent's hours whose session waits for a token first, like ``HttpShop``'s."""

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket, self.agent_id, self.missed_hours = bucket, 7, []

    def run(self, hour: int, slot: datetime, slip: float | None) -> str:
        self.bucket.acquire()
        return "completed"

    def missed(self, hour: int) -> None:
        self.missed_hours.append(hour)


def test_after_the_simulated_end_the_hour_the_stop_cut_is_counted_missed():
    """The user's schedule (``harness.agent.schedule``) counts the interrupted hour as it
    counts an hour a kill cut: missed, once the clock reached the simulated end."""
    from harness.agent.schedule import AgentSlots
    from offer_engine import calendar

    start = datetime(2026, 1, 10, tzinfo=UTC)
    now = [start]
    clock = SimpleNamespace(now=lambda: now[0], paused=False,
                            real_time_at=lambda t: time.time() + 1000)  # fmt: skip
    rt = SimpleNamespace(
        clock=clock, sim_start=start, sim_end=start + timedelta(hours=1),
        opts=SimpleNamespace(drain_seconds=30.0),
        slot_time=lambda h, off: calendar.slot_time(start, h, off),
        hour_of=lambda t: calendar.hour_of(start, t),
    )  # fmt: skip
    bucket = _throttled(rate=0.2)
    hours = _ThrottledHours(bucket)
    slots = AgentSlots(rt, hours, 0.0, start)
    g = gevent.spawn(slots.step)
    gevent.sleep(0.05)
    bucket.interrupt()  # the run stops at its simulated end
    g.join(timeout=2)
    assert isinstance(g.value, RateLimitInterrupted) and bucket.granted == 0
    now[0] = rt.sim_end
    slots.at_stop()  # Locust runs the user's on_stop after the GreenletExit
    assert hours.missed_hours == [0]


def _decides_to_act(persona: Any, hour: int, slot: datetime) -> bool:
    from behaviors.run import decide_hour

    return decide_hour(persona, run_seed=3, sim_hour=hour, slot_time=slot,
                       relevant_coupons=0).kind != "none"  # fmt: skip


_QUIT = r"""
import json, time
import gevent
from locust import User, constant, task
from locust.env import Environment
from harness.agent.runtime import ProcessRuntime, attach_runtime
from harness.config.options import HarnessOptions

sent = []

class Throttled(User):
    wait_time = constant(0)

    @task
    def request(self):
        rt.bucket.acquire()
        sent.append(1)

env = Environment(user_classes=[Throttled], stop_timeout=10)
runner = env.create_local_runner()
rt = ProcessRuntime(env, HarnessOptions(), "local")
attach_runtime(env, rt)
rt.bucket.set_share(0.5)  # 20 users queue for ~40 s of tokens
runner.start(20, spawn_rate=100)
gevent.sleep(1.0)
before = len(sent)
t0 = time.monotonic()
runner.quit()
print(json.dumps({"quit_s": time.monotonic() - t0, "sent_after_quit": len(sent) - before}))
"""


def test_quit_does_not_wait_the_stop_timeout_for_users_blocked_on_the_rate_limit():
    """A real LocalRunner, its own process (Locust monkey-patches): 20 users blocked on a
    0.5 req/s bucket, ``stop_timeout`` 10 s. ``quit`` takes well under a second."""
    r = subprocess.run([sys.executable, "-c", _QUIT], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"[figure] quit with 20 users blocked on the rate limit: {out['quit_s']:.2f} s")
    assert out["quit_s"] < 3.0 and out["sent_after_quit"] <= 1, out
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
