"""Model-decided choice nodes: typed questions, typed answers, a port, and the checks.

A share of sessions (``in_llm_share``: seeded by run seed, persona and hour, so the same
sessions in every process and every rerun) lets a language model answer three questions
of the graph: the basket of ``add_to_cart`` (the rules decide whether to buy and how many
different products; the model which of the offered ones, how many of each;
``BasketQuestion``), the coupon of ``view_coupons`` (which coupon of the wallet to
apply, or none; ``CouponQuestion``) and the choice of ``decide_checkout`` (complete or
abandon; ``CheckoutQuestion``). The rule node and the model answer the same question with
the same answer type: the rule's answer is always drawn first, so the hour's random stream
is identical whether the model answers, falls back or is not asked, and the rule's answer
is the fallback.

The model is reached through ``DecisionPort`` (the harness's adapter speaks HTTP; this
module imports no HTTP client). Each question is short plain text and
sends its answer's JSON schema with the allowed values (``answer_schema``: the offered ids,
the count of lines, the wallet's coupons), which a grammar-constrained server (llama.cpp)
enforces. Whatever the port returns is checked against reality here
(each question's ``check``): only product ids from the offered slice, at most ``max_items``
items, within the persona's budget; only coupons of the wallet that discount this cart.
Anything else is the rule's decision, recorded as ``decided_by: "fallback"`` with its reason
(``timeout``, ``invalid_json``, ``schema``, ``unknown_product``, ``unknown_coupon``,
``over_budget``, ``http_<status>``, ``budget_spent``, ``budget_wait``, ``error``, ``late``).
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
QUANTITY_MAX = 9
"""A basket line's largest quantity (one digit)."""

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
    "late",
)
"""Fallback reasons besides ``http_<status>`` (``late``: the answer was not there when the
paced session had to act, ``harness.agent.llm.PacedAsks``)."""

PERSONA_FIELDS_SHOWN = (
    "age", "household_size", "income_band", "preferred_categories", "preferred_brands",
    "brand_loyalty", "price_consciousness", "impulsivity", "coupon_affinity", "deal_seeking",
    "discount_sensitivity", "cart_abandonment_rate",
)  # fmt: skip
"""The persona's attributes a question may show the model (each question shows the ones
that bear on it: ``shopper_line``); the rhythm of the week, the store and the channel do
not bear on what is bought once shopping."""


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
    """What every question has: the persona, its chat messages, schema, hash and cache key.

    The prompt is short plain text (what a small model reads best): one line about the
    shopper with only the attributes that bear on the question, the question's facts, and
    the answer's JSON shape; the answer's allowed values (ids, counts) are in its schema
    (``answer_schema``), which a grammar-constrained server enforces while generating.
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    persona_id: str
    persona: dict[str, Any]

    answer_type: ClassVar[type[BaseModel]]
    traits: ClassVar[tuple[str, ...]] = ()
    """The persona's 0-1 attributes this question shows (as low / medium / high)."""

    def _system(self) -> str:
        raise NotImplementedError

    def _facts(self) -> list[str]:
        raise NotImplementedError

    def messages(self) -> list[dict[str, str]]:
        """The chat messages (system + user), deterministic for the same question."""
        user = "\n".join([shopper_line(self.persona, self.traits), *self._facts()])
        return [{"role": "system", "content": self._system()}, {"role": "user", "content": user}]

    def answer_schema(self) -> dict[str, Any]:
        """The JSON schema sent as ``response_format`` (the answer type's, by default)."""
        return self.answer_type.model_json_schema()

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


def _level(value: Any) -> str:
    v = float(value)
    return "low" if v < 1 / 3 else "medium" if v < 2 / 3 else "high"


def _dollars(cents: int) -> str:
    return f"${cents / 100:.2f}"


def shopper_line(persona: dict[str, Any], traits: tuple[str, ...] = ()) -> str:
    """The persona in one line: age, household, income, liked categories and brands, and
    ``traits`` (0-1 attributes) as low / medium / high. Attributes missing are left out."""
    who = []
    if "age" in persona:
        who.append(f"age {persona['age']}")
    if "household_size" in persona:
        who.append(f"household of {persona['household_size']}")
    if "income_band" in persona:
        who.append(f"{str(persona['income_band']).replace('_', ' ')} income")
    parts = ["Shopper: " + (", ".join(who) or "a grocery shopper")]
    if persona.get("preferred_categories"):
        parts.append("Likes " + ", ".join(persona["preferred_categories"]))
    if persona.get("preferred_brands"):
        parts.append("Favourite brands " + ", ".join(persona["preferred_brands"]))
    levels = [f"{t.replace('_', ' ')} {_level(persona[t])}" for t in traits if t in persona]
    if levels:
        parts.append(", ".join(levels).capitalize())
    return ". ".join(parts) + "."


