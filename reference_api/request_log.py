"""An access log of every HTTP request the API received, for comparing with a load
generator's own count (Locust's statistics must hold exactly what the API received).

Off unless ``REFERENCE_API_REQUEST_LOG`` names a file. A pure ASGI middleware, outermost,
so it sees each request as it arrived (before a route rewrite or the load shedder) and its
final status: one tab-separated line per request — ``method``, ``path`` (no query),
``status`` (0: no response was sent), ``user-agent`` — appended with one ``write`` per
line to a file opened ``O_APPEND`` (uvicorn's worker processes may share it).
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENV_REQUEST_LOG = "REFERENCE_API_REQUEST_LOG"
COLUMNS = ("method", "path", "status", "user_agent")


class RequestLog:
    """Append one line per HTTP request to ``path``."""

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        self.app = app
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, seen)
        finally:
            agent = b""
            for k, v in scope.get("headers") or ():
                if k == b"user-agent":
                    agent = v
                    break
            line = "\t".join(
                (
                    scope["method"],
                    scope["path"],
                    str(status),
                    agent.decode("latin-1").replace("\t", " "),
                )
            )
            os.write(self._fd, (line + "\n").encode("utf-8", "replace"))


def read_request_log(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The log's lines as dicts of :data:`COLUMNS`."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == len(COLUMNS):
                out.append(dict(zip(COLUMNS, parts, strict=True)))
    return out
