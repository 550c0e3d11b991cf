"""What a target sees of an experiment: ``HttpShop`` with and without an arm, and the
director's target cycle with each user's arm, against a real loopback server.

Run as ``python -m tests.experiment_target_probe`` (its own process: importing locust
monkey-patches the standard library, which the pytest process must never do). Prints one
JSON object: every request the server saw (method, path, ``X-Experiment-Arm``).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from gevent.pywsgi import WSGIServer  # noqa: E402
from locust.contrib.fasthttp import FastHttpSession  # noqa: E402
from locust.env import Environment  # noqa: E402

from harness.agent.http_shop import HttpCounters, HttpShop  # noqa: E402
from harness.agent.rate_limit import TokenBucket  # noqa: E402
from harness.config.routes import RouteMap  # noqa: E402
from harness.control.target import TargetControl  # noqa: E402

SIM_NOW = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
ANSWERS = {
    ("GET", "/api/offers/wallet"): '{"items": []}',
    ("GET", "/cycles"): '{"items": []}',
    ("POST", "/cycles"): '{"id": 1, "cycle_number": 0}',
}


def main() -> int:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        seen.append({"method": method, "path": path, "arm": environ.get("HTTP_X_EXPERIMENT_ARM")})
        body = ANSWERS.get((method, path), '{"status": "assigned"}')
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body.encode()]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    url = f"http://127.0.0.1:{server.server_port}"
    env = Environment()
    out: dict[str, Any] = {}
    for name, arm in (("agent_with_arm", "deeper"), ("agent_without_arm", None)):
        seen.clear()
        shop = HttpShop(
            client=FastHttpSession(base_url=url, request_event=env.events.request, user=None),
            agent_id=42, sim_now=lambda: SIM_NOW, bucket=TokenBucket(0), catalog=None,
            browse_via_api=True, counters=HttpCounters(), arm=arm,
        )  # fmt: skip
        shop.wallet()
        for method, arg in (("cart_add", 7), ("checkout", "k")):
            try:  # what the answer holds does not matter here, only what was sent
                getattr(shop, method)(arg)
            except (KeyError, TypeError, ValueError):
                pass
        out[name] = list(seen)
    seen.clear()
    control = TargetControl(env, url, RouteMap())
    done, info = control.run_cycle(
        cycle_number=0, sim_t=SIM_NOW, user_ids=[101, 102, 103],
        arms={101: "current", 102: "deeper", 103: "current"},
    )  # fmt: skip
    out["cycle"] = {"seen": list(seen), "done": done, "info": info}
    server.stop()
    json.dump(out, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
