"""Pure parts of the Simulation tab: row wording, the controls page's HTML, and the action
functions' answers (the director's pause and resume are the real ones; what they reach
outside the process is stood in for, to inject the cases a real run reaches rarely: no run
yet, a checkpoint or the workers' broadcast that fails)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from harness.agent.runtime import attach_runtime
from harness.control.director import SimulationDirector
from harness.control.run_guard import RunGuard
from harness.control.run_state import RunState
from harness.webui.page import control_page, index_bar
from harness.webui.rows import STRUCTURE, rows_csv, status_rows
from harness.webui.tab import checkpoint_action, pause_action, resume_action
from offer_engine.clock import SimClock

RUNNING = {
    "run_id": "run-1",
    "sim_time": "2025-01-08T14:05:09.5+00:00",
    "sim_hour": 62,
    "time_scale": 96.0,
    "paused": False,
    "paused_reason": None,
    "ramp_fraction": 0.25,
    "target_users": 93,
    "personas_total": 372,
    "personas_leased": 90,
    "hour_acted": 40,
    "hour_sessions": 12,
    "hour_orders": 5,
    "hour_failed": 3,
    "hour_missed": 1,
    "offer_cycle": 0,
    "offer_cycles_run": 1,
    "breaker": "closed",
    "slip_p95_ms": 375.0,
}

BEFORE_RUN = {
    **{k: None for k in RUNNING},
    "sim_hour": 0,
    "time_scale": 96.0,
    "paused": False,
    "ramp_fraction": 0.1,
    "target_users": 0,
    "personas_total": 372,
    "personas_leased": 0,
    "hour_acted": 0,
    "hour_sessions": 0,
    "hour_orders": 0,
    "hour_failed": 0,
    "hour_missed": 0,
    "offer_cycles_run": 0,
    "breaker": "closed",
}


def _values(status: dict[str, Any]) -> dict[str, str]:
    return {r["key"]: r["value"] for r in status_rows(status)}


def test_running_values_read_as_the_owner_reasons() -> None:
    v = _values(RUNNING)
    assert v["state"] == "running"
    assert v["sim_time"] == "Wed 2025-01-08 14:05:09 UTC"
    assert v["time_scale"] == "96x — 1 real minute = 1.6 simulated hours"
    assert v["ramp"] == "25 % of personas → 93 users"
    assert v["personas"] == "90 / 93 / 372"
    assert v["hour_failed"] == "3 of 40 acted (7.5 %)"
    assert v["offer_cycle"] == "#1 since sim start (1 run by the engine)"
    # 96x: a simulated hour lasts 37.5 real seconds, so 375 ms is 1 % of it.
    assert v["slip_p95_ms"] == "375 ms = 1.0 % of a sim hour"
    assert v["run_id"] == "run-1"


def test_rows_keep_reading_order_under_locusts_sort_by_name() -> None:
    rows = status_rows(RUNNING)
    assert sorted(rows, key=lambda r: r["name"]) == rows
    assert [r["key"] for r in rows[:4]] == ["state", "sim_time", "sim_hour", "time_scale"]
    assert {s["key"] for s in STRUCTURE} <= set(rows[0])  # every column has a value


def test_before_a_run_nothing_pretends_to_be_live() -> None:
    v = _values(BEFORE_RUN)
    assert v["state"] == "not started"
    assert v["sim_time"] == "—"
    assert v["offer_cycle"] == "—"
    assert v["slip_p95_ms"] == "—"
    assert v["hour_failed"] == "0"
    assert v["run_id"] == "not started"
    assert all(r["raw"] is None for r in status_rows({}) if r["key"] != "state")


def test_paused_state_names_the_reason_and_raw_says_paused() -> None:
    rows = {r["key"]: r for r in status_rows({**RUNNING, "paused": True, "paused_reason": "x"})}
    assert rows["state"]["value"] == "PAUSED — x"
    assert rows["state"]["raw"] == "paused"
    rows = {r["key"]: r for r in status_rows({**RUNNING, "paused": True})}
    assert rows["state"]["value"] == "PAUSED"


def test_controls_row_names_the_base_path() -> None:
    v = {r["key"]: r["value"] for r in status_rows(RUNNING, base_path="/locust")}
    assert v["controls"].endswith("/locust/simulation")


def test_csv_round_trips_the_rows() -> None:
    rows = status_rows(RUNNING)
    table = list(csv.DictReader(io.StringIO(rows_csv(rows))))
    assert [t["key"] for t in table] == [r["key"] for r in rows]
    by_key = {t["key"]: t for t in table}
    assert by_key["sim_time"]["raw"] == RUNNING["sim_time"]
    assert by_key["time_scale"]["value"] == "96x — 1 real minute = 1.6 simulated hours"
    assert by_key["controls"]["raw"] == ""


def test_page_escapes_what_it_shows() -> None:
    evil = "<script>alert(1)</script>"
    rows = status_rows({**RUNNING, "paused": True, "paused_reason": evil})
    html = control_page(rows=rows, base_path="/b", message=evil)
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<tr data-key="state" class=paused>' in html
    assert re.findall(r'\saction="([^"]+)"', html) == [
        "/b/simulation/pause", "/b/simulation/resume", "/b/simulation/checkpoint",
    ]  # fmt: skip


def test_bar_script_cannot_be_closed_by_the_base_path() -> None:
    js = index_bar(base_path="/x</script><b>")
    assert js.count("</script>") == 1 and js.endswith("</script>")
    assert '"/x\\u003c/script>\\u003cb>"' in js


class _Director:
    """The real director's pause and resume: ``SimulationDirector``'s own methods over a
    real ``RunGuard`` and simulated clock. Only what the guard reaches beyond the process
    is stood in for (telling the workers, the run log, the checkpoint) — each can be made
    to raise as the real one does. ``run`` None means the test has not started yet."""

    pause = SimulationDirector.pause
    resume = SimulationDirector.resume

    def __init__(self, *, run: object | None = "run", paused: bool = False) -> None:
        clock = SimClock.start(sim_start=datetime(2026, 1, 10, 9, tzinfo=UTC), scale=96.0)
        self.rt = SimpleNamespace(
            clock=clock.pause() if paused else clock, worker_name="master",
            counters=SimpleNamespace(consecutive_unavailable=0, throttled=0),
        )  # fmt: skip
        self.run, self.engine, self.files = run, None, None
        self.book = SimpleNamespace(clock_hour=lambda: 0)
        self.broadcast_error: Exception | None = None
        self.checkpoints: list[str] = []
        self.guard = RunGuard(
            self.rt, RunState(), book=self.book, broadcast=self._broadcast_config,
            checkpoint=self.checkpoint,
        )  # fmt: skip

    @property
    def paused(self) -> bool:
        return self.guard.paused

    @property
    def reasons(self) -> list[str]:
        return [self.guard.paused_reason] if self.guard.paused_reason else []

    def status(self) -> dict[str, Any]:
        return {"paused": self.paused, "run_id": "r" if self.run else None}

    def _broadcast_config(self) -> None:
        if self.broadcast_error is not None:
            raise self.broadcast_error

    def checkpoint(self, reason: str = "web", hour: int | None = None) -> str | None:
        self.checkpoints.append(reason)
        return None


class _Env:
    """A stand-in for Locust's ``Environment`` (weakly referable, as the real one)."""


