"""Model-decided choice nodes: typed questions, typed answers, a port, and the checks.

A share of sessions (``in_llm_share``: seeded by run seed, persona and hour, so the same
sessions in every process and every rerun) lets a language model answer three questions
of the graph: the basket of ``add_to_cart`` (which of the offered products, how many of
each; ``BasketQuestion``), the coupon of ``view_coupons`` (which coupon of the wallet to
apply, or none; ``CouponQuestion``) and the choice of ``decide_checkout`` (complete or
abandon; ``CheckoutQuestion``). The rule node and the model answer the same question with
the same answer type: the rule's answer is always drawn first, so the hour's random stream
is identical whether the model answers, falls back or is not asked, and the rule's answer
is the fallback.

The model is reached through ``DecisionPort`` (the harness's adapter speaks HTTP; this
module imports no HTTP client). Whatever the port returns is checked against reality here
(each question's ``check``): only product ids from the offered slice, at most ``max_items``
items, within the persona's budget; only coupons of the wallet that discount this cart.
Anything else is the rule's decision, recorded as ``decided_by: "fallback"`` with its reason
(``timeout``, ``invalid_json``, ``schema``, ``unknown_product``, ``unknown_coupon``,
``over_budget``, ``http_<status>``, ``budget_spent``, ``budget_wait``, ``error``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from behaviors.browsing import BasketDecision, BasketLine
from behaviors.offers import CheckoutDecision, CouponDecision
from behaviors.shop import Cart, CartLine, Product, WalletCoupon
from personas.model import Persona

OFFERED_MAX = 40
"""At most this many viewed products (in viewing order) are offered to the model."""
BASKET_SLACK = 2.0
"""The model may pick up to this many times the persona's average basket size."""

FALLBACK_REASONS = (
    "timeout",
    "invalid_json",
    "schema",
    "unknown_product",
    "unknown_coupon",
    "over_budget",
    "budget_spent",
    "budget_wait",
    "error",
)
"""Fallback reasons besides ``http_<status>``."""

PERSONA_FIELDS_SKIPPED = frozenset({"persona_id", "name"})
"""Persona attributes not shown to the model (an id and a name carry no preference)."""


