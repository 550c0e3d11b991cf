"""``SimulationDirector``: the master-side (or standalone) owner of the simulation.

It owns the run: allocates it (run record, outputs, the run config every process obeys),
starts the SimClock when everything is ready and drives it from its own greenlet (never
from the shape's ``tick``, which stops during ramps on a master). The rest is done by the
parts it composes, one job each:

- :class:`~harness.control.lease_broker.LeaseBroker` — persona leases, dead workers;
- :class:`~harness.control.run_guard.RunGuard` — breaker, outages, pause/resume;
- :class:`~harness.control.hour_book.HourBook` — hours, counters, ``hours.csv`` rows;
- :class:`~harness.control.offer_cycles.OfferCycles` — the target's clock, offer cycles.

**Its step is the run's bookkeeping, so a step that keeps failing fails the run.** The loop
runs five duties every 0.25 s, each on its own (one that raises does not stop the others):
the workers' check, the hour book, the lease history's flush, the heartbeat and the stats
sample. A duty that fails :data:`DUTY_FAILURES_IN_A_ROW` of its attempts in a row (the
lease history refused by the database at every flush, say) makes the run end with exit 3
and one ``[FAIL] run:`` line naming the duty and its error
(:attr:`SimulationDirector.step_failure`, read by ``harness.control.finish``), however it
went on afterwards: hours written late or not at all, leases the database never saw.

The web UI, the run's end (``harness.control.finish``) and the status read it through the
attributes below (``agg``, ``pool``, ``paused``, …), which delegate to the parts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
from sqlalchemy import Engine

from harness.agent.runtime import ProcessRuntime, Stack
from harness.config.messages import (
    REPORT_KEY,
    ContractError,
    Hello,
    LeaseRequest,
    Release,
    RunConfig,
    WorkerReport,
    listen,
    parse,
    send,
)
from harness.config.options import ramp_fraction
from harness.control.experiment_arms import experiment_for
from harness.control.finish import RunEnd, append_hour, finish_run
from harness.control.hour_book import HourBook
from harness.control.lease_broker import LeaseBroker
from harness.control.leases import LeasePool
from harness.control.offer_cycles import OfferCycles
from harness.control.resilience import ResumePoint
from harness.control.run_guard import RunGuard
from harness.control.run_state import RunState
from harness.control.status import hour_line, live_status
from harness.outputs.run_files import RunFiles
from offer_engine.calendar import HOUR as _HOUR
from offer_engine.calendar import start_of_hour

if TYPE_CHECKING:
    from locust.runners import Runner

log = logging.getLogger("loadsim")

DUTY_FAILURES_IN_A_ROW = 5
"""Attempts in a row a duty of the director's step may fail before the run fails (exit 3):
1.25 s of the hour book or the workers' check (every step), 10 s of lease-history flushes
(every 2 s), 25 s of heartbeats (every 5 s). Fewer would fail a run on one database blip
the next attempt recovers from (the lease history keeps what a flush could not write)."""


def _own_owing(runner: Runner) -> dict[int, int] | None:
    """This process's users still owing an hour after the simulated end, by hour."""
    from harness.agent.user import process_pending  # Locust's users: imported in a run only

    return process_pending(runner)


