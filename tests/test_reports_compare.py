"""Time-scale comparison on real database rows: 48x vs 96x over the same simulated week."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from db.models import metadata
from harness.agent.timings import GRAPH, HarnessTimings
from harness.cli import main
from reports.compare import compare_runs, sustainability
from tests.test_reports_support import (
    RunSpec,
    populate_run,
    population,
    write_locust_csvs,
    write_manifest,
)


@pytest.fixture(scope="module")
def locust_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("locust") / "tpl"
    reqs = [("POST", "/api/cart/add", 80 + i % 40, None) for i in range(300)]
    write_locust_csvs(d, reqs, duration_s=120)
    # The graph's time is the harness's own timing (never in Locust's stats): its CSV.
    timings = HarnessTimings()
    for i in range(30):
        timings.record(GRAPH, 900 + i)
    timings.write_run_csv(d)
    return d


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, engine, locust_template: Path):
    """Three runs of the same simulated week: 48x and 96x following the personas
    (different random draws: sampling noise only), and a 96x run whose target did not
    keep up (missed hours, abandonment distorted)."""
    specs = {
        "c48": RunSpec(run_id="c48", seed=11, time_scale=48.0),
        "c96": RunSpec(run_id="c96", seed=12, time_scale=96.0),
        "c96bad": RunSpec(
            run_id="c96bad",
            seed=13,
            time_scale=96.0,
            abandon_factor=2.5,
            missed_every=50,
            slip_seconds=6.0,
        ),
    }
    root = tmp_path_factory.mktemp("cmp") / "runs"
    truths = {}
    with engine.begin() as conn:
        for i, (name, spec) in enumerate(specs.items()):
            spec.agents = population(40, start=100 * i)
            truths[name] = populate_run(conn, spec)
            d = root / name
            shutil.copytree(locust_template, d)
            write_manifest(d, time_scale=spec.time_scale, sim_duration_hours=168)
    # Read-only tests share these rows; truncate once at the end of the module.
    yield root, truths, engine
    names = ", ".join(f'"{t}"' for t in metadata.tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def test_same_week_at_48x_and_96x_does_not_differ(runs, tmp_path: Path) -> None:
    root, truths, engine = runs
    out = tmp_path / "cmp"
    result = compare_runs([root / "c48", root / "c96"], engine=engine, out_dir=out)

    assert [r["time_scale"] for r in result["runs"]] == [48.0, 96.0]
    rows = {b["metric"]: b for b in result["behavior"]}
    assert rows["shop sessions / sim day"]["values"] == pytest.approx(
        [truths["c48"].shop_sessions / 7, truths["c96"].shop_sessions / 7]
    )
    assert rows["conversion"]["values"][1] == pytest.approx(
        truths["c96"].completed / truths["c96"].shop_sessions
    )
    assert all(b["z"][1] is not None for b in result["behavior"])
    assert result["flags"] == [], result["behavior"]

    sus = result["sustainability"]
    assert [s["sustainable"] for s in sus] == [True, True]
    # The graph's flow (~0.9 s, harness_timings.csv) is the larger latency; at 96x a sim hour lasts 37.5 s.
    assert sus[1]["latency_share_pct"] == pytest.approx(sus[1]["flow_p95_share_pct"])
    assert sus[1]["latency_share_pct"] == pytest.approx(2 * sus[0]["latency_share_pct"], rel=0.01)
    assert all(s["can_raise_scale"] for s in sus)

    wb = load_workbook(out / "comparison.xlsx")
    assert wb.sheetnames == ["Behavior", "Load", "Sustainability", "Runs"]
    assert wb["Behavior"]["B1"].value == "c48 (48x)" and wb["Behavior"]["C1"].value == "c96 (96x)"
    assert all(ws.max_row >= 2 for ws in wb.worksheets)
    assert json.loads((out / "comparison.json").read_text())["flags"] == []
    assert len(list((out / "plots").glob("compare_*.png"))) == 4


def test_distorted_time_scale_is_flagged_and_unsustainable(runs, tmp_path: Path) -> None:
    root, _, engine = runs
    result = compare_runs([root / "c48", root / "c96bad"], engine=engine, out_dir=tmp_path / "x")
    assert {"abandonment", "conversion"} <= set(result["flags"])
    bad = result["sustainability"][1]
    assert not bad["sustainable"]
    assert any("missed sessions" in r for r in bad["reasons"])
    assert any("slip p99" in r for r in bad["reasons"])  # 6-9 s of a 37.5-s sim hour
    assert "NOT sustainable" in bad["verdict"]


def test_sustainability_rules_from_the_summary() -> None:
    summary = {
        "time": {
            "sim_hour_real_s": 37.5,
            "slip_p99_pct_hour": 4.0,
            "missed_sessions": 0,
            "time_scale": 96.0,
            "realized_time_scale": 80.0,
        },
        "load": {"p95_ms": 9000.0},
    }
    s = sustainability(summary)
    assert s["api_p95_share_pct"] == pytest.approx(24.0)  # 9 s of 37.5 s
    assert not s["sustainable"] and "clock ran at 80.0x of 96x" in s["reasons"]
    summary["time"]["realized_time_scale"] = 95.5
    s = sustainability(summary)
    assert s["sustainable"] and not s["can_raise_scale"]  # 24 % ≥ the owner's 20 %


def test_cli_compare_prints_side_by_side(runs, tmp_path: Path, settings_env, capsys) -> None:
    root, _, engine = runs
    settings_env.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    out = tmp_path / "cli"
    code = main(["compare", "c48", "c96", "--runs-dir", str(root), "-o", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "c48 (48x)" in text and "c96 (96x)" in text
    assert "no metric differs beyond sampling error" in text
    assert (out / "comparison.xlsx").is_file()


def test_cli_compare_unknown_run_exits_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "runs" / "a").mkdir(parents=True)
    code = main(["compare", "a", "nope", "--runs-dir", str(tmp_path / "runs"), "--no-db"])
    assert code == 2
    assert "unknown run 'nope'" in capsys.readouterr().err
