"""Per-request context: who is calling (dev token) and what "now" is (simulated time).

Both are parsed without touching the database; the agent → user lookup and the server's
stored time are read inside the request's own transaction (one pool checkout a request).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine, text

from db.settings import SimSettings
from offer_engine.state import get_server_time
from reference_api.errors import BadTime, Unauthorized

DEV_PREFIX = "dev:"
_MIN_YEAR, _MAX_YEAR = 1900, 9000
"""Simulated instants outside this range are refused: adding cycle/expiry days near
``datetime.max`` would overflow instead of answering."""

_AGENT_USER = text(
    "SELECT a.user_id FROM agents a JOIN users u ON u.id = a.user_id "
    "WHERE a.id = :agent_id AND a.is_simulated AND u.is_simulated"
)


def parse_sim_time(value: str) -> datetime:
    """Parse an ISO 8601 instant; naive values are UTC. Raises ``BadTime`` (422)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadTime(f"X-Simulated-Time: not an ISO 8601 instant: {value[:64]!r}") from None
    return check_sim_time(parsed)


def check_sim_time(
    value: datetime, *, loc: tuple[str, ...] = ("header", "x-simulated-time")
) -> datetime:
    """Normalize to UTC and refuse years the simulation can never mean (422 at ``loc``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # an offset pushing year 1/9999 out of range
        raise BadTime("simulated time out of range", loc=loc) from None
    if not _MIN_YEAR <= value.year <= _MAX_YEAR:
        raise BadTime(f"year {value.year} outside {_MIN_YEAR}..{_MAX_YEAR}", loc=loc)
    return value


def parse_dev_token(token: str | None) -> int:
    """The credentials of ``Bearer dev:<agent_id>`` → agent id; anything else is 401."""
    token = (token or "").strip()
    if not token.startswith(DEV_PREFIX):
        raise Unauthorized("expected 'Authorization: Bearer dev:<agent_id>'")
    raw = token[len(DEV_PREFIX) :]
    if not raw.isdecimal() or len(raw) > 18:
        raise Unauthorized("dev token: agent id must be a positive integer")
    return int(raw)


def server_time(conn: Connection) -> datetime | None:
    """The server's simulated time (``simulation_state`` key ``'server'``), if set."""
    return get_server_time(conn)


@dataclass(slots=True)
class Ctx:
    """What every route gets: the engine, settings and the request's simulated now."""

    engine: Engine
    settings: SimSettings
    header_now: datetime | None

    def now(self, conn: Connection) -> datetime:
        """The request's simulated now: header, else server time, else the wall clock."""
        if self.header_now is not None:
            return self.header_now
        return server_time(conn) or datetime.now(UTC)

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One transaction for the whole request; an exception rolls it back."""
        with self.engine.begin() as conn:
            yield conn


@dataclass(slots=True)
class UserCtx(Ctx):
    """A :class:`Ctx` for an authenticated caller (dev token parsed, not yet resolved)."""

    agent_id: int = 0

    @contextmanager
    def user_tx(self) -> Iterator[tuple[Connection, int]]:
        """Open the request's transaction and resolve the caller's user id (401 if the
        agent is unknown or not simulated)."""
        with self.engine.begin() as conn:
            user_id = conn.execute(_AGENT_USER, {"agent_id": self.agent_id}).scalar()
            if user_id is None:
                raise Unauthorized("unknown or non-simulated agent")
            yield conn, int(user_id)


async def get_ctx(
    request: Request,
    x_simulated_time: Annotated[
        str | None,
        Header(
            description="ISO 8601 simulated 'now' for this request (malformed → 422)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
) -> Ctx:
    state = request.app.state
    now = parse_sim_time(x_simulated_time) if x_simulated_time is not None else None
    return Ctx(engine=state.engine, settings=state.settings, header_now=now)


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="DevToken",
    description="`dev:<agent_id>` (agents.id); accepted only when SIMULATION_MODE=true",
)


async def get_user_ctx(
    ctx: Annotated[Ctx, Depends(get_ctx)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserCtx:
    # Dev tokens exist only in simulation mode: elsewhere every one of them is a 401.
    if not ctx.settings.simulation_mode:
        raise Unauthorized("dev tokens are accepted only when SIMULATION_MODE=true")
    agent_id = parse_dev_token(creds.credentials if creds else None)
    return UserCtx(
        engine=ctx.engine, settings=ctx.settings, header_now=ctx.header_now, agent_id=agent_id
    )


CtxDep = Annotated[Ctx, Depends(get_ctx)]
UserDep = Annotated[UserCtx, Depends(get_user_ctx)]
