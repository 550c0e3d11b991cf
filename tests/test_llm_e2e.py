"""End-to-end: a ``--processes 2`` run (real locust processes, real Postgres, the in-memory
shop) whose baskets a scripted OpenAI-compatible loopback server decides for half of the
sessions (``tests/llm_support.py``), under a token budget: the run exits 0, events say who
decided, ``llm.json``, ``summary.json``'s ``llm`` block and the workbook's LLM sheet agree
with what the server saw, and the budget the master holds holds across the two processes
(the tokens served ≤ budget + one call per process)."""

from __future__ import annotations

import json

import pytest
from openpyxl import load_workbook

from db import migrate
from db.engine import create_db_engine
from tests.distributed_support import zmq_port
from tests.e2e_support import count, harness_env, run_locust, seed_small_population
from tests.llm_support import COMPLETION_TOKENS, PROMPT_TOKENS, ScriptedLlmServer

pytestmark = pytest.mark.e2e
N = 200
PER_CALL = PROMPT_TOKENS + COMPLETION_TOKENS
BUDGET = 12 * PER_CALL


@pytest.fixture()
def e2e_db(pg_server):
    url = pg_server.create_database("e2e_llm", drop_first=True)
    migrate.upgrade(url)
    eng = create_db_engine(url, total_connections=4)
    seed_small_population(eng, n=N)
    yield url, eng
    eng.dispose()