class StepDuties:
    """The director's step, duty by duty: each runs on its own, and each counts the
    attempts it failed in a row. A duty returns ``False`` when it had nothing to do this
    step (not due yet): that neither fails nor clears its count."""

    def __init__(self, in_a_row: int = DUTY_FAILURES_IN_A_ROW) -> None:
        self.in_a_row = in_a_row
        self.failing: dict[str, int] = {}
        """Each duty's failed attempts in a row (0: its last attempt succeeded)."""
        self.failure: str | None = None
        """The first duty that failed :attr:`in_a_row` attempts in a row, and why."""

    def run(self, name: str, duty: Callable[[], object]) -> None:
        try:
            attempted = duty()
        except Exception as exc:  # noqa: BLE001 - counted; the other duties still run
            n = self.failing[name] = self.failing.get(name, 0) + 1
            if n == 1:
                log.exception("director step: %s failed", name)
            elif n % 100 == 0:
                log.error("director step: %s failed %d times in a row: %s", name, n, exc)
            if n == self.in_a_row and self.failure is None:
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                self.failure = (
                    f"the director's {name} failed {n} times in a row "
                    f"({type(exc).__name__}: {first})"
                )
                log.error("the run will exit 3: %s", self.failure)
            return
        if attempted is not False and self.failing.get(name):
            log.warning("director step: %s works again after %d failures in a row",
                        name, self.failing[name])  # fmt: skip
            self.failing[name] = 0


