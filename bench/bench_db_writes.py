"""Behavior events written per second with per-agent commits.

    .venv/bin/python bench/bench_db_writes.py                          # quick: ~1 min
    .venv/bin/python bench/bench_db_writes.py --compare-old --concurrency 10,40
    .venv/bin/python bench/bench_db_writes.py --smoke    # seconds, both finishes: it runs

The harness's own ``Recorder`` (what every worker uses) against a fresh database on its own
embedded Postgres: each shopping hour is claimed (``agent_hours`` + an ``active`` session,
one transaction) and finished (its events, the session's and the hour's outcome, one
transaction) — two commits per agent-hour, as in a run. The hours are real graph runs
(synthetic personas, in-memory shop) made before the clock starts, so only the writes are
timed. ``--concurrency`` greenlets share one engine of ``--db-connections`` connections
(gevent patches before psycopg is imported, as ``import locust`` does in a worker). Quiet
hours go through the bulk ``flush`` and are reported separately.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from gevent.pool import Pool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")

from bench._harness_run import machine  # noqa: E402
from bench._smoke import add_smoke  # noqa: E402

SAT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sessions", type=int, default=1500, help="shopping hours written per row")
    ap.add_argument("--concurrency", default="10,40", help="comma-separated greenlet counts")
    ap.add_argument("--db-connections", type=int, default=40, help="the engine's pool (default)")
    ap.add_argument("--agents", type=int, default=400)
    ap.add_argument("--quiet-hours", type=int, default=20000)
    ap.add_argument(
        "--compare-old", action="store_true",
        help="also run the pre-issue-10 finish (executemany per event), alternating",
    )  # fmt: skip
    ap.add_argument(
        "--synchronous-commit", default="on", choices=["on", "off"],
        help="Postgres synchronous_commit for the writers' sessions (what bounds the rate)",
    )  # fmt: skip
    ap.add_argument(
        "--compare-claim", action="store_true",
        help="also run the three-statement claim (hour, session, link), alternating",
    )  # fmt: skip
    add_smoke(ap, db_url=True)
    a = ap.parse_args(argv)
    if a.smoke:
        a.sessions, a.concurrency, a.db_connections, a.agents = 10, "2", 4, 20
        a.quiet_hours, a.compare_old, a.compare_claim = 50, True, True
    return a


def make_hours(n: int, agents: list[tuple[int, object]]) -> list[tuple[int, int, datetime, object]]:
    """``n`` shopping/idle hours from real graph runs: (agent_id, sim_hour, slot, result)."""
    from behaviors.graph import compile_shopping_graph
    from behaviors.memory_shop import InMemoryShop
    from behaviors.run import run_agent_hour
    from behaviors.synthetic import make_catalog, weekly_wallet

    graph = compile_shopping_graph()
    products = make_catalog()
    out = []
    hour = 0
    while len(out) < n:
        slot = SAT + timedelta(hours=hour, minutes=17)
        for agent_id, p in agents:
            shop = InMemoryShop(products, weekly_wallet(p, hour // 168))  # type: ignore[arg-type]
            r = run_agent_hour(
                p, run_seed=1, sim_hour=hour, slot_time=slot, shop=shop,  # type: ignore[arg-type]
                checkout_key=f"b:{agent_id}:{hour}", graph=graph,
            )  # fmt: skip
            if r.decision != "none":
                out.append((agent_id, hour, slot, r))
        hour += 1
    return out[:n]


_OLD_EVENTS = """
    INSERT INTO shopping_session_events
        (session_id, seq, run_id, agent_id, event_type, product_id, user_coupon_id, quantity,
         price_cents, sim_time, payload, is_replay)
    VALUES (:session_id, :seq, :run_id, :agent_id, :event_type, :product_id, :user_coupon_id,
            :quantity, :price_cents, :sim_time, CAST(:payload AS jsonb), :is_replay)
    ON CONFLICT (session_id, seq) DO NOTHING
