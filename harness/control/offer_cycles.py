"""The target and its offer cycles: the pre-flight check of the target (routes, contract
probe, which offer engine runs), then at each new simulated hour ``POST /time/advance``
(unless ``--mock-api``), and at a cycle boundary either the project's offer engine on the
database (``local``) or the target's own cycle and wallet refresh (``--offer-engine
target``) — in a greenlet of their own, concurrently with shopping, one at a time. A cycle
that ran bumps the catalog version in the run config, so every process reloads.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import gevent

from harness.agent.timings import cycle_name
from harness.control.run_state import RunState
from offer_engine.calendar import cycle_of_hour, start_of_hour

if TYPE_CHECKING:
    from locust.env import Environment
    from sqlalchemy import Engine

    from db.settings import SimSettings
    from harness.agent.rate_limit import TokenBucket
    from harness.agent.timings import HarnessTimings
    from harness.config.options import HarnessOptions
    from harness.control.experiment_arms import ExperimentArms
    from harness.control.leases import LeasePool
    from harness.control.target import TargetControl, TargetPlan
    from offer_engine.scheduler import AdvanceReport

log = logging.getLogger("loadsim")


class CycleRuntime(Protocol):
    """What the offer cycles use of their process's runtime (``ProcessRuntime``): the
    options, the environment's settings (read once, in ``init``), the harness's own
    timings, and Locust's environment and token bucket (the control calls to the target
    go through them, in Locust's statistics)."""

    @property
    def opts(self) -> HarnessOptions: ...
    @property
    def settings(self) -> SimSettings | None: ...
    @property
    def timings(self) -> HarnessTimings: ...
    @property
    def environment(self) -> Environment: ...
    @property
    def bucket(self) -> TokenBucket: ...


