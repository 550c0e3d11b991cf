"""The model behind ``behaviors.llm.DecisionPort``: any OpenAI-compatible chat-completions
endpoint (``--llm-url``), through the ``openai`` client.

One ``LlmAdapter`` per process, shared by its users. It owns what the model costs:

- a concurrency cap (``threading.BoundedSemaphore``: gevent's under Locust's monkey-patching)
  and a request rate of its own (a ``TokenBucket``, separate from the API's);
- ``--llm-timeout`` per call, no retries (a retry would spend the session's simulated time);
- its share of the run's token budget (``--llm-budget-tokens``, held by the master,
  ``harness.control.llm_budget``): a :class:`TokenLease` of tokens granted by the master,
  topped up before it runs dry; a call starts only while the tokens spent plus one estimated
  call per call in flight (this one included) fit what was granted — with nothing in flight,
  while any granted token is left — so the run overshoots by at most about one call per
  process. Once the master has nothing left, every further decision is the rule's
  (``budget_spent``), and the master says so once for the run. Without a runner (tests,
  benches) ``budget_tokens`` is a fixed allowance of this process, logged once when spent;
- a bounded LRU cache keyed by (persona, question, state), with its hit rate;
- the counts behind ``llm.json``: calls, tokens in/out, decisions by who decided,
  fallbacks by reason, latency p50/p95;
- with OpenTelemetry on (Locust's ``--otel``), each model call a CLIENT span inside the
  session's trace (``llm basket`` / ``llm coupon`` / ``llm checkout``, under the node that
  asked), with the model, the prompt hash, tokens and the outcome.
- time: in a paced session (``--pace on``) a question is asked in its own greenlet as soon
  as it is known (``PacedAsks``; the basket before the views' dwell, ``behaviors.llm``) and
  its answer waited for only until the paced moment of the session's next action
  (``SessionPacer.until``) — no allowance past it. An answer not there by then is the
  rules' decision (fallback ``late``); a call already sent goes on, its tokens count
  (``late_calls``) and its answer is discarded; one not sent yet never is. A model call is
  never a reason for slip or a missed hour. Unpaced, ``decide`` waits for the answer.

The answer is constrained by ``response_format`` (a JSON schema from the pydantic answer
model), then parsed, validated and checked against the question's reality
(each question's ``check``). The API key comes from ``LOADSIM_LLM_API_KEY`` or
``OPENAI_API_KEY`` and is never logged or written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import os
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

from pydantic import ValidationError

from behaviors.events import action_offset
from behaviors.llm import Decided, Fallback, Question
from harness.agent.rate_limit import TokenBucket
from harness.config.messages import LlmTokensAsk, LlmTokensGrant, Message

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam
    from opentelemetry.trace import Span, TracerProvider

    from harness.agent.pacing import SessionPacer
    from harness.config.options import HarnessOptions
    from harness.config.wire import Sender

log = logging.getLogger("loadsim")

KEY_ENV = ("LOADSIM_LLM_API_KEY", "OPENAI_API_KEY")
"""Where the API key is read from, first found wins (a local server needs none)."""
MAX_COMPLETION_TOKENS = 400
"""A basket answer is 20–200 tokens; a model rambling past this is cut off (and fails)."""
LATENCIES_KEPT = 100_000
TRACE_SCOPE = "loadsim.llm"
"""The OpenTelemetry instrumentation scope of the model-call spans."""
FIRST_CALL_TOKENS = 1000
"""A call's tokens before any call of this process was measured (a basket question with 40
offered products is ~750 prompt + 30-60 completion tokens on Gemma 3's tokenizer)."""
LEASE_CALLS = 4
"""A lease asks the master for about this many calls' tokens at a time."""
ASKS_PER_DECISION = 3
"""A decision that still does not fit after this many grants is the rules'
(``budget_spent``): the budget's last tokens are too few for one more call in flight."""


LATE = "late"
"""The fallback reason of an answer not there when the session had to act."""
NEXT_ACTIONS: dict[str, tuple[str, ...]] = {
    "basket": ("cart_add",),  # asked only when the rule's basket has lines
    "coupon": ("view_coupon",),
    "checkout": ("checkout", "cart_clear"),  # complete, or abandon (clears the cart)
}
"""The session's possible next actions after each question. Its answer is waited for until
the earliest one's paced moment: never past the moment the rules would have acted."""


RESPONSE_FORMATS = ("json_schema", "json_object")
"""How the schema is sent: OpenAI's ``{"type": "json_schema", "json_schema": {...}}``, or
llama.cpp's server's ``{"type": "json_object", "schema": ...}`` (its server refuses the
first with a 500)."""


