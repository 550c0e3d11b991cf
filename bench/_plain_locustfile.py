"""The baseline for bench_overhead.py: a plain Locust ``FastHttpUser`` replaying the exact
request sequences the harness sent (recorded by ``_loopback_api.py --record``).

    BENCH_SEQUENCES=recorded.jsonl locust -f bench/_plain_locustfile.py --headless \\
        -H http://127.0.0.1:PORT -u 20 -r 20 -t 30s

Each user takes one recorded agent's requests at a time (round robin over the agents) and
issues them back to back with the same headers, bodies and request names as the harness,
checking only the status code: what any plain Locust test does per request, nothing more.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import defaultdict

from locust import FastHttpUser, constant, task


def _sequences() -> list[list[dict]]:
    by_agent: dict[str, list[dict]] = defaultdict(list)
    with open(os.environ["BENCH_SEQUENCES"]) as f:
        for line in f:
            r = json.loads(line)
            by_agent[r["agent"]].append(r)
    return list(by_agent.values())


def _name(method: str, path: str) -> str:
    # The harness's stable names (http_shop.py), so the stats rows line up.
    if path.startswith("/api/products"):
        return "/api/products?…"
    if path.startswith("/api/offers/") and path.endswith("/view"):
        return "/api/offers/{id}/view"
    return path


_SEQS = _sequences()
_NEXT = itertools.cycle(range(len(_SEQS)))


class ReplayUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def replay(self) -> None:
        for r in _SEQS[next(_NEXT)]:
            headers = {
                "Authorization": r["agent"],
                "X-Simulated-Time": r["sim"] or "",
                "Content-Type": "application/json",
            }
            with self.client.request(
                r["method"], r["path"], name=_name(r["method"], r["path"]), data=r["body"],
                headers=headers, catch_response=True,
            ) as resp:  # fmt: skip
                if resp.status_code and resp.status_code < 500:
                    resp.success()  # 4xx/409 are business refusals the harness saw too
