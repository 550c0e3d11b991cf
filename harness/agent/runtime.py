"""The per-process composition root (built once per process, nothing heavy at import), reached through :func:`runtime_of`.

Built once per process in the ``init`` listener, configured for the run when the master's
run config arrives (standalone: directly). It owns what every user of the process shares:
the clock, the database engine and recorder, the catalog cache, the token bucket, the HTTP
connection pools, the compiled graph and the hour counters. Nothing heavy happens at import.
"""

from __future__ import annotations

import logging
import time
import weakref
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import gevent
from gevent.event import Event

from harness.agent.budget import RunBudget
from harness.agent.catalog_cache import CatalogCache
from harness.agent.hourstats import HourAggregate, HourCollector
from harness.agent.http_shop import HttpCounters
from harness.agent.lease_client import LeaseClient
from harness.agent.rate_limit import TokenBucket
from harness.agent.timings import GRAPH, LEASE, SLIP, HarnessTimings, db_name
from harness.config.messages import RunConfig
from harness.config.options import HarnessOptions
from offer_engine import calendar

if TYPE_CHECKING:
    from gevent import Greenlet
    from geventhttpclient.client import HTTPClientPool
    from langgraph.graph.state import CompiledStateGraph
    from locust.env import Environment
    from locust.runners import Runner
    from sqlalchemy import Engine

    from db.settings import SimSettings
    from harness.agent.llm import LlmAdapter, LlmTotals, TokenBook
    from harness.agent.recorder import NullRecorder, Recorder
    from harness.config.messages import DbFingerprint
    from offer_engine.clock import SimClock

log = logging.getLogger("loadsim")

_RUNTIMES: weakref.WeakKeyDictionary[Environment, ProcessRuntime] = weakref.WeakKeyDictionary()
"""Each Locust ``Environment``'s runtime (nothing is hung on Locust's object)."""


class Stack(Protocol):
    """The embedded default a master started (``harness.stack.embedded.EmbeddedStack``)."""

    @property
    def api_url(self) -> str | None: ...
    @property
    def shared_db_url(self) -> str | None: ...
    def stop(self) -> None: ...


class Director(Protocol):
    """What the agent side, the web UI and the wiring use of the master's (or
    standalone's) director, ``harness.control.director.SimulationDirector``: ``control``
    imports ``agent``, never the reverse, so the runtime holds it through this interface."""

    stopped_early: bool

    @property
    def run(self) -> RunConfig | None: ...
    @property
    def stack(self) -> Stack | None: ...
    @property
    def agg(self) -> HourAggregate: ...  # the workers' hour counters, merged
    @property
    def current_hour(self) -> int: ...  # the hour the director's loop is in
    def check_target(self) -> None: ...
    def start_run(self) -> None: ...
    def finish_run(self) -> int | None: ...
    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None: ...
    def finished(self) -> bool: ...
    def target_users(self) -> int: ...
    def pause(self, reason: str) -> bool: ...
    def resume(self) -> bool: ...
    def checkpoint(self, *, reason: str = "manual", hour: int | None = None) -> str | None: ...
    def status(self) -> dict[str, Any]: ...


