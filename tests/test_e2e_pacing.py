"""Pacing, end to end (real ``locust``, real Postgres): a session's actions
happen at their simulated moments — one timeline for the target and the events, a pause
of the clock (web UI endpoint) holds sessions mid-way, and ``--pace on|off`` leave the
event stream exactly the offline one for the same persona-hours."""

from __future__ import annotations

import csv
import json
import time
import urllib.request
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from db import migrate
from db.engine import create_db_engine
from tests.e2e_support import harness_env, run_locust, seed_small_population, start_locust, stop

pytestmark = pytest.mark.e2e

N = 150
START = "2026-01-10T09:00:00+00:00"  # a Saturday morning: people shop
COMMON = ["--sim-start", START, "--ramp", "0:100", "--rate-limit", "0"]


@pytest.fixture()
def e2e_db(pg_server, request):
    name = "e2e_" + request.node.name.replace("[", "_").replace("]", "")[:40]
    url = pg_server.create_database(name, drop_first=True)
    migrate.upgrade(url)
    eng = create_db_engine(url, total_connections=4)
    seed_small_population(eng, n=N)
    yield url, eng
    eng.dispose()


def _rows(eng, sql: str, **params):
    with eng.connect() as conn:
        return conn.execute(text(sql), params).all()


def _free_port() -> int:
    from harness.stack.launch import free_port

    return free_port()


