"""Where master control talks to the target API itself (not as an agent): the ``/health``
probe that detects an outage and ``POST /time/advance`` each simulated hour. An agent's own
requests go through :class:`harness.agent.http_shop.HttpShop` instead."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any


def probe_health(api_url: str, timeout: float = 3.0) -> tuple[bool, str]:
    """``GET /health``: (healthy, detail). Unreachable, a timeout or a 5xx is unhealthy."""
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as r:  # noqa: S310
            return (r.status < 500, f"HTTP {r.status}")
    except urllib.error.HTTPError as exc:
        return (exc.code < 500, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        return (False, f"unreachable: {getattr(exc, 'reason', exc)}")


_time_client: Any = None


def post_time_advance(environment: Any, api_url: str | None, sim_t: datetime) -> bool:
    """``POST /time/advance`` so servers that keep the time themselves follow the run."""
    global _time_client
    if not api_url:
        return False
    from locust.contrib.fasthttp import FastHttpSession

    if _time_client is None:
        _time_client = FastHttpSession(
            base_url=api_url, request_event=environment.events.request, user=None,
            network_timeout=10.0, connection_timeout=5.0,
        )  # fmt: skip
    body = json.dumps({"simulated_time": sim_t.isoformat()})
    with _time_client.post(
        "/time/advance", data=body, name="/time/advance", catch_response=True,
        headers={"Content-Type": "application/json", "X-Simulated-Time": sim_t.isoformat()},
    ) as resp:  # fmt: skip
        if resp.status_code == 200:
            return True
        resp.failure(f"{resp.status_code}")
        return False