def _response_format(kind: str, name: str, schema: dict[str, Any]) -> Any:
    if kind == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _end_span(span: Span, got: Decided | Fallback) -> None:
    """What the call came to, on its span: tokens, and the answer or the fallback's reason
    (an error status for a failed call)."""
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("gen_ai.usage.input_tokens", got.tokens_in)
    span.set_attribute("gen_ai.usage.output_tokens", got.tokens_out)
    if isinstance(got, Decided):
        span.set_attribute("loadsim.llm.decided_by", "llm")
        return
    span.set_attribute("loadsim.llm.decided_by", "fallback")
    span.set_attribute("loadsim.llm.fallback_reason", got.reason)
    if got.reason in ("timeout", "error") or got.reason.startswith("http_"):
        span.set_status(Status(StatusCode.ERROR, got.reason))


def api_key_from_env() -> str:
    for name in KEY_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return "not-needed"  # the client insists on a key; local servers ignore it


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class TokenLease:
    """This process's tokens from the master's budget (``harness.control.llm_budget``).

    ``ask`` sends one :class:`LlmTokensAsk` unless one is outstanding; ``on_grant`` adds the
    answer (a grant of 0 with nothing left: the budget is spent, never ask again); ``wait``
    waits up to ``wait_s`` for the outstanding answer. Standalone the answer arrives inside
    ``ask`` (Locust's local runner calls the listener at once).
    """

    def __init__(self, send: Callable[[Message], None], wait_s: float = 10.0) -> None:
        self.granted = 0
        self.exhausted = False
        self.asks = 0
        self.wait_s = wait_s
        self._send = send
        self._pending: threading.Event | None = None

    def ask(self, tokens: float, spent: int) -> None:
        if self.exhausted or self._pending is not None:
            return
        self._pending = threading.Event()
        self.asks += 1
        try:
            self._send(LlmTokensAsk(tokens=max(1, math.ceil(tokens)), spent=int(spent)))
        except Exception:  # noqa: BLE001 — no master to ask: the rules decide meanwhile
            log.debug("could not ask the master for model tokens", exc_info=True)
            self._pending = None

    def on_grant(self, grant: LlmTokensGrant) -> None:
        self.granted += grant.tokens
        if grant.tokens == 0 and grant.left == 0:
            self.exhausted = True
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.set()

    def wait(self) -> bool:
        """``True`` once no ask is outstanding (answered now or before)."""
        pending = self._pending
        return pending is None or pending.wait(self.wait_s)


def llm_granted(adapter: LlmAdapter | None, grant: LlmTokensGrant) -> None:
    """The worker's listener for :class:`LlmTokensGrant` (``harness.wiring.install``)."""
    if adapter is not None and adapter.lease is not None:
        adapter.lease.on_grant(grant)


def _spawn(run: Callable[[], None]) -> None:
    """``run`` in its own greenlet under Locust's monkey-patching, else in a thread."""
    from gevent import monkey

    if monkey.is_module_patched("socket"):
        import gevent

        gevent.spawn(run)
        return
    threading.Thread(target=run, daemon=True).start()


class Ask:
    """One question being answered in its own greenlet (``LlmAdapter.ask``): ``done`` is set
    with ``got``. ``sent``: the request went out (the server works on it, its tokens will
    count); ``given_up``: the session acted without it (not sent yet: it never is)."""

    __slots__ = ("question", "prompt_hash", "t0", "done", "got", "sent", "given_up")

    def __init__(self, question: Question) -> None:
        self.question = question
        self.prompt_hash = question.prompt_hash()
        self.t0 = time.perf_counter()
        self.done = threading.Event()
        self.got: Decided | Fallback | None = None
        self.sent = False
        self.given_up = False

    def finish(self, got: Decided | Fallback) -> None:
        self.got = got
        self.done.set()


