"""Memory and time of a run's training dataset (``reports.dataset``) on a large run:
10,000 agents x 4 simulated weeks by default, written into a fresh embedded Postgres.

    flock /tmp/heavy.lock .venv/bin/python bench/bench_dataset.py [--agents 10000] [--weeks 4]

The run's rows are generated in SQL with the shape a ``--mock-api`` run leaves: every
agent-hour (about 1.5 % shop, 1 % idle browse, the rest ``none``), a session per visit,
events per session (session_start, views with the browse payload, cart adds, the
checkout decision), orders with lines for 70 % of shopping sessions. The writer then runs
in a child process of its own, so its peak RSS (``VmHWM``) is the writer's alone; the
child's RSS after its imports, before writing, is printed alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

from bench._smoke import add_smoke  # noqa: E402

SIM_START = "2026-01-05T00:00:00+00:00"  # a Monday

_HOURS = """
INSERT INTO agent_hours (run_id, agent_id, sim_hour, decision, outcome, slip_seconds, worker)
SELECT 'big', id, h,
  CASE WHEN r < 0.015 THEN 'shop' WHEN r < 0.025 THEN 'idle' ELSE 'none' END,
  CASE WHEN r < 0.0105 THEN 'completed' WHEN r < 0.015 THEN 'abandoned'
       WHEN r < 0.025 THEN 'idle' ELSE 'none' END,
  0.01, 'w' || (id % 4)
FROM (SELECT a.id, h, random() AS r
      FROM agents a CROSS JOIN generate_series(0, :hours - 1) AS h) AS x
"""
_SESSIONS = """
INSERT INTO shopping_sessions (run_id, agent_id, sim_hour, kind, status, started_sim_at,
                               ended_sim_at, item_count, cart_value_cents)
SELECT run_id, agent_id, sim_hour, CASE WHEN decision = 'shop' THEN 'shop' ELSE 'idle_browse' END,
  CASE outcome WHEN 'completed' THEN 'completed' ELSE 'abandoned' END,
  CAST(:start AS timestamptz) + sim_hour * interval '1 hour' + interval '17 minutes',
  CAST(:start AS timestamptz) + sim_hour * interval '1 hour' + interval '29 minutes',
  CASE WHEN decision = 'shop' THEN 6 ELSE 0 END, CASE WHEN decision = 'shop' THEN 4200 ELSE 0 END
FROM agent_hours WHERE run_id = 'big' AND decision IN ('shop', 'idle')
"""
_EVENTS = """
INSERT INTO shopping_session_events (session_id, seq, run_id, agent_id, event_type,
  product_id, quantity, price_cents, sim_time, payload)
SELECT s.id, n, 'big', s.agent_id,
  CASE WHEN n = 0 AND s.kind = 'shop' THEN 'session_start'
       WHEN n = 0 THEN 'idle_browse'
       WHEN n <= 8 THEN 'view_product'
       WHEN n <= 11 THEN 'cart_add_item'
       WHEN s.status = 'completed' THEN 'checkout_complete' ELSE 'abandon' END,
  CASE WHEN n BETWEEN 1 AND 11 THEN 1 + (s.id * 7 + n) % 400 END,
  CASE WHEN n BETWEEN 9 AND 11 THEN 2 END,
  CASE WHEN n >= 1 THEN 350 + n * 10 END,
  s.started_sim_at + n * interval '30 seconds',
  CASE WHEN n = 0 THEN jsonb_build_object('rule', 'decide_shop', 'decision', 'shop',
         'hour_of_week', s.sim_hour % 168, 'p_shop_base', 0.012, 'coupon_lift', 0.1,
         'p_shop', 0.013, 'p_idle', 0.01, 'draw', 0.004, 'relevant_coupons', 1)
       WHEN n <= 8 THEN jsonb_build_object('rule', 'browse_products', 'target_views', 8,
         'available', 120, 'views', 8, 'categories', '["dairy", "bakery", "produce"]'::jsonb,
         'trip_scale', 1.0, 'rank', n - 1, 'weight', 0.031, 'category', 'dairy')
       WHEN n <= 11 THEN jsonb_build_object('rule', 'add_to_cart', 'target_items', 6,
         'unplanned_target', 1, 'items', 6, 'budget_cents', 9000, 'spend_cents', 4200,
         'budget_cut', false, 'substitutions', 0, 'unplanned', n = 11)
       ELSE jsonb_build_object('rule', 'decide_checkout', 'base_abandon', 0.3,
         'logit_delta', -0.2, 'p_abandon', 0.26, 'draw', 0.6, 'coupon_applied', false,
         'decision', 'complete', 'p_open_wallet', 0.4, 'wallet_opened', false) END
