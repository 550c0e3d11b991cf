"""The questions put to the model (``behaviors.llm``): short plain text with only the
persona's attributes that bear on the question, and a JSON schema that carries the allowed
values (offered ids, the rule's count of lines, quantities, the wallet's coupons) so a
grammar-constrained server cannot answer outside them."""

from __future__ import annotations

import random

from behaviors.browsing import BasketDecision
from behaviors.llm import (
    BasketQuestion,
    CartItem,
    CheckoutQuestion,
    CouponQuestion,
    LlmSeat,
    OfferedProduct,
    WalletOffer,
    basket_question,
    decide_basket,
    persona_view,
    shopper_line,
)
from behaviors.rules import add_to_cart
from behaviors.shop import Product
from behaviors.synthetic import make_persona

PERSONA = make_persona("p-prompt", budget_per_trip=4500, avg_basket_size=3.0)
VIEWED = (
    Product(11, "Whole milk 1L", "dairy", "Farmhouse", 129),
    Product(12, "Greek yogurt", "dairy", "Olympus", 349),
    Product(31, "Bananas", "produce", "Chiquita", 99),
    Product(12 + 40, "Crisps", "snacks", "Walkers", 1250),
)
CART = (
    CartItem(product_id=11, category="dairy", brand="Farmhouse", unit_price_cents=129,
             quantity=2),
    CartItem(product_id=31, category="produce", brand="Chiquita", unit_price_cents=99,
             quantity=1),
)  # fmt: skip


def _rule(lines: int) -> BasketDecision:
    basket = add_to_cart(PERSONA, VIEWED, random.Random(3))  # a 2-product basket
    assert len(basket.lines) == lines
    return basket


def test_the_basket_prompt_is_plain_text_with_the_persona_line_and_the_offered_products():
    q = basket_question(PERSONA, VIEWED, _rule(2))
    assert (q.lines, q.max_items, q.max_quantity) == (2, 6, 3)  # 6 = 2 x avg_basket_size 3
    system, user = q.messages()
    assert system == {
        "role": "system",
        "content": "You are a grocery shopper choosing what to buy. Answer with JSON only.",
    }
    assert user["content"] == (
        "Shopper: age 40, household of 3, middle income. Likes produce, dairy, snacks. "
        "Favourite brands produce_brand_1, dairy_brand_2. Brand loyalty medium, price "
        "consciousness medium, impulsivity low.\n"
        "Products on offer (id: name, brand, price), by category:\n"
        "dairy:\n11: Whole milk 1L, Farmhouse, $1.29\n12: Greek yogurt, Olympus, $3.49\n"
        "produce:\n31: Bananas, Chiquita, $0.99\n"
        "snacks:\n52: Crisps, Walkers, $12.50\n"
        "Put 2 different products from the list in your cart: the ones you would buy. "
        "Quantity is usually 1. Spend at most $45.00 in total.\n"
        'Answer: {"lines": [{"product_id": <id>, "quantity": 1}, ...]}'
    )
    assert q.prompt_hash() == basket_question(PERSONA, VIEWED, _rule(2)).prompt_hash()


def test_the_basket_schema_allows_only_offered_ids_the_rules_count_and_bounded_quantities():
    q = basket_question(PERSONA, VIEWED, _rule(2))
    assert q.answer_schema() == {
        "type": "object",
        "properties": {
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "product_id": {"type": "integer", "enum": [11, 12, 31, 52]},
                        "quantity": {"type": "integer", "enum": [1, 2, 3]},
                    },
                    "required": ["product_id", "quantity"],
                    "additionalProperties": False,
                },
                "minItems": 2,
                "maxItems": 2,
            }
        },
        "required": ["lines"],
        "additionalProperties": False,
    }