"""
_OLD_END = (
    "UPDATE shopping_sessions SET status = :status, ended_sim_at = :ended, ended_at = now(), "
    "item_count = :items WHERE id = :sid",
    "UPDATE agent_hours SET outcome = :outcome, slip_seconds = 0, finished_at = now() "
    "WHERE run_id = :run_id AND agent_id = :agent_id AND sim_hour = :sim_hour",
)


def old_recorder(engine: object, run_id: str) -> object:
    """The Recorder with the finish it had before (one executemany row per event,
    then two UPDATEs): the "before" of the one-statement finish, measured in the same run."""
    import json

    from sqlalchemy import text

    from harness.agent.recorder import Recorder

    class OldFinish(Recorder):
        def finish(self, *, agent_id, sim_hour, session_id, result, slip_s, is_replay, **_):  # type: ignore[no-untyped-def, override]  # noqa: E501
            events = [
                dict(session_id=session_id, seq=i, run_id=self.run_id, agent_id=agent_id,
                     event_type=e.event_type, product_id=e.product_id,
                     user_coupon_id=e.user_coupon_id, quantity=e.quantity,
                     price_cents=e.price_cents, sim_time=e.sim_time,
                     payload=json.dumps(e.payload, default=str), is_replay=is_replay)
                for i, e in enumerate(result.events)
            ]  # fmt: skip
            key = dict(run_id=self.run_id, agent_id=agent_id, sim_hour=sim_hour)
            end = dict(sid=session_id, status="completed", items=result.item_count,
                       ended=events[-1]["sim_time"] if events else None)  # fmt: skip

            def work() -> None:
                with self.engine.begin() as conn:
                    if events:
                        conn.execute(text(_OLD_EVENTS), events)
                    conn.execute(text(_OLD_END[0]), end)
                    conn.execute(text(_OLD_END[1]), dict(key, outcome=result.outcome))

            self._timed("session_commit", work)

    return OldFinish(engine, run_id=run_id, worker="bench")  # type: ignore[arg-type]


_OLD_CLAIM = """
    INSERT INTO agent_hours (run_id, agent_id, sim_hour, decision, outcome, worker, is_replay)
    VALUES (:run_id, :agent_id, :sim_hour, :decision, 'pending', :worker, :is_replay)
    ON CONFLICT DO NOTHING
    RETURNING sim_hour
