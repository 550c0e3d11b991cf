"""The run's model-token budget held by the master (``harness.control.llm_budget``) and
leased by each process (``harness.agent.llm.TokenLease``), over the typed messages and a
real loopback model server (``tests/llm_support.py``): the tokens served stay within the
budget plus one call per process, no process takes the whole budget first, the run says
once that it is spent, and a master that never answers costs a bounded wait."""

from __future__ import annotations

import logging

from behaviors.llm import Decided, Fallback
from harness.agent.llm import LlmAdapter, LlmTotals, TokenLease, llm_granted
from harness.config.messages import LlmTokensAsk, LlmTokensGrant
from harness.control.llm_budget import LlmBudget, install_llm_budget
from tests.llm_support import COMPLETION_TOKENS, PROMPT_TOKENS, ScriptedLlmServer
from tests.test_llm_adapter import CATALOG, _question

PER_CALL = PROMPT_TOKENS + COMPLETION_TOKENS


def _questions(n: int):
    return [_question(viewed=tuple(CATALOG[(7 * i) % 60 : (7 * i) % 60 + 12])) for i in range(n)]


def _processes(server, book: LlmBudget, n: int) -> list[LlmAdapter]:
    """``n`` processes whose asks reach ``book`` and whose grants come back at once (as
    Locust's local runner delivers them)."""
    adapters: list[LlmAdapter] = []
    for i in range(n):

        def send(message, node=f"worker{i}"):
            assert isinstance(message, LlmTokensAsk)
            grant = book.grant(LlmTokensAsk.from_msg(message.to_msg()), node)
            llm_granted(adapters[int(node[6:])], LlmTokensGrant.from_msg(grant.to_msg()))

        lease = TokenLease(send, wait_s=1.0)
        adapters.append(LlmAdapter(url=server.url, model="m", timeout_s=5, cache_size=0,
                                   lease=lease))  # fmt: skip
    return adapters


def test_two_processes_share_the_masters_budget_within_one_call_each(caplog):
    budget = 6 * PER_CALL
    book = LlmBudget(budget, workers=lambda: 2)
    with ScriptedLlmServer(["valid"]) as server:
        procs = _processes(server, book, 2)
        got = [procs[i % 2].decide(q) for i, q in enumerate(_questions(14))]
        served = server.tokens_served
    assert book.granted <= budget
    assert served <= budget + 2 * PER_CALL
    assert served == sum(a.tokens_in + a.tokens_out for a in procs)
    decided = sum(isinstance(g, Decided) for g in got)
    assert decided == served // PER_CALL >= 6
    spent = [g for g in got if isinstance(g, Fallback)]
    assert spent and {g.reason for g in spent} == {"budget_spent"}
    assert all(a.lease.exhausted for a in procs)
    assert set(book.by_node) == {"worker0", "worker1"}
    assert sum(book.by_node.values()) == book.granted
    said = [r for r in caplog.records if "budget spent" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING


def test_one_busy_process_may_use_more_than_an_even_split():
    """The budget is the run's: a process that decides while the other is idle is not held
    to half of it (the former per-process split would stop it at 3 of 6 calls)."""
    budget = 6 * PER_CALL
    book = LlmBudget(budget, workers=lambda: 2)
    with ScriptedLlmServer(["valid"]) as server:
        busy, _idle = _processes(server, book, 2)
        got = [busy.decide(q) for q in _questions(8)]
    assert sum(isinstance(g, Decided) for g in got) >= 6
    assert book.by_node["worker0"] > budget // 2 and "worker1" not in book.by_node


def test_a_grant_is_at_most_an_even_share_of_what_is_left():
    book = LlmBudget(1000, workers=lambda: 4)
    first = book.grant(LlmTokensAsk(tokens=5000), "w1")
    assert (first.tokens, first.left) == (250, 750)
    assert book.grant(LlmTokensAsk(tokens=100), "w2").tokens == 100
    tail = [book.grant(LlmTokensAsk(tokens=5000), "w3").tokens for _ in range(40)]
    assert sum(tail) == 650 and tail[-1] == 0 and book.left == 0
    assert book.to_json() == {"total": 1000, "granted": 1000,
                              "by_node": {"w1": 250, "w2": 100, "w3": 650}}  # fmt: skip


def test_a_master_that_never_answers_costs_one_bounded_wait_then_the_rules():
    sent: list[LlmTokensAsk] = []
    lease = TokenLease(sent.append, wait_s=0.2)
    with ScriptedLlmServer(["valid"]) as server:
        a = LlmAdapter(url=server.url, model="m", timeout_s=5, lease=lease)
        got = a.decide(_question())
        again = a.decide(_questions(2)[1])
        assert server.requests == []
    assert isinstance(got, Fallback) and got.reason == "budget_wait"
    assert isinstance(again, Fallback) and again.reason == "budget_wait"
    assert len(sent) == 1 and sent[0].tokens >= 1  # one ask outstanding, not one per call
    llm_granted(a, LlmTokensGrant(tokens=PER_CALL, left=0))  # the answer, late
    with ScriptedLlmServer(["valid"]) as server:
        a.client = LlmAdapter(url=server.url, model="m").client
        assert isinstance(a.decide(_questions(3)[2]), Decided)
    assert dict(a.fallbacks) == {"budget_wait": 2}


class _LocalRunner:
    """Locust's local runner's message loop: ``send_message`` calls the listener at once."""

    def __init__(self) -> None:
        self.custom: dict = {}

    def register_message(self, name, listener, concurrent=False):
        self.custom[name] = listener

    def send_message(self, name, data=None, client_id=None):
        from types import SimpleNamespace

        msg = SimpleNamespace(data=data, node_id="local")
        self.custom[name](environment=None, msg=msg)


def test_standalone_the_process_asks_itself_and_the_llm_block_says_what_was_granted():
    from argparse import Namespace

    from harness.agent.llm import adapter_for, drain
    from harness.config.messages import listen
    from harness.config.options import HarnessOptions

    runner = _LocalRunner()
    assert install_llm_budget(runner, 0) is None and runner.custom == {}
    book = install_llm_budget(runner, 4 * PER_CALL)
    with ScriptedLlmServer(["valid"]) as server:
        opts = HarnessOptions.from_parsed(Namespace(llm_url=server.url,
                                                    llm_budget_tokens=4 * PER_CALL))  # fmt: skip
        a = adapter_for(opts, runner)
        listen(runner, LlmTokensGrant, lambda grant, _node: llm_granted(a, grant))
        got = [a.decide(q) for q in _questions(6)]
        served = server.tokens_served
    assert [type(g).__name__ for g in got] == ["Decided"] * 4 + ["Fallback"] * 2
    assert served == 4 * PER_CALL == book.granted
    totals = LlmTotals(book)
    totals.merge(drain(a, {}))
    block = totals.block()
    assert block["budget_tokens"] == 4 * PER_CALL and block["budget_granted"] == 4 * PER_CALL
    assert block["budget_by_process"] == {"local": 4 * PER_CALL}
    assert block["fallbacks"] == {"budget_spent": 2}
