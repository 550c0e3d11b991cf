"""The agent's hour as one unit (``harness.agent.hour``): decide → quiet, or claim
(with the real decision, before anything reaches the shop) → play → finish → count, the
outcome mapped once — and the same events as ``run_agent_hour`` for the same seed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.run import run_agent_hour
from behaviors.shop import ShopUnavailable
from behaviors.synthetic import make_catalog, random_personas, weekly_wallet
from harness.agent.hour import OUTCOMES, AgentHours, counters_of, ending_of
from harness.agent.hourstats import HourCollector
from harness.agent.wallet_view import active_at, relevant_expiries

SAT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
HOURS = 120


class Log(list):
    """Everything the hour did, in order (recorder calls and shop actions)."""


class FakeRecorder:
    def __init__(self, log: Log, *, claimed: bool = True) -> None:
        self.log, self.claimed, self.finished = log, claimed, []
        self.quiet_rows: list[dict[str, Any]] = []

    def claim(self, **kw: Any) -> int | None:
        self.log.append(("claim", kw["decision"]))
        return kw["sim_hour"] + 1 if self.claimed else None

    def finish(self, **kw: Any) -> None:
        self.log.append(("finish", kw["outcome"]))
        self.finished.append(kw)

    def quiet(self, **kw: Any) -> None:
        self.quiet_rows.append(kw)


class LoggingShop:
    """An InMemoryShop that logs each action (and can fail them)."""

    def __init__(self, inner: InMemoryShop, log: Log, fail: BaseException | None = None):
        self._inner, self._log, self._fail = inner, log, fail

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)

        def call(*a: Any, **kw: Any) -> Any:
            self._log.append(("shop", name))
            if self._fail is not None and name not in ("categories", "cart_clear"):
                raise self._fail
            return target(*a, **kw)

        return call


def _rt(log: Log, **kw: Any) -> SimpleNamespace:
    return SimpleNamespace(
        run=SimpleNamespace(seed=3, run_id="r", replay_until_hour=-1),
        recorder=FakeRecorder(log, **kw), collector=HourCollector(),
        graph=compile_shopping_graph(), measure_graph=lambda ms, exc=None: None, llm=None,
    )  # fmt: skip


@pytest.fixture(scope="module")
def shopper():
    personas = random_personas(30, seed=11)
    return max(personas, key=lambda p: p.shopping_frequency)


def test_same_events_as_run_agent_hour_and_claim_before_any_action(shopper):
    products = make_catalog()
    log = Log()
    rt = _rt(log)
    agent = AgentHours(
        rt, agent_id=7, persona=shopper,
        shop=LoggingShop(InMemoryShop(products, weekly_wallet(shopper, 0)), log),
    )  # fmt: skip
    ref_shop = InMemoryShop(products, weekly_wallet(shopper, 0))
    expiries: list[datetime] = []
    played = 0
    for h in range(HOURS):
        slot = SAT + timedelta(hours=h, minutes=17)
        ref = run_agent_hour(
            shopper, run_seed=3, sim_hour=h, slot_time=slot, shop=ref_shop,
            checkout_key=f"r:7:{h}", relevant_coupons=active_at(expiries, slot),
            graph=rt.graph,
        )  # fmt: skip
        if ref.wallet_seen is not None:
            expiries = relevant_expiries(shopper, ref.wallet_seen)
        log.clear()
        outcome = agent.run(h, slot, 0.01)
        assert outcome == ref.outcome
        if ref.decision == "none":
            assert log == [] and rt.recorder.quiet_rows[-1]["decision"] == "none"
            continue
        played += 1
        # Claimed first, with the decision the graph then plays; finished last, once.
        assert log[0] == ("claim", ref.decision) and log[-1] == (
            "finish",
            OUTCOMES[outcome].hour_outcome,
        )
        assert [x for x in log if x[0] != "shop"] == [log[0], log[-1]]
        done = rt.recorder.finished[-1]
        assert [
            (e.event_type, e.sim_time, e.product_id, e.payload) for e in done["result"].events
        ] == [(e.event_type, e.sim_time, e.product_id, e.payload) for e in ref.events]
    assert played >= 3
    acted = sum(b.counts["acted"] for b in rt.collector._hours.values())
    assert acted == HOURS


def test_an_hour_claimed_elsewhere_sends_nothing_and_counts_nothing(shopper):
    log = Log()
    rt = _rt(log, claimed=False)
    agent = AgentHours(
        rt, agent_id=7, persona=shopper,
        shop=LoggingShop(InMemoryShop(make_catalog(), weekly_wallet(shopper, 0)), log),
    )  # fmt: skip
    outcomes = {agent.run(h, SAT + timedelta(hours=h), 0.0) for h in range(HOURS)}
    assert "skipped" in outcomes
    assert all(kind == "claim" for kind, _ in log)  # not one shop action
    assert rt.recorder.finished == []
    assert all(
        b.counts["shopped"] == 0 and b.counts["idle"] == 0 for b in rt.collector._hours.values()
    )


@pytest.mark.parametrize(
    ("fail", "kind"),
    [(ShopUnavailable("down", kind="api_5xx"), "api_5xx"), (RuntimeError("bug"), "harness")],
)
def test_a_failed_hour_is_finished_and_counted_once_as_failed(shopper, fail, kind):
    log = Log()
    rt = _rt(log)
    agent = AgentHours(
        rt, agent_id=7, persona=shopper,
        shop=LoggingShop(InMemoryShop(make_catalog(), weekly_wallet(shopper, 0)), log, fail),
    )  # fmt: skip
    outcomes = [agent.run(h, SAT + timedelta(hours=h), 0.0) for h in range(HOURS)]
    played = [o for o in outcomes if o != "none"]
    assert played and set(played) == {"failed"}
    for row in rt.recorder.finished:
        assert (row["status"], row["outcome"], row["error_kind"]) == ("abandoned", "failed", kind)
        assert row["reason"]
    failed = sum(b.counts["failed"] for b in rt.collector._hours.values())
    errors = sum(b.errors.get(kind, 0) for b in rt.collector._hours.values())
    assert failed == errors == len(played)


def test_outcome_table_is_the_one_mapping():
    assert counters_of("shop", "completed", order=True) == (
        "acted",
        "shopped",
        "completed",
        "orders",
    )
    assert counters_of("idle", "idle") == ("acted", "idle")
    assert counters_of("none", "none") == ("acted", "none")
    ok = SimpleNamespace(outcome="idle", abandon_reason=None, error=None)
    assert ending_of(ok) == {
        "status": "completed",
        "outcome": "idle",
        "reason": None,
        "error_kind": None,
    }
    bad = SimpleNamespace(
        outcome="failed", abandon_reason=None, error=ShopUnavailable("x", kind="timeout")
    )
    assert ending_of(bad)["reason"] == "failed:timeout" and ending_of(bad)["status"] == "abandoned"
