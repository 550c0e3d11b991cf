"""``--alert-webhook URL`` (repeatable): a JSON message posted when the run needs a human —
the circuit breaker trips, the target is out, the clock pauses or resumes, a gate fails,
the run ends.

The alerts follow the run log: every one of those moments is already a line of
``simulation_runs.log`` (``harness.outputs.run_files.RunFiles.log_event``), so the sender
listens there and the run guard needs no code of its own. Posting never blocks the run:
a message is queued and a background sender (a greenlet in a Locust process) posts it,
retrying with backoff; at the run's end the queue is given a few seconds to drain.

The message is Slack-compatible (``text``) with structured fields beside it. It carries
only whitelisted fields — the run id, the event, its reason, the simulated hour and
counts — never a URL from the run (target, database, the webhook itself), a header or
an option value.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from db.errors import ConfigError

log = logging.getLogger("loadsim")

ALERT_EVENTS = ("breaker_trip", "outage", "pause", "resume", "run_end")
RETRIES = 3
BACKOFF_S = 0.5
"""First retry after 0.5 s, then 1 s, then 2 s."""
POST_TIMEOUT_S = 5.0
DRAIN_S = 5.0
"""How long the run's end waits for queued alerts (then it goes on without them)."""
_FIELDS = (
    "sim_hour", "active", "failed", "failed_pct", "threshold_pct", "status", "exit_code",
    "method", "path", "cause", "end_errors",
)  # fmt: skip
"""Run-log fields an alert may carry (counts, the hour, what tripped): nothing else."""


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"()<>]+")


def redact_text(text: str) -> str:
    """Every URL in ``text`` cut to its scheme and host: credentials, paths and query
    strings (where tokens live) never leave the run."""
    return _URL.sub(lambda m: shown_url(m.group(0)), text)


def check_webhook(url: str) -> str:
    """An http(s) URL with a host, else ``ConfigError`` (one line, the URL not shown:
    a webhook's path is its secret)."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(
            f"--alert-webhook {shown_url(url)}: expected an http(s) URL, "
            "e.g. https://hooks.slack.com/services/…"
        )
    return url


def shown_url(url: str) -> str:
    """A webhook as it may appear in a log: scheme and host only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    if not parts.hostname:
        return "(not a URL)"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def alert_messages(run_dir: Path, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages one run-log record asks for (none for most records): a failed gate
    (read from the run's ``summary.json``) and the run's end for ``run_end``."""
    event = rec.get("event")
    if event not in ALERT_EVENTS:
        return []
    run_id = Path(run_dir).name
    fields = {k: rec[k] for k in _FIELDS if rec.get(k) is not None}
    reason = _reason(event, rec)
    out = []
    if event == "run_end":
        verdict = _verdict(Path(run_dir))
        failed = [g for g in verdict.get("gates", []) if not g.get("pass")]
        if failed:
            exprs = ", ".join(str(g.get("expr")) for g in failed)
            out.append(_message(run_id, "gate_failed", f"{len(failed)} gate(s) failed: {exprs}",
                                {"gates": [_gate(g) for g in failed]}))  # fmt: skip
        data = verdict.get("data") or {}
        counts = {k: data.get(k) for k in ("sim_hours", "sessions", "orders", "http_requests")}
        fields["counts"] = {k: v for k, v in counts.items() if v is not None}
    out.append(_message(run_id, str(event), reason, fields))
    return out


def _reason(event: str, rec: dict[str, Any]) -> str:
    if event == "breaker_trip":
        if rec.get("reason") == "contract":
            return (f"circuit breaker: contract error — {rec.get('method')} {rec.get('path')} "
                    f"→ {rec.get('status')}")  # fmt: skip
        return (f"circuit breaker: {rec.get('failed')} of {rec.get('active')} active agents "
                f"failed in simulated hour {rec.get('sim_hour')} "
                f"({rec.get('failed_pct')}% > {rec.get('threshold_pct')}%)")  # fmt: skip
    if event == "outage":
        return f"target unavailable: {rec.get('detail') or 'health check failed'}"
    if event == "pause":
        return f"simulation paused: {rec.get('reason') or ''}".rstrip(": ")
    if event == "resume":
        return f"simulation resumed (was paused: {rec.get('was') or '-'})"
    return f"run ended: status {rec.get('status')}, exit code {rec.get('exit_code')}"


def _gate(g: dict[str, Any]) -> dict[str, Any]:
    return {k: g.get(k) for k in ("expr", "kind", "threshold", "value", "unit")}


def _verdict(run_dir: Path) -> dict[str, Any]:
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    v = summary.get("verdict") if isinstance(summary, dict) else None
    return v if isinstance(v, dict) else {}


def _message(run_id: str, event: str, reason: str, fields: dict[str, Any]) -> dict[str, Any]:
    hour = fields.get("sim_hour")
    where = f" at simulated hour {hour}" if hour is not None else ""
    text = redact_text(f"loadsim run {run_id}: {reason}{where}")
    return {"text": text, "run_id": run_id, "event": event, "reason": redact_text(reason),
            **fields}  # fmt: skip


class AlertSender:
    """Posts alert messages to every webhook from a background sender."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = [check_webhook(u) for u in urls]
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="loadsim-alerts", daemon=True)
        self._thread.start()

    def on_event(self, run_dir: Path, rec: dict[str, Any]) -> None:
        """A run-log record (``RunFiles`` listener): queue its messages and return at once
        — except the run's end, the last line of the log, which waits up to ``DRAIN_S``
        for everything queued: the process exits next."""
        for msg in alert_messages(run_dir, rec):
            with self._lock:
                self._pending += len(self.urls)
            self._queue.put(msg)
        if rec.get("event") == "run_end":
            self.drain()

    def drain(self, timeout: float = DRAIN_S) -> bool:
        """Wait up to ``timeout`` s for the queued messages; True when all were handled."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if self._pending == 0:
                    return True
            time.sleep(0.05)
        log.warning("alerts: %d message(s) not delivered before the run ended", self._pending)
        return False

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            msg = self._queue.get()
            if msg is None:
                return
            for url in self.urls:
                try:
                    self._post(url, msg)
                finally:
                    with self._lock:
                        self._pending -= 1

    def _post(self, url: str, msg: dict[str, Any]) -> None:
        body = json.dumps(msg, default=str).encode("utf-8")
        for attempt in range(RETRIES + 1):
            req = urllib.request.Request(
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=POST_TIMEOUT_S) as resp:
                    resp.read()
                return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                why = getattr(exc, "code", None) or type(exc).__name__
                if attempt == RETRIES:
                    log.warning("alerts: %s to %s failed after %d tries (%s)",
                                msg["event"], shown_url(url), RETRIES + 1, why)  # fmt: skip
                    return
                time.sleep(BACKOFF_S * 2**attempt)