def test_the_line_count_is_the_rules_clamped_to_the_offered_and_nine_units_at_most():
    offered = tuple(
        OfferedProduct(id=i, name="x", category="c", brand="b", price_cents=100)
        for i in range(3)
    )  # fmt: skip
    q = BasketQuestion(persona_id="p", persona={}, budget_cents=10_000, max_items=40,
                       lines=3, offered=offered)  # fmt: skip
    assert q.max_quantity == 9  # 40 // 3 = 13: one digit
    one = BasketQuestion(persona_id="p", persona={}, budget_cents=10_000, max_items=1,
                         lines=1, offered=offered)  # fmt: skip
    assert one.max_quantity == 1
    assert one.messages()[1]["content"].startswith("Shopper: a grocery shopper.\n")
    assert "Put 1 different product from the list" in one.messages()[1]["content"]


def test_a_rule_that_buys_nothing_is_not_put_to_the_model():
    class Never:
        def decide(self, question):
            raise AssertionError("asked")

    nothing = BasketDecision((), 3, 0, 50, 0, True, 0)  # not even the cheapest fits
    basket, meta = decide_basket(LlmSeat(Never(), True), PERSONA, VIEWED, nothing)
    assert basket is nothing and meta == {"decided_by": "rules"}


def test_the_persona_shown_is_the_attributes_that_bear_on_a_choice():
    view = persona_view(PERSONA)
    assert sorted(view) == sorted([
        "age", "household_size", "income_band", "preferred_categories", "preferred_brands",
        "brand_loyalty", "price_consciousness", "impulsivity", "coupon_affinity",
        "deal_seeking", "discount_sensitivity", "cart_abandonment_rate",
    ])  # fmt: skip
    assert shopper_line({"age": 70, "income_band": "upper_middle", "deal_seeking": 0.9},
                        ("deal_seeking",)) == (
        "Shopper: age 70, upper middle income. Deal seeking high."
    )  # fmt: skip


def test_the_coupon_and_checkout_prompts_and_the_coupon_schema():
    view = persona_view(PERSONA)
    coupon = CouponQuestion(
        persona_id="p", persona=view, cart=CART, subtotal_cents=357,
        coupons=(
            WalletOffer(user_coupon_id=7, kind="frontstore", category=None, brand=None,
                        discount_cents=50),
            WalletOffer(user_coupon_id=9, kind="category_brand", category="dairy",
                        brand="Farmhouse", discount_cents=30),
        ),
    )  # fmt: skip
    assert coupon.messages()[1]["content"] == (
        "Shopper: age 40, household of 3, middle income. Likes produce, dairy, snacks. "
        "Favourite brands produce_brand_1, dairy_brand_2. Coupon affinity medium, deal "
        "seeking medium, discount sensitivity medium, price consciousness medium.\n"
        "Cart: 3 items (dairy 2, produce 1); subtotal $3.57.\n"
        "Coupons you can apply (id: discount on this cart): 7: $0.50 off; "
        "9: $0.30 off (dairy, Farmhouse).\n"
        "Apply one of them, or none.\n"
        'Answer: {"user_coupon_id": <id>} or {"user_coupon_id": null}'
    )
    assert coupon.answer_schema()["properties"]["user_coupon_id"] == {
        "anyOf": [{"type": "integer", "enum": [7, 9]}, {"type": "null"}]
    }
    checkout = CheckoutQuestion(
        persona_id="p", persona=view, budget_cents=4500, cart=CART, subtotal_cents=357,
        discount_cents=50, total_cents=307, coupon_applied=True,
    )  # fmt: skip
    assert checkout.messages()[1]["content"] == (
        "Shopper: age 40, household of 3, middle income. Likes produce, dairy, snacks. "
        "Favourite brands produce_brand_1, dairy_brand_2. Price consciousness medium, cart "
        "abandonment rate low.\n"
        "Cart: 3 items (dairy 2, produce 1); total $3.07 after a $0.50 coupon; your budget "
        "for this trip $45.00.\n"
        "Complete the purchase, or abandon the cart?\n"
        'Answer: {"decision": "complete"} or {"decision": "abandon"}'
    )
    assert checkout.answer_schema()["properties"]["decision"]["enum"] == ["complete", "abandon"]
