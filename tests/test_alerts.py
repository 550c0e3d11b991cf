"""``--alert-webhook``: a real loopback HTTP receiver gets the JSON message within 5 s of a
breaker trip made by the real run guard, a failed gate at the run's end, retries after a
failed post — and never a secret; posting never blocks the run."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from db.errors import ConfigError
from harness.agent.hourstats import HourAggregate, HourCollector
from harness.control import alerts
from harness.control.alerts import AlertSender, check_webhook
from harness.control.run_guard import RunGuard
from harness.control.run_state import RunState
from harness.outputs.run_files import RunFiles

SECRET_DB = "postgresql://loadsim:hunter2@db.internal:5432/voiceoffers"
TOKEN = "T000/B000/XXXXXXXXsecret"


class Receiver:
    """A webhook on loopback: records (arrival time, JSON body); answers ``statuses`` in
    turn (then 200), or sleeps ``delay`` s before answering."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.got: list[tuple[float, dict[str, Any]]] = []
        self.statuses = list(statuses or [])
        self.delay = delay
        recv = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(recv.delay)
                status = recv.statuses.pop(0) if recv.statuses else 200
                if status == 200:
                    recv.got.append((time.monotonic(), json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/{TOKEN}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float) -> list[tuple[float, dict[str, Any]]]:
        end = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < end:
            time.sleep(0.02)
        return self.got

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def sender_for() -> Iterator[Any]:
    made: list[AlertSender] = []

    def make(*urls: str) -> AlertSender:
        s = AlertSender(list(urls))
        RunFiles.listeners.append(s.on_event)
        made.append(s)
        return s

    yield make
    for s in made:
        RunFiles.listeners.remove(s.on_event)
        s.close()


def _guard(files: RunFiles, *, shopped: int, failed: int) -> RunGuard:
    """A run guard over the director parts the breaker reads: hour 3's counters (no
    database: the merged counters), 5 % threshold, no target to probe, no clock."""
    col = HourCollector()
    for i in range(shopped):
        col.count(3, ["acted", "shopped", *(["failed"] if i < failed else [])])
    agg = HourAggregate()
    agg.merge(col.drain())
    rt = SimpleNamespace(counters=SimpleNamespace(consecutive_unavailable=0, throttled=0),
                         worker_name="master", clock=None)  # fmt: skip
    rt.opts = SimpleNamespace(breaker_threshold=5.0, mock_api=True, checkpoint_every=100)
    state = RunState(run=SimpleNamespace(run_id=files.dir.name, api_url=SECRET_DB), files=files)
    book = SimpleNamespace(agg=agg, current_hour=3)
    return RunGuard(rt, state, book=book, broadcast=lambda: None, checkpoint=lambda **kw: None)


def test_a_breaker_trip_posts_within_5_s(
    tmp_path: Path, receiver: Receiver, sender_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", SECRET_DB)
    sender_for(receiver.url)
    files = RunFiles(tmp_path / "runs" / "trip1")
    guard = _guard(files, shopped=40, failed=9)

    t0 = time.monotonic()
    guard.after_hour(3)
    returned = time.monotonic() - t0
    assert guard.breaker_state == "open"
    got = receiver.wait(1, timeout=5.0)
    assert len(got) == 1, "no alert within 5 s of the trip"
    arrived, msg = got[0]
    assert arrived - t0 < 5.0 and returned < 1.0
    assert msg == {
        "text": "loadsim run trip1: circuit breaker: 9 of 40 active agents failed in "
        "simulated hour 3 (22.5% > 5.0%) at simulated hour 3",
        "run_id": "trip1",
        "event": "breaker_trip",
        "reason": "circuit breaker: 9 of 40 active agents failed in simulated hour 3 "
        "(22.5% > 5.0%)",
        "sim_hour": 3,
        "active": 40,
        "failed": 9,
        "failed_pct": 22.5,
        "threshold_pct": 5.0,
    }
    # The run log has the line too; the alert is no substitute for it.
    assert '"event": "breaker_trip"' in files.log_path.read_text()


def test_under_the_threshold_nothing_is_posted(
    tmp_path: Path, receiver: Receiver, sender_for: Any
) -> None:
    sender = sender_for(receiver.url)
    _guard(RunFiles(tmp_path / "ok1"), shopped=40, failed=2).after_hour(3)  # 5 %: not over
    assert sender.drain(2.0) and receiver.got == []


def test_run_end_with_a_failed_gate_posts_the_gate_and_the_end(
    tmp_path: Path, receiver: Receiver, sender_for: Any
) -> None:
    sender_for(receiver.url)
    files = RunFiles(tmp_path / "gate1")
    verdict = {
        "gates": [
            {"expr": "p95<800ms", "kind": "load", "threshold": 800.0, "value": 950.5,
             "unit": "ms", "pass": False},
            {"expr": "error_rate<1%", "kind": "load", "threshold": 0.01, "value": 0.0,
             "unit": "fraction", "pass": True},
        ],
        "data": {"sim_hours": 24, "sessions": 828, "orders": 300, "http_requests": 250,
                 "database_rows": False},
    }  # fmt: skip
    summary = {"verdict": verdict, "manifest": {"database": SECRET_DB}}
    (files.dir / "summary.json").write_text(json.dumps(summary))
    files.log_event("run_end", status="completed", exit_code=3, end_errors=None)
    # The run's end waits for its alerts (the process exits next): delivered on return.
    bodies = [m for _, m in receiver.got]
    assert [m["event"] for m in bodies] == ["gate_failed", "run_end"]
    assert bodies[0]["text"] == "loadsim run gate1: 1 gate(s) failed: p95<800ms"
    assert bodies[0]["gates"] == [
        {"expr": "p95<800ms", "kind": "load", "threshold": 800.0, "value": 950.5, "unit": "ms"}
    ]
    assert bodies[1]["text"] == "loadsim run gate1: run ended: status completed, exit code 3"
    assert bodies[1]["counts"] == {"sim_hours": 24, "sessions": 828, "orders": 300,
                                   "http_requests": 250}  # fmt: skip
    assert bodies[1]["exit_code"] == 3 and bodies[1]["status"] == "completed"


def test_outage_pause_and_resume_carry_no_url_or_secret(
    tmp_path: Path, receiver: Receiver, sender_for: Any
) -> None:
    sender = sender_for(receiver.url)
    files = RunFiles(tmp_path / "out1")
    files.log_event("outage", target=SECRET_DB,
                    detail=f"HTTP 503 from {SECRET_DB}/health?token=abc")  # fmt: skip
    files.log_event("pause", reason="target unavailable", sim_time="2026-01-05T03:00:00+00:00",
                    database=SECRET_DB)  # fmt: skip
    files.log_event("resume", sim_time="2026-01-05T03:00:00+00:00", was="target unavailable")
    files.log_event("errors", sim_hour=3, http_5xx=4)  # not an alert
    assert sender.drain(5.0)
    bodies = [m for _, m in receiver.wait(3, timeout=1.0)]
    assert [m["event"] for m in bodies] == ["outage", "pause", "resume"]
    assert (
        bodies[0]["reason"] == "target unavailable: HTTP 503 from postgresql://db.internal:5432/…"
    )
    raw = json.dumps(bodies)
    for secret in ("hunter2", "loadsim:", "token=abc", TOKEN, "/voiceoffers", "/health"):
        assert secret not in raw, secret


def test_a_failed_post_is_retried_and_a_slow_hook_never_blocks(
    tmp_path: Path, sender_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts, "BACKOFF_S", 0.05)  # 0.05 s, then 0.1 s
    flaky = Receiver(statuses=[500, 503])
    slow = Receiver(delay=1.0)
    try:
        sender = sender_for(flaky.url, slow.url)
        files = RunFiles(tmp_path / "retry1")
        t0 = time.monotonic()
        files.log_event("pause", reason="paused from the web UI")
        assert time.monotonic() - t0 < 0.5  # queued, not posted in the caller
        assert sender.drain(10.0)
        # 500, then 503, then delivered after two backoffs.
        assert [m["event"] for _, m in flaky.got] == ["pause"]
        assert [m["event"] for _, m in slow.got] == ["pause"]
    finally:
        flaky.close()
        slow.close()


@pytest.mark.parametrize("url", ["hooks.slack.com/services/x", "ftp://h/x", "http://", ""])
def test_a_bad_webhook_is_one_line_without_its_path(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_webhook(url)
    text = str(err.value)
    assert text.startswith("--alert-webhook ") and "expected an http(s) URL" in text
    assert "services/x" not in text and "\n" not in text
