"""Model-decided choices in the shopping graph (``behaviors.llm``), through a fake port:
the basket, the coupon and the checkout choice. Each answer is checked against reality
(the offered slice and the budget; the wallet's coupons), every bad answer is the rule's
choice with a counted reason, and the hour's random stream does not depend on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from behaviors.llm import (
    BasketAnswer,
    BasketLineAnswer,
    BasketQuestion,
    CheckoutAnswer,
    CheckoutQuestion,
    CouponAnswer,
    CouponQuestion,
    Decided,
    Fallback,
    in_llm_share,
)
from behaviors.memory_shop import InMemoryShop
from behaviors.rhythm import decide_shop
from behaviors.run import decide_hour, hour_rng, play_hour
from behaviors.shop import WalletCoupon
from behaviors.synthetic import make_catalog, make_persona

CATALOG = make_catalog()
MONDAY = datetime(2025, 1, 6, tzinfo=UTC)
PERSONA = make_persona(
    "p-llm", shopping_frequency=14, preferred_days=("Mon",), preferred_time_of_day="evening"
)


class ScriptedPort:
    """Answers the basket question with ``make(question)`` (kept in ``questions``), the
    coupon and checkout questions with ``coupon`` / ``checkout`` (kept in ``others``;
    default: a timeout, so the rule decides them)."""

    def __init__(self, make, coupon=None, checkout=None):
        self.make, self.questions, self.others = make, [], []
        self.coupon = coupon or (lambda q: Fallback("timeout"))
        self.checkout = checkout or (lambda q: Fallback("timeout"))

    def decide(self, question):
        if isinstance(question, BasketQuestion):
            self.questions.append(question)
            return self.make(question)
        self.others.append(question)
        return (self.coupon if isinstance(question, CouponQuestion) else self.checkout)(question)


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
    """The ``q.lines`` cheapest offered products, one each."""
    cheap = sorted(q.offered, key=lambda p: p.price_cents)[: q.lines]
    return BasketAnswer(lines=[BasketLineAnswer(product_id=p.id, quantity=1) for p in cheap])


def _first(q: BasketQuestion, first_quantity: int) -> BasketAnswer:
    """The first ``q.lines`` offered products, the first ``first_quantity`` times."""
    return BasketAnswer(
        lines=[
            BasketLineAnswer(product_id=p.id, quantity=first_quantity if i == 0 else 1)
            for i, p in enumerate(q.offered[: q.lines])
        ]
    )


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
        (lambda q: Decided(_first(q, q.max_items + 1), "m", "h"), "over_budget"),
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
    rules_result, _ = _play(None)
    assert q.lines == len(_adds(rules_result)) == 3  # as many products as the rule's basket
    assert (q.max_items, q.max_quantity) == (16, 16 // 3)  # 3 lines of 5 stay within 16
    dear = max(q.offered, key=lambda p: p.price_cents)
    n = q.budget_cents // dear.price_cents + 1
    others = [p for p in q.offered if p.id != dear.id][: q.lines - 1]
    over = BasketAnswer(lines=[BasketLineAnswer(product_id=dear.id, quantity=n)]
                        + [BasketLineAnswer(product_id=p.id, quantity=1) for p in others])  # fmt: skip
    assert q.check(over) == "over_budget"
    dup = BasketAnswer(lines=[BasketLineAnswer(product_id=dear.id, quantity=1)] * 2)
    assert q.check(dup) == "schema"
    assert q.check(_first(q, 1)) is None
    assert q.check(BasketAnswer(lines=[])) == "schema"  # the rules decided to buy 3 products
    assert q.check(BasketAnswer(lines=_first(q, 1).lines[:1])) == "schema"
    assert q.cache_key() == ("p-llm", "basket", q.prompt_hash())


# ------------------------------------------------------------------ coupon and checkout

DEALER = make_persona(
    "p-deal", shopping_frequency=14, preferred_days=("Mon",), preferred_time_of_day="evening",
    coupon_affinity=1.0, deal_seeking=1.0, discount_sensitivity=0.0,
)  # fmt: skip
WALLET = [
    WalletCoupon(10, 1, "frontstore", "percent", 10, 0),
    WalletCoupon(11, 2, "frontstore", "amount", 100, 0),
    WalletCoupon(12, 3, "category_brand", "amount", 300, 0, category="no-such-category"),
]


def _dealer_hour(h):
    return decide_hour(DEALER, run_seed=3, sim_hour=h,
                       slot_time=MONDAY + timedelta(hours=h, minutes=7))  # fmt: skip


def _replay(h, port=None, share=1.0):
    """Hour ``h`` of ``DEALER`` played afresh (its own random stream)."""
    return play_hour(_dealer_hour(h), shop=InMemoryShop(CATALOG, wallet=WALLET),
                     checkout_key=f"k:{h}", llm=port, llm_share=share)  # fmt: skip


def _dealer_hours():
    """Shop hours of ``DEALER`` whose wallet the rules open, with the rules' result."""
    for h in range(3000):
        if _dealer_hour(h).decision.kind != "shop":
            continue
        r = _replay(h)
        if r.steps.get("open_wallet", {}).get("open") and "choose_coupon" in r.steps:
            yield h, r


