"""Model-decided choice nodes: a typed question, a typed answer, a port, and the checks.

A share of sessions (``in_llm_share``: seeded by run seed, persona and hour, so the same
sessions in every process and every rerun) lets a language model answer the basket question
of ``add_to_cart``: which of the offered products, how many of each. The rule node and the
model answer the same question with the same answer type (``BasketAnswer``): the rule's
basket is always drawn first, so the hour's random stream is identical whether the model
answers, falls back or is not asked, and the rule's basket is the fallback.

The model is reached through ``DecisionPort`` (the harness's adapter speaks HTTP; this
module imports no HTTP client). Whatever the port returns is checked against reality here
(``BasketQuestion.check``): only product ids from the offered slice, at most ``max_items``
items, within the persona's budget. Anything else is the rule's decision, recorded as
``decided_by: "fallback"`` with its reason (``timeout``, ``invalid_json``, ``schema``,
``unknown_product``, ``over_budget``, ``http_<status>``, ``budget_spent``, ``budget_wait``,
``error``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from behaviors.browsing import BasketDecision, BasketLine
from behaviors.shop import Product
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


class BasketQuestion(BaseModel):
    """What to put in the cart, given the persona, the budget and the offered slice."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["basket"] = "basket"
    persona_id: str
    persona: dict[str, Any]
    budget_cents: int
    max_items: int
    offered: tuple[OfferedProduct, ...]

    answer_type: ClassVar[type[BasketAnswer]] = BasketAnswer

    def messages(self) -> list[dict[str, str]]:
        """The chat messages (system + user), deterministic for the same question."""
        system = (
            "You are a grocery shopper described by the persona attributes given. Choose what "
            "to put in your cart from the offered products only. Answer with JSON only: "
            '{"lines": [{"product_id": <id from the offered list>, "quantity": <int >= 1>}]}. '
            f"At most {self.max_items} items in total; the total price must not exceed "
            f"{self.budget_cents} cents. An empty list means you buy nothing."
        )
        user = json.dumps(
            {
                "persona": self.persona,
                "budget_cents": self.budget_cents,
                "max_items": self.max_items,
                "offered": [p.model_dump() for p in self.offered],
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def prompt_hash(self) -> str:
        """A short hash of the exact prompt (recorded; the prompt itself is not)."""
        text = json.dumps(self.messages(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def cache_key(self) -> tuple[str, str, str]:
        """(persona, question, state): the same persona asked the same thing in the same
        state gets the same answer."""
        return (self.persona_id, self.kind, self.prompt_hash())

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


@dataclass(frozen=True, slots=True)
class Decided:
    """The model's answer (schema-valid; ``check`` is applied again by the caller)."""

    answer: BasketAnswer
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

    def decide(self, question: BasketQuestion) -> Decided | Fallback: ...


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
            return _as_basket(question, got.answer, viewed, rule), {"decided_by": "llm", **meta}
    else:
        reason = got.reason
    return rule, {"decided_by": "fallback", "fallback_reason": reason, **meta}