class BasketQuestion(_Question):
    """Which of the offered products to put in the cart, and how many of each.

    The rules decide *whether* to buy and *how many different products* (``lines``: the
    rule's basket's lines, at least 1); the model decides *which* and the quantities. The
    schema says so: exactly ``lines`` lines, each an offered id and a quantity of 1 to
    ``max_quantity`` (so the items stay within ``max_items``); ``check`` holds the rest
    (offered ids, distinct products, the count of lines and items, within ``budget_cents``),
    for servers that do not enforce a schema.
    """

    kind: Literal["basket"] = "basket"
    budget_cents: int
    max_items: int
    lines: int = Field(ge=1)
    offered: tuple[OfferedProduct, ...]

    answer_type: ClassVar[type[BaseModel]] = BasketAnswer
    traits: ClassVar[tuple[str, ...]] = ("brand_loyalty", "price_consciousness", "impulsivity")

    @property
    def max_quantity(self) -> int:
        """A line's largest quantity: ``lines`` lines of it stay within ``max_items``."""
        return max(1, min(QUANTITY_MAX, self.max_items // self.lines))

    def _system(self) -> str:
        return "You are a grocery shopper choosing what to buy. Answer with JSON only."

    def _facts(self) -> list[str]:
        out = ["Products on offer (id: name, brand, price), by category:"]
        for category in dict.fromkeys(p.category for p in self.offered):
            out.append(f"{category}:")
            out.extend(
                f"{p.id}: {p.name}, {p.brand}, {_dollars(p.price_cents)}"
                for p in self.offered
                if p.category == category
            )
        n = self.lines
        out.append(
            f"Put {n} different product{'s' if n > 1 else ''} from the list in your cart: "
            f"the ones you would buy. Quantity is usually 1. Spend at most "
            f"{_dollars(self.budget_cents)} in total."
        )
        out.append('Answer: {"lines": [{"product_id": <id>, "quantity": 1}, ...]}')
        return out

    def answer_schema(self) -> dict[str, Any]:
        line = {
            "type": "object",
            "properties": {
                "product_id": {"type": "integer", "enum": [p.id for p in self.offered]},
                "quantity": {"type": "integer", "enum": list(range(1, self.max_quantity + 1))},
            },
            "required": ["product_id", "quantity"],
            "additionalProperties": False,
        }
        return {
            "type": "object",
            "properties": {
                "lines": {
                    "type": "array", "items": line, "minItems": self.lines,
                    "maxItems": self.lines,
                }
            },
            "required": ["lines"],
            "additionalProperties": False,
        }  # fmt: skip

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
        if len(answer.lines) != self.lines:
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


def _cart_text(cart: tuple[CartItem, ...]) -> str:
    """``5 items (dairy 2, produce 3)``: the cart's size and its categories."""
    by_category: dict[str, int] = {}
    for c in cart:
        by_category[c.category] = by_category.get(c.category, 0) + c.quantity
    items = sum(by_category.values())
    kinds = ", ".join(f"{k} {n}" for k, n in by_category.items())
    return f"{items} item{'s' if items != 1 else ''} ({kinds})"


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
    traits: ClassVar[tuple[str, ...]] = (
        "coupon_affinity", "deal_seeking", "discount_sensitivity", "price_consciousness",
    )  # fmt: skip

    def _system(self) -> str:
        return "You are a grocery shopper at the checkout. Answer with JSON only."

    def _facts(self) -> list[str]:
        offers = []
        for c in self.coupons:
            on = ", ".join(x for x in (c.category, c.brand) if x)
            offers.append(
                f"{c.user_coupon_id}: {_dollars(c.discount_cents)} off" + (f" ({on})" if on else "")
            )
        return [
            f"Cart: {_cart_text(self.cart)}; subtotal {_dollars(self.subtotal_cents)}.",
            "Coupons you can apply (id: discount on this cart): " + "; ".join(offers) + ".",
            "Apply one of them, or none.",
            'Answer: {"user_coupon_id": <id>} or {"user_coupon_id": null}',
        ]

    def answer_schema(self) -> dict[str, Any]:
        ids = [c.user_coupon_id for c in self.coupons]
        return {
            "type": "object",
            "properties": {
                "user_coupon_id": {"anyOf": [{"type": "integer", "enum": ids}, {"type": "null"}]}
            },
            "required": ["user_coupon_id"],
            "additionalProperties": False,
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
    traits: ClassVar[tuple[str, ...]] = ("price_consciousness", "cart_abandonment_rate")

    def _system(self) -> str:
        return "You are a grocery shopper at the checkout. Answer with JSON only."

    def _facts(self) -> list[str]:
        coupon = f" after a {_dollars(self.discount_cents)} coupon" if self.discount_cents else ""
        return [
            f"Cart: {_cart_text(self.cart)}; total {_dollars(self.total_cents)}{coupon}; "
            f"your budget for this trip {_dollars(self.budget_cents)}.",
            "Complete the purchase, or abandon the cart?",
            'Answer: {"decision": "complete"} or {"decision": "abandon"}',
        ]

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
    """The persona's attributes a question may show (``PERSONA_FIELDS_SHOWN``, JSON values)."""
    data = persona.model_dump(mode="json")
    return {k: data[k] for k in PERSONA_FIELDS_SHOWN}


def basket_question(
    persona: Persona, viewed: tuple[Product, ...], rule: BasketDecision
) -> BasketQuestion:
    """The basket question for this session (the offered slice: the first ``OFFERED_MAX``
    viewed products; as many lines as the rule's basket has, at least 1)."""
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
        lines=max(1, min(len(rule.lines), len(offered))),
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

    Not chosen, or the rule buys nothing (nothing viewed, or not even the cheapest fits
    the budget) → the rule's basket, ``decided_by: "rules"``: the rules decide whether to
    buy. Chosen → the model's basket when it passes ``check``, else the rule's with
    ``decided_by: "fallback"`` and the reason. A port that raises is a fallback too
    (``error``): a session never stops for the model.
    """
    if not seat.chosen or not viewed or not rule.lines:
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
