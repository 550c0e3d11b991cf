"""The shopping graph through ``run_agent_hour`` on the in-memory shop (plus fault
injection: a shop that fails on a chosen call)."""

from __future__ import annotations

import ast
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from behaviors import graph as graph_mod
from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.run import run_agent_hour
from behaviors.shop import ShopRejected, ShopUnavailable
from behaviors.synthetic import make_catalog, make_persona, weekly_wallet
from db.models import EVENT_TYPES

CATALOG = make_catalog()
MONDAY = datetime(2025, 1, 6, tzinfo=UTC)
ALWAYS = {"shopping_frequency": 14, "preferred_days": ("Mon",), "preferred_time_of_day": "evening"}


class FaultyShop(InMemoryShop):
    """Raises ``exc`` on the ``nth`` call of ``method``; records cart_clear calls."""

    def __init__(self, *args, method: str = "", exc: Exception | None = None, nth: int = 1,
                 clear_fails: bool = False, **kw):  # fmt: skip
        super().__init__(*args, **kw)
        self.method, self.exc, self.nth, self.calls = method, exc, nth, 0
        self.clears = 0
        self.clear_fails = clear_fails

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name == super().__getattribute__("method"):

            def wrapped(*a, **k):  # fmt: skip
                self.calls += 1
                if self.calls == self.nth:
                    raise self.exc
                return attr(*a, **k)

            return wrapped
        return attr

    def cart_clear(self) -> None:
        self.clears += 1
        super().cart_clear()
        if self.clear_fails:
            raise ShopUnavailable("clear failed", "timeout")


def _hours(persona, kind: str, n: int = 1, seed: int = 1) -> list[int]:
    """Sim hours (from MONDAY) whose decision is ``kind`` for this persona and seed."""
    from behaviors.rhythm import decide_shop
    from behaviors.run import hour_rng

    out = []
    for h in range(2000):
        d = decide_shop(persona, sim_time=MONDAY + timedelta(hours=h, minutes=7),
                        rng=hour_rng(seed, persona.persona_id, h))  # fmt: skip
        if d.kind == kind:
            out.append(h)
            if len(out) == n:
                return out
    raise AssertionError(f"no {kind} hour found")


def _run(persona, h, shop, seed=1, **kw):
    return run_agent_hour(persona, run_seed=seed, sim_hour=h,
                          slot_time=MONDAY + timedelta(hours=h, minutes=7), shop=shop,
                          checkout_key=f"t:{h}", **kw)  # fmt: skip


def test_graph_is_compiled_once_with_the_issue_nodes():
    g = compile_shopping_graph()
    assert g is compile_shopping_graph()
    nodes = set(g.get_graph().nodes) - {"__start__", "__end__"}
    assert nodes == {"decide_shop", "browse_products", "add_to_cart", "view_coupons",
                     "decide_checkout", "complete_checkout", "abandon", "idle_browse"}  # fmt: skip


@pytest.mark.parametrize("name", [n for n in dir(graph_mod) if n.startswith("route_")])
def test_routers_return_literals(name):
    hint = typing.get_type_hints(getattr(graph_mod, name))["return"]
    assert typing.get_origin(hint) is typing.Literal


def test_none_hours_never_invoke_the_graph():
    class Boom:
        def invoke(self, *a, **k):
            raise AssertionError("graph invoked on a none hour")

    persona = make_persona()
    for h in _hours(persona, "none", n=20):
        r = _run(persona, h, InMemoryShop(CATALOG), graph=Boom())
        assert (r.decision, r.outcome, r.events) == ("none", "none", [])
        assert r.probabilities["decision"] == "none" and 0 <= r.probabilities["draw"] < 1


@pytest.mark.parametrize("seed", range(6))
def test_shopping_hour_events(seed):
    persona = make_persona(**ALWAYS)
    shop = InMemoryShop(CATALOG, weekly_wallet(persona, 0))
    h = _hours(persona, "shop", seed=seed)[0]
    r = _run(persona, h, shop, seed=seed)
    types = [e.event_type for e in r.events]
    assert r.decision == "shop" and types[0] == "session_start"
    assert set(types) <= set(EVENT_TYPES)
    assert types[-1] in ("checkout_complete", "abandon")
    assert r.outcome == ("completed" if types[-1] == "checkout_complete" else "abandoned")
    times = [datetime.fromisoformat(e.sim_time) for e in r.events]
    assert times == sorted(times) and times[0] >= MONDAY + timedelta(hours=h)
    assert r.events[0].payload["rule"] == "decide_shop" and "draw" in r.events[0].payload
    views = [e for e in r.events if e.event_type == "view_product"]
    adds = [e for e in r.events if e.event_type == "cart_add_item"]
    assert views and all(e.product_id for e in views) and "weight" in views[0].payload
    assert sum(e.quantity for e in adds) == r.item_count
    assert sum(e.quantity * e.price_cents for e in adds) <= persona.budget_per_trip
    assert shop.cart().lines == ()  # completed (checkout empties) or abandoned (cleared)
    if r.outcome == "completed":
        assert r.order is not None and r.order.idempotency_key == f"t:{h}"
        assert r.cart_value_cents == r.order.total_cents
        assert "p_abandon" in r.events[-1].payload


