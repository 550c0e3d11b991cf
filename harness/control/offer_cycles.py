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
from datetime import datetime
from typing import Any

import gevent

from harness.agent.timings import cycle_name
from offer_engine.calendar import cycle_of_hour, start_of_hour

log = logging.getLogger("loadsim")


class OfferCycles:
    """The offer engine / target-cycle jobs of one run."""

    def __init__(self, director: Any) -> None:
        self.d = director
        self.cycles_run: list[dict[str, Any]] = []
        self._job: gevent.Greenlet | None = None
        self._target: Any = None  # harness.control.target.TargetControl during the run
        self._target_cycles: set[int] = set()

    def check_target(self) -> tuple[Any, bool]:
        """Before any agent acts: the route map, the contract probe (one line,
        exit 2 when it does not hold), and which offer engine runs."""
        from db.adopt import is_adopted
        from harness.config.routes import load_routes
        from harness.control.target import preflight

        d = self.d
        o = d.opts
        adopted = d.engine is not None and is_adopted(d.engine)
        plan = preflight(
            api_url=d.stack_api_url(), mock_api=o.mock_api, routes=load_routes(o.map_file or None),
            first_agent=d.pool.order[0].agent_id if d.pool.order else None,
            sim_time=o.sim_start, wanted_engine=o.offer_engine, adopted=adopted,
        )  # fmt: skip
        log.info(
            "offer engine: %s (%s); routes: %s",
            plan.offer.engine,
            plan.offer.why,
            plan.routes.source,
        )
        return plan, adopted

    def _idle(self) -> bool:
        return self._job is None or self._job.dead

    def on_new_hour(self, hour: int) -> None:
        d = self.d
        sim_t = start_of_hour(d.opts.sim_start, hour)
        if d.run is not None and not d.opts.mock_api:
            gevent.spawn(self.advance_api_time, sim_t)
        if d.offer_engine == "target":
            cycle = cycle_of_hour(hour, d.settings_cycle_days)
            if cycle not in self._target_cycles and self._idle():
                self._target_cycles.add(cycle)
                self._job = gevent.spawn(self._run_target_cycle, cycle, sim_t)
        elif (
            d.engine is not None
            and not getattr(d, "_adopted", False)
            and d.offer_engine == "local"
            and self._idle()
        ):
            self._job = gevent.spawn(self._run_offer_engine, sim_t)

    def target_control(self) -> Any:
        from harness.config.routes import RouteMap
        from harness.control.target import TargetControl

        d = self.d
        assert d.run is not None and d.run.api_url
        if self._target is None:
            routes = d.target_plan.routes if d.target_plan is not None else RouteMap()
            self._target = TargetControl(d.env, d.run.api_url, routes)
        return self._target

    def advance_api_time(self, sim_t: datetime) -> None:
        d = self.d
        if d.run is None or not d.run.api_url:
            return
        info = self.target_control().advance_time(sim_t)
        if info is not None:
            d.contract_error(info)

    def _run_target_cycle(self, cycle: int, sim_t: datetime) -> None:
        """``--offer-engine target``: the target's clock first, then its cycle and each
        leased-or-not persona's wallet refresh (never ``offer_engine`` on the database)."""
        d = self.d
        self.advance_api_time(sim_t)
        t0 = time.perf_counter()
        users = sorted({e.user_id for e in d.pool.order})
        experiment = getattr(d, "experiment", None)
        done, info = self.target_control().run_cycle(
            cycle_number=cycle, sim_t=sim_t, user_ids=users,
            arms=experiment.arm_of_user if experiment is not None else None,
        )  # fmt: skip
        if info is not None:
            d.contract_error(info)
        if done is None:
            return
        done["duration_s"] = round(time.perf_counter() - t0, 3)
        d.rt.timings.record(cycle_name("target"), done["duration_s"] * 1000)
        self.cycles_run.append(done)
        log.info(
            "offer cycle %d on the target: %s", cycle, done.get("refreshed", "no refresh route")
        )
        if d.files is not None:
            d.files.log_event("offer_cycle", engine="target", cycles=[done])
        if d.run is not None:
            d.run.catalog_version += 1
            d._broadcast_config()

    def _run_offer_engine(self, sim_t: datetime) -> None:
        from offer_engine.scheduler import advance

        d = self.d
        assert d.run is not None
        t0 = time.perf_counter()
        settings = d.rt.settings  # read once, in init
        experiment = getattr(d, "experiment", None)
        report = advance(
            d.engine, run_id=d.run.run_id, sim_start=d.opts.sim_start,
            to_sim_time=sim_t, settings=settings,
            # --experiment: each arm's wallet settings and discount multiplier
            policies=experiment.wallet_policies(settings) if experiment is not None else None,
        )  # fmt: skip
        cycles = _cycles_of(report)
        if cycles:
            dur = time.perf_counter() - t0
            d.rt.timings.record(cycle_name("local"), dur * 1000)
            self.cycles_run.extend(cycles)
            for c in cycles:
                log.info("offer cycle %s: %s", c.get("cycle_number"), _brief(c))
            if d.files is not None:
                d.files.log_event("offer_cycle", cycles=cycles, duration_s=round(dur, 3))
            d.run.catalog_version += 1
            d._broadcast_config()


def _cycles_of(report: Any) -> list[dict[str, Any]]:
    """The cycles an ``advance`` call ran, as JSON-safe dicts."""
    data = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    return [json.loads(json.dumps(c, default=str)) for c in data.get("cycles", [])]


def _brief(c: dict[str, Any]) -> str:
    flat = {**c, **(c.get("stats") or {})}
    keys = ("users", "assigned", "expired", "replaced", "duration_s")
    return ", ".join(f"{k} {flat[k]}" for k in keys if k in flat)
