"""The LangGraph shopping graph: one agent's simulated hour.

```
START → decide_shop ─┬─ shop → browse_products → add_to_cart ─┬─ view_coupons → decide_checkout ─┬─ complete_checkout → END
                     │                                        └─ (empty cart) abandon → END      └─ abandon → END
                     ├─ idle → idle_browse → END
                     └─ none → END
```

Nodes call the pure rules (``behaviors.rules``) and act through the ``Shop`` port in the
per-invocation context (``HourContext``); every step returns its behavior events. A
``ShopUnavailable`` from any step stops the flow: the router sends it to ``abandon``, which
clears the cart (ignoring errors of that clear) and records the outcome ``failed``.

Compiled once per process (``compile_shopping_graph`` caches it), no checkpointer, run by
``run_graph`` (its values stream, ``GRAPH_CONFIG``). LangSmith tracing is switched off
unless the user opted in with ``LANGSMITH_TRACING=true`` (or the legacy
``LANGCHAIN_TRACING_V2``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from functools import cache
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph

from behaviors.nodes import (
    IDLE_DEPTH_SHARE,
    PAGE_LIMIT,
    HourContext,
    HourState,
    abandon,
    add_to_cart,
    browse_products,
    complete_checkout,
    decide_checkout,
    decide_shop,
    idle_browse,
    view_coupons,
)
from behaviors.nodes import rules as rules

__all__ = [
    "GRAPH_CONFIG",
    "IDLE_DEPTH_SHARE",
    "PAGE_LIMIT",
    "HourContext",
    "HourState",
    "build_shopping_graph",
    "compile_shopping_graph",
    "run_graph",
]

GRAPH_CONFIG: dict[str, Any] = {"recursion_limit": 25, "max_concurrency": 1}
"""Invoke config: a routing bug fails after 25 steps, not LangGraph's default 10,007; every
step has one task, so one at a time (LangGraph's executor is then not sized by
``os.cpu_count()`` — a system call — at every run)."""


def run_graph(graph: Any, state: dict[str, Any], *, context: HourContext) -> dict[str, Any]:
    """Run the compiled graph to its final state, as ``graph.invoke(state, GRAPH_CONFIG,
    context=context)`` returns it, more cheaply: ``invoke`` streams every step's updates as
    well as its values (for interrupts, which this graph has none of); the values alone
    are one emission a step instead of two (each a queue put that yields to gevent's hub).
    """
    chunks = graph.stream(state, GRAPH_CONFIG, context=context, stream_mode="values")
    final = deque(chunks, maxlen=1)  # the last; the input itself is the first
    return final[0]


# routers -----------------------------------------------------------------------------
def route_decision(state: HourState) -> Literal["browse_products", "idle_browse", "__end__"]:
    """After decide_shop: shop, idle browse, or nothing."""
    d = state.get("decision")
    if d is not None and d.kind == "shop":
        return "browse_products"
    if d is not None and d.kind == "idle":
        return "idle_browse"
    return "__end__"


def route_after_idle(state: HourState) -> Literal["abandon", "__end__"]:
    """An idle browse ends the hour unless the shop failed."""
    return "abandon" if state.get("error") is not None else "__end__"


def route_after_browse(state: HourState) -> Literal["add_to_cart", "abandon"]:
    """Continue to the cart unless the shop failed."""
    return "abandon" if state.get("error") is not None else "add_to_cart"


def route_after_cart(state: HourState) -> Literal["view_coupons", "abandon"]:
    """An empty cart (nothing fit the budget, nothing viewed) or a failure ends it."""
    if state.get("error") is not None or state.get("abandon_reason"):
        return "abandon"
    return "view_coupons"


def route_after_coupons(state: HourState) -> Literal["decide_checkout", "abandon"]:
    """On to the checkout decision unless the shop failed."""
    return "abandon" if state.get("error") is not None else "decide_checkout"


def route_checkout(state: HourState) -> Literal["complete_checkout", "abandon"]:
    """Complete or abandon, as decide_checkout drew."""
    cd = state.get("checkout")
    return "abandon" if cd is None or cd.abandon else "complete_checkout"


def route_after_complete(state: HourState) -> Literal["abandon", "__end__"]:
    """A checkout that hit ``ShopUnavailable`` still clears the cart via abandon."""
    return "abandon" if state.get("error") is not None else "__end__"


# building ----------------------------------------------------------------------------
TRACING_OPT_IN_VARS = (
    "LANGSMITH_TRACING",
    "LANGSMITH_TRACING_V2",
    "LANGCHAIN_TRACING_V2",
    "LANGCHAIN_TRACING",
)
"""Any of these set to ``true`` is the user opting in to LangSmith tracing."""


def _tracing_off_unless_opted_in() -> None:
    # 10,000 agents × a traced run per hour would flood LangSmith (and cost CPU); the
    # owner's plan wants tracing as an option, so only an explicit opt-in keeps it.
    if not any(os.environ.get(v, "").strip().lower() == "true" for v in TRACING_OPT_IN_VARS):
        import langsmith

        langsmith.configure(enabled=False)


def build_shopping_graph(
    wrap: Callable[[Any], Any] | None = None,
) -> StateGraph[HourState, HourContext, HourState, HourState]:
    """The uncompiled graph (for inspection and tests); use ``compile_shopping_graph``.
    ``wrap``: applied to every node function (the harness's tracing; keeps its name)."""
    g = StateGraph(HourState, context_schema=HourContext)
    for node in (
        decide_shop,
        browse_products,
        idle_browse,
        add_to_cart,
        view_coupons,
        decide_checkout,
        complete_checkout,
        abandon,
    ):
        g.add_node(node.__name__, node if wrap is None else wrap(node))
    g.add_edge(START, "decide_shop")
    g.add_conditional_edges("decide_shop", route_decision)
    g.add_conditional_edges("idle_browse", route_after_idle)
    g.add_conditional_edges("browse_products", route_after_browse)
    g.add_conditional_edges("add_to_cart", route_after_cart)
    g.add_conditional_edges("view_coupons", route_after_coupons)
    g.add_conditional_edges("decide_checkout", route_checkout)
    g.add_conditional_edges("complete_checkout", route_after_complete)
    g.add_edge("abandon", END)
    return g


@cache
def compile_shopping_graph(wrap: Callable[[Any], Any] | None = None) -> Any:
    """The compiled shopping graph, built once per process (no checkpointer); ``wrap`` as
    in ``build_shopping_graph``."""
    _tracing_off_unless_opted_in()
    return build_shopping_graph(wrap).compile(name="shopping_graph")