class ProcessRuntime:
    """Shared state of one Locust process (master, worker or standalone)."""

    def __init__(
        self,
        environment: Environment,
        opts: HarnessOptions,
        role: str,
        settings: SimSettings | None = None,
    ) -> None:
        self.environment = environment
        self.opts = opts
        # The environment's settings, read once for the process (``init``); None: a runtime
        # built without them (tests) cannot open a database.
        self.settings = settings
        self.role = role  # "local" | "master" | "worker"
        self.ready = Event()
        self.run: RunConfig | None = None
        self.clock: SimClock | None = None
        self.sim_start: datetime | None = None
        self.sim_end: datetime | None = None
        self.engine: Engine | None = None
        self.recorder: Recorder | NullRecorder | None = None
        self.catalog: CatalogCache | None = None
        self.bucket = TokenBucket(0.0)
        self.bucket.set_share(opts.rate_limit)
        self.budget = RunBudget(self)
        self.db_fingerprint: DbFingerprint | None = None  # the run database (master, standalone)
        self.counters = HttpCounters()
        self.collector = HourCollector()
        self.timings = HarnessTimings()  # the harness's own timings, never Locust's stats
        self.leases = LeaseClient(environment)  # this process's lease requests, batched
        self.leases.on_round_trip = lambda ms: self.timings.record(LEASE, ms)
        self.http_pools: list[HTTPClientPool] = []
        self.graph: CompiledStateGraph | None = None
        self.llm: LlmAdapter | None = None  # --llm-url: the model port of this process
        self.llm_totals: LlmTotals | None = None  # master/standalone: every process's counts
        self.llm_budget: TokenBook | None = None  # master/standalone: the run's model tokens
        self.llm_sent: dict[str, Any] = {}  # what the last report carried (harness.agent.llm)
        self.worker_name = "local"
        self._flusher: gevent.Greenlet | None = None
        self.director: Director | None = None  # master/local only
        self._prepared_for: str | None = None
        self.revoked: set[int] = set()
        self.refused = False  # a worker whose database is not the run's: it quits
        self._end_rate_waits_on_stop()

    @property
    def runner(self) -> Runner:
        """Locust's runner of this process (it exists from ``init``, when this is built)."""
        runner = self.environment.runner
        assert runner is not None  # built in the init listener, after Locust made its runner
        return runner

    def _end_rate_waits_on_stop(self) -> None:
        """When the run stops, users waiting for a token end at once — their requests are
        not sent, their hours end as a user killed at the stop timeout ends (see
        ``rate_limit.RateLimitInterrupted``) — instead of holding the process up to the
        stop timeout behind a throttled bucket. A new start honours waits again. On a
        worker every waiter is a user; standalone, the director's control traffic (in its
        own greenlets) keeps waiting."""
        events = getattr(self.environment, "events", None)
        if events is None or self.role == "master":
            return

        def users_only(greenlet: Greenlet) -> bool:
            group = getattr(getattr(self.environment, "runner", None), "user_greenlets", None)
            return group is None or greenlet in group

        which = None if self.role == "worker" else users_only
        events.test_stopping.add_listener(lambda **_: self.bucket.interrupt(which))
        events.test_start.add_listener(lambda **_: self.bucket.rearm())

    # ---------------------------------------------------------------- configuration

    def configure(self, cfg: RunConfig) -> None:
        """Apply a run config (first time: build engine, recorder, catalog, graph)."""
        from offer_engine.clock import SimClock

        self.prepare(cfg)
        self.run = cfg
        self.clock = SimClock.from_dict(cfg.clock)
        self.sim_start = datetime.fromisoformat(cfg.sim_start)
        self.sim_end = datetime.fromisoformat(cfg.sim_end) if cfg.sim_end else None
        self.budget.apply(cfg)
        self.ready.set()

    def stamp(self, cfg: RunConfig, workers: int) -> None:
        """Master/standalone, at the start of a run: write what the master decides into
        the run config — its harness options, the database's fingerprint (never its
        password) — and divide the budgets over the ``workers`` connected."""
        cfg.harness = self.opts.to_json()
        cfg.db = self.db_fingerprint.to_msg() if self.db_fingerprint is not None else None
        self.budget.share_out(cfg, workers)

    def compile_graph(self) -> None:
        """Import and compile the LangGraph graph (seconds on a busy machine): done in
        ``init``, long before the simulated clock starts."""
        if self.graph is None:
            from behaviors.graph import compile_shopping_graph

            self.graph = compile_shopping_graph()

    def prepare(self, cfg: RunConfig) -> None:
        """Build what the run needs (once per run id); safe to call again."""
        if self._prepared_for == cfg.run_id:
            return
        self._prepared_for = cfg.run_id
        self._build(cfg)

    def _build(self, cfg: RunConfig) -> None:
        runner = self.environment.runner
        idx = getattr(runner, "worker_index", None)
        self.worker_name = "local" if self.role == "local" else (
            "master" if self.role == "master" else f"worker{idx}"
        )  # fmt: skip
        self.compile_graph()
        self._build_llm(cfg)
        if cfg.mock_db:
            from harness.agent.recorder import NullRecorder
            from personas.catalog import generate_catalog

            self.recorder = NullRecorder()
            self.catalog = CatalogCache.from_generated(generate_catalog(seed=cfg.seed))
        else:
            if self.engine is None:  # the master's and standalone's come from init: one engine
                self.engine = self._engine(cfg)
            from harness.agent.recorder import Recorder

            self.recorder = Recorder(
                self.engine, run_id=cfg.run_id, worker=self.worker_name, measure=self.measure_db
            )
            self.catalog = CatalogCache.from_db(self.engine)
            self._flusher = gevent.spawn(self._flush_loop)
        if not cfg.mock_api:
            from geventhttpclient.client import HTTPClientPool

            self.http_pools = [HTTPClientPool(concurrency=10) for _ in range(self.opts.http_pools)]

    def _build_llm(self, cfg: RunConfig) -> None:
        """``--llm-url``: the model port (workers and standalone play hours; the master
        sums their counts). Its token budget is leased from the master's."""
        from harness.agent.llm import LlmTotals, adapter_for

        if self.role != "worker":
            self.llm_totals = LlmTotals(self.llm_budget) if self.opts.llm_url else None
        if self.role == "master":
            return
        self.llm = adapter_for(self.opts, self.environment.runner)

    def _engine(self, cfg: RunConfig) -> Engine:
        from db.engine import create_db_engine
        from harness.agent.gevent_guard import ensure_gevent_safe_psycopg

        ensure_gevent_safe_psycopg()
        settings = self.settings
        if settings is None:
            raise RuntimeError("this runtime was built without settings: it opens no database")
        url = cfg.database_url or settings.database_url
        if not url:
            raise RuntimeError("no database URL: set DATABASE_URL on this worker or use --mock-db")
        share = int(cfg.db_share or 0)
        # A worker follows the master's --db-pooler (its options), else its own setting.
        pooler = self.opts.run_settings(settings).db_pooler
        processes = 1 if share else max(1, int(cfg.options.get("processes", 1)))
        return create_db_engine(
            url,
            total_connections=share or self.opts.db_connections,
            processes=processes,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            pooler=pooler,
            application_name=f"loadsim-{self.worker_name}",
        )

    def refresh_catalog(self) -> None:
        if self.engine is not None:
            self.catalog = CatalogCache.from_db(self.engine)

    # ---------------------------------------------------------------- measurements

    # Locust's statistics hold the HTTP requests sent to the target and nothing else: the
    # harness's own timings go to ``self.timings`` (``harness.agent.timings``), never
    # through ``events.request``.

    def measure_db(self, name: str, ms: float, exc: BaseException | None) -> None:
        self.timings.record(db_name(name), ms, error=exc is not None)

    def measure_graph(self, ms: float, exc: BaseException | None = None) -> None:
        self.timings.record(GRAPH, ms, error=exc is not None)

    def measure_slip(self, ms: float) -> None:
        """``--pace on``: one action's slip behind its simulated moment."""
        self.timings.record(SLIP, ms)

    def _flush_loop(self) -> None:
        assert self.recorder is not None  # spawned right after the recorder is built
        while True:
            gevent.sleep(2.0)
            try:
                self.recorder.flush()
            except Exception as exc:  # noqa: BLE001 - kept for the next flush, logged
                log.warning("quiet-hour flush failed (will retry): %s", exc)

    def close(self) -> None:
        if self._flusher is not None:
            self._flusher.kill(block=False)
        if self.recorder is not None:
            try:
                self.recorder.flush()
            except Exception as exc:  # noqa: BLE001
                log.error("final flush of quiet hours failed: %s", exc)
        if self.engine is not None:
            self.engine.dispose()

    # ---------------------------------------------------------------- time helpers

    def slot_time(self, hour: int, offset_s: float) -> datetime:
        assert self.sim_start is not None
        return calendar.slot_time(self.sim_start, hour, offset_s)

    def hour_of(self, t: datetime) -> int:
        assert self.sim_start is not None
        return calendar.hour_of(self.sim_start, t)

    def now(self) -> datetime:
        """The simulated now, on the run's current clock (it is replaced on pause/resume)."""
        assert self.clock is not None
        return self.clock.now()

    def real_wait_until(self, t: datetime) -> float | None:
        assert self.clock is not None
        real = self.clock.real_time_at(t)
        return None if real is None else real - time.time()


def attach_runtime(environment: Environment, rt: ProcessRuntime) -> None:
    """Give Locust's ``Environment`` the process's runtime (done once, in ``init``)."""
    _RUNTIMES[environment] = rt


def runtime_of(environment: Environment | None) -> ProcessRuntime | None:
    """The process's runtime; ``None`` before ``init`` or in a process the harness did not
    set up (or an object that cannot be weakly referenced, so never had one). The one typed
    way to it, so the import graph and mypy see who depends on it."""
    if environment is None:
        return None
    try:
        return _RUNTIMES.get(environment)
    except TypeError:
        return None


def director_of(environment: Environment) -> Director | None:
    """The master's (or standalone's) ``SimulationDirector``, or ``None`` on a worker or
    before ``init`` (through :class:`Director`: ``control`` imports ``agent``, never the
    reverse)."""
    rt = runtime_of(environment)
    return None if rt is None else rt.director
