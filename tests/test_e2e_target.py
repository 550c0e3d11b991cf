"""The target's contract end to end: real locust runs against a real reference
API that the test starts itself — without SIMULATION_MODE, switched to 404 mid-run, or
served at other paths (``loadsim target serve --routes FILE``) — plus the target's own
offer engine. Loopback only, short runs at 1800x."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from db import migrate
from db.engine import create_db_engine
from harness.stack.launch import free_port
from tests.e2e_support import ROOT, count, harness_env, run_locust, start_locust, stop, wait_for

pytestmark = pytest.mark.e2e

N = 60
SCALE = 1800
BASE = ["--headless", "--time-scale", str(SCALE), "--sim-start", "2026-01-10T09:00:00+00:00",
        "--rate-limit", "0", "--drain-seconds", "3", "--browse-via", "api", "--ramp", "0:100"]  # fmt: skip

MAP = """
[personas.columns]
"Income" = "income_band"

[routes]
health = "/v2/health"
products = "/v2/catalog/items"
cart = "/v2/basket"
cart_add = "/v2/basket/lines"
cart_remove = "/v2/basket/lines/remove"
wallet = "/v2/me/wallet"
view_coupon = "/v2/me/wallet/{id}/seen"
apply_coupon = "/v2/basket/coupon"
checkout = "/v2/orders"
time_advance = "/v2/sim/clock"
refresh_user = "/v2/sim/users/{id}/refresh"
"""


@pytest.fixture()
def db(pg_server, request):
    from personas.catalog import generate_catalog, seed_catalog
    from personas.sample import generate_personas
    from personas.seed import seed_personas

    url = pg_server.create_database("tgt_" + request.node.name[:40], drop_first=True)
    migrate.upgrade(url)
    eng = create_db_engine(url, total_connections=4)
    people = [  # frequent shoppers: every simulated hour has flows to judge
        p.model_copy(update={"shopping_frequency": 14.0}) for p in generate_personas(N, seed=5)
    ]
    with eng.begin() as conn:
        seed_catalog(conn, data=generate_catalog(seed=5))
        seed_personas(conn, personas=people)
    yield url, eng
    eng.dispose()


class Target:
    """A target process on a free loopback port; killed at teardown."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, health: str = "/health"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*argv, "--port", str(self.port)], env=env, cwd=str(ROOT),
            stdout=open(log, "a"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip

        def up() -> bool:
            try:
                with urllib.request.urlopen(self.url + health, timeout=2) as r:  # noqa: S310
                    return r.status == 200
            except OSError:
                return False

        wait_for(up, timeout=60, what=f"target {' '.join(argv[-3:])} ({log})")

    def post(self, path: str) -> None:
        req = urllib.request.Request(self.url + path, method="POST", data=b"")
        urllib.request.urlopen(req, timeout=5).read()  # noqa: S310

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture()
def targets():
    started: list[Target] = []

    def start(argv, env, log, health="/health") -> Target:
        t = Target(argv, env, log, health)
        started.append(t)
        return t

    yield start
    for t in started:
        t.kill()


def _api_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "LOADSIM_"))}
    return {**env, "DATABASE_URL": db_url, "SIMULATION_MODE": "true", **extra}


def _events(run_dir: Path) -> list[dict]:
    path = run_dir / "simulation_runs.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_target_without_simulation_mode_stops_the_run_in_one_line(db, targets, tmp_path):
    url, eng = db
    api = targets([sys.executable, "-m", "tests.faulty_target"],
                  _api_env(url, SIMULATION_MODE="false"), tmp_path / "api.log")  # fmt: skip
    t0 = time.monotonic()
    r = run_locust(
        [*BASE, "--host", api.url, "--sim-duration", "4h", "--run-id", "nosim",
         "--runs-dir", str(tmp_path / "runs")],
        env=harness_env(url, tmp_path), cwd=tmp_path, timeout=60,
    )  # fmt: skip
    took = time.monotonic() - t0
    print(f"[figure] start-up probe stopped the run after {took:.1f} s")
    assert r.returncode == 2, r.stderr[-3000:]
    assert took < 30
    errors = [line for line in r.stderr.splitlines() if line.startswith("loadsim: error:")]
    assert errors == [
        f"loadsim: error: target {api.url} GET /health → 200 with simulation_mode=false: "
        "the API is not running with SIMULATION_MODE=true"
    ], r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    for table in ("simulation_runs", "agent_hours", "shopping_sessions", "shopping_session_events"):
        assert count(eng, f"SELECT count(*) FROM {table}") == 0, table


