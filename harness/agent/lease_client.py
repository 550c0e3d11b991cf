"""A process's side of persona leases, in batches.

One lease request per user meant one master round trip per user: at 30,000 agents over
``--processes 2`` the master's message loop fell behind the ramp and 14,046 slots went
unacted while users waited (BENCHMARKS.md). Here the users of one process that start
within a short window ask in **one** ``LeaseRequest`` (``req_ids``), and the master answers
each holder with one ``Grant`` carrying its ``grants``
(``harness.control.lease_broker``). The batch size k comes from the spawn rate — the one this
process sees (requests in the last second; the harness's shape sets Locust's rate per
ramp step, and a worker is never told it), or Locust's ``-r`` when larger: the users started
in :data:`WINDOW_S` (``ceil(rate × WINDOW_S)``, 1 … :data:`MAX_BATCH`). A batch goes when it
holds k requests or its first is :data:`WINDOW_S` old, so no user waits longer than that.

**No user waits forever in silence.** A grant the worker never gets — dropped, or refused
by the wire's checker as malformed (an owner's uuid user ids once were) — would leave its
user waiting until Locust's stop timeout, acting nothing and counting nothing. So
:meth:`LeaseClient.lease` waits at most :data:`ANSWER_TIMEOUT_S`: then the request is
given up (the master drops it from its queue, or frees the persona it had granted to it,
``harness.control.lease_broker``), the first such time in the process is logged in one
line, and the user counts a failed hour and asks again (``harness.agent.user``). A grant
that arrives for a request given up is ignored: the master has already freed it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
from gevent.event import AsyncResult

from harness.config.messages import Grant, LeaseRequest, Release, send

if TYPE_CHECKING:
    from locust.env import Environment
    from locust.runners import Runner

WINDOW_S = 0.1
MAX_BATCH = 500
ANSWER_TIMEOUT_S = 30.0
"""How long a user waits for its grant before the request counts as lost. A request the
master queues waits for a release or a reclaim: a dead worker's personas come back after
Locust marks it missing (~3 s) plus ``LeaseBroker.RECLAIM_AFTER_S`` (10 s), well inside."""
GIVEN_UP_MAX = 10_000
"""Given-up request ids remembered (to ignore their late grants); beyond, the oldest go."""

log = logging.getLogger("loadsim.user")


def batch_size(spawn_rate: float | None) -> int:
    """k: the users started in one window at ``spawn_rate`` users/s (at least 1)."""
    rate = float(spawn_rate or 1.0)
    return max(1, min(MAX_BATCH, math.ceil(rate * WINDOW_S)))


class LeaseClient:
    """Batches this process's lease requests; resolves each user's :class:`AsyncResult`
    with its granted entry as a checked map (``agent_id``, ``user_id``, ``persona``: a
    :class:`~harness.config.messages.LeaseEntry` on the wire)."""

    def __init__(self, environment: Environment, spawn_rate: float | None = None) -> None:
        self.environment = environment
        given = spawn_rate
        if given is None:
            given = getattr(getattr(environment, "parsed_options", None), "spawn_rate", None)
        self._given = float(given or 1.0)
        self.k = batch_size(self._given)
        self._second = (time.monotonic(), 0)  # (start, requests) of the current second
        self._last_rate = 0.0
        self.pending: dict[str, AsyncResult] = {}
        self._batch: list[str] = []
        self._timer: gevent.Greenlet | None = None
        self.sent_messages = 0
        self.answer_timeout_s = ANSWER_TIMEOUT_S
        self.timeouts = 0
        """Requests given up for want of an answer (this process, this run)."""
        self._given_up: OrderedDict[str, None] = OrderedDict()
        self._asked: dict[str, float] = {}  # req_id → when asked (perf_counter)
        self.on_round_trip: Callable[[float], None] | None = None  # the runtime's timings

    def _runner(self) -> Runner:
        runner = self.environment.runner
        assert runner is not None  # users ask once Locust's runner runs them
        return runner

    def ask(self, req_id: str) -> AsyncResult:
        """Queue a request; the result is the granted entry (agent_id, user_id, persona)."""
        result: AsyncResult = AsyncResult()
        self.pending[req_id] = result
        self._asked[req_id] = time.perf_counter()
        self._observe()
        self._batch.append(req_id)
        if len(self._batch) >= self.k:
            self._send()
        elif self._timer is None:
            self._timer = gevent.spawn_later(WINDOW_S, self._send)
        return result

    def lease(self, req_id: str) -> dict[str, Any] | None:
        """Ask and wait for the grant: the entry, or ``None`` when no answer came within
        :attr:`answer_timeout_s` (the request is then given up; logged the first time)."""
        result = self.ask(req_id)
        try:
            entry = result.get(timeout=self.answer_timeout_s)
        except gevent.Timeout:
            self.give_up(req_id)
            self.timeouts += 1
            if self.timeouts == 1:
                log.warning(
                    "lease request %s got no answer from the master in %g s (its grant was "
                    "dropped or malformed on the way?): the user counts a failed hour "
                    "(error kind 'lease') and asks again; further ones are counted, not logged",
                    req_id, self.answer_timeout_s,
                )  # fmt: skip
            return None
        self.done(req_id)
        return entry

    def give_up(self, req_id: str) -> None:
        """Stop waiting for ``req_id``: drop it here, or tell the master to forget it
        (queued: dropped; granted: the persona freed). Its grant, if one comes, is ignored."""
        self.pending.pop(req_id, None)
        self._asked.pop(req_id, None)
        if req_id in self._batch:
            self._batch.remove(req_id)
            return
        self._given_up[req_id] = None
        while len(self._given_up) > GIVEN_UP_MAX:
            self._given_up.popitem(last=False)
        send(self._runner(), Release(req_id=req_id))

    def _observe(self) -> None:
        """k from the rate requests arrive at (this second's so far, or the last one's)."""
        now = time.monotonic()
        start, n = self._second
        if now - start >= 1.0:
            self._last_rate = n / (now - start)
            start, n = now, 0
        n += 1
        self._second = (start, n)
        seen = max(self._last_rate, n / max(WINDOW_S, now - start))
        self.k = batch_size(max(self._given, seen))

    def _send(self) -> None:
        if self._timer is not None and self._timer is not gevent.getcurrent():
            self._timer.kill(block=False)
        self._timer = None
        batch, self._batch = self._batch, []
        if batch:
            self.sent_messages += 1
            send(self._runner(), LeaseRequest(req_ids=batch))

    def cancel(self, req_id: str) -> None:
        """The user stopped before its grant: drop the request (here, or at the master).
        A grant that arrived while the user was being stopped gives its persona back."""
        result = self.pending.get(req_id)
        if result is not None and result.successful():
            self.done(req_id)
            send(self._runner(), Release(agent_id=int(result.get()["agent_id"])))
            return
        self.give_up(req_id)

    def done(self, req_id: str) -> None:
        self.pending.pop(req_id, None)
        self._asked.pop(req_id, None)

    def on_grants(self, grant: Grant) -> None:
        """The master's :class:`Grant`: each waiting user gets its entry; a grant whose user
        is gone is given back at once."""
        for item in grant.grants:
            if item.req_id in self._given_up:  # the master freed it on our Release
                del self._given_up[item.req_id]
                continue
            pending = self.pending.get(item.req_id)
            if pending is not None:
                asked = self._asked.pop(item.req_id, None)
                if asked is not None and self.on_round_trip is not None:
                    self.on_round_trip((time.perf_counter() - asked) * 1000)
                pending.set({**item.entry.to_msg(), "granted_at": grant.at})
            else:
                send(self._runner(), Release(agent_id=item.entry.agent_id))
