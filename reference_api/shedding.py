"""Load shedding: past ``max_in_flight`` concurrent requests a worker answers 429 with
``Retry-After`` at once, instead of queueing without bound (docs/ARCHITECTURE.md, HTTP contract: "429 when the
server sheds load"; the harness waits as told and does not count it as a failure).

A pure ASGI middleware: it costs one counter per request and nothing else.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = json.dumps({"detail": "server busy, retry later"}).encode()


class ShedLoad:
    """Refuse HTTP requests beyond ``max_in_flight`` concurrent ones (``/health`` exempt,
    so a busy server still reports itself alive)."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, retry_after_s: int = 1):
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after = str(retry_after_s).encode()
        self.in_flight = 0
        self.shed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/health":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.shed += 1
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", self.retry_after),
                        (b"content-length", str(len(_BODY)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _BODY})
            return
        # One event loop per worker: the counter needs no lock.
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
