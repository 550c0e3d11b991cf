"""Errors the API answers with ``{"detail": ...}`` and a 4xx status.

Raised from data functions and routes; raising inside ``engine.begin()`` also rolls the
request's transaction back, so a refused checkout leaves nothing written.
"""

from __future__ import annotations


class ApiError(Exception):
    """A client-visible error: ``status`` and a human-readable ``detail``."""

    status = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class Unauthorized(ApiError):
    status = 401

    def __init__(self, detail: str = "invalid or missing dev token"):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    """The request is well-formed but the state forbids it (empty cart, foreign or expired
    coupon, wallet full, idempotency key of another user)."""

    status = 409


class BadTime(ApiError):
    """A malformed ``X-Simulated-Time``: a 422, never a silent fallback to another clock.

    Answered in FastAPI's validation-error shape (``detail`` a list with ``loc``), so every
    422 of the API has the one schema its OpenAPI document declares.
    """

    status = 422

    def __init__(self, detail: str, *, loc: tuple[str, ...] = ("header", "x-simulated-time")):
        super().__init__(detail)
        self.loc = loc