class PacedAsks:
    """The model port (``behaviors.llm.DecisionPort``) of one paced session.

    ``ahead(question)`` starts answering a question as soon as its inputs are known;
    ``decide(question)`` waits for that answer (or asks now) only until the paced moment
    of the session's next action (``NEXT_ACTIONS``): later is ``late``, the rules decide.
    ``close()`` at the end of the session gives up what was asked ahead and never needed.
    """

    def __init__(self, adapter: LlmAdapter, pacer: SessionPacer) -> None:
        self.adapter = adapter
        self.pacer = pacer
        self._asks: dict[tuple[str, str, str], Ask] = {}

    def ahead(self, question: Question) -> None:
        key = question.cache_key()
        if key not in self._asks:
            self._asks[key] = self.adapter.ask(question)

    def decide(self, question: Question) -> Decided | Fallback:
        ask = self._asks.pop(question.cache_key(), None) or self.adapter.ask(question)
        action = min(NEXT_ACTIONS[question.kind], key=lambda a: action_offset(0, a))
        in_time = ask.done.is_set() or self.pacer.until(action, ask.done.wait)
        return self.adapter.answer(ask, in_time)

    def close(self) -> None:
        for ask in self._asks.values():
            ask.given_up = True
        self._asks.clear()


class LlmAdapter:
    """``decide(question) -> Decided | Fallback`` over an OpenAI-compatible endpoint;
    ``ask`` / ``answer`` the same in its own greenlet (``PacedAsks``)."""

    def __init__(
        self,
        *,
        url: str,
        model: str,
        timeout_s: float = 10.0,
        concurrency: int = 4,
        rate_per_s: float = 0.0,
        budget_tokens: int = 0,
        cache_size: int = 1024,
        response_format: str = "json_schema",
        client: openai.OpenAI | None = None,
        lease: TokenLease | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        if client is None:
            import openai

            client = openai.OpenAI(
                base_url=url, api_key=api_key_from_env(), timeout=timeout_s, max_retries=0
            )
        self.client = client
        self.url, self.model, self.timeout_s = url, model, timeout_s
        self.response_format = response_format  # RESPONSE_FORMATS
        self.budget_tokens = int(budget_tokens)  # a fixed allowance (no lease); 0: unlimited
        self.lease = lease  # the master's budget, when the run has one
        self.tracer_provider = tracer_provider  # None: OpenTelemetry's global one
        self._host = urlsplit(url).hostname or ""
        self.budget_tokens_run = self.budget_tokens  # the whole run's (``adapter_for``)
        self._slots = threading.BoundedSemaphore(max(1, int(concurrency)))
        self._bucket = TokenBucket(rate_per_s) if rate_per_s > 0 else None
        self._cache: OrderedDict[tuple[str, str, str], Decided] = OrderedDict()
        self._cache_size = max(0, int(cache_size))
        self._in_flight = 0
        self._measured = 0  # calls that reported their tokens
        self._spent_said = False
        self.calls = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.late_calls = 0  # calls sent whose answer came after the session acted
        self.decisions: Counter[str] = Counter()  # llm | fallback (asked sessions only)
        self.fallbacks: Counter[str] = Counter()
        self.latencies_ms: deque[float] = deque(maxlen=LATENCIES_KEPT)

    # ------------------------------------------------------------------ the port
    def decide(self, question: Question) -> Decided | Fallback:
        """Ask and wait for the answer (as long as the call's own timeout)."""
        got = self._cached(question.cache_key()) or self._decide(question)
        self._count(got)
        return got

    def ask(self, question: Question) -> Ask:
        """Start answering ``question`` in its own greenlet; ``answer`` collects it. A cache
        hit, or a budget already spent, is answered at once."""
        a = Ask(question)
        now = self._cached(question.cache_key()) or self._spent_now(a.prompt_hash)
        if now is not None:
            a.finish(now)
            return a
        context = contextvars.copy_context()  # the session's span stays the call's parent
        _spawn(lambda: context.run(self._answer_ask, a))
        return a

    def answer(self, ask: Ask, in_time: bool) -> Decided | Fallback:
        """The decision of ``ask``: its answer when it came ``in_time``, else ``late`` (a call
        already sent goes on and its tokens count; its answer is discarded)."""
        got = ask.got if in_time else None
        if got is None:
            ask.given_up = True
            if ask.sent:
                self.late_calls += 1
            waited_ms = (time.perf_counter() - ask.t0) * 1000
            got = Fallback(LATE, self.model, ask.prompt_hash, latency_ms=waited_ms)
        self._count(got)
        return got

    def _answer_ask(self, ask: Ask) -> None:
        try:
            got = self._decide(ask.question, ask)
        except Exception:  # noqa: BLE001 — the model is optional: the rules decide
            log.debug("model call failed", exc_info=True)
            got = Fallback("error", self.model, ask.prompt_hash)
        ask.finish(got)

    def _count(self, got: Decided | Fallback) -> None:
        if isinstance(got, Decided):
            self.decisions["llm"] += 1
        else:
            self.decisions["fallback"] += 1
            self.fallbacks[got.reason] += 1

    def _cached(self, key: tuple[str, str, str]) -> Decided | None:
        hit = self._cache.get(key) if self._cache_size else None
        if hit is None:
            return None
        self.cache_hits += 1
        self._cache.move_to_end(key)
        return Decided(hit.answer, hit.model, hit.prompt_hash, cached=True)

    def _spent_now(self, phash: str) -> Fallback | None:
        """``budget_spent`` when it is known without waiting (the master said the budget is
        spent, or this process's own allowance is)."""
        if self.lease is not None:
            if self.lease.exhausted and not self._fits(self.lease.granted):
                return Fallback("budget_spent", self.model, phash)
            return None
        refused = self._budget_refuses()
        return Fallback(refused, self.model, phash) if refused else None

    def _decide(self, question: Question, ask: Ask | None = None) -> Decided | Fallback:
        """One call, within the concurrency cap, the rate and the budget (for an ``ask``
        given up before it is sent: none)."""
        key = question.cache_key()
        self.cache_misses += 1
        phash = question.prompt_hash()
        with self._slots:
            if ask is not None and ask.given_up:
                return Fallback(LATE, self.model, phash)
            refused = self._budget_refuses()
            if refused:
                return Fallback(refused, self.model, phash)
            if self._bucket is not None:
                self._bucket.acquire()
            if ask is not None:
                if ask.given_up:
                    return Fallback(LATE, self.model, phash)
                ask.sent = True
            self._in_flight += 1
            try:
                with self._span(question, phash) as span:
                    got = self._call(question, phash)
                    if span is not None:
                        _end_span(span, got)
            finally:
                self._in_flight -= 1
        late = ask is not None and ask.given_up  # discarded: not cached either
        if isinstance(got, Decided) and self._cache_size and not late:
            self._cache[key] = got
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return got

    def session(self, pacer: SessionPacer) -> PacedAsks:
        """The model port of one paced session (``harness.agent.hour``)."""
        return PacedAsks(self, pacer)

    # ------------------------------------------------------------------ budget
    def _per_call(self) -> float:
        spent = self.tokens_in + self.tokens_out
        return spent / self._measured if self._measured else float(FIRST_CALL_TOKENS)

    def _fits(self, allowance: int) -> bool:
        """A call may start: the tokens spent plus one estimated call per call in flight
        (this one included) fit ``allowance``; with nothing in flight, any token left."""
        spent = self.tokens_in + self.tokens_out
        if self._in_flight == 0 and spent < allowance:
            return True
        return spent + (self._in_flight + 1) * self._per_call() <= allowance

    def _budget_refuses(self) -> str | None:
        """``None`` when a call may start, else the fallback reason."""
        if self.lease is not None:
            return self._lease_refuses(self.lease)
        if self.budget_tokens <= 0 or self._fits(self.budget_tokens):
            return None
        if not self._spent_said:
            self._spent_said = True
            log.warning(
                "LLM token budget spent in this process (%d of %d tokens): every further "
                "decision is the rules'", self.tokens_in + self.tokens_out, self.budget_tokens,
            )  # fmt: skip
        return "budget_spent"

    def _lease_refuses(self, lease: TokenLease) -> str | None:
        """Against the master's budget: ask for more when the lease does not fit this call
        (waiting for the answer), and ask ahead when it would not fit the next one."""
        spent = self.tokens_in + self.tokens_out
        for _ in range(ASKS_PER_DECISION):
            if self._fits(lease.granted):
                ahead = lease.granted - spent - (self._in_flight + 2) * self._per_call()
                if ahead < 0:  # the next call would not fit: ask now, do not wait
                    lease.ask(LEASE_CALLS * self._per_call(), spent)
                return None
            if lease.exhausted:
                return "budget_spent"
            need = spent + (self._in_flight + 1) * self._per_call() - lease.granted
            lease.ask(max(need, LEASE_CALLS * self._per_call()), spent)
            if not lease.wait():
                return "budget_wait"
        return None if self._fits(lease.granted) else "budget_spent"

    # ------------------------------------------------------------------ tracing
    def _span(self, question: Question, phash: str) -> AbstractContextManager[Any]:
        """With OpenTelemetry on and a span current (the session's, under Locust's
        ``--otel``: ``harness.outputs.tracing``), the call as a CLIENT child span named
        ``llm <question>``; otherwise nothing (one check per call)."""
        try:
            from opentelemetry import trace
        except ImportError:
            return nullcontext(None)
        if not trace.get_current_span().get_span_context().is_valid:
            return nullcontext(None)
        tracer = trace.get_tracer(TRACE_SCOPE, tracer_provider=self.tracer_provider)
        return tracer.start_as_current_span(
            f"llm {question.kind}", kind=trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": self.model,
                "loadsim.llm.question": question.kind, "loadsim.llm.prompt_hash": phash,
                "server.address": self._host,
            },
        )  # fmt: skip

    # ------------------------------------------------------------------ the call
    def _call(self, question: Question, phash: str) -> Decided | Fallback:
        import openai

        schema = question.answer_schema()  # the allowed ids and counts (behaviors.llm)
        t0 = time.perf_counter()
        self.calls += 1
        try:
            resp = self.client.chat.completions.create(
                model=self.model,
                # role/content dicts, exactly the shape of OpenAI's message params
                messages=cast("list[ChatCompletionMessageParam]", question.messages()),
                response_format=_response_format(self.response_format, question.kind, schema),
                max_tokens=MAX_COMPLETION_TOKENS,
                temperature=0,
                timeout=self.timeout_s,
            )
        except openai.APITimeoutError:
            return self._failed("timeout", phash, t0)
        except openai.APIStatusError as exc:
            return self._failed(f"http_{exc.status_code}", phash, t0)
        except openai.APIError:  # connection refused, a broken response
            return self._failed("error", phash, t0)
        ms = (time.perf_counter() - t0) * 1000
        self.latencies_ms.append(ms)
        usage = getattr(resp, "usage", None)
        t_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        t_out = int(getattr(usage, "completion_tokens", 0) or 0)
        self.tokens_in += t_in
        self.tokens_out += t_out
        self._measured += 1
        meta = (self.model, phash, t_in, t_out, ms)  # model, hash, tokens in/out, latency
        try:
            content = resp.choices[0].message.content or ""
            data = json.loads(content)
        except (ValueError, IndexError, AttributeError, TypeError):
            return Fallback("invalid_json", *meta)
        try:
            answer: Any = question.answer_type.model_validate(data)  # the question's own type
        except ValidationError:
            return Fallback("schema", *meta)
        reason = question.check(answer)
        if reason is not None:
            return Fallback(reason, *meta)
        return Decided(answer, *meta)

    def _failed(self, reason: str, phash: str, t0: float) -> Fallback:
        ms = (time.perf_counter() - t0) * 1000
        self.latencies_ms.append(ms)
        return Fallback(reason, self.model, phash, latency_ms=ms)

    # ------------------------------------------------------------------ report
    def note_hour(self, steps: dict[str, Any]) -> None:
        """A played hour's steps: each choice the rules made without asking (outside the
        share, or nothing to ask) counts as the rules' decision (the asked ones were
        counted in ``decide``)."""
        for step in ("add_to_cart", "choose_coupon", "decide_checkout"):
            if steps.get(step, {}).get("decided_by") == "rules":
                self.decisions["rules"] += 1

    def to_json(self) -> dict[str, Any]:
        """This process's ``llm`` block (``merge`` adds processes together)."""
        lat = list(self.latencies_ms)
        return {
            "model": self.model,
            "calls": self.calls,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "budget_tokens": self.lease.granted if self.lease else self.budget_tokens,
            "decisions": dict(self.decisions),
            "fallbacks": dict(self.fallbacks),
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "late_calls": self.late_calls,
            "latencies_ms": lat,
        }