def test_a_two_process_run_with_a_model_deciding_half_the_baskets(e2e_db, tmp_path):
    url, eng = e2e_db
    runs = tmp_path / "runs"
    script = ["valid", "invalid_json", "valid", "unknown", "valid", "http_429", "valid"]
    with ScriptedLlmServer(script) as server:
        r = run_locust(
            ["--headless", "--mock-api", "--processes", "2", *zmq_port(), "--time-scale", "1800",
             "--sim-start", "2026-01-10T09:00:00+00:00", "--ramp", "0:100", "--rate-limit", "0",
             "--drain-seconds", "3", "--sim-duration", "6h", "--run-id", "llm",
             "--runs-dir", str(runs), "--llm-url", server.url, "--llm-model", "scripted-1",
             "--llm-share", "0.5", "--llm-timeout", "2", "--llm-budget-tokens", str(BUDGET),
             "--llm-price", "0.15,0.60"],
            env=harness_env(url, tmp_path, LOADSIM_LLM_API_KEY="sk-never-logged-123"),
            cwd=tmp_path,
        )  # fmt: skip
        requests, served = len(server.requests), server.tokens_served
        asked_kinds = dict(server.questions)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "sk-never-logged-123" not in out
    assert not any("sk-never-logged" in p.read_text(errors="replace")
                   for p in (runs / "llm").rglob("*") if p.is_file())  # fmt: skip
    block = json.loads((runs / "llm" / "llm.json").read_text())
    print(f"[figure] llm e2e: {block} questions served: {asked_kinds}")
    assert block["calls"] == requests > 0
    assert set(asked_kinds) <= {"basket", "coupon", "checkout"} and asked_kinds["basket"] > 0
    assert asked_kinds.get("checkout", 0) > 0  # the checkout choice is asked too
    assert block["tokens_in"] + block["tokens_out"] == served
    # The master holds the budget: it granted at most all of it, to the two workers, and
    # the tokens served stay within what it granted plus one call per process.
    assert block["budget_tokens"] == BUDGET and block["budget_granted"] <= BUDGET
    assert sum(block["budget_by_process"].values()) == block["budget_granted"]
    assert "local" not in block["budget_by_process"]
    assert served <= block["budget_granted"] + 2 * PER_CALL <= BUDGET + 2 * PER_CALL
    assert block["fallbacks"].get("budget_spent", 0) > 0  # the budget ran out: the rules' turn
    assert out.count("LLM token budget spent") == 1  # the run says so once
    # The report says what the server saw: summary.json's llm block and the LLM sheet.
    summary = json.loads((runs / "llm" / "summary.json").read_text())["llm"]
    assert summary["calls"] == requests
    assert summary["tokens_in"] + summary["tokens_out"] == served
    assert summary["fallbacks"] == block["fallbacks"] and summary["decisions"] == block["decisions"]
    assert summary["cost_cents"] == round(
        (summary["tokens_in"] * 0.15 + summary["tokens_out"] * 0.60) / 1e6 * 100, 6
    )
    sheet = load_workbook(runs / "llm" / "report.xlsx", read_only=True)["LLM"]
    cells = {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells["model calls"] == requests
    assert cells["tokens in (prompt)"] + cells["tokens out (completion)"] == served
    assert cells["fallbacks: budget_spent"] == block["fallbacks"]["budget_spent"]
    asked = block["decisions"].get("llm", 0) + block["decisions"].get("fallback", 0)
    assert asked >= requests and block["decisions"].get("rules", 0) > 0
    assert sum(block["fallbacks"].values()) == block["decisions"].get("fallback", 0)
    # Sessions are paced: a model answer is waited for only until the session's next
    # moment (at 1800x, 3-15 ms for the coupon and checkout questions). Each request the
    # server answered is one decision: the model's, a fallback with the answer's reason, or
    # late (the session acted first; its tokens still counted: late_calls).
    answered = {r: n for r, n in block["fallbacks"].items()
                if r not in ("budget_spent", "budget_wait", "late")}  # fmt: skip
    decided = block["decisions"].get("llm", 0) + sum(answered.values())
    assert decided + block["late_calls"] >= requests
    assert block["late_calls"] <= block["fallbacks"].get("late", 0)
    if requests >= 2 and block["late_calls"] == 0:  # the server's second answer was seen
        assert block["fallbacks"].get("invalid_json", 0) >= 1
    by = dict(
        eng.connect()
        .exec_driver_sql(
            "SELECT payload->>'decided_by', count(DISTINCT session_id) FROM "
            "shopping_session_events WHERE run_id = 'llm' AND event_type = 'cart_add_item' "
            "GROUP BY 1"
        )
        .all()
    )
    assert set(by) <= {"rules", "llm", "fallback"} and by.get("rules", 0) > 0, by
    assert 0 < by.get("llm", 0) <= block["decisions"]["llm"], by
    # The report's realism table, model- vs rule-decided sessions of this run, counts the
    # same sessions (in summary.json and on the LLM sheet).
    realism = summary["realism"]
    print(f"[figure] llm e2e realism by decider: {realism}")
    # (a basket that put nothing in the cart counts too: its abandon event says who decided)
    empty = dict(
        eng.connect()
        .exec_driver_sql(
            "SELECT payload->>'basket_decided_by', count(*) FROM shopping_session_events a "
            "WHERE run_id = 'llm' AND event_type = 'abandon' AND payload ? 'basket_decided_by' "
            "AND NOT EXISTS (SELECT 1 FROM shopping_session_events c WHERE c.session_id = "
            "a.session_id AND c.event_type = 'cart_add_item') GROUP BY 1"
        )
        .all()
    )
    assert {who: r["sessions"] for who, r in realism.items()} == {
        who: by.get(who, 0) + empty.get(who, 0) for who in set(by) | set(empty)
    }
    for who, r in realism.items():
        assert r["empty_basket_rate"] == round(empty.get(who, 0) / r["sessions"], 4)
    assert cells["realism, basket decided by llm: sessions deciding a basket"] == by["llm"] + (
        empty.get("llm", 0)
    )
    assert all(r["basket_items_mean"] > 0 and 0 <= r["coupon_rate"] <= 1 for r in realism.values())
    # The coupon and the checkout choice say who decided them too.
    ends = dict(
        eng.connect()
        .exec_driver_sql(
            "SELECT coalesce(payload->>'decided_by', 'none'), count(*) FROM "
            "shopping_session_events WHERE run_id = 'llm' AND event_type IN "
            "('checkout_complete', 'apply_coupon') GROUP BY 1"
        )
        .all()
    )
    print(f"[figure] llm e2e: coupon/checkout events by decided_by: {ends}")
    assert set(ends) <= {"rules", "llm", "fallback"} and ends.get("rules", 0) > 0, ends
    invented = """SELECT count(*) FROM shopping_session_events e WHERE e.run_id = 'llm'
        AND e.event_type = 'cart_add_item'
        AND NOT EXISTS (SELECT 1 FROM products p WHERE p.id = e.product_id)"""
    assert count(eng, invented) == 0
