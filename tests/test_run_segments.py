"""``--resume`` appends to the run's outputs — the manifest lists the run's
segments, ``hours.csv`` keeps every segment's rows, Locust's earlier totals are kept —
and the report's hours cover the whole run, counted once (the database decides for the
hours a resume re-played or a kill cut off). In-process; the real kill-and-resume is
``tests/test_e2e_resilience.py``.
"""

from __future__ import annotations

import csv
import json

import pandas as pd

from harness.outputs.manifest import start_segment
from harness.outputs.run_files import RunFiles
from reports import hour_table
from reports.sources import read_run_files
from reports.timing import hours_from_db
from tests.test_reports_support import SIM_START, write_hours, write_manifest

SCALE = 48.0


def _manifest(run_id: str, resume: str = "", started: str = "2026-01-10T09:00:00+00:00"):
    return {"run_id": run_id, "started_at": started, "time_scale": SCALE, "processes": 1,
            "code_version": "v", "options": {"resume": resume}}  # fmt: skip


def test_resume_appends_a_segment_and_keeps_the_earlier_outputs(tmp_path):
    d = tmp_path / "run"
    first = RunFiles(d)
    first.write_manifest(_manifest("r"))
    row = {"sim_hour": 0, "acted": 5, "real_time": "2026-01-10T09:00:00+00:00", "segment": 1}
    first.append_hours([hour_table.hour_row(row), hour_table.hour_row({**row, "sim_hour": 1})])
    (d / "locust_stats.csv").write_text("Type,Name\n")
    (d / "harness_timings.csv").write_text("name,count\ndb.claim_hour,7\n")
    # ... the master is killed here: no end recorded. The operator resumes.
    second = RunFiles(d)
    second.write_manifest(_manifest("r", resume="r", started="2026-01-10T12:00:00+00:00"))
    assert second.segment == 2
    m = json.loads((d / "manifest.json").read_text())
    assert m["started_at"] == "2026-01-10T09:00:00+00:00"  # the run's, not the segment's
    assert [s["segment"] for s in m["segments"]] == [1, 2]
    assert m["segments"][0]["status"] == "interrupted"
    assert m["segments"][1]["started_at"] == "2026-01-10T12:00:00+00:00"
    assert (d / "segment-1" / "locust_stats.csv").is_file()  # kept, not overwritten
    assert (d / "segment-1" / "harness_timings.csv").read_text().endswith("db.claim_hour,7\n")
    mine = {"sim_hour": 1, "acted": 2, "real_time": "2026-01-10T12:00:00+00:00", "segment": 2}
    second.append_hours([hour_table.hour_row(mine)])
    second.write_hours_csv([hour_table.hour_row({**mine, "acted": 3, "real_time": ""}),
                            hour_table.hour_row({**mine, "sim_hour": 2, "acted": 4})])  # fmt: skip
    second.end_segment(ended_at="2026-01-10T13:00:00+00:00", status="completed", exit_code=None)
    with open(d / "hours.csv", newline="") as fh:
        got = [
            (r["segment"], r["sim_hour"], r["acted"], r["real_time"]) for r in csv.DictReader(fh)
        ]
    assert got == [
        ("1", "0", "5", "2026-01-10T09:00:00+00:00"),
        ("1", "1", "5", "2026-01-10T09:00:00+00:00"),
        ("2", "1", "3", "2026-01-10T12:00:00+00:00"),  # final counts, first real time
        ("2", "2", "4", "2026-01-10T12:00:00+00:00"),
    ]
    m = json.loads((d / "manifest.json").read_text())
    assert m["ended_at"] == m["segments"][1]["ended_at"] == "2026-01-10T13:00:00+00:00"
    assert "ended_at" not in m["segments"][0]


def test_a_fresh_run_in_a_reused_directory_starts_its_files_over(tmp_path):
    d = tmp_path / "run"
    old = RunFiles(d)
    old.write_manifest(_manifest("r"))
    old.append_hours([hour_table.hour_row({"sim_hour": 0, "segment": 1})])
    (d / "locust_stats_history.csv").write_text("Timestamp\n1\n")
    new = RunFiles(d)
    new.write_manifest(_manifest("r"))  # same id, not a resume
    assert new.segment == 1
    assert not (d / "hours.csv").exists() and not (d / "locust_stats_history.csv").exists()
    assert [s["segment"] for s in json.loads((d / "manifest.json").read_text())["segments"]] == [1]