class SimulationDirector:
    def __init__(
        self, rt: ProcessRuntime, *, pool: LeasePool, engine: Engine | None, stack: Stack | None
    ) -> None:
        self.rt = rt
        self.env = rt.environment
        self.opts = rt.opts
        self.engine = engine  # master's own engine (None with --mock-db)
        self.stack = stack  # the embedded stack (None when pointed elsewhere)
        self.state = RunState()
        self.stopped_early = False
        self.resume_point: ResumePoint | None = None  # set by the glue for --resume
        self._loop: gevent.Greenlet | None = None
        self._probe: gevent.Greenlet | None = None
        self._known_workers: frozenset[str] = frozenset()
        self._beat_at = 0.0
        self._sample_at = 0.0
        self.duties = StepDuties()
        runner = rt.runner
        # --experiment: every persona's arm, decided now (an arm without personas: exit 2).
        self.experiment = experiment_for(self.opts, pool)
        # The parts, each given what it needs (the director's own steps late-bound, so a
        # test that patches the class reaches them).
        self.book = HourBook(
            rt, self.state, engine=engine, pool=pool, users=lambda: runner.user_count,
            held=lambda h: self.leases.live_at(h),
            on_new_hour=lambda h: self.offers.on_new_hour(h),
            on_written=lambda h: self._hour_written(h),
            after_hour=lambda h: self._after_hour(h),
        )  # fmt: skip
        self.leases = LeaseBroker(
            pool, runner=runner, rt=rt, state=self.state, engine=engine, book=self.book,
            experiment=self.experiment,
        )  # fmt: skip
        self.offers = OfferCycles(
            rt, self.state, engine=engine, pool=pool, experiment=self.experiment,
            broadcast=lambda: self._broadcast_config(), contract_error=self.contract_error,
        )  # fmt: skip
        self.guard = RunGuard(
            rt, self.state, book=self.book, engine=engine,
            broadcast=lambda: self._broadcast_config(),
            checkpoint=lambda **kw: self.checkpoint(**kw), health=self.offers.health,
            headless=bool(getattr(self.env.parsed_options, "headless", False)),
            quit=lambda: runner.quit(),
        )  # fmt: skip
        self.end = RunEnd(
            rt=rt, book=self.book, live_workers=self._live_workers,
            stopped=lambda: self.exit_code is not None, local=lambda: _own_owing(runner),
        )  # fmt: skip
        listen(runner, Hello, self._on_hello)
        listen(runner, LeaseRequest, self.leases.on_lease)
        listen(runner, Release, self.leases.on_release)
        # Contract errors: this process's users report here directly, workers'
        # by message; either trips the breaker at once.
        listen(runner, ContractError, lambda err, _node: self.guard.contract_error(err))
        rt.counters.on_contract = self.contract_error

    # ---------------------------------------------------------------- the parts' state

    pool = property(lambda self: self.leases.pool)
    sim_end_reached_at = property(lambda self: self.end.reached_at)
    agg = property(lambda self: self.book.agg)
    users_at_hour = property(lambda self: self.book.users_at_hour)
    current_hour = property(lambda self: self.book.current_hour)
    reported_hour = property(lambda self: self.book.reported_hour)
    cycles_run = property(lambda self: self.offers.cycles_run)
    lease_log = property(lambda self: self.leases.lease_log)
    paused = property(lambda self: self.guard.paused)
    paused_reason = property(lambda self: self.guard.paused_reason)
    breaker_state = property(lambda self: self.guard.breaker_state)
    target_plan = property(lambda self: self.offers.plan)
    """``harness.control.target.TargetPlan``, from :meth:`check_target`."""

    @property
    def run(self) -> RunConfig | None:
        return self.state.run

    @property
    def files(self) -> RunFiles | None:
        return self.state.files

    @property
    def started_real(self) -> float | None:
        return self.state.started_real

    @property
    def last_checkpoint(self) -> str | None:
        return self.state.last_checkpoint

    @property
    def exit_code(self) -> int | None:
        return self.state.exit_code

    @exit_code.setter
    def exit_code(self, code: int | None) -> None:
        self.state.exit_code = code

    @property
    def settings_cycle_days(self) -> float:
        return self.state.cycle_days

    @settings_cycle_days.setter
    def settings_cycle_days(self, days: float) -> None:
        self.state.cycle_days = days

    # ---------------------------------------------------------------- the target

    def check_target(self) -> None:
        """Before any agent acts: the route map, the contract probe, which offer engine."""
        self.offers.check_target(self.stack_api_url())

    @property
    def offer_engine(self) -> str:
        return self.offers.engine_name

    def contract_error(self, info: dict[str, Any]) -> None:
        """This process's own contract error (``http_shop``, the target's control calls)."""
        err = parse(ContractError, info, sender="this process")
        if err is not None:
            self.guard.contract_error(err)

    # ---------------------------------------------------------------- run start

    def start_run(self) -> None:
        """``test_start``: allocate the run, start the clock, tell every process."""
        if self.run is not None:
            return
        from offer_engine.clock import SimClock

        o = self.opts
        run_id = o.run_id or datetime.now(UTC).strftime("run-%Y%m%d-%H%M%S")
        sim_end = (
            start_of_hour(o.sim_start, 0) + o.sim_duration_hours * _HOUR
            if o.sim_duration_hours
            else None
        )
        processes = self._expected_processes()
        t0 = time.perf_counter()
        run = self.state.run = RunConfig(
            run_id=run_id, seed=o.seed, sim_start=o.sim_start.isoformat(),
            sim_end=sim_end.isoformat() if sim_end else None, clock={},
            api_url=self.stack_api_url(), database_url=self.stack_db_url(),
            rate_share=0.0, mock_api=o.mock_api, mock_db=o.mock_db,
            options={"processes": processes,
                     "routes": self.target_plan.routes.to_dict() if self.target_plan else None},
        )  # fmt: skip
        # Options, database fingerprint, rate and connection shares.
        self.rt.stamp(run, len(self._live_workers()))
        files = self.state.files = RunFiles(Path(o.runs_dir) / run_id)
        files.write_manifest(self._manifest(processes))
        if self.engine is not None:
            self._db_run_start()
        self.rt.prepare(run)
        log.debug("run set-up took %.2fs", time.perf_counter() - t0)
        # The clock starts only now, when everything is ready: simulated time must not run
        # while the run is still being set up (at 1800x a second is half a simulated hour).
        rp = self.resume_point
        from_hour = rp.from_hour if rp is not None else 0
        if rp is not None:
            run.replay_until_hour = rp.replay_until_hour
            self.book.start_at(from_hour)
            log.warning(
                "resuming run %s from simulated hour %d (%s); hours below %d are replays",
                run_id, from_hour, rp.source, rp.replay_until_hour,
            )  # fmt: skip
            files.log_event("resume_run", from_hour=from_hour, source=rp.source,
                                 replay_until_hour=rp.replay_until_hour)  # fmt: skip
        run.clock = SimClock.start(
            sim_start=start_of_hour(o.sim_start, from_hour), scale=o.time_scale
        ).to_dict()
        self.state.started_real = time.time()
        self.rt.configure(run)
        self._broadcast_config()
        self._loop = gevent.spawn(self._main_loop)
        if not o.mock_api and run.api_url:
            self._probe = gevent.spawn(self.guard.health_loop)
        log.info(
            "run %s: %d personas, time scale %gx, sim start %s%s, outputs in %s",
            run_id, self.pool.size, o.time_scale, o.sim_start.isoformat(),
            f", sim duration {o.sim_duration_hours:g} h" if o.sim_duration_hours else "",
            files.dir,
        )  # fmt: skip

    def stack_api_url(self) -> str | None:
        if self.opts.mock_api:
            return None
        if self.stack is not None and self.stack.api_url:
            return self.stack.api_url
        return self.env.host

    def stack_db_url(self) -> str | None:
        return (
            self.stack.shared_db_url if self.stack is not None and not self.opts.mock_db else None
        )

    def _expected_processes(self) -> int:
        expect = getattr(self.env.parsed_options, "expect_workers", 1) or 1
        is_master = self.rt.role == "master"
        return (max(1, int(expect)) + 1) if is_master else 1

    def _manifest(self, processes: int) -> dict[str, Any]:
        from harness.outputs.manifest import build_manifest

        assert self.run is not None and self.rt.settings is not None
        manifest = build_manifest(
            run=self.run, opts=self.opts, settings=self.rt.settings,
            personas_total=self.pool.size, processes=processes,
            target=self.stack_api_url(), embedded=self.stack is not None,
        )  # fmt: skip
        if self.experiment is not None:
            manifest["experiment"] = self.experiment.describe()
        return manifest

    def _db_run_start(self) -> None:
        from harness.control.run_record import start_in_database

        self.offers.adopted = start_in_database(self)
        if self.experiment is not None:
            assert self.run is not None and self.engine is not None  # called with an engine
            self.experiment.record(self.engine, run_id=self.run.run_id)

    # ---------------------------------------------------------------- messages

    def _live_workers(self) -> list[str]:
        clients = getattr(self.env.runner, "clients", None)
        if clients is None:
            return []
        return [c.id for c in clients.values() if c.state not in ("missing",)]

    def _broadcast_config(self) -> None:
        if self.run is None:
            return
        self.rt.budget.share_out(self.run, len(self._live_workers()))
        assert self.rt.clock is not None  # set by start_run before any broadcast
        self.run.clock = self.rt.clock.to_dict()
        if self.rt.role == "master":
            send(self.rt.runner, self.run)
        else:
            self.rt.configure(self.run)

    def _on_hello(self, hello: Hello, node: str) -> None:
        if self.run is None or self.rt.clock is None:  # answered by start_run's broadcast
            return
        self.rt.budget.share_out(self.run, len(self._live_workers()))
        self.run.clock = self.rt.clock.to_dict()
        send(self.rt.runner, self.run, client_id=node)

    def _check_workers(self) -> None:
        """Reclaim the leases of workers gone for good; re-share the budgets."""
        if self.rt.role != "master":
            return
        live = frozenset(self._live_workers())
        self.leases.check_workers(live)
        if live != self._known_workers:
            self._known_workers = live
            self._broadcast_config()

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        if data.get(REPORT_KEY) is None:
            return  # a worker that is not the harness's (or an older one): nothing of ours
        report = parse(WorkerReport, data[REPORT_KEY], sender=client_id)
        if report is not None:
            self.book.agg.merge(report.hours)
            self.guard.on_report(client_id, report.unavailable, report.throttled)
            self.end.on_report(client_id, report.pending)

    def flush_leases(self) -> None:
        self.leases.flush()

    # ---------------------------------------------------------------- shape

    def target_users(self) -> int:
        """The ramp's user count at the current simulated time (hour 0 before the start)."""
        hours = 0.0
        if self.rt.clock is not None and self.run is not None:
            hours = (self.rt.clock.now() - self.opts.sim_start) / _HOUR
        frac = ramp_fraction(self.opts.ramp, hours)
        size = self.pool.size
        users = min(size, max(1, math.ceil(frac * size))) if size else 0
        self.leases.set_limit(users)
        return users

    def finished(self) -> bool:
        """True once every slot before the simulated end was acted or counted missed, or
        the end stopped waiting (:class:`~harness.control.finish.RunEnd`)."""
        return self.end.finished()

    # ---------------------------------------------------------------- main loop

    def _main_loop(self) -> None:
        while True:
            try:
                self._step()
            except Exception:  # noqa: BLE001 - the director must keep the run alive
                log.exception("director step failed")  # the duties catch their own
            gevent.sleep(0.25)

    def _step(self) -> None:
        """One step: each duty on its own, its failures counted (:class:`StepDuties`)."""
        duty = self.duties.run
        duty("workers' check", self._check_workers)
        duty("hour book", self.book.step)
        if self.engine is not None:
            duty("lease history", self.leases.flush_due)
            duty("heartbeat", self._heartbeat)
        if self.files is not None:
            duty("stats sample", self._sample_stats)

    @property
    def step_failure(self) -> str | None:
        """Why the run fails for its own bookkeeping: a duty of the director's step that
        failed :data:`DUTY_FAILURES_IN_A_ROW` attempts in a row (``None``: none did)."""
        return self.duties.failure

    def _heartbeat(self) -> bool:
        """Tell other runs' start-ups that this run is live (``run_record``); False when
        not due."""
        from harness.control.run_record import HEARTBEAT_EVERY_S, heartbeat

        assert self.engine is not None  # called with an engine
        if self.run is None or time.time() < self._beat_at:
            return False
        self._beat_at = time.time() + HEARTBEAT_EVERY_S
        heartbeat(self.engine, run_id=self.run.run_id)
        return True

    def _sample_stats(self) -> bool:
        """Locust's statistics history, every ``HISTORY_EVERY_S`` (False when not due)."""
        files = self.files
        assert files is not None  # called with the run's files
        if time.time() < self._sample_at:
            return False
        try:
            files.sample_stats(self.env)
        finally:  # after the call: the files' own throttle has passed by then
            self._sample_at = time.time() + files.HISTORY_EVERY_S
        return True

    def _hour_written(self, h: int) -> None:
        """Hour ``h`` is reported: its progress line, its ``hours.csv`` row."""
        log.info("%s", hour_line(self, h))
        append_hour(self, h)

    def _after_hour(self, h: int) -> None:
        """Hour ``h`` is written: the guard's verdict (breaker, checkpoint)."""
        self.guard.after_hour(h)

    def checkpoint(self, *, reason: str = "manual", hour: int | None = None) -> str | None:
        """Write a checkpoint (see :meth:`HourBook.checkpoint`); patched by fault tests."""
        return self.book.checkpoint(reason=reason, hour=hour)

    # ---------------------------------------------------------------- pause / resume

    def pause(self, reason: str) -> bool:
        """Stop simulated time (and so every user and the ramp) until :meth:`resume`."""
        return self.guard.pause(reason)

    def resume(self) -> bool:
        return self.guard.resume()

    def status(self) -> dict[str, Any]:
        """The live state the web UI's Simulation tab shows."""
        return live_status(self)

    # ---------------------------------------------------------------- end

    def stop_loops(self) -> None:
        """Stop the director's loop and the target's health probe (the run's end)."""
        for g in (self._loop, self._probe):
            if g is not None:
                g.kill(block=True, timeout=5)

    def finish_run(self) -> int | None:
        """``quitting``: stop the loop, flush, record the run, write every output, judge
        the gates; returns the exit code the harness wants (None: leave Locust's)."""
        return finish_run(self)