class OfferedProduct(BaseModel):
    """One product of the slice the model may choose from."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    category: str
    brand: str
    price_cents: int


class BasketLineAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: int
    quantity: int = Field(ge=1)


class BasketAnswer(BaseModel):
    """The basket: which offered products, how many of each (an empty list: buy nothing)."""

    model_config = ConfigDict(extra="forbid")

    lines: list[BasketLineAnswer]


class _Question(BaseModel):
    """What every question has: the persona, its chat messages, hash and cache key."""

    model_config = ConfigDict(frozen=True)

    kind: str
    persona_id: str
    persona: dict[str, Any]

    answer_type: ClassVar[type[BaseModel]]

    def _system(self) -> str:
        raise NotImplementedError

    def _facts(self) -> dict[str, Any]:
        raise NotImplementedError

    def messages(self) -> list[dict[str, str]]:
        """The chat messages (system + user), deterministic for the same question."""
        user = json.dumps(
            {"question": self.kind, "persona": self.persona, **self._facts()},
            sort_keys=True,
            separators=(",", ":"),
        )
        return [{"role": "system", "content": self._system()}, {"role": "user", "content": user}]

    def prompt_hash(self) -> str:
        """A short hash of the exact prompt (recorded; the prompt itself is not)."""
        text = json.dumps(self.messages(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def cache_key(self) -> tuple[str, str, str]:
        """(persona, question, state): the same persona asked the same thing in the same
        state gets the same answer."""
        return (self.persona_id, self.kind, self.prompt_hash())

    def check(self, answer: Any) -> str | None:
        """``None`` when the answer is possible in reality, else the fallback reason."""
        raise NotImplementedError


class BasketQuestion(_Question):
    """What to put in the cart, given the persona, the budget and the offered slice."""

    kind: Literal["basket"] = "basket"
    budget_cents: int
    max_items: int
    offered: tuple[OfferedProduct, ...]

    answer_type: ClassVar[type[BaseModel]] = BasketAnswer

    def _system(self) -> str:
        return (
            "You are a grocery shopper described by the persona attributes given. Choose what "
            "to put in your cart from the offered products only. Answer with JSON only: "
            '{"lines": [{"product_id": <id from the offered list>, "quantity": <int >= 1>}]}. '
            f"At most {self.max_items} items in total; the total price must not exceed "
            f"{self.budget_cents} cents. An empty list means you buy nothing."
        )

    def _facts(self) -> dict[str, Any]:
        return {
            "budget_cents": self.budget_cents,
            "max_items": self.max_items,
            "offered": [p.model_dump() for p in self.offered],
        }

    def check(self, answer: BasketAnswer) -> str | None:
        """``None`` when the answer is possible in reality, else the fallback reason."""
        prices = {p.id: p.price_cents for p in self.offered}
        items = spend = 0
        for line in answer.lines:
            if line.product_id not in prices:
                return "unknown_product"
            items += line.quantity
            spend += line.quantity * prices[line.product_id]
        if len({line.product_id for line in answer.lines}) != len(answer.lines):
            return "schema"
        if items > self.max_items or spend > self.budget_cents:
            return "over_budget"
        return None


class CartItem(BaseModel):
    """One line of the cart as the model sees it."""

    model_config = ConfigDict(frozen=True)

    product_id: int
    category: str
    brand: str
    unit_price_cents: int
    quantity: int


class WalletOffer(BaseModel):
    """One coupon of the wallet that discounts this cart (the only ones offered)."""

    model_config = ConfigDict(frozen=True)

    user_coupon_id: int
    kind: str
    category: str | None
    brand: str | None
    discount_cents: int


class CouponAnswer(BaseModel):
    """The coupon to apply (``null``: none)."""

    model_config = ConfigDict(extra="forbid")

    user_coupon_id: int | None


class CouponQuestion(_Question):
    """Whether to apply a coupon of the wallet to this cart, and which."""

    kind: Literal["coupon"] = "coupon"
    cart: tuple[CartItem, ...]
    subtotal_cents: int
    coupons: tuple[WalletOffer, ...]

    answer_type: ClassVar[type[BaseModel]] = CouponAnswer

    def _system(self) -> str:
        return (
            "You are a grocery shopper described by the persona attributes given, at the "
            "checkout with the cart shown. Decide whether to apply one of the coupons offered "
            "(each with the discount it gives on this cart) or none. Answer with JSON only: "
            '{"user_coupon_id": <an id from the coupons offered, or null for none>}.'
        )

    def _facts(self) -> dict[str, Any]:
        return {
            "cart": [c.model_dump() for c in self.cart],
            "subtotal_cents": self.subtotal_cents,
            "coupons": [c.model_dump() for c in self.coupons],
        }

    def check(self, answer: CouponAnswer) -> str | None:
        if answer.user_coupon_id is None:
            return None
        if answer.user_coupon_id not in {c.user_coupon_id for c in self.coupons}:
            return "unknown_coupon"
        return None


class CheckoutAnswer(BaseModel):
    """Complete the purchase or abandon the cart."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["complete", "abandon"]


class CheckoutQuestion(_Question):
    """Whether to complete the purchase or abandon the cart."""

    kind: Literal["checkout"] = "checkout"
    budget_cents: int
    cart: tuple[CartItem, ...]
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    coupon_applied: bool

    answer_type: ClassVar[type[BaseModel]] = CheckoutAnswer

    def _system(self) -> str:
        return (
            "You are a grocery shopper described by the persona attributes given, at the "
            "checkout with the cart shown. Decide whether to complete the purchase or abandon "
            'the cart. Answer with JSON only: {"decision": "complete"} or '
            '{"decision": "abandon"}.'
        )

    def _facts(self) -> dict[str, Any]:
        return {
            "budget_cents": self.budget_cents,
            "cart": [c.model_dump() for c in self.cart],
            "subtotal_cents": self.subtotal_cents,
            "discount_cents": self.discount_cents,
            "total_cents": self.total_cents,
            "coupon_applied": self.coupon_applied,
        }

    def check(self, answer: CheckoutAnswer) -> str | None:
        return None


Question = BasketQuestion | CouponQuestion | CheckoutQuestion
"""Every question a model may answer."""


