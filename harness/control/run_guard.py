"""The run guard: when the whole run must stop its clock — a contract error, an outage of
the target, a failure rate over the breaker's threshold — and pause / resume.

Part of the master's (or standalone's) director. It sees **every process**:
workers send a contract error at once (``ContractError``) and report their run of
consecutive unavailable answers and their 429 count every 3 s (``WorkerReport``); the
outage check takes the worst process, so a 5xx storm seen only by one worker pauses the
clock for the whole run. The breaker counts every process's hours (the database's
``agent_hours`` when there is one, else the merged counters). Throttling is reported per
hour (``throttled`` run-log events); users that stay throttled past their retries fail
their session and so reach the breaker.

**A stop never hangs on its own bookkeeping.** Every trip goes through :meth:`RunGuard.halt`:
the clock stops first, then the pause's side effects (broadcast, run log, status row,
checkpoint) each run on their own — one that raises is logged and named — and a headless
run then exits 5 whatever failed, its reason naming the failure, instead of staying
paused with nobody to press Resume.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import gevent

from harness.config.messages import ContractError

log = logging.getLogger("loadsim")

UNAVAILABLE_IN_A_ROW = 10
"""Consecutive unavailable answers (5xx, timeouts, refused connections) in one process
that count as an outage even when ``/health`` still answers."""
REPORT_FRESH_S = 10.0
"""A worker's reported state older than this is ignored (it is gone, or it recovered)."""


