"""A faulty target for resilience tests: the real reference API (real HTTP, real
database) behind an ASGI middleware that fails a share of *agent flows*.

``FAULT_PCT`` (env) fails that percentage of (agent, simulated hour) pairs: every request
of a chosen pair gets a 503, so a flow fails as a whole, the way a broken dependency fails
some users' sessions. ``/health`` and the simulation routes are never faulted (the breaker,
not the outage detector, must react). Run: ``python -m tests.faulty_target --port N``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

PASS_THROUGH = ("/health", "/time/advance", "/cycles", "/refresh/")
_BODY = json.dumps({"detail": "injected fault"}).encode()


class FailFlows:
    def __init__(self, app, *, fail_pct: float, salt: str = "faults"):
        self.app = app
        self.fail_pct = fail_pct
        self.salt = salt

    def _fails(self, scope) -> bool:
        if self.fail_pct <= 0 or scope.get("path", "").startswith(PASS_THROUGH):
            return False
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"").decode()
        hour = headers.get(b"x-simulated-time", b"").decode()[:13]
        h = hashlib.blake2b(f"{self.salt}:{auth}:{hour}".encode(), digest_size=4).digest()
        return int.from_bytes(h, "big") % 10_000 < self.fail_pct * 100

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self._fails(scope):
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json")]})  # fmt: skip
            await send({"type": "http.response.body", "body": _BODY})
            return
        await self.app(scope, receive, send)


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

    app = FailFlows(create_app(), fail_pct=float(os.environ.get("FAULT_PCT", "0")))
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
