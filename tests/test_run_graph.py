"""``behaviors.graph.run_graph`` (the values stream, ``GRAPH_CONFIG``) ends in exactly the
state ``invoke`` returns: same results, hour by hour, for shopping and idle hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from behaviors.graph import compile_shopping_graph
from behaviors.memory_shop import InMemoryShop
from behaviors.run import run_agent_hour
from behaviors.synthetic import make_catalog, random_personas, weekly_wallet

CATALOG = make_catalog()
START = datetime(2026, 1, 5, 0, 17, tzinfo=UTC)


class ViaInvoke:
    """The compiled graph as ``invoke`` runs it, behind the ``stream`` that run_graph calls."""

    def __init__(self) -> None:
        self.graph = compile_shopping_graph()
        self.runs = 0

    def stream(self, state, config, *, context, stream_mode):
        assert stream_mode == "values"
        self.runs += 1
        yield self.graph.invoke(state, {"recursion_limit": 25}, context=context)


def _hour(persona, h: int, graph=None):
    return run_agent_hour(
        persona, run_seed=3, sim_hour=h, slot_time=START + timedelta(hours=h),
        shop=InMemoryShop(CATALOG, weekly_wallet(persona, 0)), checkout_key=f"k{h}", graph=graph,
    )  # fmt: skip


def test_run_graph_ends_in_the_state_invoke_returns():
    via_invoke = ViaInvoke()
    played = {"shop": 0, "idle": 0}
    for persona in random_personas(40, seed=11):
        for h in range(0, 168, 5):
            streamed, invoked = _hour(persona, h), _hour(persona, h, graph=via_invoke)
            assert streamed == invoked
            if streamed.decision != "none":
                played[streamed.decision] += 1
    assert via_invoke.runs == played["shop"] + played["idle"]
    assert played["shop"] >= 20 and played["idle"] >= 20, played
