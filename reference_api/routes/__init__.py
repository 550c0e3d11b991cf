"""HTTP routes, one module per area of the contract (docs/ARCHITECTURE.md, HTTP contract)."""

from __future__ import annotations

from reference_api.schemas import ErrorOut

UNAVAILABLE: dict[int | str, dict] = {
    503: {"model": ErrorOut, "description": "database unavailable; see Retry-After"},
}
SHED: dict[int | str, dict] = {
    429: {"model": ErrorOut, "description": "server busy (load shed); see Retry-After"},
    **UNAVAILABLE,
}
"""Every route but ``/health`` may be shed under overload (``reference_api.shedding``);
every route answers 503 while the database is unreachable."""

AUTH_ERRORS: dict[int | str, dict] = {
    401: {"model": ErrorOut, "description": "missing, malformed or unknown dev token"},
    **SHED,
}
"""Documented on every authenticated route so the OpenAPI document is exact."""


def errors(*codes: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` for the given 4xx codes (401 always included)."""
    out = dict(AUTH_ERRORS)
    for code in codes:
        out[code] = {"model": ErrorOut}
    return out
