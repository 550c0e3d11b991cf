"""A run's end writes its full report whatever stopped it, and a report that
cannot be built fails the gates (never passes them).

In-process and fast: the per-hour table (paused clock, segments), the report builder's
per-artifact isolation and database fallback, and the harness's end stages with faults
injected. The real ``locust`` exit paths are in ``tests/test_e2e_run_end.py``;
``--resume``'s segments in ``tests/test_run_segments.py``.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from harness.agent.hourstats import HourAggregate
from harness.control import finish
from harness.outputs.run_files import RunFiles
from offer_engine.clock import SimClock
from reports import build, hour_table
from reports.build import build_run_report
from reports.sources import read_run_files
from reports.timing import hours_from_db, time_metrics
from tests.test_reports_support import SIM_START, write_hours, write_manifest

SCALE = 48.0


def _paused_run(d: Path, *, hours: int = 6, paused_from: int = 3) -> None:
    """A run the breaker paused: rows from ``paused_from`` on have an empty real_time
    (what the harness wrote before this fix)."""
    write_manifest(d, mock_db=True, time_scale=SCALE, ended_at="2025-01-01T10:10:00+00:00")
    write_hours(d, [{"sim_hour": h, "acted": 10, "shopped": 4, "completed": 3,
                     "slip_p99_s": 0.5} for h in range(hours)], time_scale=SCALE)  # fmt: skip
    text = (d / "hours.csv").read_text().splitlines()
    cols = text[0].split(",")
    i = cols.index("real_time")
    out = [text[0]]
    for n, line in enumerate(text[1:]):
        cells = line.split(",")
        if n >= paused_from:
            cells[i] = ""
        out.append(",".join(cells))
    (d / "hours.csv").write_text("\n".join(out) + "\n")


# ------------------------------------------------------------------ timing and the table


@pytest.mark.parametrize("paused_from", [0, 1, 3])
def test_time_metrics_with_empty_real_times(tmp_path, paused_from):
    d = tmp_path / "paused"
    _paused_run(d, paused_from=paused_from)
    files = read_run_files(d)
    t = time_metrics(manifest=files.manifest, hours=files.hours, agent_hours=None,
                     history_elapsed_s=None, db_run=None)  # fmt: skip
    assert t["sim_hours"] == 6
    if paused_from >= 2:  # two timed rows: the realized scale comes from them
        assert t["real_seconds_source"] == "hours.csv real_time (the clock's plan)"
        assert t["realized_time_scale"] == pytest.approx(SCALE, rel=1e-3)
    else:  # nothing to time from the rows: the manifest's span, never an IndexError
        assert t["real_seconds_source"] == "manifest"


def test_a_paused_run_gets_its_whole_report(tmp_path):
    d = tmp_path / "paused"
    _paused_run(d, paused_from=0)
    summary = build_run_report(d, engine=None)
    assert summary["time"]["sim_hours"] == 6
    assert (d / "summary.json").is_file() and (d / "report.xlsx").is_file()
    assert sorted(p.name for p in (d / "plots").glob("*.png")) == sorted(
        f"{n}.png" for n in ("ramp", "load", "sessions_orders", "slip", "funnel")
    )
    assert "errors" not in summary["outputs"]


def test_hours_of_two_segments_combine_and_time_only_the_segments(tmp_path):
    """Segment 2 (a resume) re-played hours 2–3 for the agents that had not acted: the
    counts add up, and the hours between the kill and the resume are not run time."""
    d = tmp_path / "resumed"
    write_manifest(d, mock_db=True, time_scale=SCALE)
    real0 = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    step = timedelta(seconds=3600 / SCALE)
    rows = []
    for seg, hours, start in (
        (1, range(0, 4), real0),
        (2, range(2, 6), real0 + timedelta(hours=5)),
    ):
        for k, h in enumerate(hours):
            rows.append(hour_table.hour_row({
                "sim_hour": h, "sim_time": (SIM_START + timedelta(hours=h)).isoformat(),
                "real_time": (start + k * step).isoformat(), "acted": 10 if seg == 1 else 3,
                "missed": 1, "slip_p99_s": 0.2 * seg, "live_users": 10, "segment": seg,
            }))  # fmt: skip
    with open(d / "hours.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=hour_table.HOUR_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    files = read_run_files(d)
    h = files.hours.set_index("sim_hour")
    assert list(h.index) == [0, 1, 2, 3, 4, 5]
    assert h.loc[2, "acted"] == 13 and h.loc[2, "missed"] == 2  # both segments' agents
    assert h.loc[0, "acted"] == 10 and h.loc[5, "acted"] == 3
    assert h.loc[3, "slip_p99_s"] == pytest.approx(0.4)  # the larger, never an average
    t = time_metrics(manifest=files.manifest, hours=files.hours, agent_hours=None,
                     history_elapsed_s=None, db_run=None)  # fmt: skip
    assert t["realized_time_scale"] == pytest.approx(SCALE, rel=1e-3)  # not ~1 (the gap)
    assert t["sim_hours"] == 6


def test_hours_rebuilt_from_the_database_have_the_files_columns():
    ah = pd.DataFrame({
        "sim_hour": [0, 0, 1, 1], "decision": ["shop", "none", "missed", "idle"],
        "outcome": ["completed", "none", "missed", "failed"], "slip_seconds": [1.0, 2.0, None, 3.0],
    })  # fmt: skip
    sessions = pd.DataFrame({"sim_hour": [0, 1], "kind": ["shop", "idle_browse"],
                             "status": ["completed", "abandoned"]})  # fmt: skip
    orders = pd.DataFrame({"sim_hour": [0]})
    out = hours_from_db(ah, sessions, orders, sim_start=SIM_START, time_scale=SCALE)
    assert tuple(out.columns) == hour_table.HOUR_COLUMNS
    r0, r1 = out.iloc[0], out.iloc[1]
    # "acted" as the harness counts it: took the slot, whatever it decided.
    assert (r0["acted"], r0["shopped"], r0["orders"], r0["missed"]) == (2, 1, 1, 0)
    assert (r1["acted"], r1["idle"], r1["failed"], r1["missed"]) == (1, 1, 1, 1)
    assert pd.Timestamp(r1["sim_time"]) == pd.Timestamp(SIM_START + timedelta(hours=1))


def test_hour_row_rejects_a_column_the_table_does_not_have():
    assert list(hour_table.hour_row({"sim_hour": 1})) == list(hour_table.HOUR_COLUMNS)
    with pytest.raises(ValueError, match="slip_p98_s"):
        hour_table.hour_row({"sim_hour": 1, "slip_p98_s": 1.0})


# ------------------------------------------------------------------ the report builder


def test_one_failing_artifact_does_not_cost_the_others(tmp_path, monkeypatch):
    d = tmp_path / "run"
    _paused_run(d)

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build, "write_report_xlsx", broken)
    summary = build_run_report(d, engine=None)
    assert not (d / "report.xlsx").exists()
    assert len(list((d / "plots").glob("*.png"))) == 5
    written = json.loads((d / "summary.json").read_text())
    assert written["outputs"]["errors"] == {"xlsx": "RuntimeError: disk full"}
    assert any("xlsx (RuntimeError: disk full)" in n for n in summary["sources"]["notes"])


def test_an_unreachable_database_gives_a_files_only_report(tmp_path):
    from sqlalchemy import create_engine

    d = tmp_path / "run"
    _paused_run(d)
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    summary = build_run_report(d, engine=dead)
    assert summary["sources"]["database"] is False
    assert any("database rows unavailable" in n for n in summary["sources"]["notes"])
    assert (d / "report.xlsx").is_file() and (d / "summary.json").is_file()


# ------------------------------------------------------------------ the harness's end


class _Files(RunFiles):
    """The real run directory; Locust's own stats writer replaced (no locust here)."""

    def write_final_stats(self, environment):
        if environment == "boom":
            raise RuntimeError("stats writer broke")


