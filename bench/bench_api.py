"""Request rate of the reference API's main endpoints, served for real.

Starts an embedded Postgres (its own database), seeds the synthetic catalog and 372 sample
personas, fills their wallets through the API (one cycle, ``/api/offers/assign``), starts
``python -m reference_api`` as a subprocess, then drives each endpoint for a few seconds with
an asyncio httpx client keeping ``--concurrency`` requests in flight, spread over all agents.

Prints, per endpoint: requests/s, p50/p95/p99 latency, errors, and the server's CPU time
per request (user+sys of the server process tree — a figure that does not depend on how
busy the rest of the machine is).

    .venv/bin/python bench/bench_api.py [--workers 1] [--concurrency 32] [--seconds 8]
    .venv/bin/python bench/bench_api.py --smoke    # seconds: every endpoint once; exit 1 on errors
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._smoke import add_smoke  # noqa: E402

SIM_TIME = "2026-03-02T10:00:00+00:00"


def _cpu_seconds(pid: int) -> float:
    """user+sys CPU of ``pid`` and its live children (uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return total


def _prepare_database(home: Path, agents: int, db_url: str | None) -> str:
    from db import migrate
    from db.engine import create_db_engine
    from personas.catalog import generate_catalog, seed_catalog
    from personas.sample import generate_personas
    from personas.seed import seed_personas

    if db_url:
        url = db_url
    else:
        from db.embedded import EmbeddedPostgres

        server = EmbeddedPostgres(home / "pg", database="postgres")
        url = server.create_database("bench_api", drop_first=True)
    migrate.upgrade(url)
    engine = create_db_engine(url, total_connections=2)
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=1))
        seed_personas(conn, personas=generate_personas(agents, seed=1))
    engine.dispose()
    return url


def _start_server(
    url: str, workers: int, db_connections: int, log: Path
) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, DATABASE_URL=url, SIMULATION_MODE="true")
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_api", "--port", "0", "--workers", str(workers)]
        + ["--db-connections", str(db_connections)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log.read_text())
        if m:
            base = f"http://127.0.0.1:{m.group(1)}"
            for _ in range(100):
                try:
                    if httpx.get(base + "/health").status_code == 200:
                        return proc, base
                except httpx.HTTPError:
                    time.sleep(0.1)
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not start:\n{log.read_text()}")


Request = Callable[[httpx.AsyncClient, int, random.Random], "asyncio.Future"]


async def _drive(
    base: str, agents: list[int], products: list[dict], make, concurrency: int, seconds: float
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(wid: int) -> None:
            nonlocal errors
            rng = random.Random(wid)
            n = 0
            while time.perf_counter() < stop:
                agent = agents[(wid + n * concurrency) % len(agents)]
                n += 1
                hdrs = {"Authorization": f"Bearer dev:{agent}", "X-Simulated-Time": SIM_TIME}
                for method, path, body in make(agent, rng, products):
                    t0 = time.perf_counter()
                    r = await client.request(method, path, json=body, headers=hdrs)
                    latencies.append(time.perf_counter() - t0)
                    if r.status_code >= 500 or r.status_code in (401, 404, 422):
                        errors += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return len(latencies), latencies, errors


def _scenarios() -> dict[str, Callable]:
    def one(method, path, body=None):
        return lambda agent, rng, products: [(method, path, body)]

    def add(agent, rng, products):
        return [
            ("POST", "/api/cart/add", {"product_id": rng.choice(products)["id"], "quantity": 1})
        ]

    def products_page(agent, rng, products):
        cat = rng.choice(products)["category"]
        return [("GET", f"/api/products?category={cat}&limit=50", None)]

    def checkout(agent, rng, products):
        key = f"bench-{agent}-{rng.random()}"
        return [
            ("POST", "/api/cart/add", {"product_id": rng.choice(products)["id"], "quantity": 2}),
            ("POST", "/api/orders/checkout", {"idempotency_key": key}),
        ]

    def session(agent, rng, products):
        """One shopping session as the harness runs it (~6 calls)."""
        picks = rng.sample(products, 3)
        return [
            ("GET", "/api/offers/wallet", None),
            *[("POST", "/api/cart/add", {"product_id": p["id"], "quantity": 1}) for p in picks],
            ("GET", "/api/cart", None),
            ("POST", "/api/orders/checkout", {"idempotency_key": f"s-{agent}-{rng.random()}"}),
        ]

    return {
        "GET /health": lambda a, r, p: [("GET", "/health", None)],
        "GET /api/products": products_page,
        "GET /api/cart": one("GET", "/api/cart"),
        "GET /api/offers/wallet": one("GET", "/api/offers/wallet"),
        "POST /api/cart/add": add,
        "add+checkout": checkout,
        "session (6 calls)": session,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--agents", type=int, default=372)
    ap.add_argument("--db-connections", type=int, default=16)
    ap.add_argument("--only", default=None, help="run only scenarios containing this text")
    add_smoke(ap, db_url=True)
    args = ap.parse_args()
    if args.smoke:
        args.concurrency, args.seconds, args.agents, args.db_connections = 2, 0.2, 10, 2
    failed = 0

    home = Path(os.environ.get("LOADSIM_HOME") or tempfile.mkdtemp(prefix="bench_api_"))
    t0 = time.perf_counter()
    url = _prepare_database(home, args.agents, args.db_url)
    proc, base = _start_server(url, args.workers, args.db_connections, home / "server.log")
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            c.post("/time/advance", json={"simulated_time": SIM_TIME})
            c.post("/cycles")
            from sqlalchemy import text

            from db.engine import create_db_engine

            eng = create_db_engine(url, total_connections=1)
            with eng.connect() as conn:
                agents = list(conn.execute(text("SELECT id FROM agents ORDER BY id")).scalars())
            eng.dispose()
            filled = sum(
                c.post(
                    "/api/offers/assign",
                    headers={"Authorization": f"Bearer dev:{a}", "X-Simulated-Time": SIM_TIME},
                ).json()["assigned"]
                for a in agents
            )
            hdr = {"Authorization": f"Bearer dev:{agents[0]}"}
            products = c.get("/api/products?limit=200", headers=hdr).json()["items"]
        print(
            f"setup {time.perf_counter() - t0:.1f}s: {len(agents)} agents, {len(products)} "
            f"products, {filled} coupons assigned; workers={args.workers} "
            f"concurrency={args.concurrency} db-connections={args.db_connections} cores={os.cpu_count()}"
        )
        print(
            f"{'endpoint':24} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'srv CPU ms/req':>15}"
        )
        for name, make in _scenarios().items():
            if args.only and args.only not in name:
                continue
            cpu0 = _cpu_seconds(proc.pid)
            w0 = time.perf_counter()
            n, lat, errors = asyncio.run(
                _drive(base, agents, products, make, args.concurrency, args.seconds)
            )
            wall = time.perf_counter() - w0
            cpu = _cpu_seconds(proc.pid) - cpu0
            lat.sort()
            q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
            print(
                f"{name:24} {n / wall:8.0f} {q[49] * 1e3:8.1f} {q[94] * 1e3:8.1f} "
                f"{q[98] * 1e3:8.1f} {errors:7d} {cpu / max(n, 1) * 1e3:15.2f}"
            )
            failed += errors
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    if args.smoke and failed:
        print(f"smoke: {failed} requests failed (see {home / 'server.log'})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
