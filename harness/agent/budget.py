"""The run's two budgets — requests per second (``--rate-limit``) and database connections
(``--db-connections``) — divided among the processes that are actually connected.

Both are totals for the whole run. The master divides them
whenever the set of connected workers changes and sends each worker its share in the run
config (``RunConfig.rate_share``, ``RunConfig.db_share``); it keeps its own share for its
control traffic and its own engine. A worker applies what it is sent: its token bucket
takes the new rate at once, and its connection pool (``db.engine.BudgetPool``) closes idle
connections above the new size at once and busy ones as they come back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from db.engine import BudgetPool, split_budget
from harness.agent.rate_limit import control_rate, rate_shares
from harness.config.messages import RunConfig

if TYPE_CHECKING:  # the runtime builds this budget: a cycle at import time
    from harness.agent.runtime import ProcessRuntime

log = logging.getLogger("loadsim")


def resize_pool(engine: Engine, connections: int) -> None:
    """Give ``engine``'s pool a new size (no-op for pools that cannot resize)."""
    pool = engine.pool
    if connections > 0 and isinstance(pool, BudgetPool) and pool.limit != connections:
        pool.resize(connections)


class RunBudget:
    """One process's view of the budgets; the master's also divides them."""

    def __init__(self, rt: ProcessRuntime) -> None:
        self.rt = rt
        self._last: tuple[int, float, float, int, int] | None = None

    def master_connections(self, workers: int) -> int:
        """The master's (or standalone's) share of the connections for ``workers``."""
        if self.rt.role != "master":
            return int(self.rt.opts.db_connections)
        return split_budget(int(self.rt.opts.db_connections), workers)[0]

    def share_out(self, cfg: RunConfig, workers: int) -> None:
        """Master/standalone: divide both budgets over ``workers`` connected worker
        processes (plus this one), write the workers' shares into ``cfg`` and apply this
        process's own."""
        rt, o = self.rt, self.rt.opts
        if rt.role != "master":
            workers = 0
        control = control_rate(o.time_scale, mock_api=o.mock_api) + self._refresh_rate()
        own_rate, worker_rate = rate_shares(o.rate_limit, workers, control)
        own_db, worker_db = split_budget(int(o.db_connections), workers)
        cfg.rate_share, cfg.db_share = worker_rate, worker_db
        rt.bucket.set_share(own_rate)
        if rt.engine is not None:
            resize_pool(rt.engine, own_db)
        key = (workers, round(own_rate, 3), round(worker_rate, 3), own_db, worker_db)
        if rt.role != "master" or key == self._last or not workers:
            return
        self._last = key
        db = "" if o.mock_db else f"; DB connections: master {own_db}, each worker {worker_db}"
        rate = (
            "unlimited" if o.rate_limit <= 0
            else f"master {own_rate:.3g}/s (control traffic), each worker {worker_rate:.3g}/s"
        )  # fmt: skip
        log.info("budget over %d worker process(es): requests %s%s", workers, rate, db)
        if not o.mock_db and workers and o.db_connections < workers + 1:
            log.warning(
                "--db-connections %d is less than the %d connected processes: each holds one "
                "connection, %d in all", o.db_connections, workers + 1, own_db + workers * worker_db,
            )  # fmt: skip

    def _refresh_rate(self) -> float:
        """With ``--offer-engine target`` the master also calls the target's ``POST
        /refresh/user/{id}`` for every persona each offer cycle: their average rate (the
        burst at a boundary is paced by the master's share)."""
        d = self.rt.director
        if d is None or getattr(d, "offer_engine", "local") != "target":
            return 0.0
        plan = getattr(d, "target_plan", None)
        routes = getattr(plan, "routes", None)
        if routes is None or not routes.has("refresh_user"):
            return 0.0
        cycle_s = float(getattr(d, "settings_cycle_days", 7.0)) * 86400 / self.rt.opts.time_scale
        return float(getattr(getattr(d, "pool", None), "size", 0)) / max(1.0, cycle_s)

    def apply(self, cfg: RunConfig) -> None:
        """Worker/standalone: take the shares the run config carries."""
        rt = self.rt
        if rt.role == "master":
            return  # the master's own share is set by share_out
        rt.bucket.set_share(cfg.rate_share)
        if rt.engine is not None and cfg.db_share:
            resize_pool(rt.engine, int(cfg.db_share))