def summarise(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's ``llm`` block from every process's ``LlmAdapter.to_json``."""
    calls = sum(b.get("calls", 0) for b in blocks)
    decisions: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    lat: list[float] = []
    hits = misses = t_in = t_out = late = 0
    for b in blocks:
        decisions.update(b.get("decisions", {}))
        fallbacks.update(b.get("fallbacks", {}))
        lat.extend(b.get("latencies_ms", []))
        hits += b.get("cache_hits", 0)
        misses += b.get("cache_misses", 0)
        t_in += b.get("tokens_in", 0)
        t_out += b.get("tokens_out", 0)
        late += b.get("late_calls", 0)
    total = sum(decisions.values())
    asked = decisions["llm"] + decisions["fallback"]
    p50, p95 = _percentile(lat, 0.5), _percentile(lat, 0.95)
    return {
        "model": next((b.get("model") for b in blocks if b.get("model")), ""),
        "calls": calls,
        "tokens_in": t_in,
        "tokens_out": t_out,
        "decisions": dict(decisions),
        "share_llm": round(decisions["llm"] / total, 4) if total else 0.0,
        "fallbacks": dict(fallbacks),
        "fallback_rate": round(decisions["fallback"] / asked, 4) if asked else 0.0,
        "latency_ms_p50": None if p50 is None else round(p50, 1),
        "latency_ms_p95": None if p95 is None else round(p95, 1),
        "cache_hit_rate": round(hits / (hits + misses), 4) if hits + misses else 0.0,
        "late_calls": late,
    }


REPORT_KEY = "loadsim_llm"
"""The key of a worker's report to the master that carries its ``LlmAdapter.drain``."""
LLM_JSON = "llm.json"
"""The run directory's file with the run's ``llm`` block."""
_COUNTS = ("calls", "tokens_in", "tokens_out", "cache_hits", "cache_misses", "late_calls")


class TokenBook(Protocol):
    """What the totals read of the master's book of model tokens
    (``harness.control.llm_budget.LlmBudget``, a room above this one)."""

    granted: int
    by_node: dict[str, int]


class LlmTotals:
    """The master's (or standalone's) sum of every process's drained counts."""

    def __init__(self, book: TokenBook | None = None) -> None:
        self.book = book  # the master's book of the run's model tokens, if any
        self.counts: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        self.fallbacks: Counter[str] = Counter()
        self.latencies_ms: deque[float] = deque(maxlen=LATENCIES_KEPT)
        self.model = ""
        self.budget_tokens = 0

    def merge(self, delta: dict[str, Any] | None) -> None:
        if not delta:
            return
        for k in _COUNTS:
            self.counts[k] += int(delta.get(k, 0))
        self.decisions.update(delta.get("decisions", {}))
        self.fallbacks.update(delta.get("fallbacks", {}))
        self.latencies_ms.extend(delta.get("latencies_ms", []))
        self.model = delta.get("model") or self.model
        self.budget_tokens = int(delta.get("budget_tokens_run", 0)) or self.budget_tokens

    def block(self) -> dict[str, Any]:
        """The run's ``llm`` block (``summarise``), with the run's token budget."""
        one = {
            **{k: self.counts[k] for k in _COUNTS},
            "decisions": dict(self.decisions),
            "fallbacks": dict(self.fallbacks),
            "latencies_ms": list(self.latencies_ms),
            "model": self.model,
        }
        out = {**summarise([one]), "budget_tokens": self.budget_tokens}
        if self.book is not None:  # what the master granted, to which process
            out["budget_granted"] = self.book.granted
            out["budget_by_process"] = dict(self.book.by_node)
        return out


def drain(adapter: LlmAdapter, sent: dict[str, Any]) -> dict[str, Any]:
    """What ``adapter`` counted since the last drain (``sent`` holds the last totals and is
    updated); its latencies are handed over and forgotten."""
    now = adapter.to_json()
    lat = now.pop("latencies_ms")
    adapter.latencies_ms.clear()
    delta: dict[str, Any] = {k: now[k] - sent.get(k, 0) for k in _COUNTS}
    for key in ("decisions", "fallbacks"):
        before = sent.get(key, {})
        delta[key] = {r: n - before.get(r, 0) for r, n in now[key].items() if n != before.get(r, 0)}
    delta.update(latencies_ms=lat, model=now["model"], budget_tokens_run=adapter.budget_tokens_run)
    sent.clear()
    sent.update(now)
    return delta


def adapter_for(opts: HarnessOptions, runner: Sender | None = None) -> LlmAdapter | None:
    """The process's adapter for ``--llm-url`` (``None``: rules only). With a token budget
    and a Locust ``runner`` its tokens are leased from the master's budget
    (:class:`TokenLease`); without a runner the budget is this process's own allowance."""
    if not opts.llm_url:
        return None
    total = int(opts.llm_budget_tokens)
    lease = None
    if total and runner is not None:
        from harness.config.messages import send

        lease = TokenLease(lambda message: send(runner, message), wait_s=opts.llm_timeout)
    a = LlmAdapter(
        url=opts.llm_url, model=opts.llm_model, timeout_s=opts.llm_timeout,
        concurrency=opts.llm_concurrency, rate_per_s=opts.llm_rate,
        response_format=opts.llm_format, lease=lease,
        budget_tokens=0 if lease is not None else total,
    )  # fmt: skip
    a.budget_tokens_run = total
    return a


def write_llm_json(run_dir: str | Path, block: dict[str, Any]) -> None:
    (Path(run_dir) / LLM_JSON).write_text(json.dumps(block, indent=1, sort_keys=True) + "\n")
