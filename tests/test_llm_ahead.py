"""A model call is part of a paced session's wait (``harness.agent.llm.PacedAsks``,
``SessionPacer.until``): the question is asked in its own greenlet as soon as it is known
(the basket before the views' dwell), its answer is waited for only until the paced moment
of the session's next action; an answer not there by then is the rules' decision, counted
``late``, the action happens on time, and the late call's tokens still count.

The timing logic on a virtual time line (exact); a whole paced hour (``AgentHours`` with
the real adapter) against the real loopback scripted server (``tests/llm_support.py``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.run import run_agent_hour
from behaviors.synthetic import make_catalog, random_personas, weekly_wallet
from harness.agent.hour import AgentHours
from harness.agent.hourstats import HourCollector
from harness.agent.llm import LATE, LlmAdapter, summarise
from harness.agent.pacing import SessionPacer
from offer_engine.clock import SimClock
from tests.llm_support import COMPLETION_TOKENS, PROMPT_TOKENS, ScriptedLlmServer

SAT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
RUN_SEED = 3
T0 = 1000.0
SCALE = 100.0


# ---------------------------------------------------------------- the timing, exactly
class VirtualTime:
    """A real-time line: sleeping and waiting for an answer advance it; the answer is
    there from ``answer_at`` on."""

    def __init__(self, answer_at: float) -> None:
        self.t = T0
        self.answer_at = answer_at
        self.clock = SimClock(real_t0=T0, sim_t0=SAT, scale=SCALE)

    def sleep(self, s: float) -> None:
        self.t += s

    def ready(self, s: float) -> bool:
        if self.t + s >= self.answer_at:
            self.t = max(self.t, self.answer_at)
            return True
        self.t += s
        return False


def _pacer(vt: VirtualTime, stopping: Any = lambda: False) -> SessionPacer:
    shop = InMemoryShop(make_catalog(), [])
    return SessionPacer(
        shop, slot_time=SAT, clock=lambda: vt.clock, stopping=stopping, sleep=vt.sleep,
        now=lambda: vt.t,
    )  # fmt: skip


def test_an_answer_before_the_moment_is_taken_when_it_comes():
    vt = VirtualTime(answer_at=T0 + 0.05)
    pacer = _pacer(vt)
    assert pacer.until("cart_add", vt.ready) is True  # cart_add: +20 sim s = 0.2 s real
    assert vt.t == pytest.approx(T0 + 0.05)
    assert pacer.waited_s == pytest.approx(0.05)  # waiting, not work


def test_an_answer_after_the_moment_is_given_up_exactly_at_the_moment():
    vt = VirtualTime(answer_at=T0 + 30.0)  # the model takes 30 real s (50 sim min)
    pacer = _pacer(vt)
    assert pacer.until("cart_add", vt.ready) is False
    assert vt.t == pytest.approx(T0 + 20 / SCALE)  # the action's moment, never later
    # then the action itself waits no more: it goes out at its moment
    pacer.cart_add(make_catalog()[0].id, 1)
    assert vt.t == pytest.approx(T0 + 20 / SCALE)


def test_the_moment_counts_from_the_sessions_last_event_and_a_stop_waits_for_nothing():
    vt = VirtualTime(answer_at=T0 + 30.0)
    pacer = _pacer(vt)
    pacer.offset = pacer.reached = 600  # ten simulated minutes into the session
    assert pacer.until("cart_clear", vt.ready) is False
    assert vt.t == pytest.approx(T0 + 605 / SCALE)  # an abandon's clear is +5 s
    stopped = VirtualTime(answer_at=T0 + 30.0)
    assert _pacer(stopped, stopping=lambda: True).until("cart_add", stopped.ready) is False
    assert stopped.t == T0  # a stopping user does not wait for the model


# ---------------------------------------------------------------- a whole paced hour
class TimedShop:
    """An InMemoryShop that notes when each action was sent (real time)."""

    def __init__(self, inner: InMemoryShop) -> None:
        self._inner = inner
        self.sent: list[tuple[str, float]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)

        def call(*a: Any, **kw: Any) -> Any:
            self.sent.append((name, time.time()))
            return target(*a, **kw)

        return call


class Recorder:
    def __init__(self) -> None:
        self.finished: list[dict[str, Any]] = []

    def claim(self, **kw: Any) -> int:
        return 1

    def finish(self, **kw: Any) -> None:
        self.finished.append(kw)

    def quiet(self, **kw: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shopping_hour():
    """(persona, hour) of a session whose rule basket has lines after a dozen views."""
    graph = compile_shopping_graph()
    for p in random_personas(30, seed=11):
        shop = InMemoryShop(make_catalog(), weekly_wallet(p, 0))
        for h in range(168):
            r = run_agent_hour(p, run_seed=RUN_SEED, sim_hour=h, slot_time=SAT + timedelta(hours=h),
                               shop=shop, checkout_key=f"k{h}", graph=graph)  # fmt: skip
            views = sum(e.event_type == "view_product" for e in r.events)
            if r.order is not None and views >= 12:
                return p, h
    raise AssertionError("no shopping hour with a basket found")


def _paced_hour(persona, hour, adapter, scale):
    """Play ``hour`` paced on the real clock at ``scale`` with ``adapter`` for every
    session; (the finished hour, its events' paced moments, the shop's sends, slips)."""
    slot = SAT + timedelta(hours=hour)
    clock = SimClock(real_t0=time.time() + 0.05, sim_t0=slot, scale=scale)
    slips: list[float] = []
    rec = Recorder()
    rt = SimpleNamespace(
        run=SimpleNamespace(seed=RUN_SEED, run_id="r", replay_until_hour=-1), recorder=rec,
        collector=HourCollector(), graph=compile_shopping_graph(), clock=clock,
        measure_graph=lambda ms, exc=None: None, measure_slip=slips.append, llm=adapter,
        opts=SimpleNamespace(llm_share=1.0),
    )  # fmt: skip
    shop = TimedShop(InMemoryShop(make_catalog(), weekly_wallet(persona, 0)))
    hours = AgentHours(rt, 1, persona, shop, pace=True)  # type: ignore[arg-type]
    assert hours.run(hour, slot, 0.0) in ("completed", "abandoned")
    (done,) = rec.finished
    return done["result"], clock, shop, slips


def _rows(result):
    return [(e.event_type, e.sim_time, e.product_id, e.quantity) for e in result.events]


def test_a_slow_answer_is_late_the_session_acts_on_time_and_its_tokens_count(shopping_hour):
    persona, hour = shopping_hour
    rules_only = run_agent_hour(
        persona, run_seed=RUN_SEED, sim_hour=hour, slot_time=SAT + timedelta(hours=hour),
        shop=InMemoryShop(make_catalog(), weekly_wallet(persona, 0)), checkout_key="k",
        graph=compile_shopping_graph(),
    )  # fmt: skip
    slow = 3.0
    with ScriptedLlmServer([f"slow:{slow}"]) as server:
        adapter = LlmAdapter(url=server.url, model="scripted", timeout_s=10, concurrency=1)
        t0 = time.time()
        result, clock, shop, slips = _paced_hour(persona, hour, adapter, scale=1000.0)
        session_s = time.time() - t0
        assert session_s < slow  # the session did not wait for the model
        deadline = time.time() + 10
        while adapter.tokens_in == 0 and time.time() < deadline:  # the late answer lands
            time.sleep(0.05)
        requests, served = len(server.requests), server.tokens_served
    basket = result.steps["add_to_cart"]
    assert (basket["decided_by"], basket["fallback_reason"]) == ("fallback", LATE)
    assert _rows(result) == _rows(rules_only)  # the rules decided: the same session
    # every action went out at its paced moment (the pacer's own slips, in ms) ...
    assert slips and max(slips) < 500  # ms
    # ... the first cart_add too, although the basket question was still unanswered
    first_add = next(e for e in result.events if e.event_type == "cart_add_item")
    moment = clock.real_time_at(datetime.fromisoformat(first_add.sim_time))
    assert first_add.real_time is not None and 0 <= first_add.real_time - moment < 0.5
    assert first_add.real_time < t0 + slow  # before the answer could have come
    # the one call sent (the basket, asked ahead) is late: its tokens count, its answer
    # is discarded; the coupon/checkout questions waited for the busy slot and were
    # given up before being sent (no tokens)
    assert requests == 1 and adapter.calls == 1 and adapter.late_calls == 1
    assert adapter.tokens_in + adapter.tokens_out == served == PROMPT_TOKENS + COMPLETION_TOKENS
    assert adapter.decisions["llm"] == 0
    assert adapter.fallbacks[LATE] == adapter.decisions["fallback"] >= 1
    block = summarise([adapter.to_json()])
    assert block["late_calls"] == 1 and block["calls"] == 1
    assert block["tokens_in"] == PROMPT_TOKENS and block["tokens_out"] == COMPLETION_TOKENS
    assert adapter.cache_hits == 0 and not adapter._cache  # a late answer is not kept


def test_a_fast_answer_asked_before_the_views_decides_the_basket(shopping_hour):
    persona, hour = shopping_hour
    arrived: list[float] = []
    with ScriptedLlmServer(["valid"]) as server:
        original = server._answer

        def note(h, body, mode):  # when each question reached the server
            arrived.append(time.time())
            original(h, body, mode)

        server._answer = note  # type: ignore[method-assign]
        adapter = LlmAdapter(url=server.url, model="scripted", timeout_s=10, concurrency=1)
        result, clock, shop, slips = _paced_hour(persona, hour, adapter, scale=500.0)
        questions = dict(server.questions)
    basket = result.steps["add_to_cart"]
    assert basket["decided_by"] == "llm", basket
    adds = [e for e in result.events if e.event_type == "cart_add_item"]
    assert adds and all(e.payload["decided_by"] == "llm" for e in adds)
    views = [e for e in result.events if e.event_type == "view_product"]
    assert arrived and arrived[0] < views[0].real_time  # asked before the views' dwell
    assert questions["basket"] == 1
    assert slips and max(slips) < 500  # ms: nothing waited past its moment
    # the coupon and checkout questions are known only 5-15 simulated seconds before
    # their action (10-30 ms here): whichever did not make it is late, the rules' choice
    for step in ("choose_coupon", "decide_checkout"):
        got = result.steps.get(step, {})
        assert got.get("decided_by") in (None, "llm") or got.get("fallback_reason") == LATE
    assert adapter.fallbacks[LATE] == adapter.decisions["fallback"]
    assert adapter.decisions["llm"] + adapter.decisions["fallback"] >= sum(questions.values())