def test_idle_hour_browses_without_cart():
    persona = make_persona(impulsivity=1.0, shopping_frequency=0.5)
    shop = InMemoryShop(CATALOG)
    h = _hours(persona, "idle")[0]
    r = _run(persona, h, shop)
    types = [e.event_type for e in r.events]
    assert (r.decision, r.outcome) == ("idle", "idle")
    assert types[0] == "idle_browse" and set(types[1:]) == {"view_product"}
    assert r.item_count == 0 and r.order is None and shop.cart().lines == ()


@pytest.mark.parametrize("rate,outcome", [(0.0, "completed"), (1.0, "abandoned")])
def test_abandonment_extremes(rate, outcome):
    persona = make_persona(cart_abandonment_rate=rate, budget_per_trip=10**7, **ALWAYS)
    shop = InMemoryShop(CATALOG, weekly_wallet(persona, 0))
    for h in _hours(persona, "shop", n=5):
        r = _run(persona, h, shop)
        assert r.outcome == outcome
        if outcome == "abandoned":
            assert r.abandon_reason == "decided" and r.events[-1].event_type == "abandon"
        assert shop.cart().lines == ()


def test_tiny_budget_abandons_over_budget():
    persona = make_persona(budget_per_trip=1, **ALWAYS)
    r = _run(persona, _hours(persona, "shop")[0], InMemoryShop(CATALOG))
    assert (r.outcome, r.abandon_reason, r.item_count) == ("abandoned", "over_budget", 0)
    assert not any(e.event_type == "cart_add_item" for e in r.events)


@pytest.mark.parametrize(
    "method", ["categories", "catalog_page", "cart_add", "wallet", "view_coupon", "checkout"]
)
def test_shop_unavailable_fails_the_hour_and_clears_the_cart(method):
    persona = make_persona(coupon_affinity=1.0, deal_seeking=1.0, cart_abandonment_rate=0.0,
                           budget_per_trip=10**7, **ALWAYS)  # fmt: skip
    err = ShopUnavailable("boom", "api_5xx")
    shop = FaultyShop(CATALOG, weekly_wallet(persona, 0), method=method, exc=err, clear_fails=True)
    r = _run(persona, _hours(persona, "shop")[0], shop)
    assert r.outcome == "failed" and r.error is err
    assert r.abandon_reason == "shop_unavailable:api_5xx"
    assert shop.clears >= 1  # tried, and its own failure was ignored
    assert r.order is None


def test_checkout_rejected_is_an_abandon_with_reason():
    persona = make_persona(cart_abandonment_rate=0.0, budget_per_trip=10**7, **ALWAYS)
    shop = FaultyShop(CATALOG, method="checkout", exc=ShopRejected("coupon_expired", 409))
    r = _run(persona, _hours(persona, "shop")[0], shop)
    assert r.outcome == "abandoned" and r.abandon_reason == "checkout_rejected:coupon_expired"
    assert r.events[-1].event_type == "checkout_failed"
    assert shop.clears == 1 and shop.cart().lines == ()


def test_wallet_seen_and_coupon_applied():
    persona = make_persona(coupon_affinity=1.0, deal_seeking=1.0, discount_sensitivity=1.0,
                           budget_per_trip=10**7, **ALWAYS)  # fmt: skip
    shop = InMemoryShop(CATALOG, weekly_wallet(persona, 0))
    applied = 0
    for h in _hours(persona, "shop", n=12):
        r = _run(persona, h, shop)
        opened = r.steps["open_wallet"]["open"]
        assert (r.wallet_seen is not None) == opened
        if r.coupon_applied:
            applied += 1
            assert any(e.event_type == "apply_coupon" for e in r.events)
            assert r.discount_cents > 0
    assert applied > 0


FORBIDDEN = ("locust", "gevent", "requests", "httpx", "urllib3", "aiohttp", "sqlalchemy",
             "psycopg", "psycopg_pool", "harness", "reference_api", "db", "fastapi")  # fmt: skip


BEHAVIORS = Path(__file__).resolve().parent.parent / "behaviors"
BEHAVIOR_FILES = sorted(BEHAVIORS.rglob("*.py"))
"""Relative to this file, not to the directory pytest was started from."""


def test_the_import_rule_sees_the_behaviors_package():
    names = {p.name for p in BEHAVIOR_FILES}
    assert {"__init__.py", "run.py", "graph.py", "nodes.py"} <= names, names


@pytest.mark.parametrize("path", BEHAVIOR_FILES, ids=lambda p: str(p.relative_to(BEHAVIORS)))
def test_behaviors_import_no_locust_http_or_sql(path):
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    bad = [n for n in names if n.split(".")[0] in FORBIDDEN]
    assert bad == []


def test_langsmith_tracing_off_unless_opted_in(monkeypatch):
    import langsmith
    from langsmith.utils import tracing_is_enabled

    for var in graph_mod.TRACING_OPT_IN_VARS:
        monkeypatch.delenv(var, raising=False)
    try:
        langsmith.configure(enabled=True)
        graph_mod._tracing_off_unless_opted_in()
        assert tracing_is_enabled() is False
        monkeypatch.setenv("LANGSMITH_TRACING", "true")
        langsmith.configure(enabled=True)
        graph_mod._tracing_off_unless_opted_in()
        assert tracing_is_enabled() is True  # the user opted in: left on
    finally:
        langsmith.configure(enabled=False)