def _ui(port: int, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _max_response_s(port: int) -> float:
    """The longest request Locust has timed so far (its live stats), in seconds."""
    stats = _ui(port, "/stats/requests")["stats"]
    return max(float(s["max_response_time"]) for s in stats) / 1000


def _lines(path: Path) -> int:
    """Requests the target has answered so far (its access log: a line each)."""
    return len(path.read_text().splitlines()) if path.exists() else 0


def _action_slip_max_s(run_dir: Path) -> float:
    """The harness's own action-slip timing (never in Locust's stats, which hold HTTP)."""
    with open(run_dir / "harness_timings.csv") as fh:
        for row in csv.DictReader(fh):
            if row["name"] == "action_slip":
                return float(row["max_ms"]) / 1000
    raise AssertionError("no action_slip row in harness_timings.csv")


def test_paced_run_one_timeline_and_a_pause_holds_sessions(e2e_db, tmp_path):
    url, eng = e2e_db
    # 600x: 3 simulated hours in 18 s. The checks are in simulated time or scale with it
    # (gaps / scale, within the measured slip); the pause is real seconds either way.
    scale, port, runs = 600.0, _free_port(), tmp_path / "runs"
    args = [
        *COMMON, "--autostart", "--autoquit", "2", "--web-host", "127.0.0.1",
        "--web-port", str(port), "--time-scale", str(int(scale)), "--sim-duration", "3h",
        "--drain-seconds", "5", "--run-id", "paced", "--runs-dir", str(runs),
    ]  # fmt: skip
    served = tmp_path / "api.log"  # the reference API's access log: what it received
    env = harness_env(url, tmp_path, REFERENCE_API_REQUEST_LOG=str(served))
    proc = start_locust(args, env=env, cwd=tmp_path, log=tmp_path / "log")
    try:
        deadline = time.monotonic() + 150
        active: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            active = [r.id for r in _rows(eng, "SELECT id FROM shopping_sessions WHERE "
                      "run_id = 'paced' AND status = 'active' AND kind = 'shop'")]  # fmt: skip
            if len(active) >= 2:
                break
            time.sleep(0.2)
        assert active, (tmp_path / "log").read_text()[-3000:]
        # Live, in the web UI: Locust's request table holds HTTP requests only; the
        # harness's own timings are rows of the Simulation tab.
        live = _ui(port, "/stats/requests")
        methods = {s["method"] for s in live["stats"] if s["name"] != "Aggregated"}
        assert methods and methods <= {"GET", "POST", "DELETE"}, methods
        (tab,) = [e["data"] for e in live["extended_stats"] if e["key"] == "simulation"]
        timing = {r["key"]: r for r in tab if r["key"].startswith("timing.")}
        assert {"timing.lease.round_trip", "timing.action_slip"} <= set(timing), sorted(timing)
        assert timing["timing.action_slip"]["raw"]["count"] > 0
        paused_at = time.time()
        pause = _ui(port, "/simulation/pause", {"reason": "pacing test"})["status"]
        confirmed = time.time()  # from here no request may be sent
        assert pause["paused"]
        frozen = datetime.fromisoformat(pause["sim_time"])  # the paused clock's moment
        held = [r.id for r in _rows(eng, "SELECT id FROM shopping_sessions WHERE "
                "run_id = 'paced' AND status = 'active' AND kind = 'shop'")]  # fmt: skip
        # The target's count while paused, every 0.2 s for 4 s — and at least 1.2 s past
        # the longest request Locust timed: requests sent before the pause may still
        # arrive until then, none after.
        served_at: list[tuple[float, int]] = []
        longest = _max_response_s(port)
        while time.time() < max(confirmed + 4.0, min(confirmed + longest + 1.2, confirmed + 30)):
            served_at.append((time.time(), _lines(served)))
            time.sleep(0.2)
            longest = _max_response_s(port)
        resumed_at = time.time()
        assert _ui(port, "/simulation/resume", {})["status"]["paused"] is False
        proc.wait(timeout=240)
    finally:
        stop(proc)
    log = (tmp_path / "log").read_text()
    assert proc.returncode == 0, log[-3000:]
    # Any request sent before the pause was answered by `confirmed + longest`; the
    # target's count did not move after that (a window of >= 1 s, measured).
    settled = [n for t, n in served_at if t >= confirmed + longest + 0.2]
    print(f"[figure] paused 4 s: longest request {longest:.3f} s, target count "
          f"{served_at[0][1]} -> {served_at[-1][1]}, {len(settled)} settled samples")  # fmt: skip
    assert served_at[0][1] > 0, "the target logged no request"
    assert len(settled) >= 5, (longest, served_at)
    assert settled == [settled[0]] * len(settled), f"requests while paused: {served_at}"
    # Nothing happened for a moment the paused clock had not reached: every event stamped
    # while paused (a request that was already on its way) is at or before it.
    ahead = _rows(eng, """SELECT session_id, event_type, sim_time FROM shopping_session_events
                          WHERE run_id = 'paced' AND real_time > to_timestamp(:t0)
                          AND real_time < to_timestamp(:t1) AND sim_time > :frozen""",
                  t0=confirmed, t1=resumed_at, frozen=frozen)  # fmt: skip
    assert ahead == [], f"events past the paused clock ({frozen}) while paused: {ahead[:5]}"
    run_dir = runs / "paced"
    assert json.loads((run_dir / "manifest.json").read_text())["pace"] == "on"

    # One timeline: every completed order's simulated time is its checkout_complete event's.
    pairs = _rows(eng, """
        SELECT o.simulated_at, e.sim_time FROM shopping_sessions s
        JOIN orders o ON o.id = s.order_id
        JOIN shopping_session_events e ON e.session_id = s.id AND e.event_type = 'checkout_complete'
        WHERE s.run_id = 'paced'""")  # fmt: skip
    assert pairs, "no completed orders"
    worst = max(abs((o - e).total_seconds()) for o, e in pairs)
    print(
        f"[figure] {len(pairs)} orders: |orders.simulated_at - checkout_complete| max {worst:.3f} sim s"
    )
    assert worst <= 1.0

    # Within a session, real_time gaps x scale follow sim_time gaps (within the slip).
    events = defaultdict(list)
    for r in _rows(eng, """SELECT session_id, seq, sim_time, real_time FROM shopping_session_events
                           WHERE run_id = 'paced' ORDER BY session_id, seq"""):  # fmt: skip
        events[r.session_id].append((r.sim_time, r.real_time.timestamp()))
    tol = _action_slip_max_s(run_dir) + 0.25
    off, spread = [], 0
    for evs in events.values():
        for (s0, r0), (s1, r1) in zip(evs, evs[1:], strict=False):
            if r0 < resumed_at + 0.5 and r1 > paused_at - 0.5:
                continue  # spans the pause: checked below
            off.append(abs((r1 - r0) - (s1 - s0).total_seconds() / scale))
        sim_span = (evs[-1][0] - evs[0][0]).total_seconds()
        if sim_span >= 600 and evs[-1][1] - evs[0][1] >= 0.9 * sim_span / scale:
            spread += 1
    print(f"[figure] {len(off)} event gaps: |real gap - sim gap/scale| max {max(off):.3f} s "
          f"(tolerance: max action slip + 0.25 = {tol:.3f} s); {spread} sessions spread out")  # fmt: skip
    assert off and max(off) <= tol
    assert spread >= 1  # sessions take their simulated length, not a burst

    # The pause held sessions in the middle: all ended, one has a gap of the pause's length
    # between two events a few simulated seconds apart.
    assert held
    status = dict(_rows(eng, "SELECT id, status FROM shopping_sessions WHERE id = ANY(:ids)",
                        ids=held))  # fmt: skip
    assert "active" not in status.values(), status
    held_gaps = [
        (r1 - r0, (s1 - s0).total_seconds())
        for sid in held
        for (s0, r0), (s1, r1) in zip(events[sid], events[sid][1:], strict=False)
    ]
    assert any(real >= 3.5 and sim <= 120 for real, sim in held_gaps), held_gaps


# ------------------------------------------------------------------ --pace on|off vs offline


def _offline(eng, run_id: str, seed: int) -> dict[tuple[int, int], list[tuple]]:
    """Replay, offline (``run_agent_hour`` on an ``InMemoryShop`` per agent), exactly the
    hours each agent of a ``--mock-api`` run played; canonical events by (agent, hour)."""
    from behaviors.graph import compile_shopping_graph
    from behaviors.memory_shop import InMemoryShop
    from behaviors.run import run_agent_hour
    from harness.agent.catalog_cache import CatalogCache
    from harness.agent.hour import slot_offset_seconds
    from harness.agent.mock_wallet import mock_wallet
    from harness.agent.wallet_view import active_at, relevant_expiries
    from personas.model import Persona
    from personas.seed import load_active_agents

    graph, cat = compile_shopping_graph(), CatalogCache.from_db(eng)
    with eng.connect() as conn:
        people = {a: Persona(**p.model_dump(mode="json")) for a, _, p in load_active_agents(conn)}
    played = defaultdict(list)
    for r in _rows(eng, "SELECT agent_id, sim_hour, decision FROM agent_hours WHERE run_id = :r "
                   "AND decision <> 'missed' ORDER BY agent_id, sim_hour", r=run_id):  # fmt: skip
        played[r.agent_id].append((r.sim_hour, r.decision))
    start = datetime.fromisoformat(START)
    out: dict[tuple[int, int], list[tuple]] = {}
    for agent, hours in played.items():
        p = people[agent]
        shop = InMemoryShop(
            cat.products, mock_wallet(p, seed), store_id=cat.stores.get(p.preferred_store)
        )
        offset, expiries = slot_offset_seconds(seed, p.persona_id), []
        for h, decision in hours:
            slot = start + timedelta(hours=h, seconds=offset)
            r = run_agent_hour(p, run_seed=seed, sim_hour=h, slot_time=slot, shop=shop, graph=graph,
                               checkout_key=f"{run_id}:{agent}:{h}",
                               relevant_coupons=active_at(expiries, slot))  # fmt: skip
            assert r.decision == decision, (agent, h)
            if r.wallet_seen is not None:
                expiries = relevant_expiries(p, r.wallet_seen)
            if r.events:
                out[(agent, h)] = [
                    (e.event_type, e.product_id, e.user_coupon_id, e.quantity, e.price_cents,
                     datetime.fromisoformat(e.sim_time), e.payload)
                    for e in r.events
                ]  # fmt: skip
    return out


def _recorded(eng, run_id: str) -> dict[tuple[int, int], list[tuple]]:
    out: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for r in _rows(eng, """SELECT s.agent_id, s.sim_hour, e.event_type, e.product_id,
                e.user_coupon_id, e.quantity, e.price_cents, e.sim_time, e.payload
            FROM shopping_session_events e JOIN shopping_sessions s ON s.id = e.session_id
            WHERE s.run_id = :r ORDER BY s.agent_id, s.sim_hour, e.seq""", r=run_id):  # fmt: skip
        out[(r.agent_id, r.sim_hour)].append(tuple(r)[2:])
    return dict(out)


@pytest.mark.parametrize("pace", ["off", "on"])
def test_pace_on_and_off_record_the_offline_event_stream(e2e_db, tmp_path, pace):
    url, eng = e2e_db
    run_id = f"pace_{pace}"
    r = run_locust(
        # 3600x: the comparison leaves out missed hours, so how many get played is a speed
        # figure; the events of every played hour must equal the offline ones.
        [*COMMON, "--headless", "--mock-api", "--time-scale", "3600", "--sim-duration", "4h",
         "--drain-seconds", "3", "--pace", pace, "--run-id", run_id, "--seed", "42",
         "--runs-dir", str(tmp_path / "runs")],
        env=harness_env(url, tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    manifest = json.loads((tmp_path / "runs" / run_id / "manifest.json").read_text())
    assert manifest["pace"] == pace
    recorded, offline = _recorded(eng, run_id), _offline(eng, run_id, 42)
    assert len(recorded) >= 10, len(recorded)
    assert recorded.keys() == offline.keys()
    for key in sorted(recorded):
        assert recorded[key] == offline[key], f"agent/hour {key}: first event differs"
