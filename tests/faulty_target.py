"""A faulty target for resilience tests: the real reference API (real HTTP, real
database) behind an ASGI middleware that fails a share of *agent flows*.

``FAULT_PCT`` (env) fails that percentage of agent flows — (agent, simulated hour) pairs:
every request of a chosen flow gets a 503, so a flow fails as a whole, the way a broken
dependency fails some users' sessions. ``/health`` and the simulation routes are never faulted (the breaker,
not the outage detector, must react). Run: ``python -m tests.faulty_target --port N``.

``POST /_fault/<status>`` switches the target mid-run: from then on every
``/api/…`` request answers ``<status>`` (e.g. 404, as after a deployment that moved the
routes); ``POST /_fault/0`` switches it back. ``REFERENCE_API_ROUTES`` (env) serves the
API at a route map's paths, as ``--routes FILE`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import time

PASS_THROUGH = ("/health", "/time/advance", "/cycles", "/refresh/")
_BODY = json.dumps({"detail": "injected fault"}).encode()


class FailFlows:
    """Fail every k-th new agent flow (k = 100 / FAULT_PCT), in the order flows reach the
    server: exactly that share of flows fails, spread evenly over time (a hash would
    cluster them by chance, and a breaker judging small hours would see the clusters)."""

    def __init__(self, app, *, fail_pct: float):
        self.app = app
        self.every = round(100 / fail_pct) if fail_pct > 0 else 0
        self.flows: dict[tuple[str, str], bool] = {}

    def _fails(self, scope) -> bool:
        if not self.every or scope.get("path", "").startswith(PASS_THROUGH):
            return False
        headers = dict(scope.get("headers") or [])
        flow = (
            headers.get(b"authorization", b"").decode(),
            headers.get(b"x-simulated-time", b"").decode()[:13],  # the simulated hour
        )
        if flow not in self.flows:
            self.flows[flow] = (len(self.flows) + 1) % self.every == 0
        return self.flows[flow]

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self._fails(scope):
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json")]})  # fmt: skip
            await send({"type": "http.response.body", "body": _BODY})
            return
        await self.app(scope, receive, send)


class Switch:
    """``POST /_fault/<status>``: answer every ``/api/…`` request with that status."""

    def __init__(self, app):
        self.app = app
        self.status = 0

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/_fault/"):
            self.status = int(path.rsplit("/", 1)[1])
            await _answer(send, 200, json.dumps({"status": self.status}).encode())
            return
        if self.status and path.startswith("/api/"):
            await _answer(send, self.status, json.dumps({"detail": "Not Found"}).encode())
            return
        await self.app(scope, receive, send)


async def _answer(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class LogRequests:
    """Append ``<epoch seconds> <path>`` per request to ``REQUEST_LOG`` (server-side rate)."""

    def __init__(self, app, path: str):
        self.app = app
        self.fh = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the server

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.fh.write(f"{time.time():.4f} {scope.get('path', '')}\n")
        await self.app(scope, receive, send)


def make_app():
    from reference_api.app import create_app

    app = Switch(FailFlows(create_app(), fail_pct=float(os.environ.get("FAULT_PCT", "0"))))
    if os.environ.get("REQUEST_LOG"):
        app = LogRequests(app, os.environ["REQUEST_LOG"])
    return app


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    uvicorn.run("tests.faulty_target:make_app", factory=True, host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)  # fmt: skip


if __name__ == "__main__":
    main()
