"""What one agent-hour costs: LangGraph runs per second, the graph's cost over the bare
rules, and the no-shop path against a shopping session.

    .venv/bin/python bench/bench_graph.py [--sessions 400] [--none-hours 20000] [--smoke]

Measured on one core (single process). Four figures per hour kind:
- ``graph``: ``run_agent_hour`` through the compiled LangGraph graph (what the harness runs);
- ``bare nodes``: the same node functions and routers called in a plain loop, same shop and
  events (the graph's own overhead = graph − bare nodes);
- ``rules only``: the pure decisions of a session without shop or events;
- ``none path``: ``run_agent_hour`` for hours whose decision is "none" (no graph).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from behaviors import graph as g  # noqa: E402
from behaviors import rules  # noqa: E402
from behaviors.memory_shop import InMemoryShop  # noqa: E402
from behaviors.rhythm import decide_shop  # noqa: E402
from behaviors.run import hour_rng, run_agent_hour  # noqa: E402
from behaviors.synthetic import make_catalog, random_personas, weekly_wallet  # noqa: E402
from bench._smoke import add_smoke  # noqa: E402

MONDAY = datetime(2025, 1, 6, tzinfo=UTC)
SEED = 11


def _slot(h: int) -> datetime:
    return MONDAY + timedelta(hours=h, minutes=17)


def _hours(personas, kind: str, n: int) -> list[tuple[object, int]]:
    out = []
    h = 0
    while len(out) < n:
        for p in personas:
            d = decide_shop(p, sim_time=_slot(h), rng=hour_rng(SEED, p.persona_id, h))
            if d.kind == kind:
                out.append((p, h))
        h += 1
    return out[:n]


def _bare(ctx: g.HourContext, decision) -> dict:
    """The graph's nodes and routers in a plain loop (no LangGraph)."""
    state: dict = {"decision": decision, "clock": 0, "events": [], "steps": {}}
    rt = SimpleNamespace(context=ctx)
    node = "decide_shop"
    routes = {
        "decide_shop": g.route_decision,
        "idle_browse": g.route_after_idle,
        "browse_products": g.route_after_browse,
        "add_to_cart": g.route_after_cart,
        "view_coupons": g.route_after_coupons,
        "decide_checkout": g.route_checkout,
        "complete_checkout": g.route_after_complete,
        "abandon": lambda s: "__end__",
    }
    while node != "__end__":
        update = getattr(g, node)(state, rt)
        for k, v in update.items():
            if k == "events":
                state["events"] = state["events"] + v
            elif k == "steps":
                state["steps"] = {**state["steps"], **v}
            else:
                state[k] = v
        node = routes[node](state)
    return state


def _rules_only(persona, h: int, pages) -> None:
    rng = hour_rng(SEED, persona.persona_id, h)
    rules.decide_shop(persona, sim_time=_slot(h), rng=rng)
    target = rules.browse_target(persona, rng)
    b = rules.browse_products(persona, pages, rng, target=target)
    basket = rules.add_to_cart(persona, b.products, rng)
    rules.open_wallet(persona, rng)
    rules.decide_checkout(persona, coupon_applied=False, rng=rng)
    return basket


def _empty_chain(n: int):
    """A chain of ``n`` no-op nodes: LangGraph's fixed cost on this machine right now."""
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class S(TypedDict, total=False):
        a: int

    sg = StateGraph(S)
    prev = START
    for i in range(n):
        sg.add_node(f"n{i}", lambda s: {"a": s.get("a", 0) + 1})
        sg.add_edge(prev, f"n{i}")
        prev = f"n{i}"
    sg.add_edge(prev, END)
    return sg.compile()


def _time(fn, items) -> float:
    t0 = time.perf_counter()
    for it in items:
        fn(*it)
    return (time.perf_counter() - t0) / len(items)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=400)
    ap.add_argument("--none-hours", type=int, default=20000)
    add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.sessions, args.none_hours = 3, 20
    warm = min(20, args.sessions)

    catalog = make_catalog()
    personas = random_personas(50, seed=2)
    shops = {p.persona_id: InMemoryShop(catalog, weekly_wallet(p, 0)) for p in personas}
    compiled = g.compile_shopping_graph()

    shop_hours = _hours(personas, "shop", args.sessions)
    idle_hours = _hours(personas, "idle", args.sessions)
    none_hours = _hours(personas, "none", args.none_hours)

    def via_graph(p, h):
        return run_agent_hour(p, run_seed=SEED, sim_hour=h, slot_time=_slot(h),
                              shop=shops[p.persona_id], checkout_key=f"b:{h}", graph=compiled)  # fmt: skip

    def via_bare(p, h):
        rng = hour_rng(SEED, p.persona_id, h)
        d = decide_shop(p, sim_time=_slot(h), rng=rng)
        ctx = g.HourContext(p, shops[p.persona_id], rng, _slot(h), h, f"b:{h}")
        return _bare(ctx, d)

    pages = [[x for x in catalog if x.category == c][:50] for c in ("produce", "dairy")]

    # warm caches (compiled graph, page weight tables, week profiles) before timing
    for p, h in shop_hours[:warm]:
        via_graph(p, h)
        via_bare(p, h)

    sizes = [len(via_graph(p, h).events) for p, h in shop_hours[:100]]
    rows = []
    for label, items in (("shop", shop_hours), ("idle", idle_hours)):
        tg = statistics.median(_time(via_graph, items) for _ in range(3))
        tb = statistics.median(_time(via_bare, items) for _ in range(3))
        rows.append((label, tg, tb))
    tr = _time(lambda p, h: _rules_only(p, h, pages), shop_hours)
    tn = statistics.median(_time(via_graph, none_hours) for _ in range(3))
    chain = _empty_chain(6)
    te = _time(lambda: chain.invoke({"a": 0}, g.GRAPH_CONFIG), [()] * (5 if args.smoke else 200))

    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"shopping sessions: {len(shop_hours)} ({statistics.mean(sizes):.1f} events each)")
    for label, tg, tb in rows:
        print(
            f"{label:5s} hour  graph {tg * 1e3:7.2f} ms ({1 / tg:6.0f} runs/s/core)   "
            f"bare nodes {tb * 1e3:6.2f} ms   graph overhead {(tg - tb) * 1e3:6.2f} ms "
            f"({tg / tb:4.1f}x)"
        )
    print(f"empty 6-node LangGraph chain (baseline): {te * 1e3:6.2f} ms per invoke")
    print(f"rules only (one session's decisions, no shop/events): {tr * 1e6:8.1f} µs")
    shop_t = rows[0][1]
    print(
        f"none path (run_agent_hour, no graph): {tn * 1e6:8.1f} µs/call "
        f"= {100 * tn / shop_t:.2f} % of a shopping session "
        f"({1 / tn:,.0f} calls/s/core)"
    )


if __name__ == "__main__":
    main()