@pytest.mark.parametrize("topology", ["standalone", "two_workers"])
def test_a_target_answering_404_mid_run_trips_the_breaker_naming_the_path(
    db, targets, tmp_path, topology
):
    """Standalone, the users' process trips the breaker itself; with two workers, a
    worker's message does (``loadsim_contract``), not its next 3-second report."""
    url, eng = db
    runs = tmp_path / "runs"
    api = targets([sys.executable, "-m", "tests.faulty_target"], _api_env(url), tmp_path / "a.log")
    extra: list[str] = []
    if topology == "two_workers":
        zmq = free_port()
        extra = ["--processes", "2", "--master-bind-port", str(zmq), "--master-port", str(zmq)]
    proc = start_locust(
        [*BASE, *extra, "--host", api.url, "--sim-duration", "12h", "--run-id", "gone",
         "--runs-dir", str(runs)],
        env=harness_env(url, tmp_path), cwd=tmp_path, log=tmp_path / "gone.log",
    )  # fmt: skip
    try:
        wait_for(
            lambda: _safe(eng, "SELECT count(*) FROM agent_hours WHERE run_id='gone' "
                               "AND sim_hour >= 2 AND outcome = 'completed'") > 0,
            timeout=120, what="the run to get going",
        )  # fmt: skip
        faulted_at = time.time()
        api.post("/_fault/404")  # a deployment moved the routes
        rc = proc.wait(timeout=90)
    finally:
        stop(proc)
    out = (tmp_path / "gone.log").read_text()
    assert rc == 5, out[-3000:]
    trips = [e for e in _events(runs / "gone") if e["event"] == "breaker_trip"]
    assert trips and trips[0]["reason"] == "contract", trips
    trip = trips[0]
    assert trip["status"] == 404 and trip["path"].startswith("/api/")
    sim_s = (_ts(trip["ts"]) - faulted_at) * SCALE
    print(f"[figure] contract breaker tripped {sim_s / 60:.1f} simulated minutes after the 404s")
    assert sim_s <= 3600  # within one simulated hour
    assert f"contract error — {trip['method']} {trip['path']} → 404" in out
    failed = count(eng, "SELECT count(*) FROM agent_hours WHERE run_id='gone' "
                        "AND outcome = 'failed' AND error_kind = 'contract'")  # fmt: skip
    assert failed > 0
    # Not a single 404 was taken for a shopper's decision.
    assert count(eng, "SELECT count(*) FROM shopping_sessions WHERE run_id='gone' "
                      "AND abandon_reason LIKE '%Not Found%'") == 0  # fmt: skip
    assert count(eng, "SELECT count(*) FROM simulation_runs WHERE run_id='gone' "
                      "AND status = 'breaker'") == 1  # fmt: skip


def test_a_mapped_target_runs_clean_with_the_map_and_is_stopped_without(db, targets, tmp_path):
    """``loadsim target serve --routes FILE`` and the harness given the same file: a full
    run with 0 failures, its offer cycle made by the target (--offer-engine target)."""
    url, eng = db
    mapfile = tmp_path / "loadsim.toml"
    mapfile.write_text(MAP)
    loadsim = [sys.executable, "-m", "harness.cli", "target", "serve", "--routes", str(mapfile)]
    api = targets(loadsim, _api_env(url), tmp_path / "api.log", health="/v2/health")
    runs = tmp_path / "runs"
    env = harness_env(url, tmp_path)
    r = run_locust(
        [*BASE, "--host", api.url, "--sim-duration", "4h", "--run-id", "mapped",
         "--runs-dir", str(runs), "--csv", str(runs / "mapped-csv"), "--map", str(mapfile),
         "--offer-engine", "target"],
        env=env, cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    with open(runs / "mapped-csv_stats.csv") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert int(rows["/api/cart/add"]["Request Count"]) > 0  # stats keep the contract's names
    assert count(eng, "SELECT count(*) FROM agent_hours WHERE run_id='mapped' "
                      "AND outcome = 'completed'") > 0  # fmt: skip
    assert count(eng, "SELECT count(*) FROM agent_hours WHERE run_id='mapped' "
                      "AND outcome = 'failed'") == 0  # fmt: skip
    # The target made the cycle (its own rows, run_id NULL) and filled the wallets through
    # its refresh route; the harness ran no offer_engine of its own.
    assert count(eng, "SELECT count(*) FROM offer_cycles WHERE run_id IS NULL") >= 1
    assert count(eng, "SELECT count(*) FROM offer_cycles WHERE run_id = 'mapped'") == 0
    assert count(eng, "SELECT count(*) FROM user_coupons uc JOIN offer_cycles c "
                      "ON c.id = uc.offer_cycle_id WHERE c.run_id IS NULL") > 0  # fmt: skip
    cycles = [e for e in _events(runs / "mapped") if e["event"] == "offer_cycle"]
    assert cycles and all(e["engine"] == "target" for e in cycles)
    # The same target, the harness without the map: the start-up probe stops it.
    r = run_locust(
        [*BASE, "--host", api.url, "--sim-duration", "2h", "--run-id", "unmapped",
         "--runs-dir", str(runs)],
        env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr[-3000:]
    assert f"loadsim: error: target {api.url} GET /health → 404: no such route" in r.stderr
    assert count(eng, "SELECT count(*) FROM simulation_runs WHERE run_id = 'unmapped'") == 0


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _safe(eng, sql: str) -> int:
    """A count while the run writes (the fixture migrated the tables: a failing query is
    a real error, never read as "not yet")."""
    return count(eng, sql)


def test_the_reference_api_the_harness_starts_follows_the_map(db, tmp_path):
    """No --host: the reference API the harness starts serves at the map's paths too, so
    one map file works for the embedded default and the owner's API alike."""
    url, eng = db
    mapfile = tmp_path / "loadsim.toml"
    mapfile.write_text(MAP)
    runs = tmp_path / "runs"
    r = run_locust(
        [*BASE, "--sim-duration", "3h", "--run-id", "emb", "--runs-dir", str(runs),
         "--csv", str(runs / "emb-csv")],
        env=harness_env(url, tmp_path, LOADSIM_MAP=str(mapfile)), cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    with open(runs / "emb-csv_stats.csv") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert (
        int(rows["/api/offers/wallet"]["Request Count"])
        + int(rows["/api/cart/add"]["Request Count"])
        > 0
    )
    assert count(eng, "SELECT count(*) FROM agent_hours WHERE run_id='emb' "
                      "AND outcome = 'completed'") > 0  # fmt: skip