def _director(tmp_path: Path, *, thresholds=(), paused=True, env="ok", checkpoint_fails=False):
    files = _Files(tmp_path / "runs" / "r1")
    files.write_manifest({"run_id": "r1", "started_at": "2026-01-10T09:00:00+00:00",
                          "time_scale": SCALE, "mock_db": True, "options": {}})  # fmt: skip
    start = datetime(2026, 1, 10, 9, tzinfo=UTC)
    clock = SimClock.start(sim_start=start, scale=SCALE)
    clock = clock.pause() if paused else clock
    counts = {"acted": 5, "shopped": 5, "completed": 5, "orders": 5}
    # What the processes' collectors hand over (``HourCollector.drain``), merged at the end.
    drained = {str(h): {"counts": counts, "slips_ms": [100] * 5, "errors": {}} for h in range(4)}
    collector = SimpleNamespace(drain=lambda: drained)
    agg = HourAggregate()

    def checkpoint(reason):
        if checkpoint_fails:
            raise RuntimeError("checkpoint dir gone")

    opts = SimpleNamespace(time_scale=SCALE, ramp=((0, 1.0),), sim_start=start,
                           thresholds=list(thresholds))  # fmt: skip
    return SimpleNamespace(
        run=SimpleNamespace(run_id="r1"), files=files, env=env, engine=None, opts=opts,
        rt=SimpleNamespace(clock=clock, collector=collector, sim_end=None,
                           timings=SimpleNamespace(write_run_csv=lambda _d: None),
                           llm_totals=None), agg=agg,
        pool=SimpleNamespace(size=5), users_at_hour={}, settings_cycle_days=7.0,
        exit_code=None, stopped_early=False, current_hour=3, checkpoint=checkpoint,
        stop_loops=lambda: None,
    )  # fmt: skip


