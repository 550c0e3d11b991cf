"""The report's model-versus-rules table (``reports.llm_report.decider_realism``) on real
Postgres: a run played by the real agent-hour code through the real recorder, half its
sessions model-decided, counts every session that reached the basket under who decided
it — a basket that put nothing in the cart included, with 0 items.

The scripted model answers every other basket question with an empty basket (a schema
violation: the rules decided to buy, so the rule's basket is used, ``fallback``) and the
others with products the shop then refuses (sold out): model-decided sessions whose cart
stays empty. Before the abandon event said who decided the basket, those sessions were
missing from the table."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, text

from behaviors.graph import compile_shopping_graph
from behaviors.llm import BasketAnswer, BasketLineAnswer, BasketQuestion, Decided, Fallback
from behaviors.shop import ShopRejected
from behaviors.synthetic import random_personas, weekly_wallet
from harness.agent.catalog_cache import CatalogCache
from harness.agent.hour import AgentHours
from harness.agent.hourstats import HourCollector
from harness.agent.recorder import Recorder
from personas.catalog import generate_catalog, seed_catalog
from personas.seed import seed_personas
from reports.llm_report import DECIDER_METRICS, decider_realism
from tests.test_dataset import SIM_START, _DbShop

HOURS = 48
SOLD_OUT: set[int] = set()
"""Products the scripted model chose: the shop refuses to add them."""


class _SoldOutShop(_DbShop):
    def cart_add(self, product_id: int, quantity: int) -> Any:
        if product_id in SOLD_OUT:
            raise ShopRejected("sold_out")
        return super().cart_add(product_id, quantity)


class _EmptyOrSoldOut:
    """Basket questions alternate: an empty answer (a counted ``schema`` fallback), then the
    first offered products, one each, marked sold out. Coupon and checkout: the rules'."""

    def __init__(self) -> None:
        self.asked = 0
        self.sold_out_answers = 0

    def decide(self, question: Any) -> Decided | Fallback:
        if not isinstance(question, BasketQuestion):
            return Fallback("timeout")
        self.asked += 1
        if self.asked % 2:
            return Decided(BasketAnswer(lines=[]), "m", question.prompt_hash())
        picked = question.offered[: question.lines]
        SOLD_OUT.update(p.id for p in picked)
        self.sold_out_answers += 1
        lines = [BasketLineAnswer(product_id=p.id, quantity=1) for p in picked]
        return Decided(BasketAnswer(lines=lines), "m", question.prompt_hash())

    def note_hour(self, steps: dict[str, Any]) -> None:
        pass


class _KeepingRecorder(Recorder):
    """The real recorder, keeping each finished session's result (the test's own tally)."""

    results: list[Any]

    def finish(self, **kw: Any) -> None:
        self.results.append(kw["result"])
        super().finish(**kw)


def _play(engine: Engine, port: _EmptyOrSoldOut) -> list[Any]:
    personas = random_personas(12, seed=11)
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=42))
        seed_personas(conn, personas=personas)
        conn.execute(
            text("INSERT INTO simulation_runs (run_id, time_scale, seed, sim_start) "
                 "VALUES ('llm-r', 96, 3, :s)"),
            dict(s=SIM_START),
        )  # fmt: skip
        ids = {
            pid: (int(a), int(u))
            for pid, a, u in conn.execute(text("SELECT persona_id, id, user_id FROM agents"))
        }
    recorder = _KeepingRecorder(engine, run_id="llm-r", worker="w1")
    recorder.results = []
    rt = SimpleNamespace(
        run=SimpleNamespace(seed=3, run_id="llm-r", replay_until_hour=0),
        recorder=recorder, collector=HourCollector(), graph=compile_shopping_graph(),
        measure_graph=lambda ms, exc=None: None, llm=port, opts=SimpleNamespace(llm_share=0.5),
    )  # fmt: skip
    products = CatalogCache.from_db(engine).products
    for p in personas:
        agent_id, user_id = ids[p.persona_id]
        shop = _SoldOutShop(engine, user_id, products, weekly_wallet(p, 0))
        agent = AgentHours(rt, agent_id=agent_id, persona=p, shop=shop)
        for h in range(HOURS):
            agent.run(h, SIM_START + timedelta(hours=h, minutes=17), 0.01)
    recorder.flush()
    return recorder.results


def test_every_basket_counts_under_who_decided_it_an_empty_one_with_0_items(clean_db):
    SOLD_OUT.clear()
    port = _EmptyOrSoldOut()
    results = _play(clean_db, port)
    # the test's own tally, from the played sessions: who decided each basket, its items
    tally: dict[str, list[int]] = {}
    for r in results:
        step = r.steps.get("add_to_cart")
        if step is None:  # no basket: an idle hour, or the shop failed before it
            continue
        adds = [e.quantity for e in r.events if e.event_type == "cart_add_item"]
        tally.setdefault(step["decided_by"], []).append(sum(adds))
    with clean_db.connect() as conn:
        table = decider_realism(conn, "llm-r")
    assert set(table) == {"rules", "llm", "fallback"} == set(tally)
    assert {who: t["sessions"] for who, t in table.items()} == {
        who: len(items) for who, items in tally.items()
    }
    for who, items in tally.items():
        assert table[who]["empty_basket_rate"] == round(sum(n == 0 for n in items) / len(items), 4)
        assert table[who]["basket_items_mean"] == round(sum(items) / len(items), 4)
    # every model-decided basket was refused by the shop: 0 items, no order, none missing
    assert table["llm"]["sessions"] == port.sold_out_answers > 0
    assert (table["llm"]["empty_basket_rate"], table["llm"]["basket_items_mean"]) == (1.0, 0.0)
    assert (table["llm"]["categories_mean"], table["llm"]["completed_rate"]) == (0.0, 0.0)
    assert table["llm"]["order_value_mean_cents"] is None
    # an empty answer is the rule's basket (the rules decided to buy)
    assert table["fallback"]["sessions"] == port.asked - port.sold_out_answers > 0
    assert table["fallback"]["basket_items_mean"] > 0
    assert set(table["rules"]) == set(DECIDER_METRICS)