def test_a_manifest_from_before_segments_becomes_segment_1():
    old = {**_manifest("r"), "ended_at": "x", "status": "breaker", "exit_code": 5}
    m = start_segment(old, _manifest("r", resume="r", started="later"))
    assert m["segments"][0] == {"segment": 1, "started_at": old["started_at"], "time_scale": SCALE,
                                "processes": 1, "code_version": "v", "ended_at": "x",
                                "status": "breaker", "exit_code": 5}  # fmt: skip
    assert m["segments"][1]["started_at"] == "later"
    assert start_segment(old, _manifest("other", resume="other"))["segments"] == [
        {"segment": 1, "started_at": old["started_at"], "time_scale": SCALE, "processes": 1,
         "code_version": "v"}
    ]  # fmt: skip


def test_hours_a_killed_segment_never_wrote_come_from_the_database(tmp_path):
    from reports.timing import fill_missing_hours
    from reports.xlsx import write_report_xlsx

    d = tmp_path / "killed"
    write_manifest(d, time_scale=SCALE)
    write_hours(d, [{"sim_hour": h, "acted": 7} for h in (0, 1, 4)], time_scale=SCALE)
    files = read_run_files(d)
    ah = pd.DataFrame({"sim_hour": [1, 2, 3], "decision": ["shop"] * 3,
                       "outcome": ["completed"] * 3, "slip_seconds": [1.0] * 3})  # fmt: skip
    empty = pd.DataFrame({"sim_hour": [], "kind": [], "status": []})
    rebuilt = hours_from_db(ah, empty, pd.DataFrame(), sim_start=SIM_START, time_scale=SCALE)
    filled = fill_missing_hours(files.hours, rebuilt)
    assert list(filled["sim_hour"]) == [0, 1, 2, 3, 4]
    assert list(filled["acted"]) == [7, 7, 1, 1, 7]  # the file's rows win where both exist
    # The filled table renders (no pandas-only missing values reach openpyxl).
    from reports.build import collect_report

    report = collect_report(d, engine=None)
    report.hours = filled
    write_report_xlsx(report, d / "report.xlsx")
    assert (d / "report.xlsx").stat().st_size > 0


def test_hours_a_resume_replayed_are_counted_from_the_database(tmp_path):
    """Segment 2 re-played hours 1–2: its counters saw again the agents that had been
    quiet in segment 1 (hour 1: 7 + 7 in the file), while the kill cost segment 1's
    counters for hour 2. The database holds each agent-hour once: it decides."""
    from reports.timing import fill_missing_hours, last_replayed_hour

    d = tmp_path / "resumed"
    write_manifest(d, time_scale=SCALE)
    write_hours(d, [{"sim_hour": h, "acted": 7, "slip_p99_s": 9.0} for h in (0, 1, 3)],
                time_scale=SCALE)  # fmt: skip
    files = read_run_files(d)
    files.hours.loc[files.hours["sim_hour"] == 1, "acted"] = 14
    ah = pd.DataFrame({
        "sim_hour": [0, 1, 1, 2, 3], "decision": ["shop"] * 5, "outcome": ["completed"] * 5,
        "slip_seconds": [1.0] * 5, "is_replay": [False, False, True, True, False],
    })  # fmt: skip
    empty = pd.DataFrame({"sim_hour": [], "kind": [], "status": []})
    rebuilt = hours_from_db(ah, empty, pd.DataFrame(), sim_start=SIM_START, time_scale=SCALE)
    upto = last_replayed_hour(ah)
    assert upto == 2
    got = fill_missing_hours(files.hours, rebuilt, recount_upto=upto).set_index("sim_hour")
    assert list(got["acted"]) == [1, 2, 1, 7]  # 0–2 from the database, 3 from the file
    assert list(got["slip_p99_s"]) == [1.0, 1.0, 1.0, 9.0]
    assert got.loc[1, "real_time"] == files.hours.set_index("sim_hour").loc[1, "real_time"]
