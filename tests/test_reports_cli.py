"""``loadsim report`` (with CI gates) and ``loadsim export-events`` end to end."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.models import ShoppingSessionEvent
from harness.cli import main
from reports.export import COLUMNS, export_events
from tests.test_reports_support import (
    RunSpec,
    populate_run,
    population,
    write_hours,
    write_locust_csvs,
    write_manifest,
)


@pytest.fixture(scope="module")
def locust_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("locust") / "tpl"
    # p95 of the only endpoint is ~190 ms; 2 of 100 requests fail with a 503.
    reqs = [
        ("GET", "/api/products?…", 100 + i, "HTTPError('503 Server Error')" if i < 2 else None)
        for i in range(100)
    ]
    write_locust_csvs(d, reqs, duration_s=30)
    return d


@pytest.fixture()
def runs_dir(tmp_path: Path, locust_template: Path) -> Path:
    root = tmp_path / "runs"
    d = root / "mock1"
    shutil.copytree(locust_template, d)
    write_manifest(d, mock_db=True)
    write_hours(
        d,
        [
            dict(
                sim_hour=h,
                acted=10,
                shopped=4,
                completed=3,
                abandoned=1,
                orders=3,
                slip_p50_s=1,
                slip_p95_s=2,
                slip_p99_s=3,
            )
            for h in range(12)
        ],
    )
    return root


def _report(runs_dir: Path, *gates: str) -> int:
    argv = ["report", "mock1", "--runs-dir", str(runs_dir)]
    for g in gates:
        argv += ["--threshold", g]
    return main(argv)


def test_report_rebuilds_and_prints(runs_dir: Path, capsys) -> None:
    assert _report(runs_dir) == 0
    out = capsys.readouterr().out
    assert "Run mock1" in out and "/api/products?…" in out
    summary = json.loads((runs_dir / "mock1" / "summary.json").read_text())
    assert summary["load"]["requests"] == 100
    assert (runs_dir / "mock1" / "report.xlsx").is_file()


def test_gates_that_hold_exit_0(runs_dir: Path, capsys) -> None:
    code = _report(runs_dir, "p95<800ms", "error_rate<5%", "slip_p99<10%", "missed_sessions=0")
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("[PASS]") == 4 and "[FAIL]" not in out


def test_violated_load_gate_exits_3(runs_dir: Path, capsys) -> None:
    code = _report(runs_dir, "p95<100ms", "error_rate<1%")
    out = capsys.readouterr().out
    assert code == 3
    assert "[FAIL] load gate p95<100ms" in out and "[FAIL] load gate error_rate<1%" in out


def test_violated_behavior_gate_exits_4(runs_dir: Path, capsys) -> None:
    # calibration needs the database; a --mock-db run cannot prove fidelity.
    code = _report(runs_dir, "p95<800ms", "calibration", "conversion>90%")
    out = capsys.readouterr().out
    assert code == 4
    assert "[FAIL] behavior gate calibration" in out
    assert "[FAIL] behavior gate conversion>90%" in out


def test_bad_threshold_exits_2_before_writing(runs_dir: Path, capsys) -> None:
    code = _report(runs_dir, "p95<fast")
    assert code == 2
    assert "--threshold 'p95<fast'" in capsys.readouterr().err
    assert not (runs_dir / "mock1" / "summary.json").exists()


def test_unknown_run_exits_2(runs_dir: Path, capsys) -> None:
    assert main(["report", "nope", "--runs-dir", str(runs_dir)]) == 2
    err = capsys.readouterr().err
    assert "unknown run 'nope'" in err and "mock1" in err


def test_report_reads_the_database(tmp_path: Path, clean_db, settings_env, capsys) -> None:
    settings_env.setenv("DATABASE_URL", clean_db.url.render_as_string(hide_password=False))
    with clean_db.begin() as conn:
        truth = populate_run(conn, RunSpec(run_id="dbrun", agents=population(6), sim_hours=48))
    write_manifest(tmp_path / "runs" / "dbrun")
    assert main(["report", "dbrun", "--runs-dir", str(tmp_path / "runs")]) == 0
    s = json.loads((tmp_path / "runs" / "dbrun" / "summary.json").read_text())
    assert s["behavior"]["source"] == "database"
    assert s["behavior"]["overall"]["shop_sessions"] == truth.shop_sessions
    assert "password" not in capsys.readouterr().out.lower()


def test_export_events_joins_persona_attributes(tmp_path: Path, clean_db) -> None:
    with clean_db.begin() as conn:
        truth = populate_run(conn, RunSpec(run_id="ex1", agents=population(6), sim_hours=72))
        populate_run(conn, RunSpec(run_id="other", agents=population(3, start=50), sim_hours=24))
        expected = conn.execute(
            select(func.count()).where(ShoppingSessionEvent.run_id == "ex1")
        ).scalar_one()
    out = tmp_path / "events.csv"
    with clean_db.connect() as conn:
        n = export_events(conn, run_id="ex1", out=out)
    assert n == expected > 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n and tuple(rows[0]) == COLUMNS
    assert {r["run_id"] for r in rows} == {"ex1"}
    assert {int(r["agent_id"]) for r in rows} <= set(truth.agent_ids)
    first = rows[0]
    assert first["persona_channel"] in {"app", "voice"}
    assert first["persona_preferred_days"] == "Sat,Sun"
    assert first["segment"].startswith(first["persona_channel"] + "/")
    shop = next(r for r in rows if r["event_type"] == "session_start")
    assert json.loads(shop["payload"]) == {"draw": 0.25, "p": 0.5}
    assert shop["session_kind"] == "shop"
    # Ordered by session then seq: the training data reads as each session's story.
    keys = [(int(r["session_id"]), int(r["seq"])) for r in rows]
    assert keys == sorted(keys)


def test_export_unknown_run_exits_2_and_writes_nothing(
    tmp_path: Path, clean_db, settings_env, capsys
) -> None:
    settings_env.setenv("DATABASE_URL", clean_db.url.render_as_string(hide_password=False))
    out = tmp_path / "none.csv"
    assert main(["export-events", "--run", "ghost", "-o", str(out)]) == 2
    assert "--run ghost: no such run" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))