def _env(director: Any) -> _Env:
    env = _Env()
    attach_runtime(env, SimpleNamespace(director=director))  # type: ignore[arg-type]
    return env


def test_pause_and_resume_answers() -> None:
    d = _Director()
    body, code = pause_action(_env(d), reason="look")
    assert (code, body["changed"], body["message"], body["status"]["paused"]) == (
        200, True, "paused: look", True,
    )  # fmt: skip
    assert d.reasons == ["look"]
    body, code = pause_action(_env(d), reason="again")
    assert (code, body["changed"], body["message"]) == (200, False, "already paused")
    body, code = resume_action(_env(d))
    assert (code, body["changed"], body["status"]["paused"]) == (200, True, False)
    assert d.checkpoints == ["pause"]  # the real pause writes its checkpoint


def test_a_pause_the_workers_did_not_hear_says_so() -> None:
    """The real pause stops this process's clock first and goes on when telling the
    workers fails: the answer is still 200 (paused here), and its message names what
    failed instead of a plain "paused"."""
    d = _Director()
    d.broadcast_error = ConnectionError("worker socket gone")
    body, code = pause_action(_env(d), reason="look")
    assert (code, body["changed"], body["status"]["paused"]) == (200, True, True)
    assert body["message"] == (
        "paused: look; telling the workers failed (ConnectionError: worker socket gone)"
    )


def test_a_resume_that_raises_answers_500_with_the_reason() -> None:
    """The real resume raises when the workers cannot be told (its clock already runs
    again): the action answers 500 naming the error, not a server error page."""
    d = _Director(paused=True)
    d.broadcast_error = ConnectionError("worker socket gone")
    body, code = resume_action(_env(d))
    assert (code, body["changed"]) == (500, False)
    assert body["message"] == "resume failed: worker socket gone"
    assert body["status"]["paused"] is False