def _assert_full_report(run_dir: Path) -> None:
    for name in ("summary.json", "report.xlsx", "hours.csv", "manifest.json"):
        assert (run_dir / name).is_file(), name
    assert len(list((run_dir / "plots").glob("*.png"))) == 5


def test_a_paused_run_end_writes_hours_with_real_times_and_the_report(tmp_path):
    d = _director(tmp_path, paused=True)
    assert finish.finish_run(d) is None
    run_dir = d.files.dir
    _assert_full_report(run_dir)
    with open(run_dir / "hours.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["sim_hour"]) for r in rows] == [0, 1, 2, 3]
    assert all(r["real_time"] for r in rows)  # the paused clock reached every hour before
    assert all(r["segment"] == "1" for r in rows)
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "completed" and m["segments"][0]["status"] == "completed"
    assert "end_errors" not in m


def test_failing_end_stages_are_named_and_the_rest_still_runs(tmp_path):
    d = _director(tmp_path, env="boom", checkpoint_fails=True)
    finish.finish_run(d)
    _assert_full_report(d.files.dir)
    m = json.loads((d.files.dir / "manifest.json").read_text())
    assert m["end_errors"] == ["exit checkpoint", "Locust stats"]


def test_a_report_that_cannot_be_built_fails_the_gates(tmp_path, monkeypatch, capsys):
    import reports.build as rb

    def broken(*_a, **_k):
        raise RuntimeError("injected report fault")

    monkeypatch.setattr(rb, "build_run_report", broken)
    d = _director(tmp_path, thresholds=["failed_flows=0"])
    assert finish.finish_run(d) == 3
    out = capsys.readouterr().out
    assert "[FAIL] threshold failed_flows=0: not checked: no report " in out
    assert "RuntimeError: injected report fault" in out
    m = json.loads((d.files.dir / "manifest.json").read_text())
    assert m["exit_code"] == 3 and "report" in m["end_errors"]
    assert (d.files.dir / "hours.csv").is_file()  # the run's own outputs are still there
    # Without the fault the same gate holds: the failure above is the missing report's.
    monkeypatch.undo()
    d2 = _director(tmp_path / "again", thresholds=["failed_flows=0"])
    assert finish.finish_run(d2) is None
    assert "[PASS] threshold failed_flows=0: actual 0" in capsys.readouterr().out


def test_unchecked_behavior_gates_exit_4_and_load_gates_win():
    assert finish.judge_gates(["calibration"], None, "x") == 4
    assert finish.judge_gates(["calibration", "p95<1s"], None, "x") == 3
    assert finish.judge_gates([], None, "x") is None


def test_a_breaker_run_says_its_report_is_partial(tmp_path, capsys):
    d = _director(tmp_path, thresholds=["failed_flows=0"])
    d.exit_code = 5  # the breaker stopped the headless run
    assert finish.finish_run(d) == 5  # exit 5 stands; gates are not judged on it
    summary = json.loads((d.files.dir / "summary.json").read_text())
    assert "the run ended early (status breaker, exit 5)" in " ".join(summary["sources"]["notes"])
    assert summary["manifest"]["status"] == "breaker"
    assert "[PASS]" not in capsys.readouterr().out


def test_loadsim_report_fails_its_gates_when_the_report_cannot_be_built(
    tmp_path, monkeypatch, capsys
):
    import reports.build as rb
    from harness.cli.app import main

    _paused_run(tmp_path / "runs" / "r")
    argv = ["report", "r", "--runs-dir", str(tmp_path / "runs"), "--threshold", "calibration"]
    monkeypatch.setattr(rb, "build_run_report", _raise_injected)
    assert main(argv) == 4  # a behavior gate: 4, and never 0
    assert "[FAIL] threshold calibration: not checked: no report (RuntimeError: injected" in (
        capsys.readouterr().out
    )
    with pytest.raises(RuntimeError):  # without a gate the bug surfaces as it is
        main(argv[:4])


def _raise_injected(*_a, **_k):
    raise RuntimeError("injected report fault")


def test_gates_that_cannot_be_judged_fail(tmp_path, monkeypatch):
    import reports.thresholds as th

    monkeypatch.setattr(th, "evaluate", _raise_injected)
    d = _director(tmp_path, thresholds=["failed_flows=0"])
    assert finish.finish_run(d) == 3
    assert "gates" in json.loads((d.files.dir / "manifest.json").read_text())["end_errors"]
