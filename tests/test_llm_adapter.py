"""The OpenAI-compatible adapter (``harness.agent.llm``) against a real loopback server with
scripted answers (``tests/llm_support.py``): every bad answer is a counted fallback, the
counts match what the server saw, the cache and the token budget hold, and under gevent's
monkey-patching two slow calls overlap."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from behaviors.llm import Decided, Fallback, basket_question
from behaviors.memory_shop import InMemoryShop
from behaviors.rules import add_to_cart
from behaviors.run import decide_hour, play_hour
from harness.agent.llm import LlmAdapter, summarise
from tests.llm_support import COMPLETION_TOKENS, PROMPT_TOKENS, ScriptedLlmServer
from tests.test_llm_decisions import CATALOG, HOUR, MONDAY, PERSONA

ROOT = Path(__file__).resolve().parents[1]
VIEWED = tuple(CATALOG[:12])


def _question(persona=PERSONA, viewed=VIEWED):
    import random

    rule = add_to_cart(persona, viewed, random.Random(1))
    return basket_question(persona, viewed, rule)


def _adapter(server, **kw):
    kw.setdefault("timeout_s", 5.0)
    return LlmAdapter(url=server.url, model="scripted-1", **kw)


def test_a_valid_answer_is_decided_with_the_servers_tokens_and_a_json_schema():
    with ScriptedLlmServer(["valid"]) as server:
        a = _adapter(server)
        q = _question()
        got = a.decide(q)
    assert isinstance(got, Decided)
    cheap = sorted(q.offered, key=lambda p: p.price_cents)[: q.lines]  # the scripted answer
    assert [(ln.product_id, ln.quantity) for ln in got.answer.lines] == [(p.id, 1) for p in cheap]
    assert (got.tokens_in, got.tokens_out, got.model) == (
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
        "scripted-1",
    )
    assert got.prompt_hash == q.prompt_hash()
    (body,) = server.requests
    assert body["model"] == "scripted-1"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["lines"]
    assert body["messages"] == q.messages()
    assert a.calls == 1 and a.tokens_in + a.tokens_out == server.tokens_served


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("invalid_json", "invalid_json"), ("schema", "schema"), ("unknown", "unknown_product"),
     ("http_429", "http_429"), ("http_500", "http_500"), ("slow:1.5", "timeout")],
)  # fmt: skip
def test_every_bad_answer_is_a_counted_fallback(mode, reason):
    with ScriptedLlmServer([mode]) as server:
        a = _adapter(server, timeout_s=0.5)
        got = a.decide(_question())
        assert len(server.requests) == 1  # no retry: a retry spends the session's time
    assert isinstance(got, Fallback) and got.reason == reason
    assert dict(a.fallbacks) == {reason: 1} and dict(a.decisions) == {"fallback": 1}
    assert a.tokens_in + a.tokens_out == server.tokens_served


def test_the_cache_answers_the_same_question_once_and_reports_its_hit_rate():
    with ScriptedLlmServer(["valid"]) as server:
        a = _adapter(server, cache_size=2)
        q = _question()
        first, second = a.decide(q), a.decide(q)
        assert len(server.requests) == 1
        other = [_question(viewed=tuple(CATALOG[i : i + 12])) for i in (20, 40, 60)]
        for q2 in other:
            a.decide(q2)
        a.decide(q)  # evicted by the bounded cache: asked again
        assert len(server.requests) == 5
    assert isinstance(second, Decided) and second.cached and not first.cached
    assert second.answer == first.answer and second.tokens_in == 0
    block = summarise([a.to_json()])
    assert block["cache_hit_rate"] == round(1 / 6, 4)
    assert block["calls"] == 5 and block["decisions"] == {"llm": 6}


def test_the_token_budget_stops_calls_and_says_so_once(caplog):
    per_call = PROMPT_TOKENS + COMPLETION_TOKENS
    with ScriptedLlmServer(["valid"]) as server:
        a = _adapter(server, budget_tokens=3 * per_call, cache_size=0)
        got = [a.decide(_question(viewed=tuple(CATALOG[i : i + 12]))) for i in range(0, 60, 10)]
        assert server.tokens_served <= 3 * per_call
    assert [type(g).__name__ for g in got] == ["Decided"] * 3 + ["Fallback"] * 3
    assert len(server.requests) == 3 and dict(a.fallbacks) == {"budget_spent": 3}
    assert sum("token budget spent" in r.getMessage() for r in caplog.records) == 1


def test_a_run_of_hours_with_bad_answers_never_stops_a_session_or_invents_a_product():
    script = ["valid", "invalid_json", "unknown", "http_429", "http_500", "schema", "valid"]
    ids = {p.id for p in CATALOG}
    with ScriptedLlmServer(script) as server:
        a = _adapter(server, timeout_s=2.0)
        outcomes = []
        for h in range(HOUR, HOUR + 24 * 14):
            hd = decide_hour(PERSONA, run_seed=1, sim_hour=h,
                             slot_time=MONDAY + timedelta(hours=h, minutes=7))  # fmt: skip
            r = play_hour(hd, shop=InMemoryShop(CATALOG), checkout_key=f"t:{h}", llm=a,
                          llm_share=1.0)  # fmt: skip
            outcomes.append(r.outcome)
            assert r.error is None
            assert {e.product_id for e in r.events if e.event_type == "cart_add_item"} <= ids
        assert len(server.requests) == a.calls >= len(script)
    assert "failed" not in outcomes
    assert a.fallbacks["invalid_json"] == a.fallbacks["unknown_product"] == 1
    assert a.fallbacks["http_429"] == a.fallbacks["http_500"] == a.fallbacks["schema"] == 1
    assert a.tokens_in + a.tokens_out == server.tokens_served


GEVENT_PROBE = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import json, sys, time, random, gevent
    sys.path.insert(0, sys.argv[2])
    from behaviors.llm import basket_question
    from behaviors.rules import add_to_cart
    from behaviors.synthetic import make_catalog, make_persona
    from harness.agent.llm import LlmAdapter
    cat = make_catalog(); p = make_persona("p-g")
    qs = [basket_question(p, tuple(cat[i:i + 8]), add_to_cart(p, tuple(cat[i:i + 8]),
          random.Random(1))) for i in (0, 30)]
    a = LlmAdapter(url=sys.argv[1], model="m", timeout_s=5, concurrency=4)
    t0 = time.perf_counter()
    got = [g.get() for g in [gevent.spawn(a.decide, q) for q in qs]]
    print(json.dumps({"s": time.perf_counter() - t0, "kinds": [type(x).__name__ for x in got]}))
    """
)