class OfferCycles:
    """The offer engine / target-cycle jobs of one run."""

    def __init__(
        self,
        rt: CycleRuntime,
        state: RunState,
        *,
        engine: Engine | None,
        pool: LeasePool,
        broadcast: Callable[[], None],
        contract_error: Callable[[dict[str, Any]], None],
        experiment: ExperimentArms | None = None,
    ) -> None:
        """
        Args:
            rt: the options, settings, timings, Locust's environment and token bucket
                (the process's runtime).
            state: the run (its config, output files and offer cycle length).
            engine: the run database (``local`` cycles run there), if any.
            pool: the persona pool (the users whose wallets a target cycle refreshes).
            broadcast: tell every process the run config (a cycle bumped the catalog).
            contract_error: a control call's contract error (the breaker trips).
            experiment: ``--experiment``: each arm's wallet settings.
        """
        self.rt = rt
        self.state = state
        self.engine = engine
        self.pool = pool
        self.broadcast = broadcast
        self.contract_error = contract_error
        self.experiment = experiment
        self.plan: TargetPlan | None = None
        """What :meth:`check_target` decided (route map, offer engine)."""
        self.adopted = False
        """The run database is an owner's (adopted): its offers are the owner's."""
        self.cycles_run: list[dict[str, Any]] = []
        self._job: gevent.Greenlet | None = None
        self._target: TargetControl | None = None  # during the run
        self._target_cycles: set[int] = set()

    def check_target(self, api_url: str | None) -> TargetPlan:
        """Before any agent acts: the route map, the contract probe (one line,
        exit 2 when it does not hold), and which offer engine runs."""
        from db.adopt import is_adopted
        from harness.config.routes import load_routes
        from harness.control.target import preflight

        o = self.rt.opts
        self.adopted = self.engine is not None and is_adopted(self.engine)
        plan = preflight(
            api_url=api_url, mock_api=o.mock_api, routes=load_routes(o.map_file or None),
            first_agent=self.pool.order[0].agent_id if self.pool.order else None,
            sim_time=o.sim_start, wanted_engine=o.offer_engine, adopted=self.adopted,
        )  # fmt: skip
        log.info(
            "offer engine: %s (%s); routes: %s",
            plan.offer.engine,
            plan.offer.why,
            plan.routes.source,
        )
        self.plan = plan
        return plan

    @property
    def engine_name(self) -> str:
        """Which offer engine runs: ``local`` (the project's, on the database) or ``target``."""
        return self.plan.offer.engine if self.plan is not None else "local"

    def health_path(self) -> str:
        return self.plan.routes.path("health") if self.plan is not None else "/health"

    def health(self) -> tuple[bool, str]:
        """Probe the target's health route now: (healthy, detail)."""
        return self.target_control().health(self.health_path(), bucket=self.rt.bucket)

    def _idle(self) -> bool:
        return self._job is None or self._job.dead

    def on_new_hour(self, hour: int) -> None:
        o, run = self.rt.opts, self.state.run
        sim_t = start_of_hour(o.sim_start, hour)
        if run is not None and not o.mock_api:
            gevent.spawn(self.advance_api_time, sim_t)
        if self.engine_name == "target":
            cycle = cycle_of_hour(hour, self.state.cycle_days)
            if cycle not in self._target_cycles and self._idle():
                self._target_cycles.add(cycle)
                self._job = gevent.spawn(self._run_target_cycle, cycle, sim_t)
        elif (
            self.engine is not None
            and not self.adopted
            and self.engine_name == "local"
            and self._idle()
        ):
            self._job = gevent.spawn(self._run_offer_engine, sim_t)

    def target_control(self) -> TargetControl:
        from harness.config.routes import RouteMap
        from harness.control.target import TargetControl

        run = self.state.run
        assert run is not None and run.api_url
        if self._target is None:
            routes = self.plan.routes if self.plan is not None else RouteMap()
            self._target = TargetControl(self.rt.environment, run.api_url, routes)
        return self._target

    def advance_api_time(self, sim_t: datetime) -> None:
        run = self.state.run
        if run is None or not run.api_url:
            return
        info = self.target_control().advance_time(sim_t)
        if info is not None:
            self.contract_error(info)

    def _run_target_cycle(self, cycle: int, sim_t: datetime) -> None:
        """``--offer-engine target``: the target's clock first, then its cycle and each
        leased-or-not persona's wallet refresh (never ``offer_engine`` on the database)."""
        self.advance_api_time(sim_t)
        t0 = time.perf_counter()
        users = sorted({e.user_id for e in self.pool.order})
        experiment = self.experiment
        done, info = self.target_control().run_cycle(
            cycle_number=cycle, sim_t=sim_t, user_ids=users,
            arms=experiment.arm_of_user if experiment is not None else None,
        )  # fmt: skip
        if info is not None:
            self.contract_error(info)
        if done is None:
            return
        done["duration_s"] = round(time.perf_counter() - t0, 3)
        self.rt.timings.record(cycle_name("target"), done["duration_s"] * 1000)
        self.cycles_run.append(done)
        log.info(
            "offer cycle %d on the target: %s", cycle, done.get("refreshed", "no refresh route")
        )
        if self.state.files is not None:
            self.state.files.log_event("offer_cycle", engine="target", cycles=[done])
        if self.state.run is not None:
            self.state.run.catalog_version += 1
            self.broadcast()

    def _run_offer_engine(self, sim_t: datetime) -> None:
        from offer_engine.scheduler import advance

        run = self.state.run
        assert run is not None and self.engine is not None
        t0 = time.perf_counter()
        settings = self.rt.settings  # read once, in init
        assert settings is not None  # a runtime with an engine was built with them
        experiment = self.experiment
        report = advance(
            self.engine, run_id=run.run_id, sim_start=self.rt.opts.sim_start,
            to_sim_time=sim_t, settings=settings,
            # --experiment: each arm's wallet settings and discount multiplier
            policies=experiment.wallet_policies(settings) if experiment is not None else None,
        )  # fmt: skip
        cycles = _cycles_of(report)
        if cycles:
            dur = time.perf_counter() - t0
            self.rt.timings.record(cycle_name("local"), dur * 1000)
            self.cycles_run.extend(cycles)
            for c in cycles:
                log.info("offer cycle %s: %s", c.get("cycle_number"), _brief(c))
            if self.state.files is not None:
                self.state.files.log_event("offer_cycle", cycles=cycles, duration_s=round(dur, 3))
            run.catalog_version += 1
            self.broadcast()


def _cycles_of(report: AdvanceReport) -> list[dict[str, Any]]:
    """The cycles an ``advance`` call ran, as JSON-safe dicts."""
    cycles = report.to_dict().get("cycles", [])
    return [json.loads(json.dumps(c, default=str)) for c in cycles]


def _brief(c: dict[str, Any]) -> str:
    flat = {**c, **(c.get("stats") or {})}
    keys = ("users", "assigned", "expired", "replaced", "duration_s")
    return ", ".join(f"{k} {flat[k]}" for k in keys if k in flat)