class RunGuard:
    """Pause, resume, breaker and outage detection for one run."""

    def __init__(self, director: Any) -> None:
        self.d = director
        self.breaker_state = "closed"
        self.paused_reason: str | None = None
        self.pause_error: str | None = None
        """What went wrong in the last pause's side effects (the clock stopped anyway)."""
        self._workers: dict[str, tuple[float, int, int]] = {}  # id -> (at, unavailable, 429s)
        self._throttled_seen = 0
        self._ignore_until = 0.0

    # ---------------------------------------------------------------- what workers report

    def on_report(self, client_id: str, unavailable: int, throttled: int) -> None:
        if time.time() < self._ignore_until:  # just resumed: a worker's run is pre-pause
            unavailable = 0
        self._workers[client_id] = (time.time(), int(unavailable), int(throttled))

    def worst_unavailable(self) -> tuple[int, str]:
        """The longest run of unavailable answers in any process, and which process."""
        worst, who = self.d.rt.counters.consecutive_unavailable, self.d.rt.worker_name
        now = time.time()
        for cid, (at, n, _) in self._workers.items():
            if now - at <= REPORT_FRESH_S and n > worst:
                worst, who = n, f"worker {cid}"
        return worst, who

    def throttled_total(self) -> int:
        return self.d.rt.counters.throttled + sum(t for _, _, t in self._workers.values())

    def note_hour(self, h: int) -> None:
        """Hour ``h`` is over: log the run's new 429s (every process) in the run log."""
        total = self.throttled_total()
        new, self._throttled_seen = total - self._throttled_seen, total
        if new > 0 and self.d.files is not None:
            self.d.files.log_event("throttled", sim_hour=h, answers_429=new)

    # ---------------------------------------------------------------- trips

    def contract_error(self, err: ContractError) -> None:
        """A contract error (401/403/404/405/422) from any process: the breaker trips at
        once, naming the method, path and status — the run cannot be right until fixed."""
        d = self.d
        if d.run is None or self.breaker_state == "open":
            return
        self.breaker_state = "open"
        what = f"{err.method} {err.path} → {err.status}"
        msg = f"circuit breaker: contract error — {what}: {err.cause}"
        if d.files is not None:
            info = {k: v for k, v in err.to_msg().items() if v is not None}
            d.files.log_event("breaker_trip", reason="contract", sim_hour=d.book.current_hour,
                              **info)  # fmt: skip
        gevent.spawn(self._trip, msg)

    def _trip(self, msg: str) -> None:
        log.error("%s", msg)
        self.halt(msg)

    def halt(self, msg: str) -> None:
        """Pause (see :meth:`pause`), then a headless run checkpoints, reports and exits 5
        — also when pausing or its checkpoint raised (the reason then says so)."""
        try:
            self.pause(msg)
        except Exception as exc:  # noqa: BLE001 - the stop below must still happen
            log.exception("pausing the run failed")
            msg = f"{msg}; pausing failed ({type(exc).__name__}: {exc})"
        if self.pause_error:
            msg = f"{msg}; {self.pause_error}"
        self.stop_if_headless(msg)

    def after_hour(self, h: int) -> None:
        """Hour ``h`` is over: structured error log, circuit breaker, periodic checkpoint."""
        from harness.control.resilience import breaker_verdict, hour_flow_counts

        d = self.d
        b = d.book.agg.get(h)
        self.note_hour(h)
        if b.errors and d.files is not None:
            d.files.log_event("errors", sim_hour=h, **b.errors)
        if d.engine is not None and d.run is not None:
            try:
                since = datetime.fromtimestamp(d.started_real or 0, UTC)
                active, failed = hour_flow_counts(
                    d.engine, run_id=d.run.run_id, hour=h, since=since
                )
            except Exception:  # noqa: BLE001 - fall back to the live counters
                log.exception("breaker: could not count hour %d from the database", h)
                active, failed = b.counts["shopped"] + b.counts["idle"], b.counts["failed"]
        else:
            active, failed = b.counts["shopped"] + b.counts["idle"], b.counts["failed"]
        v = breaker_verdict(
            hour=h, active=active, failed=failed, threshold_pct=d.opts.breaker_threshold
        )
        if v.tripped and not self.paused and self.target_down():
            return  # an outage, not a failure rate: target_down paused the run as such
        if v.tripped and not self.paused:
            self.breaker_state = "open"
            msg = (
                f"circuit breaker: {v.failed} of {v.active} active agents failed in simulated hour "
                f"{h} ({v.failed_pct:.1f}% > {v.threshold_pct:g}%)"
            )
            if d.files is not None:
                d.files.log_event("breaker_trip", sim_hour=h, active=v.active, failed=v.failed,
                                  failed_pct=round(v.failed_pct, 2), threshold_pct=v.threshold_pct)  # fmt: skip
            self.halt(msg)
            return
        if (h + 1) % max(1, d.opts.checkpoint_every) == 0:
            d.checkpoint(reason="periodic", hour=h + 1)

    def target_down(self) -> bool:
        """Probe the target now; if it is down — or any process is in a run of unavailable
        answers — pause as an outage and say so."""
        d = self.d
        if d.opts.mock_api or d.run is None or not d.run.api_url:
            return False
        ok, detail = d.offers.target_control().health(d._health_path(), bucket=d.rt.bucket)
        worst, who = self.worst_unavailable()
        if ok and worst >= UNAVAILABLE_IN_A_ROW:
            ok, detail = False, f"{worst} requests in a row failed ({who})"
        if ok:
            return False
        self.outage(detail)
        return True

    def outage(self, detail: str) -> None:
        d = self.d
        assert d.run is not None
        msg = f"target unavailable ({detail})"
        if d.files is not None:
            d.files.log_event("outage", target=d.run.api_url, detail=detail)
        self.halt(msg)

    def health_loop(self) -> None:
        """Outage detection (the owner's rule: pause immediately, manual resume): the target's
        health route probed every second, plus every process's run of unavailable answers."""
        d = self.d
        assert d.run is not None and d.run.api_url
        bad = 0
        while True:
            gevent.sleep(1.0)
            if self.paused:
                continue
            # Through Locust's client: in its statistics, as every request of the run.
            ok, detail = d.offers.target_control().health(d._health_path(), bucket=d.rt.bucket)
            worst, who = self.worst_unavailable()
            if ok and worst >= UNAVAILABLE_IN_A_ROW:
                ok, detail = False, f"{worst} requests in a row failed ({who})"
            bad = 0 if ok else bad + 1
            if bad >= 2:
                self.outage(detail)
                bad = 0

    def stop_if_headless(self, why: str) -> None:
        """Headless runs have nobody to press Resume: checkpoint, report, exit 5."""
        d = self.d
        if not getattr(d.env.parsed_options, "headless", False):
            return
        log.error("%s — headless run: checkpoint, reports, exit 5 (continue with --resume %s)",
                  why, d.run.run_id if d.run else "")  # fmt: skip
        d.exit_code = 5
        if d.files is not None:
            try:
                d.files.log_event("headless_stop", reason=why, exit_code=5)
            except Exception:  # noqa: BLE001 - the exit below matters more than the log
                log.exception("could not log the headless stop")
        gevent.spawn(d.env.runner.quit)

    # ---------------------------------------------------------------- pause / resume

    @property
    def paused(self) -> bool:
        return self.d.rt.clock is not None and self.d.rt.clock.paused

    def pause(self, reason: str) -> bool:
        """Stop simulated time (and so every user and the ramp) until :meth:`resume`."""
        d, rt = self.d, self.d.rt
        if rt.clock is None or rt.clock.paused:
            return False
        rt.clock = rt.clock.pause()  # first: whatever fails below, simulated time stops
        self.paused_reason = reason
        failed: list[str] = []

        def step(name: str, fn: Any) -> None:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - the pause stands; say what failed
                log.exception("pause: %s failed", name)
                failed.append(f"{name} failed ({type(exc).__name__}: {exc})")

        step("telling the workers", d._broadcast_config)
        log.warning("simulation paused at %s: %s", rt.clock.now().isoformat(), reason)
        if d.files is not None:
            step("the run log", lambda: d.files.log_event(
                "pause", reason=reason, sim_time=rt.clock.now().isoformat()))  # fmt: skip
        self._set_status("paused")
        # The hour the clock stopped in: the hours before it are over (their rows are
        # written while paused, ``HourBook.report_due``). The last reported hour + 1 lagged
        # by the report delay — hour 0 for a pause at hour 3 at 1800x — so a resume
        # re-played hours already played.
        step("the pause checkpoint",
             lambda: d.checkpoint(reason="pause", hour=d.book.clock_hour()))  # fmt: skip
        self.pause_error = "; ".join(failed) or None
        return True

    def resume(self) -> bool:
        d, rt = self.d, self.d.rt
        if rt.clock is None or not rt.clock.paused:
            return False
        rt.clock = rt.clock.resume()
        reason, self.paused_reason = self.paused_reason, None
        self.pause_error = None
        self.breaker_state = "closed"
        rt.counters.consecutive_unavailable = 0
        # Workers' runs of failures were before the resume; theirs reset on their next
        # success, so reports from the next few seconds may still carry them.
        self._workers = {c: (at, 0, t) for c, (at, _, t) in self._workers.items()}
        self._ignore_until = time.time() + 5.0
        d._broadcast_config()
        log.warning("simulation resumed at %s (was paused: %s)", rt.clock.now().isoformat(), reason)
        if d.files is not None:
            d.files.log_event("resume", sim_time=rt.clock.now().isoformat(), was=reason)
        self._set_status("running")
        return True

    def _set_status(self, status: str) -> None:
        d = self.d
        if d.engine is None or d.run is None:
            return
        from harness.control.run_record import set_run_status

        try:
            set_run_status(d.engine, run_id=d.run.run_id, status=status)
        except Exception:  # noqa: BLE001 - status is informative; never block a pause
            log.exception("could not record run status %s", status)