@dataclass(frozen=True, slots=True)
class Decided:
    """The model's answer (schema-valid; ``check`` is applied again by the caller)."""

    answer: Any  # the question's answer_type
    model: str
    prompt_hash: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cached: bool = False


@dataclass(frozen=True, slots=True)
class Fallback:
    """No usable answer: the rule decides. ``reason`` is one of ``FALLBACK_REASONS`` or
    ``http_<status>``; tokens are those the failed call still spent."""

    reason: str
    model: str = ""
    prompt_hash: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0


class DecisionPort(Protocol):
    """Where a model answers a question (the harness's adapter; tests' fakes)."""

    def decide(self, question: Question) -> Decided | Fallback: ...


@dataclass(frozen=True, slots=True)
class LlmSeat:
    """The session's place in the LLM share: the port, and whether this session asks it."""

    port: DecisionPort
    chosen: bool


def in_llm_share(run_seed: int, persona_id: str, sim_hour: int, share: float) -> bool:
    """Whether this agent-hour's session is model-decided: a hash of (seed, persona, hour),
    never ``hash()`` or the hour's random stream, so the choice is the same in every process
    and consumes no draw."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    digest = hashlib.sha256(f"llm:{run_seed}:{persona_id}:{sim_hour}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def persona_view(persona: Persona) -> dict[str, Any]:
    """The persona's attributes as the model sees them (JSON values)."""
    data = persona.model_dump(mode="json")
    return {k: v for k, v in data.items() if k not in PERSONA_FIELDS_SKIPPED}


def basket_question(
    persona: Persona, viewed: tuple[Product, ...], rule: BasketDecision
) -> BasketQuestion:
    """The basket question for this session (the offered slice: the first ``OFFERED_MAX``
    viewed products)."""
    offered = tuple(
        OfferedProduct(
            id=p.id, name=p.name, category=p.category, brand=p.brand, price_cents=p.price_cents
        )
        for p in viewed[:OFFERED_MAX]
    )
    max_items = max(rule.target_items, math.ceil(BASKET_SLACK * persona.avg_basket_size))
    return BasketQuestion(
        persona_id=persona.persona_id,
        persona=persona_view(persona),
        budget_cents=persona.budget_per_trip,
        max_items=max_items,
        offered=offered,
    )


def rule_answer(basket: BasketDecision) -> BasketAnswer:
    """The rule's basket as the typed answer (the same question, answered by the rules)."""
    return BasketAnswer(
        lines=[
            BasketLineAnswer(product_id=line.product.id, quantity=line.quantity)
            for line in basket.lines
        ]
    )


def _as_basket(
    question: BasketQuestion,
    answer: BasketAnswer,
    viewed: tuple[Product, ...],
    rule: BasketDecision,
) -> BasketDecision:
    by_id = {p.id: p for p in viewed}
    lines = tuple(BasketLine(by_id[ln.product_id], ln.quantity, False) for ln in answer.lines)
    spend = sum(line.product.price_cents * line.quantity for line in lines)
    return BasketDecision(
        lines, rule.target_items, rule.unplanned_target, question.budget_cents, spend, False, 0
    )


def _ask(seat: LlmSeat, question: Question) -> tuple[Any, dict[str, Any]]:
    """The model's checked answer (``None``: the rule's turn) and what decided it."""
    try:
        got = seat.port.decide(question)
    except Exception:  # noqa: BLE001 — the model is optional: any failure is the rule's turn
        got = Fallback("error", prompt_hash=question.prompt_hash())
    meta: dict[str, Any] = {
        "llm_model": got.model,
        "prompt_hash": got.prompt_hash,
        "tokens_in": got.tokens_in,
        "tokens_out": got.tokens_out,
        "latency_ms": round(got.latency_ms, 1),
    }
    if isinstance(got, Decided):
        reason = question.check(got.answer)
        if reason is None:
            meta["llm_cached"] = got.cached
            return got.answer, {"decided_by": "llm", **meta}
    else:
        reason = got.reason
    return None, {"decided_by": "fallback", "fallback_reason": reason, **meta}