FROM shopping_sessions s
CROSS JOIN LATERAL generate_series(0, CASE WHEN s.kind = 'shop' THEN 12 ELSE 4 END) AS n
WHERE s.run_id = 'big'
"""
_ORDERS = """
WITH o AS (
  INSERT INTO orders (user_id, idempotency_key, subtotal_cents, total_cents, is_simulated,
                      simulated_at)
  SELECT a.user_id, 'big:' || s.id, 4200, 4200, true, s.ended_sim_at
  FROM shopping_sessions s JOIN agents a ON a.id = s.agent_id
  WHERE s.run_id = 'big' AND s.status = 'completed'
  RETURNING id, idempotency_key
), l AS (
  INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
  SELECT o.id, p.id, 2, 700 FROM o
  CROSS JOIN LATERAL (SELECT id FROM products ORDER BY id LIMIT 3) AS p
)
UPDATE shopping_sessions s SET order_id = o.id
FROM o WHERE o.idempotency_key = 'big:' || s.id
"""

# VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts from its parent's RSS at the
# fork (the exec keeps it), and this parent holds the 10,000 personas it seeded.
_CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from db.engine import create_db_engine
from reports.dataset import write_dataset

def hwm_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

engine = create_db_engine({url!r}, total_connections=2)
before = hwm_kb()
t0 = time.perf_counter()
res = write_dataset(Path({run_dir!r}), engine, batch={batch})
print(json.dumps(dict(seconds=time.perf_counter() - t0, counts=res.counts,
    rss_before_kb=before, rss_peak_kb=hwm_kb())))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--weeks", type=float, default=4.0, help="simulated weeks")
    ap.add_argument("--batch", type=int, default=None, help="rows per fetch / row group")
    add_smoke(ap, db_url=True)
    args = ap.parse_args()
    if args.smoke:
        args.agents, args.weeks = 20, 1 / 7
    tmp = Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    server = None
    try:
        url = args.db_url
        if url is None:
            from db.embedded import EmbeddedPostgres

            server = EmbeddedPostgres(tmp / "pg", database="postgres")
            url = server.create_database("bench", drop_first=True)
        run(args, url, tmp)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def run(args: argparse.Namespace, url: str, tmp: Path) -> None:
    from sqlalchemy import text

    from behaviors.synthetic import random_personas
    from db import migrate
    from db.engine import create_db_engine
    from personas.catalog import generate_catalog, seed_catalog
    from personas.seed import seed_personas
    from reports.dataset.write import BATCH_ROWS

    hours = int(round(args.weeks * 168))
    migrate.upgrade(url)
    engine = create_db_engine(url, total_connections=2, statement_timeout_ms=None)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=42))
        seed_personas(conn, personas=random_personas(args.agents, seed=1))
        conn.execute(
            text(
                "INSERT INTO simulation_runs (run_id, time_scale, seed, sim_start) "
                "VALUES ('big', 3600, 1, :s)"
            ),
            {"s": SIM_START},
        )
        conn.execute(text("SELECT setseed(0.42)"))
        conn.execute(text(_HOURS), {"hours": hours})
        conn.execute(text(_SESSIONS), {"start": SIM_START})
        conn.execute(text(_EVENTS))
        conn.execute(text(_ORDERS))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    populate_s = time.perf_counter() - t0
    engine.dispose()
    run_dir = tmp / "runs" / "big"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(
        json.dumps(
            {
                "run_id": "big",
                "seed": 1,
                "time_scale": 3600,
                "sim_start": SIM_START,
                "sim_duration_hours": hours,
                "code_version": "bench",
                "mock_api": True,
                "persona_file": None,
                "personas_total": args.agents,
            }
        )  # fmt: skip
    )
    batch = args.batch or BATCH_ROWS
    child = _CHILD.format(root=str(ROOT), url=url, run_dir=str(run_dir), batch=batch)
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in (run_dir / "dataset").iterdir())
    c = r["counts"]
    print(
        f"synthetic run: {args.agents:,} agents x {hours} sim hours "
        f"(written in {populate_s:.0f} s): {c['agent_hours']:,} agent-hours, "
        f"{c['sessions']:,} sessions, {c['events']:,} events, {c['orders']:,} orders"
    )
    print()
    print("| agents | sim weeks | agent-hours | events | batch | time (s) | child RSS before "
          "(MB) | peak RSS (MB) | dataset size (MB) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.agents:,} | {args.weeks:g} | {c['agent_hours']:,} | {c['events']:,} | "
        f"{batch:,} | {r['seconds']:.1f} | {r['rss_before_kb'] / 1024:.0f} | "
        f"{r['rss_peak_kb'] / 1024:.0f} | {size / 1e6:.1f} |"
    )
    print()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
