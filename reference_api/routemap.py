"""Serve the reference API at the paths of a route map (``--routes FILE``).

Why: the harness drives an owner's API whose paths may differ from the contract's
(docs/ARCHITECTURE.md, HTTP contract); to prove a route map end to end, the reference API can be served at the
same mapped paths. The routes themselves keep their contract paths; a small ASGI rewrite in
front of routing maps each mapped path onto its contract path, and a contract path that was
moved answers 404 like any unknown path (so a harness without the map is stopped by its
start-up probe, as it would be against the owner's API).

The file is the owner's TOML, section ``[routes]`` (``action = "/path"``, ``{id}`` where the
contract has a path parameter). The harness validates the same section with
``harness.config.routes`` (the reference API never imports the harness, docs/ARCHITECTURE.md, Rooms;
``tests/test_reference_routes.py`` holds both tables equal).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from db import owner_file
from db.errors import ConfigError

ENV_ROUTES = "REFERENCE_API_ROUTES"
"""The validated map as JSON, handed to uvicorn's workers (they build the app from an
import string and cannot receive arguments)."""

CONTRACT: dict[str, tuple[tuple[str, ...], str]] = {
    "health": (("GET",), "/health"),
    "stores": (("GET",), "/api/stores"),
    "products": (("GET",), "/api/products"),
    "cart": (("GET", "DELETE"), "/api/cart"),
    "cart_add": (("POST",), "/api/cart/add"),
    "cart_remove": (("POST",), "/api/cart/remove"),
    "wallet": (("GET",), "/api/offers/wallet"),
    "assign": (("POST",), "/api/offers/assign"),
    "view_coupon": (("POST",), "/api/offers/{id}/view"),
    "apply_coupon": (("POST",), "/api/cart/apply-coupon"),
    "checkout": (("POST",), "/api/orders/checkout"),
    "cycles": (("GET", "POST"), "/cycles"),
    "cycle": (("GET",), "/cycles/{id}"),
    "refresh_user": (("POST",), "/refresh/user/{id}"),
    "time_advance": (("POST",), "/time/advance"),
}
"""Each action's methods and contract path (the keys of ``[routes]``)."""


def load_routes_file(path: str | Path) -> dict[str, str]:
    """``[routes]`` of ``path``: only the moved actions, ``{key: mapped path}`` ("" = the
    action is not served). Raises ``ConfigError`` naming the file and the key."""
    p = Path(path)
    try:  # the owner's one file, read as every reader of it does (db.owner_file)
        section = owner_file.read(p).section("routes")
    except ConfigError as exc:
        raise ConfigError(f"--routes {exc}") from None
    if not isinstance(section, dict):
        raise ConfigError(f"--routes {p}: no [routes] table")
    moved: dict[str, str] = {}
    for key, value in section.items():
        if key not in CONTRACT:
            raise ConfigError(f"{p}: [routes] {key}: unknown route; known: {', '.join(CONTRACT)}")
        if not isinstance(value, str) or (value and not value.startswith("/")):
            raise ConfigError(f"{p}: [routes] {key} = {value!r}: must be an absolute path or ''")
        wants_id = "{id}" in CONTRACT[key][1]
        if value and (("{id}" in value) != wants_id or value.count("{") != int(wants_id)):
            need = "exactly one {id} placeholder" if wants_id else "no placeholder"
            raise ConfigError(f"{p}: [routes] {key} = {value!r}: needs {need}")
        if value != CONTRACT[key][1]:
            moved[key] = value
    return moved


def _pattern(template: str) -> re.Pattern[str]:
    parts = [re.escape(s) for s in template.rstrip("/").split("{id}")]
    return re.compile("^" + "([^/]+)".join(parts) + "/?$")


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_NOT_FOUND = json.dumps({"detail": "Not Found"}).encode()


class RouteRewrite:
    """ASGI middleware: a mapped path → its contract path; a moved contract path → 404."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, moved: dict[str, str]) -> None:
        self.app = app
        self.rules: list[tuple[tuple[str, ...], re.Pattern[str], str]] = []
        self.hidden: list[tuple[tuple[str, ...], re.Pattern[str]]] = []
        for key, mapped in moved.items():
            methods, contract = CONTRACT[key]
            if mapped:
                self.rules.append((methods, _pattern(mapped), contract))
            self.hidden.append((methods, _pattern(contract)))

    def _rewrite(self, method: str, path: str) -> str | None:
        """The contract path to route to; None to answer 404; the path itself otherwise."""
        for methods, pattern, contract in self.rules:
            m = pattern.match(path)
            if m and method in methods:
                return contract.replace("{id}", m.group(1)) if m.groups() else contract
        for methods, pattern in self.hidden:
            if method in methods and pattern.match(path):
                return None
        return path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = self._rewrite(scope["method"], scope["path"])
        if target is None:
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json")]})  # fmt: skip
            await send({"type": "http.response.body", "body": _NOT_FOUND})
            return
        if target != scope["path"]:
            scope = dict(scope, path=target, raw_path=target.encode())
        await self.app(scope, receive, send)
