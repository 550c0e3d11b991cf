"""Model-decided baskets in the shopping graph (``behaviors.llm``), through a fake port:
the answer is checked against the offered slice and the budget, every bad answer is the
rule's basket with a counted reason, and the hour's random stream does not depend on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from behaviors.llm import (
    BasketAnswer,
    BasketLineAnswer,
    BasketQuestion,
    Decided,
    Fallback,
    in_llm_share,
)
from behaviors.memory_shop import InMemoryShop
from behaviors.rhythm import decide_shop
from behaviors.run import decide_hour, hour_rng, play_hour
from behaviors.synthetic import make_catalog, make_persona

CATALOG = make_catalog()
MONDAY = datetime(2025, 1, 6, tzinfo=UTC)
PERSONA = make_persona(
    "p-llm", shopping_frequency=14, preferred_days=("Mon",), preferred_time_of_day="evening"
)


class ScriptedPort:
    """Answers every question with ``make(question)``; keeps the questions."""

    def __init__(self, make):
        self.make, self.questions = make, []

    def decide(self, question: BasketQuestion):
        self.questions.append(question)
        return self.make(question)


def _shop_hour() -> int:
    for h in range(2000):
        t = MONDAY + timedelta(hours=h, minutes=7)
        if decide_shop(PERSONA, sim_time=t, rng=hour_rng(1, "p-llm", h)).kind == "shop":
            return h
    raise AssertionError("no shop hour")


HOUR = _shop_hour()


def _play(port=None, share=1.0):
    hd = decide_hour(PERSONA, run_seed=1, sim_hour=HOUR,
                     slot_time=MONDAY + timedelta(hours=HOUR, minutes=7))  # fmt: skip
    shop = InMemoryShop(CATALOG)
    result = play_hour(hd, shop=shop, checkout_key=f"t:{HOUR}", llm=port, llm_share=share)
    return result, shop


def _adds(result):
    return [(e.product_id, e.quantity) for e in result.events if e.event_type == "cart_add_item"]


def _cheapest_two(q: BasketQuestion) -> BasketAnswer:
    two = sorted(q.offered, key=lambda p: p.price_cents)[:2]
    return BasketAnswer(lines=[BasketLineAnswer(product_id=p.id, quantity=1) for p in two])


def test_a_valid_answer_is_the_basket_and_every_add_says_llm():
    port = ScriptedPort(lambda q: Decided(_cheapest_two(q), "m", q.prompt_hash(), 120, 30, 15.0))
    result, _ = _play(port)
    (question,) = port.questions
    want = [(line.product_id, 1) for line in _cheapest_two(question).lines]
    assert _adds(result) == want
    adds = [e for e in result.events if e.event_type == "cart_add_item"]
    assert {e.payload["decided_by"] for e in adds} == {"llm"}
    assert adds[0].payload["llm_model"] == "m"
    assert adds[0].payload["tokens_in"] == 120 and adds[0].payload["tokens_out"] == 30
    assert adds[0].payload["prompt_hash"] == question.prompt_hash()
    assert result.steps["add_to_cart"]["decided_by"] == "llm"
    # the offered slice is what the agent viewed, and the persona's budget bounds it
    viewed = [e.product_id for e in result.events if e.event_type == "view_product"]
    assert [p.id for p in question.offered] == viewed[: len(question.offered)]
    assert question.budget_cents == PERSONA.budget_per_trip


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            lambda q: Decided(
                BasketAnswer(lines=[BasketLineAnswer(product_id=10**9, quantity=1)]), "m", "h"
            ),
            "unknown_product",
        ),  # fmt: skip
        (
            lambda q: Decided(
                BasketAnswer(
                    lines=[BasketLineAnswer(product_id=q.offered[0].id, quantity=q.max_items + 1)]
                ),
                "m",
                "h",
            ),
            "over_budget",
        ),  # fmt: skip
        (lambda q: Fallback("timeout", "m", "h", latency_ms=2000.0), "timeout"),
        (lambda q: Fallback("http_429", "m", "h"), "http_429"),
        (lambda q: 1 / 0, "error"),  # a port that raises never stops the session
    ],
)
def test_a_bad_answer_is_the_rules_basket_with_its_reason(answer, reason):
    rules_result, _ = _play(None)
    result, shop = _play(ScriptedPort(answer))
    assert _adds(result) == _adds(rules_result)  # the rule's basket, no invented product
    assert result.outcome == rules_result.outcome
    adds = [e for e in result.events if e.event_type == "cart_add_item"]
    assert adds and {e.payload["fallback_reason"] for e in adds} == {reason}
    assert {e.payload["decided_by"] for e in adds} == {"fallback"}
    assert {pid for pid, _ in _adds(result)} <= {p.id for p in CATALOG}


def test_without_a_port_payloads_are_unchanged_and_outside_the_share_it_is_rules():
    plain, _ = _play(None)
    assert all("decided_by" not in e.payload for e in plain.events)
    port = ScriptedPort(lambda q: Decided(_cheapest_two(q), "m", "h"))
    ruled, _ = _play(port, share=0.0)
    assert port.questions == []
    assert _adds(ruled) == _adds(plain)
    assert {e.payload["decided_by"] for e in ruled.events if e.event_type == "cart_add_item"} == {
        "rules"
    }
    # the stream after the basket is the same whoever decided it
    assert [e.event_type for e in ruled.events] == [e.event_type for e in plain.events]


def test_the_share_is_seeded_stable_and_close_to_the_asked_share():
    picks = [in_llm_share(7, f"p{i}", h, 0.2) for i in range(200) for h in range(20)]
    assert picks == [in_llm_share(7, f"p{i}", h, 0.2) for i in range(200) for h in range(20)]
    assert 0.18 < sum(picks) / len(picks) < 0.22
    assert picks != [in_llm_share(8, f"p{i}", h, 0.2) for i in range(200) for h in range(20)]
    assert not in_llm_share(7, "p", 1, 0.0) and in_llm_share(7, "p", 1, 1.0)


def test_the_question_checks_budget_and_duplicates():
    port = ScriptedPort(lambda q: Fallback("timeout"))
    _play(port)
    (q,) = port.questions
    dear = max(q.offered, key=lambda p: p.price_cents)
    n = q.budget_cents // dear.price_cents + 1
    over = BasketAnswer(lines=[BasketLineAnswer(product_id=dear.id, quantity=n)])
    assert q.check(over) == ("over_budget")
    dup = BasketAnswer(lines=[BasketLineAnswer(product_id=dear.id, quantity=1)] * 2)
    assert q.check(dup) == "schema"
    assert q.check(BasketAnswer(lines=[])) is None
    assert q.cache_key() == ("p-llm", "basket", q.prompt_hash())