def test_under_gevent_two_slow_calls_overlap():
    with ScriptedLlmServer(["slow:1.0"]) as server:
        out = subprocess.run(
            [sys.executable, "-c", GEVENT_PROBE, server.url, str(ROOT)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        assert len(server.requests) == 2
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["kinds"] == ["Decided", "Decided"]
    assert 1.0 <= res["s"] < 1.8  # in turn they would take 2 s


def test_workers_drains_add_up_to_the_runs_llm_block(tmp_path):
    from harness.agent.llm import LlmTotals, drain, write_llm_json

    totals = LlmTotals()
    with ScriptedLlmServer(["valid", "http_429", "valid"]) as server:
        workers = [_adapter(server, cache_size=0), _adapter(server, cache_size=0)]
        sent: list[dict] = [{}, {}]
        for i, q in enumerate(_question(viewed=tuple(CATALOG[k : k + 12])) for k in (0, 20, 40)):
            workers[i % 2].decide(q)
            totals.merge(drain(workers[i % 2], sent[i % 2]))
        workers[0].note_hour({"add_to_cart": {"decided_by": "rules"}})
        for w, s in zip(workers, sent, strict=True):
            totals.merge(drain(w, s))
            totals.merge(drain(w, s))  # nothing new: adds nothing
        served = server.tokens_served
    write_llm_json(tmp_path, totals.block())
    block = json.loads((tmp_path / "llm.json").read_text())
    assert block["calls"] == 3 and block["tokens_in"] + block["tokens_out"] == served
    assert block["decisions"] == {"llm": 2, "fallback": 1, "rules": 1}
    assert block["fallbacks"] == {"http_429": 1} and block["fallback_rate"] == round(1 / 3, 4)
    assert block["share_llm"] == 0.5 and block["model"] == "scripted-1"
    assert block["latency_ms_p50"] > 0 and block["latency_ms_p95"] >= block["latency_ms_p50"]


@pytest.mark.parametrize(
    ("flag", "value", "fragment"),
    [("llm_share", 1.5, "--llm-share 1.5"), ("llm_timeout", 0.0, "--llm-timeout"),
     ("llm_url", "ftp://x", "--llm-url ftp://x"), ("llm_budget_tokens", -1, "--llm-budget-tokens"),
     ("llm_concurrency", 0, "--llm-concurrency")],
)  # fmt: skip
def test_bad_llm_options_name_the_option(flag, value, fragment):
    from argparse import Namespace

    from db.errors import ConfigError
    from harness.config.options import HarnessOptions

    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        HarnessOptions.from_parsed(Namespace(**{flag: value}))


def test_with_a_runner_the_budget_is_leased_from_the_master_and_the_key_never_in_options():
    from argparse import Namespace

    from harness.agent.llm import adapter_for
    from harness.config.options import HarnessOptions

    opts = HarnessOptions.from_parsed(Namespace(llm_url="http://127.0.0.1:9/v1",
                                                llm_budget_tokens=1001, llm_share=0.2))  # fmt: skip
    alone = adapter_for(opts)
    assert alone is not None and alone.lease is None
    assert (alone.budget_tokens, alone.budget_tokens_run) == (1001, 1001)
    leased = adapter_for(opts, runner=object())
    assert leased is not None and leased.lease is not None and leased.lease.granted == 0
    assert (leased.budget_tokens, leased.budget_tokens_run) == (0, 1001)
    assert adapter_for(HarnessOptions.from_parsed(Namespace())) is None
    assert not any("key" in k for k in opts.to_json())


def test_llama_cpp_servers_json_object_format_carries_the_schema():
    with ScriptedLlmServer(["valid"]) as server:
        got = _adapter(server, response_format="json_object").decide(_question())
    assert isinstance(got, Decided)
    fmt = server.requests[0]["response_format"]
    assert fmt["type"] == "json_object" and fmt["schema"]["required"] == ["lines"]


def _coupon_and_checkout_questions():
    from behaviors.llm import CartItem, CheckoutQuestion, CouponQuestion, WalletOffer

    cart = (CartItem(product_id=1, category="dairy", brand="b", unit_price_cents=250, quantity=2),)
    coupon = CouponQuestion(
        persona_id="p", persona={"age": 40}, cart=cart, subtotal_cents=500,
        coupons=(WalletOffer(user_coupon_id=7, kind="frontstore", category=None, brand=None,
                             discount_cents=50),),
    )  # fmt: skip
    checkout = CheckoutQuestion(
        persona_id="p", persona={"age": 40}, budget_cents=5000, cart=cart, subtotal_cents=500,
        discount_cents=50, total_cents=450, coupon_applied=True,
    )  # fmt: skip
    return coupon, checkout


@pytest.mark.parametrize(
    ("mode", "coupon_got", "checkout_got"),
    [("valid", 7, "complete"), ("unknown", "unknown_coupon", "schema"),
     ("invalid_json", "invalid_json", "invalid_json"), ("http_500", "http_500", "http_500")],
)  # fmt: skip
def test_the_coupon_and_checkout_questions_are_answered_or_counted(mode, coupon_got, checkout_got):
    coupon, checkout = _coupon_and_checkout_questions()
    with ScriptedLlmServer([mode]) as server:
        a = _adapter(server, cache_size=0)
        got = [a.decide(coupon), a.decide(checkout)]
        bodies = list(server.requests)

    def what(g, field):
        return getattr(g.answer, field) if isinstance(g, Decided) else g.reason

    seen = [what(got[0], "user_coupon_id"), what(got[1], "decision")]
    assert seen == [coupon_got, checkout_got]
    assert [b["messages"] for b in bodies] == [coupon.messages(), checkout.messages()]
    assert bodies[0]["response_format"]["json_schema"]["schema"]["required"] == ["user_coupon_id"]
    offered = bodies[0]["response_format"]["json_schema"]["schema"]["properties"]["user_coupon_id"]
    assert offered == {"anyOf": [{"type": "integer", "enum": [7]}, {"type": "null"}]}
    assert bodies[1]["response_format"]["json_schema"]["schema"]["required"] == ["decision"]


def test_with_opentelemetry_each_model_call_is_a_child_span_of_the_current_one():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    session = provider.get_tracer("test")
    q = _question()
    with ScriptedLlmServer(["valid", "valid", "http_500"]) as server:
        a = _adapter(server, cache_size=0, tracer_provider=provider)
        a.decide(q)  # no current span (OTel off, or outside a session): no span
        assert exporter.get_finished_spans() == ()
        with session.start_as_current_span("agent_session") as parent:
            a.decide(q)
            a.decide(q)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    calls = [s for s in exporter.get_finished_spans() if s.name == "llm basket"]
    assert len(calls) == 2 and set(spans) == {"agent_session", "llm basket"}
    ok, failed = calls
    for s in calls:
        assert s.parent.span_id == parent.get_span_context().span_id and s.kind == SpanKind.CLIENT
        assert s.attributes["gen_ai.request.model"] == "scripted-1"
        assert s.attributes["loadsim.llm.prompt_hash"] == q.prompt_hash()
        assert s.attributes["server.address"] == "127.0.0.1"
    assert ok.attributes["loadsim.llm.decided_by"] == "llm"
    assert ok.attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
    assert ok.attributes["gen_ai.usage.output_tokens"] == COMPLETION_TOKENS
    assert failed.attributes["loadsim.llm.fallback_reason"] == "http_500"
    assert failed.status.status_code == StatusCode.ERROR
