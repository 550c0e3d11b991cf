"""The target's route map (docs/ARCHITECTURE.md, HTTP contract, owner's map): which path serves each action.

Why a map: the owner's API (FastAPI on Railway, not written here) may mount the contract's
actions at other paths (``/v1/basket/items`` for ``/api/cart/add``). The harness never
hard-codes a path: agents (``HttpShop``), the start-up probe, the clock and the offer cycles
(``harness.control.target``) all ask this map. The default is the contract's own paths.

The owner overrides it in section ``[routes]`` of the same TOML file that holds ``[db.map]``
and ``[personas.columns]`` (named by ``--map FILE`` or ``$LOADSIM_MAP``; ``db.owner_file``
locates and parses it for every section)::

    [routes]
    cart_add = "/v1/basket/items"
    view_coupon = "/v1/wallet/{id}/seen"    # {id}: the user_coupon_id
    refresh_user = ""                       # the target's /cycles fills wallets itself

The file is validated before anything runs: an unknown key, a path that is not absolute,
a missing or unknown ``{…}`` placeholder, or two actions on one method and path stop the
run with one line naming the key (exit 2). ``loadsim target serve --routes FILE`` serves
the reference API at the same paths, so a map can be proven end to end.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db import owner_file
from db.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One action of the contract: its methods, default path, and whether a target may
    lack it (an empty path: the harness then skips that step)."""

    methods: tuple[str, ...]
    default: str
    optional: bool = False
    placeholder: str | None = None  # what ``{id}`` stands for, when the path has one


ROUTES: dict[str, RouteSpec] = {
    "health": RouteSpec(("GET",), "/health"),
    "stores": RouteSpec(("GET",), "/api/stores"),
    "products": RouteSpec(("GET",), "/api/products"),
    "cart": RouteSpec(("GET", "DELETE"), "/api/cart"),
    "cart_add": RouteSpec(("POST",), "/api/cart/add"),
    "cart_remove": RouteSpec(("POST",), "/api/cart/remove"),
    "wallet": RouteSpec(("GET",), "/api/offers/wallet"),
    "assign": RouteSpec(("POST",), "/api/offers/assign"),
    "view_coupon": RouteSpec(("POST",), "/api/offers/{id}/view", placeholder="user_coupon_id"),
    "apply_coupon": RouteSpec(("POST",), "/api/cart/apply-coupon"),
    "checkout": RouteSpec(("POST",), "/api/orders/checkout"),
    "cycles": RouteSpec(("GET", "POST"), "/cycles", optional=True),
    "cycle": RouteSpec(("GET",), "/cycles/{id}", optional=True, placeholder="cycle id"),
    "refresh_user": RouteSpec(
        ("POST",), "/refresh/user/{id}", optional=True, placeholder="user id"
    ),
    "time_advance": RouteSpec(("POST",), "/time/advance", optional=True),
}
"""Every action of the HTTP contract (docs/ARCHITECTURE.md) by key (the keys of ``[routes]``)."""

DEFAULT_ROUTES: dict[str, str] = {k: s.default for k, s in ROUTES.items()}

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_BAD_CHARS = re.compile(r"[\s?#]")


@dataclass(frozen=True)
class RouteMap:
    """Validated paths by action key; ``source`` says where they came from."""

    paths: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ROUTES))
    source: str = "default"

    def has(self, key: str) -> bool:
        """Whether the target serves ``key`` at all (optional routes may be empty)."""
        return bool(self.paths[key])

    def path(self, key: str, ident: int | str | None = None) -> str:
        """The path of ``key``, with ``{id}`` filled in when ``ident`` is given."""
        p = self.paths[key]
        return p.replace("{id}", str(ident)) if ident is not None else p

    @property
    def custom(self) -> bool:
        return self.paths != DEFAULT_ROUTES

    def to_dict(self) -> dict[str, str]:
        """msgpack/JSON-safe (the master sends it to workers in the run config)."""
        return dict(self.paths)

    @classmethod
    def from_dict(cls, d: dict[str, str] | None, source: str = "run config") -> RouteMap:
        return build_routes(d or {}, source=source)


