"""The run guard: when the whole run must stop its clock — a contract error, an outage of
the target, a failure rate over the breaker's threshold — and pause / resume.

Part of the master's (or standalone's) director. It sees **every process**:
workers send a contract error at once (``ContractError``) and report their run of
consecutive unavailable answers and their 429 count every 3 s (``WorkerReport``); the
outage check takes the worst process, so a 5xx storm seen only by one worker pauses the
clock for the whole run. The breaker counts every process's hours: the database's
``agent_hours`` when there is one (it keeps a dead worker's last seconds the counters
lost) and the merged counters (they keep the hours the database refused: a claim that
never got a connection has no row, only a failed hour of error kind ``db``), whichever
counted more; without a database the counters alone. Throttling is reported per
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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import gevent

from harness.config.messages import ContractError
from harness.control.run_state import RunState

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from harness.agent.http_shop import HttpCounters
    from harness.config.options import HarnessOptions
    from harness.control.hour_book import HourBook
    from offer_engine.clock import SimClock

log = logging.getLogger("loadsim")

UNAVAILABLE_IN_A_ROW = 10
"""Consecutive unavailable answers (5xx, timeouts, refused connections) in one process
that count as an outage even when ``/health`` still answers."""
REPORT_FRESH_S = 10.0
"""A worker's reported state older than this is ignored (it is gone, or it recovered)."""


class GuardClock(Protocol):
    """What the guard uses of its process's runtime (``ProcessRuntime``): the run's clock,
    which a pause or resume replaces there (every reader of the runtime sees the new one),
    the options, and this process's own HTTP counters and name."""

    clock: SimClock | None

    @property
    def opts(self) -> HarnessOptions: ...
    @property
    def counters(self) -> HttpCounters: ...
    @property
    def worker_name(self) -> str: ...