def _applied(result):
    return [e.user_coupon_id for e in result.events if e.event_type == "apply_coupon"]


def test_the_model_chooses_the_coupon_only_from_the_wallets_discounting_coupons():
    h, rules_r = next(_dealer_hours())
    assert rules_r.steps["choose_coupon"]["chosen"] is None  # sensitivity 0: the rule applies none
    port = ScriptedPort(lambda q: Fallback("timeout"),
                        coupon=lambda q: Decided(CouponAnswer(user_coupon_id=11), "m", "h", 90, 8))  # fmt: skip
    r = _replay(h, port)
    (q,) = [q for q in port.others if isinstance(q, CouponQuestion)]
    assert {c.user_coupon_id for c in q.coupons} == {10, 11}  # 12 discounts nothing: not offered
    assert _applied(r) == [11]
    (apply,) = [e for e in r.events if e.event_type == "apply_coupon"]
    assert apply.payload["decided_by"] == "llm" and apply.payload["chosen"] == 11
    assert apply.payload["tokens_in"] == 90 and r.steps["choose_coupon"]["decided_by"] == "llm"
    # the coupon the model applied is the one the checkout redeemed
    done = [e for e in r.events if e.event_type == "checkout_complete"]
    assert not done or done[0].user_coupon_id == 11


@pytest.mark.parametrize(
    ("answer", "reason"),
    [(CouponAnswer(user_coupon_id=12), "unknown_coupon"),
     (CouponAnswer(user_coupon_id=999), "unknown_coupon")],
)  # fmt: skip
def test_a_coupon_not_offered_is_the_rules_choice_counted(answer, reason):
    h, rules_r = next(_dealer_hours())
    r = _replay(h, ScriptedPort(lambda q: Fallback("timeout"),
                                 coupon=lambda q: Decided(answer, "m", "h")))  # fmt: skip
    assert _applied(r) == _applied(rules_r) == []
    step = r.steps["choose_coupon"]
    assert step["decided_by"] == "fallback" and step["fallback_reason"] == reason


def test_the_model_decides_complete_or_abandon_and_the_stream_stays_the_rules():
    h, rules_r = next(
        (h, r) for h, r in _dealer_hours()
        if r.outcome in ("completed", "abandoned") and r.steps.get("decide_checkout")
    )  # fmt: skip
    rule_abandons = rules_r.outcome == "abandoned"
    flip = "complete" if rule_abandons else "abandon"
    port = ScriptedPort(lambda q: Fallback("timeout"),
                        checkout=lambda q: Decided(CheckoutAnswer(decision=flip), "m", "h", 80, 5))  # fmt: skip
    r = _replay(h, port)
    assert r.outcome == ("completed" if flip == "complete" else "abandoned")
    step = r.steps["decide_checkout"]
    assert step["decided_by"] == "llm" and step["decision"] == flip
    assert step["draw"] == rules_r.steps["decide_checkout"]["draw"]  # the rule's draw, kept
    (q,) = [q for q in port.others if isinstance(q, CheckoutQuestion)]
    assert q.total_cents > 0 and q.budget_cents == DEALER.budget_per_trip
    last = r.events[-1]
    assert last.event_type == ("checkout_complete" if flip == "complete" else "abandon")
    assert last.payload["decided_by"] == "llm"
    # the same question refused (schema) or outside the share: the rule's outcome
    bad = ScriptedPort(lambda q: Fallback("timeout"), checkout=lambda q: Fallback("schema"))
    assert _replay(h, bad).outcome == rules_r.outcome
    ruled = _replay(h, ScriptedPort(lambda q: 1 / 0), share=0.0)
    assert ruled.outcome == rules_r.outcome
    assert ruled.steps["decide_checkout"]["decided_by"] == "rules"
    assert [e.event_type for e in ruled.events] == [e.event_type for e in rules_r.events]
