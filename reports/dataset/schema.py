"""The dataset's columns: every column of every file with its Arrow type, unit, meaning
and role.

Roles (``schema.json`` carries them, so a data scientist can select features by role):

- ``observable``: what a real shopping app would log (events, sessions, orders, the
  hour's visit or no visit, a customer's demographics);
- ``context``: how the rows were made (run, time scale, replay flag, harness worker, slip,
  split) — not behaviour;
- ``generator``: the simulator's own inputs and settings (a rule's probabilities and
  draws, the persona's behavioural settings such as ``cart_abandonment_rate``). A model
  trained on them learns the generator, not shoppers: leave them out of features unless
  the generator itself is studied (``loadsim dataset --no-generator`` drops them).

Payload fields of an event (``behaviors.nodes`` / ``behaviors.rules`` decisions) become
typed ``payload_*`` columns; keys the catalogue below does not know stay, as JSON text, in
``payload_other`` (role ``generator``: undocumented, so not trusted as a feature).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from personas.model import PERSONA_FIELDS

OBSERVABLE, CONTEXT, GENERATOR = "observable", "context", "generator"
ROLES = (OBSERVABLE, CONTEXT, GENERATOR)

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
I64 = pa.int64()
F64 = pa.float64()
BOOL = pa.bool_()
STR_LIST = pa.list_(pa.string())
I64_LIST = pa.list_(pa.int64())


@dataclass(frozen=True)
class Col:
    """One column: name, Arrow type, role, meaning and unit ('' = none)."""

    name: str
    type: pa.DataType
    role: str
    meaning: str
    unit: str = ""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": str(self.type),
            "unit": self.unit or None,
            "role": self.role,
            "meaning": self.meaning,
        }
        if self.name in NESTED:
            out["fields"] = [
                {"name": n, "type": str(t), "unit": u or None} for n, t, u in NESTED[self.name]
            ]
        return out


def _c(name: str, t: pa.DataType, role: str, meaning: str, unit: str = "") -> Col:
    assert role in ROLES, role
    return Col(name, t, role, meaning, unit)


# ---------------------------------------------------------------- shared columns

RUN_ID = _c("run_id", STR, CONTEXT, "The run that produced the row.")
AGENT_ID = _c("agent_id", I64, OBSERVABLE, "The simulated customer (agents.id).")
PERSONA_ID = _c(
    "persona_id", STR, OBSERVABLE, "The customer's persona id: the grouping key of the split."
)
SIM_HOUR = _c(
    "sim_hour", I64, CONTEXT, "Simulated hour of the run (0 = the simulated start).", "hour"
)
IS_REPLAY = _c(
    "is_replay",
    BOOL,
    CONTEXT,
    "True when the hour was re-played by a --resume (its first attempt was lost).",
)
ARM = _c("arm", STR, CONTEXT, "Experiment arm of the row, when the run had arms.")
SPLIT = _c(
    "split",
    STR,
    CONTEXT,
    "train / validation / test. --split persona (default): by persona, a persona is in "
    "one split only (personas of held-out households in test); --split time: by "
    "simulated hour (first hours train, last test); see README.md.",
)

# ---------------------------------------------------------------- events

EVENT_BASE = (
    RUN_ID,
    _c("session_id", I64, OBSERVABLE, "The shopping session the event belongs to."),
    _c("seq", I64, OBSERVABLE, "Position of the event in its session (0 first)."),
    AGENT_ID,
    PERSONA_ID,
    _c(
        "event_type",
        STR,
        OBSERVABLE,
        "session_start, view_product, cart_add_item, cart_remove_item, view_coupon, "
        "apply_coupon, checkout_complete, checkout_failed, abandon, idle_browse.",
    ),
    _c("sim_time", TS, OBSERVABLE, "Simulated instant of the event.", "UTC timestamp"),
    _c(
        "real_time",
        TS,
        CONTEXT,
        "Wall-clock instant the harness wrote or performed it (depends on the time scale).",
        "UTC timestamp",
    ),
    _c("product_id", I64, OBSERVABLE, "Product viewed / added (products.id)."),
    _c("user_coupon_id", I64, OBSERVABLE, "Wallet coupon viewed / applied / redeemed."),
    _c("quantity", I64, OBSERVABLE, "Items added, or items in the completed order.", "items"),
    _c(
        "price_cents",
        I64,
        OBSERVABLE,
        "Product price (views, adds), discount (apply_coupon), order total "
        "(checkout_complete) or cart value (abandon).",
        "cents",
    ),
    IS_REPLAY,
    SIM_HOUR,
    _c("session_kind", STR, OBSERVABLE, "shop, or idle_browse (a visit without buying intent)."),
    _c("session_status", STR, OBSERVABLE, "completed / abandoned / active at the end."),
)


@dataclass(frozen=True)
class PayloadKey:
    """A decision-payload key: how to extract it from JSON, and its column."""

    key: str
    kind: str  # number_int | number_float | bool | string | string_list | pairs
    col: Col


def _p(key: str, kind: str, role: str, meaning: str, unit: str = "", name: str = "") -> PayloadKey:
    t = {
        "number_int": I64,
        "number_float": F64,
        "bool": BOOL,
        "string": STR,
        "string_list": STR_LIST,
        "pairs": I64_LIST,
    }[kind]
    return PayloadKey(key, kind, _c(name or f"payload_{key}", t, role, meaning, unit))


G = GENERATOR
PAYLOAD_KEYS: tuple[PayloadKey, ...] = (
    _p("rule", "string", G, "The simulator's rule that decided the event."),
    _p(
        "decision",
        "string",
        G,
        "The rule's decision: shop / idle / none (decide_shop), complete / abandon "
        "(decide_checkout).",
    ),
    _p("hour_of_week", "number_int", OBSERVABLE, "Hour of the week (0 = Monday 00h).", "hour"),
    _p("p_shop_base", "number_float", G, "decide_shop: probability before the coupon lift."),
    _p("coupon_lift", "number_float", G, "decide_shop: lift from relevant wallet coupons."),
    _p("p_shop", "number_float", G, "decide_shop: probability of shopping this hour."),
    _p("p_idle", "number_float", G, "decide_shop: probability of an idle browse."),
    _p(
        "draw",
        "number_float",
        G,
        "The uniform draw the rule (payload_rule) compared with its probability.",
    ),
    _p(
        "relevant_coupons",
        "number_int",
        G,
        "decide_shop: wallet coupons matching the persona's preferences.",
    ),
    _p("target_views", "number_int", G, "browse_products: views planned.", "products"),
    _p("available", "number_int", G, "browse_products: products on the opened pages."),
    _p("views", "number_int", G, "browse_products: products viewed.", "products"),
    _p(
        "categories",
        "string_list",
        OBSERVABLE,
        "Category pages opened in the session (each is an API call).",
    ),
    _p("trip_scale", "number_float", G, "This trip's size factor (rules.trip_scale)."),
    _p("rank", "number_int", OBSERVABLE, "Position of the view in the session's views."),
    _p("weight", "number_float", G, "browse_products: the product's preference weight."),
    _p("category", "string", OBSERVABLE, "Category of the viewed product."),
    _p("target_items", "number_int", G, "add_to_cart: items planned.", "items"),
    _p("unplanned_target", "number_int", G, "add_to_cart: unplanned items planned.", "items"),
    _p("items", "number_int", G, "add_to_cart: items in the planned basket.", "items"),
    _p("budget_cents", "number_int", G, "add_to_cart: the trip's budget.", "cents"),
    _p("spend_cents", "number_int", G, "add_to_cart: the planned basket's value.", "cents"),
    _p("budget_cut", "bool", G, "add_to_cart: the budget removed items."),
    _p("substitutions", "number_int", G, "add_to_cart: products substituted."),
    _p("unplanned", "bool", G, "add_to_cart: this line was an impulse (unplanned) item."),
    # The basket decided by a language model (--llm-*, behaviors.llm): null without one.
    _p("decided_by", "string", G, "Who decided the basket: rules, llm, or fallback (rules)."),
    _p("fallback_reason", "string", G, "Why the model's basket was not used."),
    _p(
        "basket_decided_by",
        "string",
        G,
        "abandon: who decided the basket (an empty one has no cart_add_item to say it).",
    ),
    _p("llm_model", "string", CONTEXT, "The model asked for the basket."),
    _p("prompt_hash", "string", CONTEXT, "Hash of the question put to the model."),
    _p("tokens_in", "number_int", CONTEXT, "Prompt tokens of the model call.", "tokens"),
    _p("tokens_out", "number_int", CONTEXT, "Completion tokens of the model call.", "tokens"),
    _p("latency_ms", "number_float", CONTEXT, "Duration of the model call.", "ms"),
    _p("llm_cached", "bool", CONTEXT, "The model's answer came from the cache."),
    _p("p_open", "number_float", G, "open_wallet: probability of opening the wallet."),
    _p("open", "bool", G, "open_wallet: the wallet was opened."),
    _p("value_cents", "number_int", OBSERVABLE, "Discount the viewed coupon gives.", "cents"),
    _p(
        "eligible",
        "pairs",
        G,
        "choose_coupon: eligible coupons best first, flattened as [user_coupon_id, "
        "discount_cents, user_coupon_id, discount_cents, ...].",
    ),
    _p("p_apply", "number_float", G, "choose_coupon: probability of applying one."),
    _p("chosen", "number_int", G, "choose_coupon: the coupon chosen (user_coupon_id)."),
    _p("chosen_value_cents", "number_int", G, "choose_coupon: its discount.", "cents"),
    _p("base_abandon", "number_float", G, "decide_checkout: base abandonment probability."),
    _p("logit_delta", "number_float", G, "decide_checkout: shift from price and coupon."),
    _p("p_abandon", "number_float", G, "decide_checkout: probability of abandoning."),
    _p("coupon_applied", "bool", OBSERVABLE, "A coupon was applied to the cart."),
    _p("p_open_wallet", "number_float", G, "open_wallet's probability, on the last event."),
    _p("wallet_opened", "bool", OBSERVABLE, "The customer opened the wallet in the session."),
    _p(
        "reason",
        "string",
        G,
        "Why the session ended without an order: decided, over_budget, empty_cart, "
        "shop_unavailable:<kind>, or the API's refusal (checkout_failed).",
    ),
    _p("order_id", "number_int", OBSERVABLE, "The order placed (orders.id)."),
    _p("subtotal_cents", "number_int", OBSERVABLE, "Order value before discount.", "cents"),
    _p("discount_cents", "number_int", OBSERVABLE, "Order discount.", "cents"),
    _p("item_count", "number_int", OBSERVABLE, "Items in the order.", "items"),
)
PAYLOAD_OTHER = _c(
    "payload_other",
    STR,
    GENERATOR,
    "Payload keys this schema does not describe, as JSON text (null when none).",
)

# ---------------------------------------------------------------- sessions

SESSION_COLS = (
    RUN_ID,
    _c("session_id", I64, OBSERVABLE, "shopping_sessions.id."),
    AGENT_ID,
    PERSONA_ID,
    SIM_HOUR,
    _c("kind", STR, OBSERVABLE, "shop, or idle_browse (a visit without buying intent)."),
    _c("status", STR, OBSERVABLE, "completed / abandoned (active: still open at the end)."),
    _c(
        "abandon_reason",
        STR,
        GENERATOR,
        "Why the simulator ended it without an order (decided, over_budget, empty_cart, "
        "shop_unavailable:<kind>, checkout_rejected:<reason>, run_stopped).",
    ),
    _c("started_sim_at", TS, OBSERVABLE, "Simulated start.", "UTC timestamp"),
    _c("ended_sim_at", TS, OBSERVABLE, "Simulated end (last event).", "UTC timestamp"),
    _c("started_at", TS, CONTEXT, "Wall-clock start.", "UTC timestamp"),
    _c("ended_at", TS, CONTEXT, "Wall-clock end.", "UTC timestamp"),
    _c("order_id", I64, OBSERVABLE, "The order placed, if any."),
    _c("item_count", I64, OBSERVABLE, "Items in the cart at the end.", "items"),
    _c("cart_value_cents", I64, OBSERVABLE, "Cart value at the end.", "cents"),
    _c("discount_cents", I64, OBSERVABLE, "Discount applied.", "cents"),
    _c("coupon_applied", BOOL, OBSERVABLE, "A coupon was applied."),
    IS_REPLAY,
)

# ---------------------------------------------------------------- orders

LINE_FIELDS = (
    ("product_id", I64, ""),
    ("quantity", I64, "items"),
    ("unit_price_cents", I64, "cents"),
    ("category", STR, ""),
    ("brand", STR, ""),
)
LINE_TYPE = pa.list_(pa.struct([(n, t) for n, t, _ in LINE_FIELDS]))
NESTED = {"lines": LINE_FIELDS}
"""Columns whose elements are records: their fields, typed, in ``schema.json``."""
ORDER_COLS = (
    RUN_ID,
    _c("order_id", I64, OBSERVABLE, "orders.id."),
    _c("session_id", I64, OBSERVABLE, "The session that placed it."),
    AGENT_ID,
    PERSONA_ID,
    SIM_HOUR,
    _c("status", STR, OBSERVABLE, "Order status (placed)."),
    _c("subtotal_cents", I64, OBSERVABLE, "Value before discount.", "cents"),
    _c("discount_cents", I64, OBSERVABLE, "Discount.", "cents"),
    _c("total_cents", I64, OBSERVABLE, "Amount paid.", "cents"),
    _c("user_coupon_id", I64, OBSERVABLE, "The redeemed wallet coupon, if any."),
    _c("simulated_at", TS, OBSERVABLE, "Simulated instant of the order.", "UTC timestamp"),
    _c("created_at", TS, CONTEXT, "Wall-clock instant it was written.", "UTC timestamp"),
    IS_REPLAY,
    _c(
        "lines",
        LINE_TYPE,
        OBSERVABLE,
        "The order's lines: product_id, quantity (items), unit_price_cents (cents), "
        "category, brand (from products).",
    ),
)

# ---------------------------------------------------------------- agent hours

HOUR_COLS = (
    RUN_ID,
    AGENT_ID,
    PERSONA_ID,
    SIM_HOUR,
    _c("sim_time", TS, OBSERVABLE, "Simulated start of the hour.", "UTC timestamp"),
    _c(
        "decision",
        STR,
        OBSERVABLE,
        "The label: shop (a shopping visit), idle (a browsing-only visit), none (no "
        "visit: the negatives), missed (the harness could not run the hour: not "
        "behaviour, exclude it).",
    ),
    _c(
        "outcome",
        STR,
        OBSERVABLE,
        "completed, abandoned, idle, none; failed (the API was unavailable) and missed "
        "are the harness's, not the customer's.",
    ),
    _c("session_id", I64, OBSERVABLE, "The hour's session (null: no visit)."),
    _c("error_kind", STR, CONTEXT, "What failed, for failed hours."),
    _c(
        "slip_seconds",
        F64,
        CONTEXT,
        "How late the harness started the hour's slot (wall clock).",
        "seconds",
    ),
    _c("worker", STR, CONTEXT, "Harness process (and user) that ran the hour."),
    IS_REPLAY,
    _c("created_at", TS, CONTEXT, "Wall-clock instant the hour was recorded.", "UTC timestamp"),
    _c("finished_at", TS, CONTEXT, "Wall-clock instant the hour finished.", "UTC timestamp"),
)

# ---------------------------------------------------------------- personas

_DEMOGRAPHIC = {
    "age": (I64, "Age.", "years"),
    "gender": (STR, "Gender.", ""),
    "income_band": (STR, "Income band.", ""),
    "city": (STR, "City (invented for synthetic personas).", ""),
    "household_size": (I64, "People in the household.", "people"),
    "occupation": (STR, "Occupation (invented for synthetic personas).", ""),
    "channel": (STR, "Channel: voice, app or web.", ""),
    "preferred_store": (STR, "Home store code (stores.code).", ""),
    "name": (STR, "Display name (invented).", ""),
}
_SETTING_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "shopping_frequency": (F64, "sessions/week"),
    "preferred_days": (STR_LIST, ""),
    "preferred_time_of_day": (STR, ""),
    "weekday_affinity": (F64, "0-1"),
    "weekend_affinity": (F64, "0-1"),
    "browse_depth": (I64, "products"),
    "avg_basket_size": (F64, "items"),
    "budget_per_trip": (I64, "cents"),
    "impulsivity": (F64, "0-1"),
    "cart_abandonment_rate": (F64, "0-1"),
    "preferred_categories": (STR_LIST, ""),
    "preferred_brands": (STR_LIST, ""),
    "brand_loyalty": (F64, "0-1"),
    "discount_sensitivity": (F64, "0-1"),
    "price_consciousness": (F64, "0-1"),
    "coupon_affinity": (F64, "0-1"),
    "deal_seeking": (F64, "0-1"),
    "churn_risk": (F64, "0-1"),
}


def _persona_doc(field: str) -> str:
    from personas.model import Persona

    doc = Persona.model_fields[field].description or ""
    return " ".join(doc.split())


def _persona_col(field: str) -> Col:
    if field == "persona_id":
        return PERSONA_ID
    if field in _DEMOGRAPHIC:
        t, meaning, unit = _DEMOGRAPHIC[field]
        return _c(field, t, OBSERVABLE, meaning, unit)
    t, unit = _SETTING_TYPES[field]
    return _c(field, t, GENERATOR, "Simulator setting: " + _persona_doc(field), unit)


PERSONA_COLS = (
    RUN_ID,
    AGENT_ID,
    *(_persona_col(f) for f in PERSONA_FIELDS),
    _c(
        "segment",
        STR,
        GENERATOR,
        "channel/income band/frequency band (the frequency is a simulator setting).",
    ),
    _c("persona_hash", STR, CONTEXT, "Hash of the persona's attributes as seeded."),
    _c(
        "household",
        STR,
        CONTEXT,
        "Source household the persona was derived from (loadsim personas derive).",
    ),
    _c(
        "household_split",
        STR,
        CONTEXT,
        "That household's split in the derivation: derive, or holdout (realism's reference).",
    ),
)
SOURCE_COLS = tuple(
    _c(
        f"source_{f}",
        STR,
        CONTEXT,
        f"Where {f} came from in the derivation (the workbook's Sources sheet).",
    )
    for f in PERSONA_FIELDS
    if f != "persona_id"
)

FILES = ("events", "sessions", "orders", "agent_hours", "personas")
"""The Parquet files, ``<name>.parquet``."""


def catalogue() -> dict[str, Col]:
    """Every column the writer can produce, by name (one meaning per name)."""
    out: dict[str, Col] = {}
    cols = (
        *EVENT_BASE,
        *(k.col for k in PAYLOAD_KEYS),
        PAYLOAD_OTHER,
        *SESSION_COLS,
        *ORDER_COLS,
        *HOUR_COLS,
        *PERSONA_COLS,
        *SOURCE_COLS,
        ARM,
        SPLIT,
    )
    for c in cols:
        out.setdefault(c.name, c)
    return out
