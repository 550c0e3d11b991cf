"""Locust event wiring: options, the per-process runtime, messages, run start and end.

``locustfile.py`` calls :func:`install` once; every listener here is repeat-safe.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from db.errors import ConfigError, LoadsimError
from harness.agent.llm import REPORT_KEY as LLM_KEY
from harness.agent.llm import drain as llm_drain
from harness.agent.llm import llm_granted
from harness.agent.runtime import ProcessRuntime, attach_runtime, director_of, runtime_of
from harness.agent.timings import REPORT_KEY as TIMINGS_KEY
from harness.config.messages import (
    REPORT_KEY,
    ContractError,
    Grant,
    Hello,
    LlmTokensGrant,
    Refused,
    Revoke,
    RunConfig,
    WorkerReport,
    listen,
    parse,
    send,
)
from harness.config.options import HarnessOptions, register_options
from harness.wiring import lifecycle

if TYPE_CHECKING:
    from locust.env import Environment
    from locust.event import Events
    from locust.runners import Runner
    from locust.web import WebUI

    from db.settings import SimSettings
    from harness.control.director import SimulationDirector
    from harness.control.resilience import ResumePoint

log = logging.getLogger("loadsim")
_installed = False
_ENV: Environment | None = None  # the process's (report hooks do not receive it)


def install(events: Events) -> None:
    global _installed
    if _installed:
        return
    _installed = True
    lifecycle.install_fork_guard()  # before Locust forks --processes children
    events.init_command_line_parser.add_listener(register_options)
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.quitting.add_listener(_on_quitting)
    events.report_to_master.add_listener(_on_report_to_master)
    events.worker_report.add_listener(_on_worker_report)


def _role(runner: Runner | None) -> str:
    from locust.runners import MasterRunner, WorkerRunner

    if isinstance(runner, WorkerRunner):
        return "worker"
    if isinstance(runner, MasterRunner):
        return "master"
    return "local"


def _fail(exc: LoadsimError) -> None:
    sys.stderr.write(f"loadsim: error: {exc}\n")
    sys.stderr.flush()
    os._exit(exc.exit_code)  # before any greenlet could write a partial output


def _on_init(
    environment: Environment, runner: Runner | None = None, web_ui: WebUI | None = None, **_: Any
) -> None:
    if runner is None or runtime_of(environment) is not None:
        return
    for noisy in ("pgserver", "alembic.runtime.plugins", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        opts = HarnessOptions.from_parsed(environment.parsed_options)
        from db.settings import load_settings

        settings = opts.run_settings(load_settings())  # --db-pooler over the environment's
    except ConfigError as exc:
        _fail(exc)
        return
    role = _role(runner)
    if not environment.stop_timeout:
        # Stop users gracefully: one in the middle of its hour finishes it (seconds) rather
        # than being killed inside the LangGraph run, which could then never exit and hang
        # the end of a busy run. Users sleeping between slots still stop at once.
        environment.stop_timeout = 60.0
    rt = ProcessRuntime(environment, opts, role, settings)  # read once, above
    attach_runtime(environment, rt)
    if getattr(environment.parsed_options, "otel", False):
        rt.timings.enable_otel()  # loadsim.* histograms beside Locust's own
        from harness.outputs.tracing import enable_tracing, node_wrapper

        if enable_tracing(environment):  # each session a trace: its nodes, its requests
            from behaviors.graph import compile_shopping_graph

            rt.graph = compile_shopping_graph(node_wrapper())
    global _ENV
    _ENV = environment
    rt.compile_graph()
    if role in ("worker", "local"):
        listen(runner, RunConfig, lambda cfg, _node: _apply_config(rt, cfg))
        listen(runner, Grant, lambda grant, _node: rt.leases.on_grants(grant))
        listen(runner, Revoke, lambda revoke, _node: rt.revoked.update(revoke.agent_ids))
        listen(runner, LlmTokensGrant, lambda grant, _node: llm_granted(rt.llm, grant))
    if role == "worker":
        lifecycle.watch_master(environment, runner, silence_s=settings.master_silence_s)
        # A contract error trips the master's breaker at once (not at the next report).
        rt.counters.on_contract = lambda info: _forward_contract(runner, info)
        from locust.runners import WorkerRunner

        assert isinstance(runner, WorkerRunner)  # its role says so
        # A worker joining a running run can get the config broadcast (and even its first
        # ``spawn``) during Locust's handshake, before the listener above: say hello now,
        # always. The master answers with the current config once the run has one (before
        # that it ignores a hello: start_run's broadcast answers); a second answer is harmless.
        send(runner, Hello())
        return
    _install_sigterm(runner)
    from harness.control.llm_budget import install_llm_budget

    rt.llm_budget = install_llm_budget(runner, opts.llm_budget_tokens if opts.llm_url else 0)
    if role == "master":
        from harness.wiring.join import on_refused

        listen(runner, Refused, on_refused)
        # When a worker dies, respawn its users on the others at once (they then wait for
        # the dead worker's personas to be reclaimed) instead of after Locust's 60 s.
        if environment.parsed_options is not None:
            environment.parsed_options.enable_rebalancing = True
    try:
        if not opts.mock_db and settings.database_url:
            from db.connect import check_database

            check_database(settings.database_url)  # a bad URL: one line, exit 2
            from db.adopt import schema_problem

            # An app's own tables not adopted yet, or a schema behind the code: one line.
            problem = schema_problem(settings.database_url, pooler=settings.db_pooler)
            if problem:
                raise ConfigError(problem)
            from db.adopt import map_drift

            # The owner file's [db.map] must be the one the database was adopted with.
            from db.owner_file import locate

            owner_file = locate(opts.map_file or None)  # --map, else $LOADSIM_MAP
            drift = map_drift(settings.database_url, str(owner_file) if owner_file else None,
                              pooler=settings.db_pooler)  # fmt: skip
            if drift:
                raise ConfigError(drift)
        if not opts.mock_api and environment.host:
            _check_host(environment.host)
        director = rt.director = _build_director(rt, settings)
        # Before any agent acts (and before the run is recorded), the target's
        # contract holds and the offer engine is chosen — else one line, exit 2.
        director.check_target()
        from harness.control.observe import start_observers

        start_observers(environment, director)  # --prometheus-port, --alert-webhook
    except LoadsimError as exc:
        _fail(exc)
    except Exception as exc:
        from db.connect import database_unavailable, is_connection_error

        if not is_connection_error(exc):
            raise
        _fail(database_unavailable(exc, settings.database_url))
    if web_ui is not None:
        from harness.webui.tab import install_web_ui

        install_web_ui(environment, web_ui)


def _check_host(host: str) -> None:
    """``--host`` must be an http(s) URL whose port accepts a connection: otherwise one
    line and exit 2 before anything is built (what the target answers is checked later)."""
    import socket
    from urllib.parse import urlsplit

    from db.engine import redact

    shown = redact(host)
    try:
        parts = urlsplit(host)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        parts, port = None, 0
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--host {shown}: not an http(s) URL — e.g. http://127.0.0.1:8000")
    try:
        with socket.create_connection((parts.hostname, port), timeout=10):
            pass
    except OSError as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(
            f"--host {shown}: cannot connect to {parts.hostname}:{port} ({why}) — is the API "
            "running there? Check the scheme, host and port (or leave --host out to start "
            "the reference API)"
        ) from None


def _install_sigterm(runner: Runner) -> None:
    """SIGTERM during a headless shape run would kill the process without ``quitting``,
    CSV flush or HTML (it exits 143 with no reports): end the run through the runner instead."""
    import signal

    import gevent

    def on_term() -> None:
        log.warning("SIGTERM: stopping the run, writing outputs")
        director = director_of(runner.environment)
        if director is not None:
            director.stopped_early = True
        runner.quit()

    gevent.signal_handler(signal.SIGTERM, on_term)


def _forward_contract(runner: Runner, info: dict[str, Any]) -> None:
    err = parse(ContractError, info, sender="this worker")
    if err is not None:
        send(runner, err)


def _apply_config(rt: ProcessRuntime, cfg: RunConfig) -> None:
    joining = rt.run is None or rt.run.run_id != cfg.run_id
    if rt.role == "worker" and joining:  # obey the master, check the database
        from harness.wiring.join import adopt_master_options, database_refusal, refuse

        if rt.refused:
            return
        adopt_master_options(rt, cfg)
        assert rt.settings is not None  # read in init, before any message
        why = database_refusal(cfg, rt.settings.database_url)
        if why:
            rt.refused = True
            refuse(rt, why)
            return
    old = rt.run.catalog_version if rt.run is not None else None
    rt.configure(cfg)
    if old is not None and cfg.catalog_version != old:
        rt.refresh_catalog()


def _build_director(rt: ProcessRuntime, settings: SimSettings) -> SimulationDirector:
    from harness.control.director import SimulationDirector
    from harness.control.leases import LeasePool
    from harness.control.persona_source import load_pool_entries

    opts, env = rt.opts, rt.environment
    stack = None
    engine = None
    if not opts.mock_db or (not opts.mock_api and not env.host):
        from harness.stack.embedded import EmbeddedStack

        stack = EmbeddedStack.start_if_needed(env, opts, settings)
    if not opts.mock_db:
        from db.engine import create_db_engine
        from harness.config.messages import DbFingerprint

        url = stack.db_url if stack is not None and stack.db_url else settings.database_url
        assert url is not None  # without DATABASE_URL the embedded database was started
        # One engine for the master (director and runtime), sized to its share of the run's
        # budget for the workers expected; re-divided over those that connect (RunBudget).
        engine = create_db_engine(
            url, total_connections=rt.budget.master_connections(_processes(env) - 1),
            statement_timeout_ms=settings.db_statement_timeout_ms, pooler=settings.db_pooler,
            application_name="loadsim-master" if rt.role == "master" else "loadsim-local",
        )  # fmt: skip
        rt.engine = engine
        rt.db_fingerprint = DbFingerprint.from_url(
            url, embedded=bool(stack is not None and stack.embedded_db)
        )
    if opts.resume:
        from harness.control.resilience import resolve_resume

        rp = resolve_resume(engine, opts.resume, runs_dir=Path(opts.runs_dir))
        opts = _resumed_options(opts, rp)
        rt.opts = opts
    entries = load_pool_entries(
        engine=engine, personas=Path(opts.personas) if opts.personas else None,
        map_file=opts.map_file or None,
    )  # fmt: skip
    if not entries:
        raise ConfigError(
            "no active simulated agents: seed personas first (`loadsim personas seed FILE`)"
        )
    director = SimulationDirector(
        rt, pool=LeasePool(entries=entries, seed=opts.seed), engine=engine, stack=stack
    )
    director.settings_cycle_days = settings.offer_cycle_days
    if opts.resume:
        director.resume_point = rp
    return director


def _resumed_options(opts: HarnessOptions, rp: ResumePoint) -> HarnessOptions:
    """A resumed run keeps its identity (run id, seed, simulated start and length, ramp) so
    personas bind and decide as before; the time scale may change."""
    import dataclasses

    from harness.config.options import parse_sim_start

    original = rp.config or {}
    return dataclasses.replace(
        opts,
        run_id=rp.run_id,
        seed=rp.seed,
        sim_start=parse_sim_start(original.get("sim_start", opts.sim_start.isoformat())),
        sim_duration_hours=original.get("sim_duration_hours", opts.sim_duration_hours),
        ramp=tuple(tuple(x) for x in original.get("ramp", opts.ramp)),
    )


def _processes(env: Environment) -> int:
    expect = getattr(env.parsed_options, "expect_workers", 1) or 1
    return max(1, int(expect)) + 1 if _role(env.runner) == "master" else 1


def _on_test_start(environment: Environment, **_: Any) -> None:
    rt = runtime_of(environment)
    if rt is None:
        return
    if rt.role == "worker":
        send(rt.runner, Hello())
    elif rt.director is not None:
        try:
            rt.director.start_run()
        except Exception:
            log.exception("could not start the run")
            raise


def _on_quitting(environment: Environment, **_: Any) -> None:
    rt = runtime_of(environment)
    if rt is None:
        return
    try:
        if rt.director is not None:
            code = rt.director.finish_run()
            if code is not None:
                environment.process_exit_code = code
    finally:
        if rt.role == "worker":
            lifecycle.note_exit(environment)
        rt.close()
        if rt.director is not None and rt.director.stack is not None:
            rt.director.stack.stop()


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    rt = runtime_of(_ENV)
    if rt is not None:
        # The harness's own timings since the last report (never in Locust's stats).
        data[TIMINGS_KEY] = rt.timings.drain()
        if rt.llm is not None:  # --llm-url: the model's counts since the last report
            data[LLM_KEY] = llm_drain(rt.llm, rt.llm_sent)
        hours = rt.collector.drain()
        # Each counted quiet hour's row was buffered before its count (``harness.agent.hour``):
        # written now, before the counts leave, a worker killed after this report has lost
        # no row the master counted.
        if rt.recorder is not None:
            try:
                rt.recorder.flush()
            except Exception as exc:  # noqa: BLE001 - kept for the flush loop's next try
                log.warning("quiet-hour flush before the report failed (will retry): %s", exc)
        data[REPORT_KEY] = WorkerReport(
            hours=hours,
            throttled=rt.counters.throttled,
            unavailable=rt.counters.consecutive_unavailable,
            pending=_pending(rt),
        ).to_msg()


def _pending(rt: ProcessRuntime) -> dict[str, int] | None:
    """This worker's users still owing an hour after the simulated end (the run's end
    waits for none, ``harness.control.finish.RunEnd``); computed in the same call that
    drains the counters, so a report saying none also carries their last counts."""
    from harness.agent.user import process_pending

    owing = process_pending(rt.runner)
    return None if owing is None else {str(h): n for h, n in owing.items()}


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    rt = runtime_of(_ENV)
    if rt is not None:
        rt.timings.merge(data.get(TIMINGS_KEY), sender=client_id)
        if rt.llm_totals is not None:
            rt.llm_totals.merge(data.get(LLM_KEY))
    if rt is not None and rt.director is not None:
        rt.director.on_worker_report(client_id, data)
