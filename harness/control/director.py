"""``SimulationDirector``: the master-side (or standalone) owner of the simulation.

It owns the SimClock anchor and drives it from its own greenlet (never from the shape's
``tick``, which stops during ramps on a master), leases personas, shares the rate limit
across workers, runs the offer engine at cycle boundaries concurrently with shopping,
calls ``POST /time/advance`` each simulated hour, logs one progress line per simulated
hour and writes the run record and ``runs/<run_id>/``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gevent

from harness.agent.hourstats import HourAggregate
from harness.agent.runtime import ProcessRuntime
from harness.config.messages import (
    MSG_CONFIG,
    MSG_CONTRACT,
    MSG_GRANT,
    MSG_HELLO,
    MSG_LEASE,
    MSG_RELEASE,
    MSG_REVOKE,
    REPORT_KEY,
    RunConfig,
)
from harness.config.options import ramp_fraction
from harness.control.finish import append_hour, finish_run
from harness.control.leases import LeasePool, LeaseRequest, PoolEntry
from harness.control.status import hour_line, live_status
from harness.outputs.run_files import RunFiles

log = logging.getLogger("loadsim")


class SimulationDirector:
    def __init__(self, rt: ProcessRuntime, *, pool: LeasePool, engine: Any, stack: Any) -> None:
        self.rt = rt
        self.env = rt.environment
        self.opts = rt.opts
        self.pool = pool
        self.engine = engine  # master's own engine (None with --mock-db)
        self.stack = stack  # the embedded stack (None when pointed elsewhere)
        self.agg = HourAggregate()
        self.run: RunConfig | None = None
        self.files: RunFiles | None = None
        self.started_real: float | None = None
        self.sim_end_reached_at: float | None = None
        self.current_hour = -1
        self.reported_hour = -1
        self.cycles_run: list[dict[str, Any]] = []
        self._offer_job: gevent.Greenlet | None = None
        self._loop: gevent.Greenlet | None = None
        self._known_workers: frozenset[str] = frozenset()
        self.paused_reason: str | None = None
        self.exit_code: int | None = None
        self.lease_log: list[tuple[str, int, str, float]] = []
        self.users_at_hour: dict[int, int] = {}
        self._missing_since: dict[str, float] = {}
        self.resume_point: Any = None  # set by the glue for --resume
        self._probe: gevent.Greenlet | None = None
        self.last_checkpoint: str | None = None
        self._reclaimed: dict[str, set[int]] = {}
        self.stopped_early = False
        self.settings_cycle_days = 7.0
        self._lease_flush_at = 0.0
        runner = self.env.runner
        runner.register_message(MSG_HELLO, self._on_hello)
        runner.register_message(MSG_LEASE, self._on_lease)
        runner.register_message(MSG_RELEASE, self._on_release)
        # Contract errors (issue 14): this process's users report here directly, workers'
        # by message; either trips the breaker at once.
        runner.register_message(
            MSG_CONTRACT, lambda environment, msg, **_: self.contract_error(msg.data)
        )
        rt.counters.on_contract = self.contract_error
        self.target_plan: Any = None  # harness.control.target.TargetPlan, from check_target
        self._target: Any = None  # harness.control.target.TargetControl during the run
        self._target_cycles: set[int] = set()

    # ---------------------------------------------------------------- the target

    def check_target(self) -> None:
        """Before any agent acts (issue 14): the route map, the contract probe (one line,
        exit 2 when it does not hold), and which offer engine runs."""
        from db.adopt import is_adopted
        from harness.config.routes import load_routes
        from harness.control.target import preflight

        o = self.opts
        self._adopted = self.engine is not None and is_adopted(self.engine)
        self.target_plan = plan = preflight(
            api_url=self.stack_api_url(), mock_api=o.mock_api, routes=load_routes(o.map_file or None),
            first_agent=self.pool.order[0].agent_id if self.pool.order else None,
            sim_time=o.sim_start, wanted_engine=o.offer_engine, adopted=self._adopted,
        )  # fmt: skip
        log.info(
            "offer engine: %s (%s); routes: %s",
            plan.offer.engine,
            plan.offer.why,
            plan.routes.source,
        )

    def _health_path(self) -> str:
        return self.target_plan.routes.path("health") if self.target_plan else "/health"

    @property
    def offer_engine(self) -> str:
        return self.target_plan.offer.engine if self.target_plan is not None else "local"

    def contract_error(self, info: dict[str, Any]) -> None:
        """A contract error (401/403/404/405/422) from any process: the breaker trips at
        once, naming the method, path and status — the run cannot be right until fixed."""
        if self.run is None or self.breaker_state == "open":
            return
        self.breaker_state = "open"
        what = f"{info.get('method', '')} {info.get('path', '')} → {info.get('status')}"
        msg = f"circuit breaker: contract error — {what}: {info.get('cause', '')}"
        if self.files is not None:
            self.files.log_event(
                "breaker_trip", reason="contract", sim_hour=self.current_hour, **info
            )
        gevent.spawn(self._trip, msg)

    def _trip(self, msg: str) -> None:
        log.error("%s", msg)
        self.pause(msg)
        self._stop_if_headless(msg)

    # ---------------------------------------------------------------- run start

    def start_run(self) -> None:
        """``test_start``: allocate the run, start the clock, tell every process."""
        if self.run is not None:
            return
        from offer_engine.clock import SimClock

        o = self.opts
        run_id = o.run_id or datetime.now(UTC).strftime("run-%Y%m%d-%H%M%S")
        sim_end = (
            o.sim_start + timedelta(hours=o.sim_duration_hours) if o.sim_duration_hours else None
        )
        processes = self._expected_processes()
        t0 = time.perf_counter()
        self.run = RunConfig(
            run_id=run_id, seed=o.seed, sim_start=o.sim_start.isoformat(),
            sim_end=sim_end.isoformat() if sim_end else None, clock={},
            api_url=self.stack_api_url(), database_url=self.stack_db_url(),
            rate_share=0.0, mock_api=o.mock_api, mock_db=o.mock_db,
            options={"processes": processes,
                     "routes": self.target_plan.routes.to_dict() if self.target_plan else None},
        )  # fmt: skip
        # Options, database fingerprint, rate and connection shares (issue 15).
        self.rt.stamp(self.run, len(self._live_workers()))
        self.files = RunFiles(Path(o.runs_dir) / run_id)
        self.files.write_manifest(self._manifest(processes))
        if self.engine is not None:
            self._db_run_start()
        self.rt.prepare(self.run)
        log.debug("run set-up took %.2fs", time.perf_counter() - t0)
        # The clock starts only now, when everything is ready: simulated time must not run
        # while the run is still being set up (at 1800x a second is half a simulated hour).
        rp = self.resume_point
        from_hour = rp.from_hour if rp is not None else 0
        if rp is not None:
            self.run.replay_until_hour = rp.replay_until_hour
            self.current_hour = self.reported_hour = from_hour - 1
            log.warning(
                "resuming run %s from simulated hour %d (%s); hours below %d are replays",
                run_id, from_hour, rp.source, rp.replay_until_hour,
            )  # fmt: skip
            self.files.log_event("resume_run", from_hour=from_hour, source=rp.source,
                                 replay_until_hour=rp.replay_until_hour)  # fmt: skip
        self.run.clock = SimClock.start(
            sim_start=o.sim_start + timedelta(hours=from_hour), scale=o.time_scale
        ).to_dict()
        self.started_real = time.time()
        self.rt.configure(self.run)
        self._broadcast_config()
        self._loop = gevent.spawn(self._main_loop)
        if not o.mock_api and self.run.api_url:
            self._probe = gevent.spawn(self._health_loop)
        log.info(
            "run %s: %d personas, time scale %gx, sim start %s%s, outputs in %s",
            run_id, self.pool.size, o.time_scale, o.sim_start.isoformat(),
            f", sim duration {o.sim_duration_hours:g} h" if o.sim_duration_hours else "",
            self.files.dir,
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

        assert self.run is not None
        return build_manifest(
            run=self.run, opts=self.opts, personas_total=self.pool.size, processes=processes,
            target=self.stack_api_url(), embedded=self.stack is not None,
        )  # fmt: skip

    def _db_run_start(self) -> None:
        from harness.control.run_record import cleanup_orphans, insert_run, release_all_leases

        assert self.run is not None and self.files is not None
        # A resumed run's previous master died holding leases: close them first.
        release_all_leases(self.engine, run_id=self.run.run_id, reason="crashed")
        n = cleanup_orphans(self.engine)
        if n:
            log.warning("start-up: %d orphaned active sessions abandoned, carts cleared", n)
            self.files.log_event("cleanup", orphaned_sessions=n)
        insert_run(self.engine, run=self.run, opts=self.opts)
        from db.adopt import is_adopted

        # An adopted (owner's) database: the app's own engine assigns offers, never ours.
        self._adopted = is_adopted(self.engine)
        if self._adopted:
            log.info("adopted database: the project's offer engine does not run on it")

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
        self.run.clock = self.rt.clock.to_dict()
        if self.rt.role == "master":
            self.env.runner.send_message(MSG_CONFIG, self.run.to_msg())
        else:
            self.rt.configure(self.run)

    def _on_hello(self, environment: Any, msg: Any, **_: Any) -> None:
        if self.run is None or self.rt.clock is None:  # answered by start_run's broadcast
            return
        self.rt.budget.share_out(self.run, len(self._live_workers()))
        self.run.clock = self.rt.clock.to_dict()
        self.env.runner.send_message(MSG_CONFIG, self.run.to_msg(), client_id=msg.node_id)

    def _entry_msg(self, e: PoolEntry) -> dict[str, Any]:
        return {"agent_id": e.agent_id, "user_id": e.user_id, "persona": e.persona}

    def _grant(self, req: LeaseRequest, entry: PoolEntry) -> None:
        data = {"req_id": req.req_id, "entry": self._entry_msg(entry)}
        self.env.runner.send_message(MSG_GRANT, data, client_id=req.holder)
        if self.files is not None:
            self.lease_log.append(("lease", entry.agent_id, req.holder, time.time()))

    def _on_lease(self, environment: Any, msg: Any, **_: Any) -> None:
        req = LeaseRequest(req_id=msg.data["req_id"], holder=msg.node_id)
        entry = self.pool.request(req)
        if entry is not None:
            self._grant(req, entry)

    def _on_release(self, environment: Any, msg: Any, **_: Any) -> None:
        if "agent_id" in msg.data:
            agent_id = int(msg.data["agent_id"])
            held = self.pool.holders.get(agent_id) == msg.node_id
            for req, entry in self.pool.release(agent_id, msg.node_id):
                self._grant(req, entry)
            if held:
                self.lease_log.append(("release", agent_id, msg.node_id, time.time()))
        elif "req_id" in msg.data:
            self.pool.cancel(msg.data["req_id"])

    RECLAIM_AFTER_S = 10.0
    """A worker missing this long loses its leases (Locust marks a worker missing after
    ~3 missed 1-s heartbeats, and a CPU-starved worker can come back: reclaiming at once
    would hand its personas to a second user while the first still acts)."""

    def _check_workers(self) -> None:
        """Reclaim the leases of workers gone for good; re-share the rate."""
        if self.rt.role != "master":
            return
        live = frozenset(self._live_workers())
        now = time.time()
        for holder in self.pool.holders_of() - live:
            since = self._missing_since.setdefault(holder, now)
            if now - since < self.RECLAIM_AFTER_S:
                continue
            freed, grants = self.pool.reclaim(holder)
            self._reclaimed.setdefault(holder, set()).update(freed)
            if freed:
                log.warning(
                    "worker %s is gone: %d personas returned to the pool", holder, len(freed)
                )
                self.lease_log.extend(("reclaim", a, holder, now) for a in freed)
                if self.files is not None:
                    self.files.log_event("leases_reclaimed", worker=holder, personas=len(freed))
            for req, entry in grants:
                self._grant(req, entry)
        for holder in list(self._missing_since):
            if holder in live:
                del self._missing_since[holder]
                revoked = self._reclaimed.pop(holder, set())
                if revoked:  # it came back after all: its users must let those personas go
                    log.warning(
                        "worker %s returned: revoking %d reclaimed personas", holder, len(revoked)
                    )
                    self.env.runner.send_message(
                        MSG_REVOKE, {"agent_ids": sorted(revoked)}, client_id=holder
                    )
        if live != self._known_workers:
            self._known_workers = live
            self._broadcast_config()

    # ---------------------------------------------------------------- shape

    def target_users(self) -> int:
        """The ramp's user count at the current simulated time (hour 0 before the start)."""
        hours = 0.0
        if self.rt.clock is not None and self.run is not None:
            hours = (self.rt.clock.now() - self.opts.sim_start).total_seconds() / 3600
        frac = ramp_fraction(self.opts.ramp, hours)
        users = (
            min(self.pool.size, max(1, math.ceil(frac * self.pool.size))) if self.pool.size else 0
        )
        for req, entry in self.pool.set_limit(users):
            self._grant(req, entry)
        return users

    def finished(self) -> bool:
        """True once the simulated duration is reached and in-flight hours had time to end."""
        if self.rt.sim_end is None or self.rt.clock is None or self.exit_code is not None:
            return self.exit_code is not None
        if self.rt.clock.now() < self.rt.sim_end:
            return False
        if self.sim_end_reached_at is None:
            self.sim_end_reached_at = time.time()
        return time.time() - self.sim_end_reached_at >= self.opts.drain_seconds

    # ---------------------------------------------------------------- main loop

    def _main_loop(self) -> None:
        while True:
            try:
                self._step()
            except Exception:  # noqa: BLE001 - the director must keep the run alive
                log.exception("director step failed")
            gevent.sleep(0.25)

    def _step(self) -> None:
        rt = self.rt
        self.agg.merge(rt.collector.drain())
        self._check_workers()
        now = rt.clock.now()
        hour = rt.hour_of(now)
        if rt.sim_end is not None:
            hour = min(hour, rt.hour_of(rt.sim_end - timedelta(microseconds=1)))
        # Live users in an hour: the most seen during it (the ramp steps up inside hours).
        self.users_at_hour[hour] = max(self.users_at_hour.get(hour, 0), self.env.runner.user_count)
        if hour > self.current_hour:
            for h in range(self.current_hour + 1, hour + 1):
                self._on_new_hour(h)
            self.current_hour = hour
        self._report_due_hours()
        if self.engine is not None and self.lease_log and time.time() >= self._lease_flush_at:
            self._lease_flush_at = time.time() + 2.0
            self.flush_leases()
        if self.files is not None:
            self.files.sample_stats(self.env, self)

    def _on_new_hour(self, hour: int) -> None:
        sim_t = self.opts.sim_start + timedelta(hours=hour)
        if self.run is not None and not self.opts.mock_api:
            gevent.spawn(self._advance_api_time, sim_t)
        adopted = getattr(self, "_adopted", False)
        if self.offer_engine == "target":
            cycle = int(hour // (24 * self.settings_cycle_days))
            if cycle not in self._target_cycles and (
                self._offer_job is None or self._offer_job.dead
            ):
                self._target_cycles.add(cycle)
                self._offer_job = gevent.spawn(self._run_target_cycle, cycle, sim_t)
        elif (
            self.engine is not None
            and not adopted
            and self.offer_engine == "local"
            and (self._offer_job is None or self._offer_job.dead)
        ):
            self._offer_job = gevent.spawn(self._run_offer_engine, sim_t)

    def _target_control(self) -> Any:
        from harness.config.routes import RouteMap
        from harness.control.target import TargetControl

        assert self.run is not None and self.run.api_url
        if self._target is None:
            routes = self.target_plan.routes if self.target_plan is not None else RouteMap()
            self._target = TargetControl(self.env, self.run.api_url, routes)
        return self._target

    def _advance_api_time(self, sim_t: datetime) -> None:
        if self.run is None or not self.run.api_url:
            return
        info = self._target_control().advance_time(sim_t)
        if info is not None:
            self.contract_error(info)

    def _run_target_cycle(self, cycle: int, sim_t: datetime) -> None:
        """``--offer-engine target``: the target's clock first, then its cycle and each
        leased-or-not persona's wallet refresh (never ``offer_engine`` on the database)."""
        self._advance_api_time(sim_t)
        t0 = time.perf_counter()
        users = sorted({e.user_id for e in self.pool.order})
        done, info = self._target_control().run_cycle(
            cycle_number=cycle, sim_t=sim_t, user_ids=users
        )
        if info is not None:
            self.contract_error(info)
        if done is None:
            return
        done["duration_s"] = round(time.perf_counter() - t0, 3)
        self.cycles_run.append(done)
        log.info(
            "offer cycle %d on the target: %s", cycle, done.get("refreshed", "no refresh route")
        )
        if self.files is not None:
            self.files.log_event("offer_cycle", engine="target", cycles=[done])
        if self.run is not None:
            self.run.catalog_version += 1
            self._broadcast_config()

    def _run_offer_engine(self, sim_t: datetime) -> None:
        from db.settings import load_settings
        from offer_engine.scheduler import advance

        assert self.run is not None
        t0 = time.perf_counter()
        report = advance(
            self.engine, run_id=self.run.run_id, sim_start=self.opts.sim_start,
            to_sim_time=sim_t, settings=load_settings(),
        )  # fmt: skip
        cycles = _cycles_of(report)
        if cycles:
            dur = time.perf_counter() - t0
            self.cycles_run.extend(cycles)
            for c in cycles:
                log.info("offer cycle %s: %s", c.get("cycle_number"), _brief(c))
            if self.files is not None:
                self.files.log_event("offer_cycle", cycles=cycles, duration_s=round(dur, 3))
            self.run.catalog_version += 1  # type: ignore[union-attr]
            self._broadcast_config()

    def _report_due_hours(self) -> None:
        """Log hour H a few real seconds after it ended (worker reports arrive every 3 s)."""
        rt = self.rt
        while self.reported_hour < self.current_hour - 0:
            h = self.reported_hour + 1
            end_real = rt.clock.real_time_at(self.opts.sim_start + timedelta(hours=h + 1))
            if end_real is None or time.time() < end_real + 4.0:
                return
            self._log_hour(h)
            self.reported_hour = h
            append_hour(self, h)
            self._after_hour(h)

    def _log_hour(self, h: int) -> None:
        log.info("%s", hour_line(self, h))

    def flush_leases(self) -> None:
        from harness.control.run_record import write_lease_log

        assert self.run is not None
        events, self.lease_log = self.lease_log, []
        try:
            write_lease_log(self.engine, run_id=self.run.run_id, events=events)
        except Exception:
            self.lease_log[:0] = events  # keep them for the next flush: nothing lost
            raise

    def _after_hour(self, h: int) -> None:
        """Hour ``h`` is over: structured error log, circuit breaker, periodic checkpoint."""
        from harness.control.resilience import breaker_verdict, hour_flow_counts

        b = self.agg.get(h)
        if b.errors and self.files is not None:
            self.files.log_event("errors", sim_hour=h, **b.errors)
        if self.engine is not None and self.run is not None:
            try:
                since = datetime.fromtimestamp(self.started_real or 0, UTC)
                active, failed = hour_flow_counts(
                    self.engine, run_id=self.run.run_id, hour=h, since=since
                )
            except Exception:  # noqa: BLE001 - fall back to the live counters
                log.exception("breaker: could not count hour %d from the database", h)
                active, failed = b.counts["shopped"] + b.counts["idle"], b.counts["failed"]
        else:
            active, failed = b.counts["shopped"] + b.counts["idle"], b.counts["failed"]
        v = breaker_verdict(
            hour=h, active=active, failed=failed, threshold_pct=self.opts.breaker_threshold
        )
        if v.tripped and not self.paused and self._target_down():
            return  # an outage, not a failure rate: _target_down paused the run as such
        if v.tripped and not self.paused:
            self.breaker_state = "open"
            msg = (
                f"circuit breaker: {v.failed} of {v.active} active agents failed in simulated hour "
                f"{h} ({v.failed_pct:.1f}% > {v.threshold_pct:g}%)"
            )
            if self.files is not None:
                self.files.log_event("breaker_trip", sim_hour=h, active=v.active, failed=v.failed,
                                     failed_pct=round(v.failed_pct, 2), threshold_pct=v.threshold_pct)  # fmt: skip
            self.pause(msg)
            self._stop_if_headless(msg)
            return
        if (h + 1) % max(1, self.opts.checkpoint_every) == 0:
            self.checkpoint(reason="periodic", hour=h + 1)

    def _target_down(self) -> bool:
        """Probe the target now; if it is down, pause as an outage and say so."""
        from harness.control.target import probe_health

        if self.opts.mock_api or self.run is None or not self.run.api_url:
            return False
        ok, detail = probe_health(self.run.api_url, path=self._health_path(), bucket=self.rt.bucket)
        if ok:
            return False
        self._outage(detail)
        return True

    def _outage(self, detail: str) -> None:
        assert self.run is not None
        msg = f"target unavailable ({detail})"
        if self.files is not None:
            self.files.log_event("outage", target=self.run.api_url, detail=detail)
        self.pause(msg)
        self._stop_if_headless(msg)

    def _health_loop(self) -> None:
        """Outage detection (seed 002 Q5.5: pause immediately, manual resume): the target's
        ``/health`` probed every 2 s, plus the users' consecutive unavailable answers."""
        from harness.control.target import probe_health

        assert self.run is not None and self.run.api_url
        bad = 0
        while True:
            gevent.sleep(1.0)
            if self.paused:
                continue
            ok, detail = probe_health(
                self.run.api_url, path=self._health_path(), bucket=self.rt.bucket
            )
            if ok and self.rt.counters.consecutive_unavailable >= 10:
                ok, detail = (
                    False,
                    f"{self.rt.counters.consecutive_unavailable} requests in a row failed",
                )
            bad = 0 if ok else bad + 1
            if bad >= 2:
                self._outage(detail)
                bad = 0

    def _stop_if_headless(self, why: str) -> None:
        """Headless runs have nobody to press Resume: checkpoint, report, exit 5."""
        if not getattr(self.env.parsed_options, "headless", False):
            return
        log.error("%s — headless run: checkpoint, reports, exit 5 (continue with --resume %s)",
                  why, self.run.run_id if self.run else "")  # fmt: skip
        self.exit_code = 5
        gevent.spawn(self.env.runner.quit)

    def checkpoint(self, *, reason: str = "manual", hour: int | None = None) -> str | None:
        """Write ``data/checkpoints/<run_id>/hour-<H>.json`` and the ``simulation_state``
        row. ``hour``: hours below it are complete (default: the last reported hour + 1)."""
        from harness.control.resilience import Checkpoint, write_checkpoint

        if self.run is None or self.rt.clock is None:
            return None
        h = self.reported_hour + 1 if hour is None else hour
        cycle = int(h // (24 * self.settings_cycle_days))
        cp = Checkpoint(
            run_id=self.run.run_id, hour=h,
            sim_time=(self.opts.sim_start + timedelta(hours=h)).isoformat(), seed=self.run.seed,
            time_scale=self.opts.time_scale, offer_cycle=cycle,
            ramp_fraction=ramp_fraction(self.opts.ramp, h), clock=self.rt.clock.to_dict(),
            counters=self.agg.totals(), reason=reason, written_at=time.time(),
        )  # fmt: skip
        path = write_checkpoint(cp)
        if self.engine is not None:
            from offer_engine.state import save_clock

            try:
                with self.engine.begin() as conn:
                    save_clock(conn, key=self.run.run_id, clock=self.rt.clock, cycle_number=cycle)
            except Exception:  # noqa: BLE001 - the file checkpoint is already safe
                log.exception("could not save simulation_state")
        self.last_checkpoint = str(path)
        if self.files is not None:
            self.files.log_event("checkpoint", sim_hour=h, reason=reason, path=str(path))
        log.info("checkpoint at simulated hour %d (%s): %s", h, reason, path)
        return str(path)

    # ---------------------------------------------------------------- pause / resume

    @property
    def paused(self) -> bool:
        return self.rt.clock is not None and self.rt.clock.paused

    def pause(self, reason: str) -> bool:
        """Stop simulated time (and so every user and the ramp) until :meth:`resume`."""
        if self.rt.clock is None or self.rt.clock.paused:
            return False
        self.rt.clock = self.rt.clock.pause()
        self.paused_reason = reason
        self._broadcast_config()
        log.warning("simulation paused at %s: %s", self.rt.clock.now().isoformat(), reason)
        if self.files is not None:
            self.files.log_event("pause", reason=reason, sim_time=self.rt.clock.now().isoformat())
        self._set_status("paused")
        self.checkpoint(reason="pause")
        return True

    def resume(self) -> bool:
        if self.rt.clock is None or not self.rt.clock.paused:
            return False
        self.rt.clock = self.rt.clock.resume()
        reason, self.paused_reason = self.paused_reason, None
        self.breaker_state = "closed"
        self.rt.counters.consecutive_unavailable = 0
        self._broadcast_config()
        log.warning(
            "simulation resumed at %s (was paused: %s)", self.rt.clock.now().isoformat(), reason
        )
        if self.files is not None:
            self.files.log_event("resume", sim_time=self.rt.clock.now().isoformat(), was=reason)
        self._set_status("running")
        return True

    def _set_status(self, status: str) -> None:
        if self.engine is None or self.run is None:
            return
        from harness.control.run_record import set_run_status

        try:
            set_run_status(self.engine, run_id=self.run.run_id, status=status)
        except Exception:  # noqa: BLE001 - status is informative; never block a pause
            log.exception("could not record run status %s", status)

    def status(self) -> dict[str, Any]:
        """The live state the web UI's Simulation tab shows."""
        return live_status(self)

    breaker_state = "closed"

    # ---------------------------------------------------------------- worker reports

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        payload = data.get(REPORT_KEY)
        if payload:
            self.agg.merge(payload.get("hours", {}))

    # ---------------------------------------------------------------- end

    def finish_run(self) -> int | None:
        """``quitting``: stop the loop, flush, record the run, write every output, judge
        the gates; returns the exit code the harness wants (None: leave Locust's)."""
        return finish_run(self)


def _cycles_of(report: Any) -> list[dict[str, Any]]:
    """The cycles an ``advance`` call ran, as JSON-safe dicts."""
    data = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    return [json.loads(json.dumps(c, default=str)) for c in data.get("cycles", [])]


def _brief(c: dict[str, Any]) -> str:
    flat = {**c, **(c.get("stats") or {})}
    keys = ("users", "assigned", "expired", "replaced", "duration_s")
    return ", ".join(f"{k} {flat[k]}" for k in keys if k in flat)