class RunGuard:
    """Pause, resume, breaker and outage detection for one run."""

    def __init__(
        self,
        rt: GuardClock,
        state: RunState,
        *,
        book: HourBook,
        engine: Engine | None = None,
        broadcast: Callable[[], None],
        checkpoint: Callable[..., str | None],
        health: Callable[[], tuple[bool, str]] | None = None,
        headless: bool = False,
        quit: Callable[[], None] = lambda: None,
    ) -> None:
        """
        Args:
            rt: the run's clock (paused and resumed there), the options and this
                process's own counters and name (the process's runtime).
            state: the run (its config, output files; the exit code a stop sets).
            book: the hour book (each hour's counters; the hour the clock is in).
            engine: the run database (the breaker's counts, the run's status), if any.
            broadcast: tell every process the run config (the clock paused or resumed).
            checkpoint: write a checkpoint (``reason=``, ``hour=``).
            health: probe the target's health route now: (healthy, detail).
            headless: nobody can press Resume: a stop checkpoints, reports and exits 5.
            quit: stop the run (Locust's runner).
        """
        self.rt = rt
        self.state = state
        self.book = book
        self.engine = engine
        self.broadcast = broadcast
        self.checkpoint = checkpoint
        self.health = health
        self.headless = headless
        self.quit = quit
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
        worst, who = self.rt.counters.consecutive_unavailable, self.rt.worker_name
        now = time.time()
        for cid, (at, n, _) in self._workers.items():
            if now - at <= REPORT_FRESH_S and n > worst:
                worst, who = n, f"worker {cid}"
        return worst, who

    def throttled_total(self) -> int:
        return self.rt.counters.throttled + sum(t for _, _, t in self._workers.values())

    def note_hour(self, h: int) -> None:
        """Hour ``h`` is over: log the run's new 429s (every process) in the run log."""
        total = self.throttled_total()
        new, self._throttled_seen = total - self._throttled_seen, total
        if new > 0 and self.state.files is not None:
            self.state.files.log_event("throttled", sim_hour=h, answers_429=new)

    # ---------------------------------------------------------------- trips

    def contract_error(self, err: ContractError) -> None:
        """A contract error (401/403/404/405/422) from any process: the breaker trips at
        once, naming the method, path and status — the run cannot be right until fixed."""
        files = self.state.files
        if self.state.run is None or self.breaker_state == "open":
            return
        self.breaker_state = "open"
        what = f"{err.method} {err.path} → {err.status}"
        msg = f"circuit breaker: contract error — {what}: {err.cause}"
        if files is not None:
            info = {k: v for k, v in err.to_msg().items() if v is not None}
            files.log_event("breaker_trip", reason="contract", sim_hour=self.book.current_hour,
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

        files, run, o = self.state.files, self.state.run, self.rt.opts
        b = self.book.agg.get(h)
        self.note_hour(h)
        if b.errors and files is not None:
            files.log_event("errors", sim_hour=h, **b.errors)
        active, failed = b.counts["shopped"] + b.counts["idle"], b.counts["failed"]
        if self.engine is not None and run is not None:
            try:
                since = datetime.fromtimestamp(self.state.started_real or 0, UTC)
                in_db = hour_flow_counts(self.engine, run_id=run.run_id, hour=h, since=since)
            except Exception:  # noqa: BLE001 - the live counters alone
                log.exception("breaker: could not count hour %d from the database", h)
            else:  # hours the database refused are only in the counters (lease time-outs
                # are failed hours of no session: not the breaker's)
                sessions_failed = failed - b.errors.get("lease", 0)
                active, failed = max(active, in_db[0]), max(sessions_failed, in_db[1])
        v = breaker_verdict(hour=h, active=active, failed=failed, threshold_pct=o.breaker_threshold)
        if v.tripped and not self.paused and self.target_down():
            return  # an outage, not a failure rate: target_down paused the run as such
        if v.tripped and not self.paused:
            self.breaker_state = "open"
            msg = (
                f"circuit breaker: {v.failed} of {v.active} active agents failed in simulated hour "
                f"{h} ({v.failed_pct:.1f}% > {v.threshold_pct:g}%)"
            )
            if files is not None:
                files.log_event("breaker_trip", sim_hour=h, active=v.active, failed=v.failed,
                                failed_pct=round(v.failed_pct, 2), threshold_pct=v.threshold_pct)  # fmt: skip
            self.halt(msg)
            return
        if (h + 1) % max(1, o.checkpoint_every) == 0:
            self.checkpoint(reason="periodic", hour=h + 1)

    def target_down(self) -> bool:
        """Probe the target now; if it is down — or any process is in a run of unavailable
        answers — pause as an outage and say so."""
        run = self.state.run
        if self.rt.opts.mock_api or run is None or not run.api_url or self.health is None:
            return False
        ok, detail = self.health()
        worst, who = self.worst_unavailable()
        if ok and worst >= UNAVAILABLE_IN_A_ROW:
            ok, detail = False, f"{worst} requests in a row failed ({who})"
        if ok:
            return False
        self.outage(detail)
        return True

    def outage(self, detail: str) -> None:
        run = self.state.run
        assert run is not None
        msg = f"target unavailable ({detail})"
        if self.state.files is not None:
            self.state.files.log_event("outage", target=run.api_url, detail=detail)
        self.halt(msg)

    def health_loop(self) -> None:
        """Outage detection (the owner's rule: pause immediately, manual resume): the target's
        health route probed every second, plus every process's run of unavailable answers."""
        run = self.state.run
        assert run is not None and run.api_url and self.health is not None
        bad = 0
        while True:
            gevent.sleep(1.0)
            if self.paused:
                continue
            # Through Locust's client: in its statistics, as every request of the run.
            ok, detail = self.health()
            worst, who = self.worst_unavailable()
            if ok and worst >= UNAVAILABLE_IN_A_ROW:
                ok, detail = False, f"{worst} requests in a row failed ({who})"
            bad = 0 if ok else bad + 1
            if bad >= 2:
                self.outage(detail)
                bad = 0

    def stop_if_headless(self, why: str) -> None:
        """Headless runs have nobody to press Resume: checkpoint, report, exit 5."""
        if not self.headless:
            return
        run, files = self.state.run, self.state.files
        log.error("%s — headless run: checkpoint, reports, exit 5 (continue with --resume %s)",
                  why, run.run_id if run else "")  # fmt: skip
        self.state.exit_code = 5
        if files is not None:
            try:
                files.log_event("headless_stop", reason=why, exit_code=5)
            except Exception:  # noqa: BLE001 - the exit below matters more than the log
                log.exception("could not log the headless stop")
        gevent.spawn(self.quit)

    # ---------------------------------------------------------------- pause / resume

    @property
    def paused(self) -> bool:
        return self.rt.clock is not None and self.rt.clock.paused

    def pause(self, reason: str) -> bool:
        """Stop simulated time (and so every user and the ramp) until :meth:`resume`."""
        rt, files = self.rt, self.state.files
        if rt.clock is None or rt.clock.paused:
            return False
        clock = rt.clock = rt.clock.pause()  # first: whatever fails below, simulated time stops
        self.paused_reason = reason
        failed: list[str] = []

        def step(name: str, fn: Callable[[], object]) -> None:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - the pause stands; say what failed
                log.exception("pause: %s failed", name)
                failed.append(f"{name} failed ({type(exc).__name__}: {exc})")

        step("telling the workers", self.broadcast)
        log.warning("simulation paused at %s: %s", clock.now().isoformat(), reason)
        if files is not None:
            step("the run log", lambda: files.log_event(
                "pause", reason=reason, sim_time=clock.now().isoformat()))  # fmt: skip
        self._set_status("paused")
        # The hour the clock stopped in: the hours before it are over (their rows are
        # written while paused, ``HourBook.report_due``). The last reported hour + 1 lagged
        # by the report delay — hour 0 for a pause at hour 3 at 1800x — so a resume
        # re-played hours already played.
        step("the pause checkpoint",
             lambda: self.checkpoint(reason="pause", hour=self.book.clock_hour()))  # fmt: skip
        self.pause_error = "; ".join(failed) or None
        return True

    def resume(self) -> bool:
        rt = self.rt
        if rt.clock is None or not rt.clock.paused:
            return False
        clock = rt.clock = rt.clock.resume()
        reason, self.paused_reason = self.paused_reason, None
        self.pause_error = None
        self.breaker_state = "closed"
        rt.counters.consecutive_unavailable = 0
        # Workers' runs of failures were before the resume; theirs reset on their next
        # success, so reports from the next few seconds may still carry them.
        self._workers = {c: (at, 0, t) for c, (at, _, t) in self._workers.items()}
        self._ignore_until = time.time() + 5.0
        self.broadcast()
        log.warning("simulation resumed at %s (was paused: %s)", clock.now().isoformat(), reason)
        if self.state.files is not None:
            self.state.files.log_event("resume", sim_time=clock.now().isoformat(), was=reason)
        self._set_status("running")
        return True

    def _set_status(self, status: str) -> None:
        if self.engine is None or self.state.run is None:
            return
        from harness.control.run_record import set_run_status

        try:
            set_run_status(self.engine, run_id=self.state.run.run_id, status=status)
        except Exception:  # noqa: BLE001 - status is informative; never block a pause
            log.exception("could not record run status %s", status)
