"""The run's model-token budget (``--llm-budget-tokens``), held by the master.

Like the request rate, the budget is the whole run's, not each process's: a worker (or a
standalone process) holds a *lease* of tokens (``harness.agent.llm.TokenLease``) and asks
the master for more with :class:`~harness.config.messages.LlmTokensAsk` when it runs low;
the master answers with :class:`~harness.config.messages.LlmTokensGrant`. Each grant is at
most what is left and at most an even share of it per worker, so a worker that asks first
cannot take the whole budget while the others wait; the shares shrink as the budget runs
down, and the last tokens go out a few at a time.

What this bounds: the master never grants more than the budget, and a process starts a
model call only while its lease (tokens granted minus tokens spent, less one estimated call
per call in flight) still holds one — or, with nothing in flight, any token. So the tokens
the model serves the whole run are at most the budget plus about one call per process.

When the budget is gone the master answers 0 and says so once, for the run: from then on
every decision of a process whose lease is used up is the rules' (``budget_spent``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from harness.config.messages import LlmTokensAsk, LlmTokensGrant, listen, send
from harness.config.wire import Channel

log = logging.getLogger("loadsim")


class LlmBudget:
    """The master's book of the run's model tokens: granted so far, to whom."""

    def __init__(self, total: int, workers: Callable[[], int] = lambda: 1) -> None:
        self.total = int(total)
        self.granted = 0
        self.by_node: dict[str, int] = {}
        self.spent_seen: dict[str, int] = {}  # what each process said it had spent
        self._workers = workers
        self._said = False

    @property
    def left(self) -> int:
        return max(0, self.total - self.granted)

    def grant(self, ask: LlmTokensAsk, node: str) -> LlmTokensGrant:
        """What ``node`` gets for ``ask``: at most what is left and at most an even share
        of it over the workers playing hours (at least one token while any is left)."""
        self.spent_seen[node] = ask.spent
        left = self.left
        share = max(1, math.ceil(left / max(1, self._workers())))
        tokens = min(ask.tokens, left, share)
        self.granted += tokens
        self.by_node[node] = self.by_node.get(node, 0) + tokens
        if tokens == 0 and not self._said:
            self._said = True
            log.warning(
                "LLM token budget spent (%d of %d tokens granted): every further model "
                "decision is the rules' (fallback budget_spent)", self.granted, self.total,
            )  # fmt: skip
        return LlmTokensGrant(tokens=tokens, left=self.left)

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "granted": self.granted, "by_node": dict(self.by_node)}


def install_llm_budget(runner: Channel, total: int) -> LlmBudget | None:
    """Master / standalone: hold the run's ``total`` tokens and answer every worker's
    :class:`LlmTokensAsk` (``None`` and nothing registered when ``total`` is 0: unlimited)."""
    if total <= 0:
        return None

    def workers() -> int:
        return max(1, int(getattr(runner, "worker_count", 1) or 1))

    book = LlmBudget(total, workers)

    def on_ask(ask: LlmTokensAsk, node: str) -> None:
        grant = book.grant(ask, node)
        send(runner, grant, client_id=None if node == "local" else node)

    listen(runner, LlmTokensAsk, on_ask)
    return book
