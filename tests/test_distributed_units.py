"""The distributed pieces without Locust processes: the run's token bucket and budget split,
the resizable connection pool (against a real Postgres, counted in ``pg_stat_activity``),
the database fingerprint and the wire's password guard, the master's options as a worker
adopts them, and a worker's refusal."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlalchemy import make_url, text

from db.engine import create_db_engine, split_budget
from harness.agent.rate_limit import BURST_S, TokenBucket, control_rate, rate_shares
from harness.config.messages import (
    MESSAGES,
    DbFingerprint,
    Grant,
    GrantItem,
    LeaseEntry,
    LeaseRequest,
    Release,
    RunConfig,
    has_password,
)
from harness.config.options import HarnessOptions
from harness.wiring.join import database_refusal

# ------------------------------------------------------------------ token bucket


def _virtual() -> tuple[list[float], dict]:
    now = [0.0]
    return now, {"clock": lambda: now[0], "sleep": lambda s: now.__setitem__(0, now[0] + s)}


@pytest.mark.parametrize("rate", [0.5, 3.0, 9.12, 40.0])
def test_a_share_bucket_never_grants_more_than_rate_times_window_plus_its_burst(rate):
    """The bound the server-side 1.05 x check rests on: a bucket of a run (``set_share``)
    grants at most rate x T + rate x BURST_S (+1 request) in any window T — also below one
    token of burst, where requests are evenly spaced."""
    now, kw = _virtual()
    b = TokenBucket(0, **kw)
    b.set_share(rate)
    now[0] += 100.0  # idle: the bucket fills, but only to its small burst
    grants = []
    while now[0] < 100.0 + 20.0:
        b.acquire()
        grants.append(now[0])
    for start in grants:
        in_window = sum(1 for t in grants if start <= t < start + 10.0)
        assert in_window <= rate * 10.0 + rate * BURST_S + 1, (start, in_window)
    assert len(grants) >= rate * 20 * 0.95  # and it does not starve either


def test_a_lowered_share_applies_to_requests_already_waiting():
    """Waiters re-check the rate after each sleep: lowering a share (a worker joined)
    slows the queue at once instead of honouring promises made at the old rate."""
    import gevent

    b = TokenBucket(0)
    b.set_share(200.0)
    times: list[float] = []

    def user() -> None:
        for _ in range(200):
            b.acquire()
            times.append(gevent.get_hub().loop.now())

    users = [gevent.spawn(user) for _ in range(20)]
    gevent.sleep(0.3)
    b.set_share(10.0)
    changed = gevent.get_hub().loop.now()
    gevent.sleep(1.0)
    after = [t for t in times if changed + 0.05 <= t <= changed + 1.0]
    gevent.killall(users)
    assert len(after) <= 10 * 1.0 + 3, len(after)


def test_priority_requests_skip_the_queue_but_still_count():
    """The master's outage probe does not queue behind users, but it is paced like any
    request: ten at 10/s take a second, and the next ordinary one waits its turn."""
    now, kw = _virtual()
    b = TokenBucket(0, **kw)
    b.set_share(10.0)
    for _ in range(10):
        b.acquire(priority=True)
    assert 0.9 <= now[0] <= 1.05
    t = now[0]
    b.acquire()
    assert now[0] - t == pytest.approx(0.1, abs=0.02)
    assert b.granted == 11


def test_unlimited_and_standalone_shares():
    assert rate_shares(0, 3, 1.5) == (0.0, 0.0)
    assert rate_shares(20, 0, 1.5) == (20, 20)  # standalone: one bucket, everything
    master, worker = rate_shares(20, 2, control_rate(1800))
    assert master == pytest.approx(1.75) and master + 2 * worker == pytest.approx(20)
    master, worker = rate_shares(4, 3, control_rate(1800))
    assert master == 1.0  # control never takes more than a quarter
    assert control_rate(1800, mock_api=True) == 0.0


@pytest.mark.parametrize(
    "total,workers,expected",
    [
        (12, 2, (4, 4)),
        (40, 2, (13, 13)),
        (40, 0, (40, 0)),
        (10, 3, (2, 2)),
        (2, 3, (1, 1)),
        (40, 30, (2, 1)),
        (31, 30, (1, 1)),
    ],  # fmt: skip
)
def test_the_connection_budget_is_split_over_the_processes_connected(total, workers, expected):
    master, worker = split_budget(total, workers)
    assert (master, worker) == expected
    if total >= workers + 1:
        assert master + workers * worker <= total


# ------------------------------------------------------------------ resizable pool


def _harness_connections(engine, name: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": name},
            ).scalar_one()
        )


def _settled(engine, name: str, want, timeout: float = 5.0) -> int:
    """The server's count once ``want(count)`` holds (or the last one after ``timeout``):
    a backend whose client closed leaves ``pg_stat_activity`` when it has exited, a moment
    later — under load, after the next query (the pool's count is exact at once)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        n = _harness_connections(engine, name)
        if want(n) or time.monotonic() >= deadline:
            return n
        time.sleep(0.02)


def test_budget_pool_resizes_while_in_use(db_url, engine):
    name = "loadsim-budget-test"
    # A blocked checkout fails fast in this test.
    eng = create_db_engine(db_url, total_connections=8, application_name=name, pool_timeout=0.5)
    pool = eng.pool
    try:
        held = [eng.connect() for _ in range(8)]
        for c in held:
            c.execute(text("SELECT 1"))
        assert _harness_connections(engine, name) == 8
        pool.resize(3)
        assert _harness_connections(engine, name) == 8  # busy ones are not cut
        with pytest.raises(Exception, match="limit of 3 connections reached"):
            eng.connect().execute(text("SELECT 1"))  # over the new size: nothing new opens
        for c in held:
            c.close()
        # Back under the new size: 2 kept idle (3/4 of 3), the rest closed on return.
        assert pool.open_connections() == 2
        assert _settled(engine, name, lambda n: n == 2) == 2
        three = [eng.connect() for _ in range(3)]
        for c in three:
            c.execute(text("SELECT 1"))
        with pytest.raises(Exception, match="limit of 3 connections reached"):
            eng.connect().execute(text("SELECT 1"))
        for c in three:
            c.close()
        pool.resize(6)  # a worker left: more for this process
        six = [eng.connect() for _ in range(6)]
        for c in six:
            c.execute(text("SELECT 1"))
        assert _settled(engine, name, lambda n: n == 6) == 6
        for c in six:
            c.close()
        pool.resize(1)  # idle ones are closed at once
        assert pool.open_connections() == 1
        assert _settled(engine, name, lambda n: n <= 1) <= 1
    finally:
        eng.dispose()


def test_budget_pool_never_exceeds_its_size_under_concurrency(db_url, engine):
    """Ten threads hammer a pool of 6; it is cut to 2 while they run: once the busy
    connections came back, the server never sees more than 2."""
    import time

    name = "loadsim-budget-conc"
    eng = create_db_engine(db_url, total_connections=6, application_name=name)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            with eng.connect() as conn:
                conn.execute(text("SELECT pg_sleep(0.01)"))

    def watch() -> None:
        while not stop.is_set():
            samples.append((time.monotonic(), _harness_connections(engine, name)))
            time.sleep(0.02)

    threads = [threading.Thread(target=work) for _ in range(10)] + [threading.Thread(target=watch)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        before = max(n for _, n in samples)
        eng.pool.resize(2)
        settled = time.monotonic() + 0.3  # busy connections come back and are closed
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        eng.dispose()
    after = [n for t, n in samples if t >= settled]
    assert before == 6 and after and max(after) <= 2, (before, after)


# ------------------------------------------------------------------ the wire


def test_fingerprint_has_no_password_and_compares_what_matters():
    a = DbFingerprint.from_url("postgresql://app:s3cret@db.example.com:6543/shop")
    assert (a.host, a.port, a.database, a.user) == ("db.example.com", 6543, "shop", "app")
    assert "s3cret" not in repr(a) and "s3cret" not in a.describe()
    assert a.same_database(DbFingerprint.from_url("postgres://app:other@DB.example.com:6543/shop"))
    assert not a.same_database(DbFingerprint.from_url("postgresql://app@db.example.com/shop"))
    sock = DbFingerprint.from_url(
        "postgresql+psycopg://postgres:@/loadsim?host=/tmp/pg", embedded=True
    )
    assert sock.host == "/tmp/pg" and sock.describe().startswith("embedded Postgres (postgres@")


def test_run_config_never_carries_a_password():
    cfg = RunConfig(run_id="r", seed=1, sim_start="2026-01-01T00:00:00+00:00", sim_end=None,
                    clock={}, api_url=None, database_url="postgresql://u:pw@h/db",
                    rate_share=1.0, mock_api=False, mock_db=False)  # fmt: skip
    assert cfg.to_msg()["database_url"] is None
    embedded = "postgresql+psycopg://postgres:@/loadsim?host=/tmp/x"
    cfg.database_url = embedded
    assert cfg.to_msg()["database_url"] == embedded  # the embedded default may travel
    assert has_password("postgresql://u@h/db?password=x") and not has_password(embedded)
    assert RunConfig.from_msg({**cfg.to_msg(), "unknown": 1}).run_id == "r"


def test_typed_messages_round_trip():
    entry = LeaseEntry(agent_id=3, user_id=4, persona={"persona_id": "P1"})
    g = Grant(grants=[GrantItem(req_id="w:1", entry=entry)])
    assert Grant.from_msg(g.to_msg()) == g and g.NAME == "loadsim_grant"
    assert Grant.from_msg({"req_id": "w:1", "entry": entry.to_msg()}) == g  # the single form
    assert LeaseRequest(req_ids=["w:1", "w:2"]).to_msg() == {"req_ids": ["w:1", "w:2"]}
    assert LeaseRequest.from_msg({"req_id": "w:3"}).ids() == ["w:3"]
    assert Release(agent_id=3).to_msg() == {"agent_id": 3}
    names = [m.NAME for m in MESSAGES]  # RunConfig included
    assert len(set(names)) == len(names)  # one name, one message
    assert Release.from_msg({"req_id": "w:2"}).req_id == "w:2"


# ------------------------------------------------------------------ a worker joins


def test_master_options_round_trip_and_the_worker_names_what_differs():
    master = dataclasses.replace(
        HarnessOptions(), browse_via="api", http_pools=3, db_connections=12,
        ramp=((0.0, 0.1), (2.0, 1.0)), sim_duration_hours=6.0,
    )  # fmt: skip
    assert HarnessOptions.from_json(master.to_json()) == master
    named = HarnessOptions().differences(master)
    assert "--browse-via api (own: cache)" in named
    assert "--http-pools 3 (own: 10)" in named and "--db-connections 12 (own: 40)" in named
    assert "--ramp 0:10,2:100 (own: 0:10,2:25,4:50,6:75,8:100)" in named
    assert "--sim-duration 6h (own: '')" in named
    assert HarnessOptions().differences(HarnessOptions()) == []


def _cfg(db_url: str, *, handed: str | None = None) -> RunConfig:
    return RunConfig(run_id="r", seed=1, sim_start="x", sim_end=None, clock={}, api_url=None,
                     database_url=handed, rate_share=1.0, mock_api=False, mock_db=False,
                     db=DbFingerprint.from_url(db_url).to_msg())  # fmt: skip


def test_a_worker_refuses_a_database_that_is_not_the_masters():
    master_url = "postgresql://app:pw@db.example.com:5432/shop"
    assert database_refusal(_cfg(master_url), "postgresql://app:pw2@db.example.com/shop") is None
    why = database_refusal(_cfg(master_url), "postgresql://app:pw@db.example.com:5432/other")
    assert why and "app@db.example.com:5432/other" in why and "/shop" in why and "pw" not in why
    why = database_refusal(_cfg(master_url), None)
    assert why and "no DATABASE_URL" in why
    embedded = str(make_url("postgresql+psycopg://postgres:@/loadsim?host=/tmp/pg"))
    assert database_refusal(_cfg(embedded, handed=embedded), None) is None
    mock = dataclasses.replace(_cfg(master_url), mock_db=True)
    assert database_refusal(mock, None) is None


def test_the_master_keeps_a_share_for_the_targets_refreshes():
    """--offer-engine target: the master's control share covers one POST /refresh/user per
    persona per offer cycle on average (capped at a quarter of the limit)."""
    from types import SimpleNamespace

    from harness.agent.budget import RunBudget

    class Routes:
        def has(self, key: str) -> bool:
            return key == "refresh_user"

    bucket = TokenBucket(0)
    director = SimpleNamespace(offer_engine="target", target_plan=SimpleNamespace(routes=Routes()),
                               settings_cycle_days=7.0, pool=SimpleNamespace(size=300))  # fmt: skip
    opts = dataclasses.replace(HarnessOptions(), time_scale=1800.0, rate_limit=20.0)
    rt = SimpleNamespace(role="master", opts=opts, bucket=bucket, engine=None, director=director)
    cfg = RunConfig(run_id="r", seed=1, sim_start="x", sim_end=None, clock={}, api_url=None,
                    database_url=None, rate_share=0.0, mock_api=False, mock_db=False)  # fmt: skip
    RunBudget(rt).share_out(cfg, 2)
    refresh = 300 / (7 * 86400 / 1800)
    assert bucket.rate == pytest.approx(control_rate(1800) + refresh)
    assert bucket.rate + 2 * cfg.rate_share == pytest.approx(20.0)
    director.offer_engine = "local"
    RunBudget(rt).share_out(cfg, 2)
    assert bucket.rate == pytest.approx(control_rate(1800))