@pytest.mark.parametrize("action", [pause_action, resume_action, checkpoint_action])
def test_before_a_run_every_action_answers_409(action: Any) -> None:
    d = _Director(run=None)
    d.checkpoint = lambda: "never"  # type: ignore[attr-defined]
    kwargs = {"reason": "r"} if action is pause_action else {}
    body, code = action(_env(d), **kwargs)
    assert code == 409 and body["changed"] is False
    assert d.reasons == [] and d.paused is False


@pytest.mark.parametrize("action", [pause_action, resume_action, checkpoint_action])
def test_without_a_director_actions_answer_503(action: Any) -> None:
    kwargs = {"reason": "r"} if action is pause_action else {}
    body, code = action(SimpleNamespace(), **kwargs)
    assert code == 503 and body["status"] == {}


def test_checkpoint_fails_or_is_written() -> None:
    d = _Director()

    def broken() -> str:
        raise OSError("disk full")

    d.checkpoint = broken  # type: ignore[attr-defined]
    body, code = checkpoint_action(_env(d))
    assert code == 500 and body["message"] == "checkpoint failed: disk full"

    d.checkpoint = lambda: None  # type: ignore[attr-defined]
    body, code = checkpoint_action(_env(d))
    assert (code, body["changed"], body["path"]) == (200, False, None)

    d.checkpoint = lambda: "data/checkpoints/r/hour-000003.json"  # type: ignore[attr-defined]
    body, code = checkpoint_action(_env(d))
    assert (code, body["changed"]) == (200, True)
    assert body["path"] == "data/checkpoints/r/hour-000003.json"


def test_hour_points_one_per_simulated_hour_from_the_merged_counters():
    from harness.agent.hourstats import HourAggregate, HourCollector
    from harness.webui.rows import hour_points

    c = HourCollector()
    c.count(3, ("acted", "shopped", "completed", "orders"), slip_s=0.120)
    c.count(3, ("acted", "idle"), slip_s=0.040)
    c.count(3, ("acted", "shopped", "failed"), slip_s=2.0, error_kind="api_5xx")
    c.count(5, ("missed",))
    agg = HourAggregate()
    agg.merge(c.drain())
    points = hour_points(agg.hours, current=6)
    assert [p["hour"] for p in points] == [3, 4, 5, 6]  # the gap and the clock's hour drawn
    three = points[0]
    assert {k: three[k] for k in ("sessions", "orders", "failed", "missed", "acted")} == {
        "sessions": 3, "orders": 1, "failed": 1, "missed": 0, "acted": 3,
    }  # fmt: skip
    # HDR keeps 2 significant digits: 2 s reads as its bucket's highest value.
    assert three["slip_p50_ms"] == 120.0 and three["slip_p99_ms"] == 2007.0
    assert points[1] == {"hour": 4, "sessions": 0, "orders": 0, "failed": 0, "missed": 0,
                         "acted": 0, "slip_p50_ms": None, "slip_p99_ms": None}  # fmt: skip
    assert points[2]["missed"] == 1 and points[2]["slip_p99_ms"] is None
    assert hour_points({}, current=4) == []


def test_controls_page_has_the_hours_table_and_the_charts_script():
    hours = [
        {"hour": 0, "sessions": 4, "orders": 2, "failed": 0, "missed": 1, "acted": 9,
         "slip_p50_ms": 12.0, "slip_p99_ms": 40.5},
        {"hour": 1, "sessions": 0, "orders": 0, "failed": 0, "missed": 0, "acted": 0,
         "slip_p50_ms": None, "slip_p99_ms": None},
    ]  # fmt: skip
    html = control_page(rows=status_rows(RUNNING), base_path="/lo", hours=hours)
    rows = re.findall(r'<tr data-hour="(\d+)">(.*?)</tr>', html)
    assert [(h, re.findall(r"<td>(.*?)</td>", tds)) for h, tds in rows] == [
        ("0", ["0", "4", "2", "0", "1", "12", "40.5"]),
        ("1", ["1", "0", "0", "0", "0", "—", "—"]),
    ]
    assert "function loadsimDrawHours" in html and '"/lo" + "/simulation/hours"' not in html
    assert "loadsimRefreshHours(BASE, HOURS)" in html and 'const BASE = "/lo";' in html
    assert "http" not in html.split("<script>", 1)[1].replace(
        "http://www.w3.org/2000/svg", ""
    )  # nothing fetched from elsewhere: the SVG namespace is the only URL
    bar = index_bar(base_path="/lo")
    assert "function loadsimChart" in bar and "loadsimRefreshHours(BASE, panel)" in bar
