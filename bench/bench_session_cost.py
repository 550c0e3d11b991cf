"""Client CPU per shopping session, layer by layer, against a plain ``FastHttpSession``
issuing the same requests (the end-to-end view is bench_overhead.py).

    .venv/bin/python bench/bench_session_cost.py                # quick: ~2 min
    .venv/bin/python bench/bench_session_cost.py --sessions 2000 --concurrency 50
    .venv/bin/python bench/bench_session_cost.py --smoke      # seconds: it runs, no figures

In one process (gevent-patched first, like a Locust worker), on pre-selected agent-hours
whose decision is *shop* or *idle browse* (so every unit measured is a session, none of the
no-shopping hours that dominate a run's CPU and blur a subtraction):

- ``mock``: ``run_agent_hour`` through the compiled graph with ``InMemoryShop``;
- ``http``: the same through ``HttpShop`` over ``FastHttpSession`` (shared connection pools,
  the harness's headers, JSON, stable names) to the loopback server (its own process);
- ``http+db``: plus the ``Recorder``'s claim and finish (two per-agent commits) on a fresh
  database of its own embedded Postgres (the server's CPU is not this process's);
- ``plain``: ``FastHttpSession.request`` replaying the requests run ``http`` made (the
  server recorded them), with the same headers and bodies, nothing else.

CPU is ``time.process_time()`` over each batch (``--concurrency`` greenlets), per session.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from gevent.pool import Pool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")

import locust  # noqa: E402,F401  (what a worker imports first)

from bench._harness_run import machine  # noqa: E402
from bench._smoke import add_smoke  # noqa: E402
from bench.bench_overhead import Loopback  # noqa: E402

SAT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
SEED = 42


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sessions", type=int, default=600)
    ap.add_argument("--agents", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2, help="best of N per layer")
    ap.add_argument("--skip-db", action="store_true")
    ap.add_argument(
        "--profile", choices=("mock", "http", "http+db"), default=None,
        help="after the figures, one more pass of this layer under cProfile: the top functions",
    )  # fmt: skip
    add_smoke(ap, db_url=True)
    a = ap.parse_args(argv)
    if a.smoke:  # every layer once on a handful of sessions: proves the bench runs
        a.sessions, a.agents, a.concurrency, a.repeat = 12, 30, 4, 1
    return a


def _pick_hours(personas: list[Any], n: int) -> list[tuple[Any, int, datetime]]:
    from behaviors.rhythm import decide_shop
    from behaviors.run import hour_rng

    out: list[tuple[Any, int, datetime]] = []
    h = 0
    while len(out) < n:
        slot = SAT + timedelta(hours=h, minutes=17)
        for p in personas:
            if decide_shop(p, sim_time=slot, rng=hour_rng(SEED, p.persona_id, h)).kind != "none":
                out.append((p, h, slot))
        h += 1
    return out[:n]


def _batch(items: list[Any], fn: Any, concurrency: int) -> float:
    """Run ``fn`` over ``items`` with ``concurrency`` greenlets; CPU seconds used."""
    pool = Pool(concurrency)
    c0 = time.process_time()
    for it in items:
        pool.spawn(fn, it)
    pool.join(raise_error=True)
    return time.process_time() - c0


class Layers:
    """Builds each layer's per-session function from the harness's own parts."""

    def __init__(self, a: argparse.Namespace, url: str, agent_ids: dict[str, int]) -> None:
        from geventhttpclient.client import HTTPClientPool
        from locust.env import Environment

        from behaviors.graph import compile_shopping_graph
        from harness.agent.catalog_cache import CatalogCache
        from harness.agent.http_shop import HttpCounters
        from harness.agent.rate_limit import TokenBucket
        from personas.catalog import generate_catalog

        self.env = Environment()
        self.url = url
        self.graph = compile_shopping_graph()
        self.catalog = CatalogCache.from_generated(generate_catalog(seed=SEED))
        self.pools = [HTTPClientPool(concurrency=10) for _ in range(10)]
        self.bucket = TokenBucket(0)
        self.counters = HttpCounters()
        self.agent_ids = agent_ids
        self.recorder: Any = None
        self.run_no = 0

    def _hour(self, item: tuple[Any, int, datetime], shop: Any) -> Any:
        from behaviors.run import run_agent_hour

        p, h, slot = item
        return run_agent_hour(
            p, run_seed=SEED, sim_hour=h, slot_time=slot, shop=shop,
            checkout_key=f"{self.run_no}:{p.persona_id}:{h}", graph=self.graph,
        )  # fmt: skip

    def mock(self, item: tuple[Any, int, datetime]) -> None:
        from behaviors.memory_shop import InMemoryShop
        from harness.agent.mock_wallet import mock_wallet

        p = item[0]
        store = self.catalog.stores.get(p.preferred_store)
        self._hour(item, InMemoryShop(self.catalog.products, mock_wallet(p, SEED), store_id=store))

    def _http_shop(self, p: Any) -> Any:
        from locust.contrib.fasthttp import FastHttpSession

        from harness.agent.http_shop import HttpShop
        from harness.agent.user import http_pool_index

        client = FastHttpSession(
            base_url=self.url, request_event=self.env.events.request, user=None,
            client_pool=self.pools[http_pool_index(p.persona_id, len(self.pools))],
            network_timeout=30.0, connection_timeout=10.0,
        )  # fmt: skip
        return HttpShop(
            client=client, agent_id=self.agent_ids[p.persona_id], sim_now=lambda: SAT,
            bucket=self.bucket, catalog=self.catalog, browse_via_api=False,
            counters=self.counters, default_store_id=self.catalog.stores.get(p.preferred_store),
        )  # fmt: skip

    def http(self, item: tuple[Any, int, datetime]) -> None:
        self._hour(item, self._http_shop(item[0]))

    def http_db(self, item: tuple[Any, int, datetime]) -> None:
        from harness.agent.hour import ending_of

        p, h, slot = item
        agent_id = self.agent_ids[p.persona_id]
        rec = self.recorder
        sid = rec.claim(agent_id=agent_id, sim_hour=h, decision="shop", sim_at=slot,
                        is_replay=False, token="b")  # fmt: skip
        r = self._hour(item, self._http_shop(p))
        rec.finish(agent_id=agent_id, sim_hour=h, session_id=sid, result=r, slip_s=0.0,
                   is_replay=False, **ending_of(r))  # fmt: skip

    def plain(self, seq: list[dict[str, Any]]) -> None:
        from locust.contrib.fasthttp import FastHttpSession

        client = FastHttpSession(
            base_url=self.url, request_event=self.env.events.request, user=None,
            client_pool=self.pools[0],
        )  # fmt: skip
        for r in seq:
            headers = {"Authorization": r["agent"], "X-Simulated-Time": r["sim"] or "",
                       "Content-Type": "application/json"}  # fmt: skip
            client.request(r["method"], r["path"], data=r["body"], headers=headers)


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one linear script
    a = _args(argv)
    from sqlalchemy import text

    from personas.sample import generate_personas

    print(f"# bench_session_cost — {machine()}")
    print(f"# command: {' '.join(sys.argv)}", flush=True)
    personas = generate_personas(a.agents, seed=7)
    items = _pick_hours(personas, a.sessions)
    work = Path(tempfile.mkdtemp(prefix="loadsim-sc-"))
    rec_path = work / "requests.jsonl"
    pg = None
    cpu: dict[str, float] = {}
    n_requests = 0
    try:
        agent_ids = {p.persona_id: i + 1 for i, p in enumerate(personas)}
        if not a.skip_db:
            from db import migrate
            from db.embedded import EmbeddedPostgres
            from db.engine import create_db_engine
            from harness.agent.gevent_guard import ensure_gevent_safe_psycopg
            from harness.agent.recorder import Recorder
            from personas.catalog import generate_catalog, seed_catalog
            from personas.seed import seed_personas

            ensure_gevent_safe_psycopg()
            if a.db_url:
                url = a.db_url
            else:
                pg = EmbeddedPostgres(work / "pg")
                url = pg.create_database("bench_session", drop_first=True)
            migrate.upgrade(url)
            engine = create_db_engine(url, total_connections=40)
            with engine.begin() as conn:
                seed_catalog(conn, data=generate_catalog(seed=SEED))
                seed_personas(conn, personas=personas)
                agent_ids = dict(conn.execute(text("SELECT persona_id, id FROM agents")).all())
        server = Loopback(record=rec_path)
        try:
            layers = Layers(a, server.url, agent_ids)
            layers.run_no = 0
            cpu["http"] = _batch(items, layers.http, a.concurrency)  # recorded once
        finally:
            server.stop()
        seqs: dict[str, list[dict[str, Any]]] = {}
        with open(rec_path) as f:
            for line in f:
                r = json.loads(line)
                seqs.setdefault(r["agent"], []).append(r)
                n_requests += 1
        server = Loopback(record=None)
        try:
            layers.url = server.url
            for rep in range(a.repeat):
                layers.run_no = rep + 1
                cpu["mock"] = min(cpu.get("mock", 1e9), _batch(items, layers.mock, a.concurrency))
                if rep:
                    cpu["http"] = min(cpu["http"], _batch(items, layers.http, a.concurrency))
                cpu["plain"] = min(
                    cpu.get("plain", 1e9), _batch(list(seqs.values()), layers.plain, a.concurrency)
                )
                if not a.skip_db:
                    run_id = f"sc-{rep}"
                    with engine.begin() as conn:
                        conn.execute(
                            text("INSERT INTO simulation_runs (run_id, time_scale, seed) "
                                 "VALUES (:r, 168, 1)"), {"r": run_id},
                        )  # fmt: skip
                    layers.recorder = Recorder(engine, run_id=run_id, worker="bench")
                    cpu["http+db"] = min(
                        cpu.get("http+db", 1e9), _batch(items, layers.http_db, a.concurrency)
                    )
            if a.profile:
                _profile(a, items, layers, engine if not a.skip_db else None)
        finally:
            server.stop()
        if not a.skip_db:
            engine.dispose()
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(cpu, n_sessions=len(items), n_requests=n_requests, a=a)
    return 0


def _profile(a: argparse.Namespace, items: list[Any], layers: Layers, engine: Any) -> None:
    """One more pass of ``a.profile``'s layer under cProfile (every greenlet of the thread)."""
    import cProfile
    import pstats

    from sqlalchemy import text

    fn = {"mock": layers.mock, "http": layers.http, "http+db": layers.http_db}[a.profile]
    if a.profile == "http+db":
        from harness.agent.recorder import Recorder

        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES ('sc-p', 168, 1)"
                )
            )
        layers.recorder = Recorder(engine, run_id="sc-p", worker="bench")
    layers.run_no = a.repeat + 1
    prof = cProfile.Profile()
    prof.enable()
    _batch(items, fn, a.concurrency)
    prof.disable()
    stats = pstats.Stats(prof, stream=sys.stdout)
    print(f"# cProfile of {a.profile}, {len(items)} sessions (profiler overhead included)")
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def report(cpu: dict[str, float], *, n_sessions: int, n_requests: int, a: Any) -> None:
    """Print per-session CPU per layer and the ratios to plain."""
    per_req = n_requests / n_sessions
    plain_ms = 1000 * cpu["plain"] / n_sessions
    print(
        f"# {n_sessions:,} sessions (shop + idle-browse hours) of {a.agents:,} generated personas, "
        f"{n_requests:,} HTTP requests ({per_req:.1f} per session), {a.concurrency} greenlets, "
        f"best of {a.repeat}"
    )
    print("| layer | CPU ms / session | × plain | overhead ratio (plain ÷ layer) |")
    print("|---|---:|---:|---:|")
    print(f"| plain FastHttpSession (same requests) | {plain_ms:.2f} | 1.00 | 1.000 |")
    for name in ("mock", "http", "http+db"):
        if name in cpu:
            ms = 1000 * cpu[name] / n_sessions
            print(f"| {name} | {ms:.2f} | {ms / plain_ms:.2f} | {plain_ms / ms:.3f} |")
    print(f"plain: {1000 * cpu['plain'] / n_requests:.3f} CPU ms per request")
    ms = {k: 1000 * v / n_sessions for k, v in cpu.items()}
    if "mock" in ms and "http" in ms:  # what each layer adds, against the ≤ 3× budget
        parts = [f"graph + in-memory shop {ms['mock']:.2f}", f"HTTP {ms['http'] - ms['mock']:.2f}"]
        if "http+db" in ms:
            parts.append(f"DB writes {ms['http+db'] - ms['http']:.2f}")
        print(f"per layer (CPU ms / session): {', '.join(parts)}; ≤ 3× is {3 * plain_ms:.2f}")


if __name__ == "__main__":
    sys.exit(main())