def build_routes(section: dict[str, Any], *, source: str) -> RouteMap:
    """Validate a ``[routes]`` table into a :class:`RouteMap` (errors name ``source`` and
    the key)."""
    if not isinstance(section, dict):
        raise ConfigError(f'{source}: [routes] must be a table of action = "/path"')
    for key in section:
        if key not in ROUTES:
            near = difflib.get_close_matches(str(key), list(ROUTES), n=1, cutoff=0.5)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"{source}: [routes] {key}: unknown route{hint}; known: {', '.join(ROUTES)}"
            )
    paths = dict(DEFAULT_ROUTES)
    for key, value in section.items():
        spec = ROUTES[key]
        where = f"{source}: [routes] {key} = {value!r}"
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be a string path")
        value = value.strip()
        if not value:
            if not spec.optional:
                raise ConfigError(
                    f"{where}: every run needs this route (only {_optional()} may be empty)"
                )
            paths[key] = ""
            continue
        if not value.startswith("/") or _BAD_CHARS.search(value):
            raise ConfigError(
                f"{where}: must be an absolute path like {spec.default!r} (no spaces, '?' or '#')"
            )
        names = _PLACEHOLDER.findall(value)
        if spec.placeholder is None and names:
            raise ConfigError(f"{where}: takes no placeholder, found {{{names[0]}}}")
        if spec.placeholder is not None and names != ["id"]:
            found = f"found {', '.join('{' + n + '}' for n in names)}" if names else "found none"
            raise ConfigError(
                f"{where}: needs exactly one {{id}} placeholder (the {spec.placeholder}); {found}"
            )
        if "{" in _PLACEHOLDER.sub("", value) or "}" in _PLACEHOLDER.sub("", value):
            raise ConfigError(f"{where}: unbalanced braces")
        paths[key] = value
    _check_unique(paths, source)
    return RouteMap(paths=paths, source=source)


def _optional() -> str:
    return ", ".join(k for k, s in ROUTES.items() if s.optional)


def _check_unique(paths: dict[str, str], source: str) -> None:
    """Two actions on one method and path would be indistinguishable for the target."""
    seen: dict[tuple[str, str], str] = {}
    for key, p in paths.items():
        if not p:
            continue
        shape = _PLACEHOLDER.sub("{}", p).rstrip("/") or "/"
        for method in ROUTES[key].methods:
            other = seen.setdefault((method, shape), key)
            if other != key:
                raise ConfigError(
                    f"{source}: [routes] {key}: {method} {p} is already the path of {other}"
                )


def map_file(path: str | Path | None = None) -> Path | None:
    """The owner's file ``[routes]`` is read from (``db.owner_file.locate``: ``path``, else
    ``$LOADSIM_MAP``, else ``$LOADSIM_DB_MAP``)."""
    return owner_file.locate(path)


def load_routes(path: str | Path | None = None) -> RouteMap:
    """Read ``[routes]`` of the owner's map file (``None`` → ``$LOADSIM_MAP``); a file
    without the section, or no file, gives the contract's default paths.

    Raises:
        ConfigError: the file is missing or not TOML, or ``[routes]`` is invalid (the
            message names the file and the key).
    """
    f = owner_file.load(path)
    if f.path is None:
        return RouteMap()
    section = f.section("routes")
    if section is None:
        return RouteMap(source=f"{f.path} (no [routes]: the contract's paths)")
    return build_routes(section, source=str(f.path))


CONTRACT_STATUSES = frozenset({401, 403, 404, 405, 422})
"""Answers that mean the target and the harness disagree on the contract (token, route,
method, body) — never a shopper's decision: the hour fails and the breaker trips."""


def is_contract_error(status: int, detail: object = None) -> bool:
    """401/403/404/405/422, or a 400 that gives no reason (a business refusal says why)."""
    return status in CONTRACT_STATUSES or (status == 400 and not detail)


def contract_cause(status: int, method: str = "") -> str:
    """The likely cause of a contract error, in words a newcomer can act on."""
    if status == 401:
        return "the API is not running with SIMULATION_MODE=true (dev tokens refused)"
    if status == 403:
        return "the API forbids the dev token's agent: is it a simulated agent of this database?"
    if status == 404:
        return "no such route or record: check the paths in [routes] of the map file"
    if status == 405:
        return f"the path exists but not for {method or 'this method'}: check [routes]"
    if status == 422:
        return "the API rejected the request's shape (body or X-Simulated-Time): contract differs"
    if status == 400:
        return "a 400 without a reason: the API did not understand the request"
    return f"HTTP {status}"
