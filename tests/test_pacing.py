"""Pacing a session in simulated time, on a virtual real-time line: each action
waits for its event's moment and is sent with that time; events keep exactly the offline
values; a paused clock holds the session mid-way; a stopping user finishes unpaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.run import decide_hour, play_hour, run_agent_hour
from behaviors.synthetic import make_catalog, random_personas, weekly_wallet
from harness.agent.pacing import SessionPacer
from offer_engine.clock import SimClock

SAT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
SCALE = 100.0
T0 = 1000.0  # virtual epoch seconds at the slot


class VirtualTime:
    """A real-time line the pacer sleeps on (sleep advances it), with a clock to match."""

    def __init__(self) -> None:
        self.t = T0
        self.clock = SimClock(real_t0=T0, sim_t0=SAT, scale=SCALE)
        self.on_sleep: Any = None
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s
        if self.on_sleep is not None:
            self.on_sleep(self)


class AtShop:
    """An InMemoryShop with HttpShop's ``at``: logs (action, at, virtual time) per call."""

    def __init__(self, inner: InMemoryShop, vt: VirtualTime) -> None:
        self._inner, self._vt = inner, vt
        self.at: datetime | None = None
        self.calls: list[tuple[str, datetime | None, float, bool]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)

        def call(*a: Any, **kw: Any) -> Any:
            self.calls.append((name, self.at, self._vt.t, self._vt.clock.paused))
            return target(*a, **kw)

        return call


@pytest.fixture(scope="module")
def sessions():
    """(persona, hour, slot) of a few shopping hours with a checkout, found offline."""
    graph = compile_shopping_graph()
    found = []
    for p in random_personas(30, seed=11):
        shop = InMemoryShop(make_catalog(), weekly_wallet(p, 0))
        for h in range(168):
            slot = SAT + timedelta(hours=h, minutes=17)
            r = run_agent_hour(p, run_seed=5, sim_hour=h, slot_time=slot, shop=shop,
                               checkout_key=f"k{h}", graph=graph)  # fmt: skip
            if r.order is not None and len(r.events) > 6:
                found.append((p, h, slot))
                break
        if len(found) >= 3:
            return found
    raise AssertionError("no completed sessions found")


def _play(persona, h, slot, vt=None, stopping=lambda: False, slips=None):
    graph = compile_shopping_graph()
    hd = decide_hour(persona, run_seed=5, sim_hour=h, slot_time=slot)
    shop = InMemoryShop(make_catalog(), weekly_wallet(persona, 0))
    if vt is None:
        return play_hour(hd, shop=shop, checkout_key=f"k{h}", graph=graph), None, None
    vt.clock = SimClock(real_t0=T0, sim_t0=slot, scale=SCALE)
    at_shop = AtShop(shop, vt)
    pacer = SessionPacer(
        at_shop, slot_time=slot, clock=lambda: vt.clock, stopping=stopping,
        on_slip=(slips.append if slips is not None else None), sleep=vt.sleep, now=vt.now,
    )  # fmt: skip
    result = play_hour(hd, shop=pacer, pace=pacer, checkout_key=f"k{h}", graph=graph)
    pacer.close()
    return result, at_shop, pacer


def _rows(result):
    return [(e.event_type, e.sim_time, e.product_id, e.quantity, e.price_cents, e.payload)
            for e in result.events]  # fmt: skip


def test_paced_events_equal_the_unpaced_ones_and_happen_at_their_moment(sessions):
    for persona, h, slot in sessions:
        plain, _, _ = _play(persona, h, slot)
        vt, slips = VirtualTime(), []
        paced, shop, pacer = _play(persona, h, slot, vt, slips=slips)
        assert _rows(paced) == _rows(plain)  # pacing changes when, never what
        assert all(e.real_time is None for e in plain.events)
        for e in paced.events:  # real_time gaps × scale == sim_time gaps (virtual: exact)
            sim_offset = (datetime.fromisoformat(e.sim_time) - slot).total_seconds()
            assert e.real_time is not None
            assert (e.real_time - T0) * SCALE == pytest.approx(sim_offset, abs=1e-6)
        # Each request carries its event's simulated time and left at that moment.
        by_type = {"cart_add": "cart_add_item", "checkout": "checkout_complete"}
        for action, event_type in by_type.items():
            sent = [(at, t) for name, at, t, _ in shop.calls if name == action]
            times = [
                datetime.fromisoformat(e.sim_time)
                for e in paced.events
                if e.event_type == event_type
            ]
            assert [at for at, _ in sent] == times
            assert [(t - T0) * SCALE for _, t in sent] == pytest.approx(
                [(x - slot).total_seconds() for x in times]
            )
        assert shop.at is None  # closed: the next hour reads the clock again
        span = (datetime.fromisoformat(paced.events[-1].sim_time) - slot).total_seconds()
        assert pacer.waited_s == pytest.approx(span / SCALE)
        assert slips and max(slips) == pytest.approx(0.0, abs=1e-9)


def test_a_paused_clock_holds_the_session_until_resume(sessions):
    persona, h, slot = sessions[0]
    plain, _, _ = _play(persona, h, slot)
    end = (datetime.fromisoformat(plain.events[-1].sim_time) - slot).total_seconds() / SCALE
    pause_at, pause_for = T0 + end / 3, 50.0

    def flip(vt: VirtualTime) -> None:
        if (
            not vt.clock.paused
            and pause_at <= vt.t < pause_at + pause_for
            and not hasattr(vt, "done")
        ):
            vt.clock = vt.clock.pause(real=pause_at)
            vt.t = max(vt.t, pause_at)
        elif vt.clock.paused and vt.t >= pause_at + pause_for:
            vt.clock = vt.clock.resume(real=vt.t)
            vt.done = True

    vt = VirtualTime()
    vt.on_sleep = flip
    paced, shop, _ = _play(persona, h, slot, vt)
    assert _rows(paced) == _rows(plain)
    assert getattr(vt, "done", False)
    assert not any(paused for *_, paused in shop.calls)  # nothing sent while paused
    inside = [t for _, _, t, _ in shop.calls if pause_at < t < pause_at + pause_for]
    assert inside == []
    assert any(t >= pause_at + pause_for for _, _, t, _ in shop.calls)  # the rest after resume
    assert vt.t == pytest.approx(T0 + end + pause_for, abs=1.5)  # the pause added its length


def test_a_stopping_user_finishes_its_session_unpaced(sessions):
    persona, h, slot = sessions[0]
    plain, _, _ = _play(persona, h, slot)
    vt = VirtualTime()
    paced, shop, pacer = _play(persona, h, slot, vt, stopping=lambda: vt.t > T0 + 1.0)
    assert _rows(paced) == _rows(plain)  # whole, with its order
    assert pacer.unpaced and paced.order is not None
    assert vt.t <= T0 + 1.0 + 1.0  # stopped waiting within one step
    # The requests after the stop still carry their events' simulated times.
    checkout_at = [at for name, at, _, _ in shop.calls if name == "checkout"]
    done = [e.sim_time for e in paced.events if e.event_type == "checkout_complete"]
    assert [a.isoformat() for a in checkout_at] == done
