"""The model's part of a run's report (``reports/llm_report.py``): ``summary.json``'s ``llm``
block read from ``llm.json`` with the cost from ``--llm-price``, and the workbook's LLM sheet
with the same figures; a run without a model has neither."""

from __future__ import annotations

import json
from argparse import Namespace
from types import SimpleNamespace

import pytest
from openpyxl import Workbook

from db.errors import ConfigError
from reports.llm_report import llm_sheet, llm_summary, parse_price
from reports.sources import read_run_files

LLM = {
    "model": "scripted-1", "calls": 7, "tokens_in": 1050, "tokens_out": 210,
    "decisions": {"llm": 4, "fallback": 10, "rules": 14}, "share_llm": 0.1429,
    "fallbacks": {"budget_spent": 7, "http_429": 1, "invalid_json": 1, "unknown_product": 1},
    "fallback_rate": 0.7143, "latency_ms_p50": 9.5, "latency_ms_p95": 99.3,
    "cache_hit_rate": 0.25, "budget_tokens": 1080, "budget_granted": 1080,
    "budget_by_process": {"w1": 810, "w2": 270},
}  # fmt: skip


def _run_dir(tmp_path, price="0.15,0.60", llm=LLM):
    (tmp_path / "manifest.json").write_text(
        json.dumps({"run_id": "r", "options": {"llm_price": price}})
    )
    if llm is not None:
        (tmp_path / "llm.json").write_text(json.dumps(llm))
    return read_run_files(tmp_path)


def test_the_llm_block_carries_the_runs_counts_and_the_cost_at_the_given_price(tmp_path):
    block = llm_summary(_run_dir(tmp_path))
    assert block["calls"] == 7 and (block["tokens_in"], block["tokens_out"]) == (1050, 210)
    assert block["decisions_total"] == 28 and block["share_llm"] == 0.1429
    assert block["fallbacks"] == LLM["fallbacks"] and block["fallback_rate"] == 0.7143
    assert (block["latency_p50_ms"], block["latency_p95_ms"]) == (9.5, 99.3)
    assert block["cache_hit_rate"] == 0.25 and block["tokens_per_call"] == 180.0
    assert (block["budget_tokens"], block["budget_granted"]) == (1080, 1080)
    cents = (1050 * 0.15 + 210 * 0.60) / 1e6 * 100
    assert block["cost_cents"] == round(cents, 6)
    assert block["cost_per_1000_decisions_cents"] == round(cents * 1000 / 4, 4)


def test_without_a_price_no_cost_and_without_llm_json_no_block(tmp_path):
    block = llm_summary(_run_dir(tmp_path, price=""))
    assert block is not None and "cost_cents" not in block
    none = tmp_path / "rules_only"
    none.mkdir()
    assert llm_summary(_run_dir(none, llm=None)) is None


def test_the_llm_sheet_shows_the_blocks_figures(tmp_path):
    block = llm_summary(_run_dir(tmp_path))
    wb = Workbook()
    ws = llm_sheet(wb, "LLM", SimpleNamespace(summary={"llm": block}))
    cells = {r[0]: r[1] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert cells["model calls"] == 7 and cells["tokens in (prompt)"] == 1050
    assert cells["tokens out (completion)"] == 210 and cells["decisions by llm"] == 4
    assert cells["fallbacks: budget_spent"] == 7 and cells["fallbacks: http_429"] == 1
    assert cells["latency p95 (ms)"] == 99.3 and cells["cache hit rate (%)"] == 0.25
    assert cells["cost ($)"] == pytest.approx(block["cost_cents"] / 100)
    assert llm_sheet(Workbook(), "LLM", SimpleNamespace(summary={})) is None


@pytest.mark.parametrize("bad", ["0.15", "a,b", "0.1,-1", "1,2,3", "nan,1"])
def test_a_bad_price_names_the_option(bad):
    from harness.config.options import HarnessOptions

    with pytest.raises(ConfigError, match="--llm-price"):
        parse_price(bad)
    with pytest.raises(ConfigError, match="--llm-price"):
        HarnessOptions.from_parsed(Namespace(llm_price=bad))
    assert HarnessOptions.from_parsed(Namespace(llm_price=" 0.15,0.6 ")).llm_price == "0.15,0.6"


def test_a_malformed_llm_json_is_one_line_naming_the_file(tmp_path):
    files = _run_dir(tmp_path, llm=None)
    (tmp_path / "llm.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"llm\.json: not valid JSON"):
        llm_summary(files)