"""


def old_claim_recorder(engine: object, run_id: str) -> object:
    """The Recorder with the claim it had before (the hour, its session, the link: three
    statements in one transaction): the "before" of the one-statement claim."""
    from sqlalchemy import text

    from harness.agent import recorder as r

    class OldClaim(r.Recorder):
        def claim(self, *, agent_id, sim_hour, decision, sim_at, is_replay, token):  # type: ignore[no-untyped-def, override]  # noqa: E501
            params = dict(run_id=self.run_id, agent_id=agent_id, sim_hour=sim_hour,
                          decision=decision, worker=f"{self.worker}/{token}", is_replay=is_replay)  # fmt: skip

            def work() -> int | None:
                with self.engine.begin() as conn:
                    if conn.execute(text(_OLD_CLAIM), params).first() is None:
                        return None
                    sid = conn.execute(
                        r._SESSION,
                        dict(params, kind="shop" if decision == "shop" else "idle_browse",
                             sim_at=sim_at, arm=None),
                    ).scalar_one()  # fmt: skip
                    conn.execute(r._LINK, dict(params, sid=sid))
                    return int(sid)

            return self._timed("claim_hour", work)

    return OldClaim(engine, run_id=run_id, worker="bench")  # type: ignore[arg-type]


def write_all(recorder: object, hours: list, concurrency: int) -> float:
    """Claim + finish every hour with ``concurrency`` greenlets; returns elapsed seconds."""
    from harness.agent.hour import ending_of

    def one(item: tuple) -> None:
        agent_id, hour, slot, r = item
        sid = recorder.claim(  # type: ignore[attr-defined]
            agent_id=agent_id, sim_hour=hour, decision=r.decision, sim_at=slot,
            is_replay=False, token="bench",
        )  # fmt: skip
        recorder.finish(  # type: ignore[attr-defined]
            agent_id=agent_id, sim_hour=hour, session_id=sid, result=r, slip_s=0.0,
            is_replay=False, **ending_of(r),
        )  # fmt: skip

    pool = Pool(concurrency)
    t0 = time.perf_counter()
    for item in hours:
        pool.spawn(one, item)
    pool.join(raise_error=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    from sqlalchemy import text

    from behaviors.synthetic import random_personas
    from db import migrate
    from db.embedded import EmbeddedPostgres
    from db.engine import create_db_engine
    from harness.agent.gevent_guard import ensure_gevent_safe_psycopg
    from harness.agent.recorder import Recorder
    from personas.catalog import generate_catalog, seed_catalog
    from personas.seed import seed_personas

    ensure_gevent_safe_psycopg()
    print(f"# bench_db_writes — {machine()}")
    print(f"# command: {' '.join(sys.argv)}", flush=True)
    home = Path(tempfile.mkdtemp(prefix="loadsim-dbw-"))
    pg = None
    try:
        if a.db_url:
            url = a.db_url
        else:
            pg = EmbeddedPostgres(home / "pg")
            url = pg.create_database("bench_writes", drop_first=True)
        migrate.upgrade(url)
        engine = create_db_engine(url, total_connections=a.db_connections)
        if a.synchronous_commit == "off":
            from sqlalchemy import event

            @event.listens_for(engine, "connect")
            def _async_commit(dbapi_conn, _rec):  # type: ignore[no-untyped-def]
                with dbapi_conn.cursor() as cur:
                    cur.execute("SET synchronous_commit = off")
                dbapi_conn.commit()

        personas = random_personas(a.agents, seed=3)
        with engine.begin() as conn:
            seed_catalog(conn, data=generate_catalog(seed=42))
            seed_personas(conn, personas=personas)
            ids = dict(conn.execute(text("SELECT persona_id, id FROM agents")).all())
        agents = [(int(ids[p.persona_id]), p) for p in personas]
        t0 = time.perf_counter()
        hours = make_hours(a.sessions, agents)
        gen_s = time.perf_counter() - t0
        n_events = sum(len(r.events) for *_, r in hours)
        print(
            f"# {len(hours):,} shopping/idle hours from the graph ({n_events:,} events, "
            f"{n_events / len(hours):.1f} per hour) made in {gen_s:.1f} s; engine pool "
            f"{a.db_connections} connections; synchronous_commit {a.synchronous_commit}"
        )
        print(
            "| finish | greenlets | agent-hours | events | seconds | events/s | agent-hours/s "
            "| client CPU ms per hour |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        variants = ["one statement"]
        variants += ["old executemany"] if a.compare_old else []
        variants += ["3-statement claim"] if a.compare_claim else []
        combos = [(v, int(c)) for c in a.concurrency.split(",") for v in variants]
        for i, (variant, conc) in enumerate(combos):
            run_id = f"bench-writes-{i}"
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES (:r, 168, 1)"
                    ),
                    {"r": run_id},
                )
            if variant == "old executemany":
                rec = old_recorder(engine, run_id)
            elif variant == "3-statement claim":
                rec = old_claim_recorder(engine, run_id)
            else:
                rec = Recorder(engine, run_id=run_id, worker="bench")
            c0 = time.process_time()
            secs = write_all(rec, hours, conc)
            cpu_ms = 1000 * (time.process_time() - c0) / len(hours)
            print(
                f"| {variant} | {conc} | {len(hours):,} | {n_events:,} | {secs:.2f} | "
                f"{n_events / secs:,.0f} | {len(hours) / secs:,.0f} | {cpu_ms:.2f} |",
                flush=True,
            )
        # Quiet hours (no shopping; ~98 % of agent-hours): buffered, one statement a flush.
        run_id = "bench-quiet"
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES (:r, 168, 1)"),
                {"r": run_id},
            )
        rec = Recorder(engine, run_id=run_id, worker="bench")
        per_flush = 5000
        t0 = time.perf_counter()
        written = 0
        for k in range(a.quiet_hours):
            agent_id = agents[k % len(agents)][0]
            rec.quiet(agent_id=agent_id, sim_hour=k // len(agents), decision="none",
                      slip_s=0.01, is_replay=False)  # fmt: skip
            if (k + 1) % per_flush == 0:
                written += rec.flush()
        written += rec.flush()
        secs = time.perf_counter() - t0
        print(
            f"quiet hours: {written:,} rows in {secs:.2f} s = {written / secs:,.0f} rows/s "
            f"(flushes of {per_flush:,})"
        )
        engine.dispose()
    finally:
        if pg is not None:
            pg.stop()
        gevent.sleep(0)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
