"""The application factory: ``create_app(settings) -> FastAPI``.

Endpoints are plain ``def`` functions over the sync SQLAlchemy engine and run in Starlette's
thread pool; the thread pool is capped at the database pool's size (and at 8) so a burst
queues in the event loop instead of timing out on the connection pool or thrashing the GIL
(see BENCHMARKS.md for the measurements behind the choice). Dependencies that do no I/O
are ``async`` so they cost no thread hop.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from db.settings import SimSettings, load_settings
from reference_api.errors import ApiError, BadTime
from reference_api.request_log import ENV_REQUEST_LOG, RequestLog
from reference_api.routemap import ENV_ROUTES, RouteRewrite
from reference_api.shedding import ShedLoad

log = logging.getLogger("reference_api")

DEFAULT_API_DB_CONNECTIONS = 16
"""The API's default share of the database: small, because the harness connects too and
one request holds a connection for a few milliseconds."""

ENV_DB_CONNECTIONS = "REFERENCE_API_DB_CONNECTIONS"
ENV_WORKERS = "REFERENCE_API_WORKERS"
ENV_THREADS = "REFERENCE_API_THREADS"
ENV_MAX_IN_FLIGHT = "REFERENCE_API_MAX_IN_FLIGHT"
DEFAULT_MAX_IN_FLIGHT = 256
"""Concurrent requests per worker before it answers 429 (far above the harness's default
rate, so only a real overload sheds)."""


def default_threads(pool_total: int) -> int:
    """Request threads per worker: never more than its connections (a thread beyond them
    would only wait on the pool), and at most 8 — measured on 2 cores, 16 threads cost
    ~30 % more CPU per request than 4–8 (GIL contention) for no extra throughput."""
    return max(2, min(8, pool_total or 8))


def _budget() -> tuple[int, int]:
    # Passed through the environment because uvicorn's worker processes build the app
    # from an import string and cannot receive arguments.
    total = int(os.environ.get(ENV_DB_CONNECTIONS) or DEFAULT_API_DB_CONNECTIONS)
    workers = int(os.environ.get(ENV_WORKERS) or 1)
    return total, workers


def _build_engine(settings: SimSettings, total: int, workers: int) -> Engine:
    from db.connect import engine_from_settings
    from db.engine import BudgetPool, redact

    engine = engine_from_settings(
        settings, total_connections=total, processes=workers, application_name="reference_api"
    )
    pool = engine.pool
    kept, extra = (pool.size(), pool.max_overflow) if isinstance(pool, BudgetPool) else (0, 0)
    log.info(
        "reference_api database %s, pool %d+%d (budget %d over %d worker(s))",
        redact(engine.url),
        kept,
        extra,
        total,
        workers,
    )
    return engine


def create_app(
    settings: SimSettings | None = None,
    *,
    engine: Engine | None = None,
    db_connections: int | None = None,
    workers: int | None = None,
) -> FastAPI:
    """Build the reference VoiceOffers API.

    Args:
        settings: database and offer-engine settings; ``None`` reads the environment.
        engine: an engine to use (tests); ``None`` builds one from settings at start-up.
        db_connections: total database connection budget of the API (all workers).
        workers: how many worker processes share that budget.

    Returns:
        The FastAPI application. Simulation routes are mounted only in simulation mode.
    """
    settings = settings or load_settings()
    env_total, env_workers = _budget()
    total = db_connections or env_total
    nworkers = workers or env_workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.simulation_mode:
            log.warning(
                "!!! SIMULATION_MODE=true: 'Bearer dev:<agent_id>' tokens are accepted and "
                "the simulation routes (/cycles, /refresh/user, /time/advance) are open. "
                "Never run this against production data. !!!"
            )
        own = engine is None
        app.state.engine = (
            engine if engine is not None else _build_engine(settings, total, nworkers)
        )
        pool = app.state.engine.pool
        size = getattr(pool, "size", lambda: 0)() + getattr(pool, "_max_overflow", 0)
        threads = int(os.environ.get(ENV_THREADS) or 0) or default_threads(size)
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        log.info("reference_api: %d request thread(s) per worker", threads)
        try:
            yield
        finally:
            if own:
                app.state.engine.dispose()

    app = FastAPI(
        title="VoiceOffers reference API",
        version="1.0.0",
        description=(
            "Reference implementation of the HTTP contract the load harness drives "
            "(docs/ARCHITECTURE.md in the harness repository). Money in integer cents; `X-Simulated-Time` is the request's "
            "simulated now."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    _install_handlers(app)
    max_in_flight = int(os.environ.get(ENV_MAX_IN_FLIGHT) or DEFAULT_MAX_IN_FLIGHT)
    if max_in_flight > 0:
        app.add_middleware(ShedLoad, max_in_flight=max_in_flight)
    moved = os.environ.get(ENV_ROUTES)
    if moved:
        # ``--routes FILE``: serve at the owner's paths; added last, so it runs
        # first, before the shedder and routing see the path.
        app.add_middleware(RouteRewrite, moved=json.loads(moved))
    request_log = os.environ.get(ENV_REQUEST_LOG)
    if request_log:
        # Every request as received (outermost: before the rewrite and the shedder).
        app.add_middleware(RequestLog, path=request_log)

    from reference_api.routes import cart, catalog, offers, orders

    for module in (catalog, cart, offers, orders):
        app.include_router(module.router)
    if settings.simulation_mode:
        # Outside simulation mode these routes do not exist at all (404), not merely 401.
        from reference_api.routes import simulation

        app.include_router(simulation.router)
    return app


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        if isinstance(exc, BadTime):
            detail: object = [{"type": "value_error", "loc": list(exc.loc), "msg": exc.detail}]
        else:
            detail = exc.detail
        return JSONResponse({"detail": detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI answers an undecodable body with 400; the contract says an invalid
            # body is a 422, in the one validation-error shape.
            detail: object = [{"type": "json_invalid", "loc": ["body"], "msg": str(exc.detail)}]
            return JSONResponse({"detail": detail}, status_code=422)
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A constraint caught a race the code did not foresee: a conflict, not a crash.
        log.warning("integrity conflict on %s: %s", request.url.path, exc.orig)
        return JSONResponse({"detail": "conflicting concurrent change"}, status_code=409)

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable on %s: %s", request.url.path, type(exc.orig).__name__)
        return JSONResponse(
            {"detail": "database unavailable"}, status_code=503, headers={"Retry-After": "1"}
        )