def decide_basket(
    seat: LlmSeat, persona: Persona, viewed: tuple[Product, ...], rule: BasketDecision
) -> tuple[BasketDecision, dict[str, Any]]:
    """The session's basket and what decided it (merged into the node's event payloads).

    Not chosen → the rule's basket, ``decided_by: "rules"``. Chosen → the model's basket
    when it passes ``check``, else the rule's with ``decided_by: "fallback"`` and the reason.
    A port that raises is a fallback too (``error``): a session never stops for the model.
    """
    if not seat.chosen or not viewed:
        return rule, {"decided_by": "rules"}
    question = basket_question(persona, viewed, rule)
    answer, meta = _ask(seat, question)
    if answer is None:
        return rule, meta
    return _as_basket(question, answer, viewed, rule), meta


def _cart_items(lines: tuple[CartLine, ...]) -> tuple[CartItem, ...]:
    return tuple(
        CartItem(
            product_id=ln.product_id, category=ln.category, brand=ln.brand,
            unit_price_cents=ln.unit_price_cents, quantity=ln.quantity,
        )
        for ln in lines
    )  # fmt: skip


def decide_coupon(
    seat: LlmSeat,
    persona: Persona,
    wallet: list[WalletCoupon],
    cart: Cart | None,
    rule: CouponDecision,
) -> tuple[CouponDecision, dict[str, Any]]:
    """Which coupon to apply and what decided it. The model is offered only the wallet's
    coupons that discount this cart (the rule's ``eligible``); none → the rule's (it applies
    none either). The coupons viewed stay the rule's: only the choice is the model's."""
    if not seat.chosen or not rule.eligible or cart is None:
        return rule, {"decided_by": "rules"}
    by_id = {c.user_coupon_id: c for c in wallet}
    offers = tuple(
        WalletOffer(
            user_coupon_id=cid, kind=by_id[cid].kind, category=by_id[cid].category,
            brand=by_id[cid].brand, discount_cents=value,
        )
        for cid, value in rule.eligible
        if cid in by_id
    )  # fmt: skip
    question = CouponQuestion(
        persona_id=persona.persona_id, persona=persona_view(persona),
        cart=_cart_items(cart.lines), subtotal_cents=cart.subtotal_cents, coupons=offers,
    )  # fmt: skip
    answer, meta = _ask(seat, question)
    if answer is None:
        return rule, meta
    chosen = answer.user_coupon_id
    value = dict(rule.eligible).get(chosen, 0) if chosen is not None else 0
    return dataclasses.replace(rule, chosen=chosen, chosen_value=value), meta


@dataclass(frozen=True, slots=True)
class DecidedCheckout(CheckoutDecision):
    """The rule's checkout decision (its draw kept, so the stream is the same) with the
    model's choice and what decided it; its payload says both."""

    chosen_abandon: bool = False
    decided: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def abandon(self) -> bool:
        return self.chosen_abandon

    def as_payload(self) -> dict[str, Any]:
        return {**CheckoutDecision.as_payload(self), **self.decided}


def decide_checkout(
    seat: LlmSeat, persona: Persona, cart: Cart | None, rule: CheckoutDecision
) -> CheckoutDecision:
    """Complete or abandon, and what decided it (``DecidedCheckout``; the payload carries
    ``decided_by``). Not chosen or no cart → the rule's."""
    if not seat.chosen or cart is None or not cart.lines:
        return _checkout(rule, rule.abandon, {"decided_by": "rules"})
    question = CheckoutQuestion(
        persona_id=persona.persona_id, persona=persona_view(persona),
        budget_cents=persona.budget_per_trip, cart=_cart_items(cart.lines),
        subtotal_cents=cart.subtotal_cents, discount_cents=cart.discount_cents,
        total_cents=cart.total_cents, coupon_applied=rule.coupon_applied,
    )  # fmt: skip
    answer, meta = _ask(seat, question)
    if answer is None:
        return _checkout(rule, rule.abandon, meta)
    return _checkout(rule, answer.decision == "abandon", meta)


def _checkout(rule: CheckoutDecision, abandon: bool, decided: dict[str, Any]) -> DecidedCheckout:
    return DecidedCheckout(
        rule.base, rule.delta, rule.p_abandon, rule.draw, rule.coupon_applied, abandon, decided
    )
