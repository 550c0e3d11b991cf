"""Distributed for real: a master and workers started as separate ``locust``
commands on loopback, as on several machines — the master decides the options, no secret
crosses the wire, one connection budget and one rate limit hold for the whole run, and no
process outlives its master. Runs are short (1800x, a few simulated hours)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from db.engine import create_db_engine
from harness.stack.launch import free_port
from tests.distributed_support import (
    BASE,
    PASSWORD,
    ROOT,
    Api,
    ConnectionSampler,
    budget_role,
    busiest_window,
    group_alive,
    make_busy_db,
    refused,
    run_separately,
    start_master,
    start_worker,
    zmq_port,
)
from tests.e2e_support import harness_env, lease_overlaps, start_locust, stop, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture()
def busy_db(pg_server, request):
    name = "dist_" + request.node.name.replace("[", "_").replace("]", "")[:40]
    url, eng = make_busy_db(pg_server, name)
    yield url, eng, name
    eng.dispose()


@pytest.fixture()
def api(busy_db, tmp_path):
    a = Api(busy_db[0], tmp_path)
    yield a
    a.stop()


def test_workers_obey_the_master_and_the_connection_budget_holds(busy_db, api, tmp_path):
    """Workers started with none of the master's flags browse through the API (the
    master's --browse-via), name the flags they were overridden on, and the run never holds
    more than --db-connections connections: the harness's role has a CONNECTION LIMIT of
    the budget, so one more would be refused (and the run would log it and fail)."""
    url, eng, dbname = busy_db
    role_url = budget_role(eng, f"budget_{dbname}", 12)
    eng.dispose()  # the fixture's connection is not the harness's
    sampler = ConnectionSampler(url, dbname)
    rc, master_log, worker_logs, _ = run_separately(
        [*BASE, "--rate-limit", "0", "--browse-via", "api", "--http-pools", "3",
         "--db-connections", "12", "--host", api.url, "--sim-duration", "4h", "--run-id", "obey",
         "--runs-dir", str(tmp_path / "runs")],
        workers=2, env=harness_env(role_url, tmp_path), tmp=tmp_path,
    )  # fmt: skip
    samples = sampler.stop()
    assert rc == 0, master_log[-3000:]
    assert refused(master_log, *worker_logs) == []
    print(f"[figure] harness connections: max {max(samples)} of 12, {len(samples)} samples")
    assert max(samples) >= 3  # master and both workers were connected while sampled
    paths = [p for _, p in api.requests()]
    assert any(p.startswith("/api/products") for p in paths), sorted(set(paths))[:20]
    for log in worker_logs:
        assert "the master decides this run's options" in log, log[-2000:]
        for flag in ("--browse-via api (own: cache)", "--http-pools 3 (own: 10)",
                     "--db-connections 12 (own: 40)"):  # fmt: skip
            assert flag in log, (flag, log[-2000:])
    assert "budget over 2 worker process(es)" in master_log
    manifest = json.loads((tmp_path / "runs" / "obey" / "manifest.json").read_text())
    assert manifest["database"].endswith(f"/{dbname}") and "embedded" not in manifest["database"]


def test_budget_is_re_divided_when_a_worker_joins(busy_db, tmp_path):
    """One worker, then a second joins mid-run: the master re-divides the connections
    (its own share and the first worker's shrink) and the server never sees more than the
    budget (the harness's role has a CONNECTION LIMIT of 8: one more would be refused)."""
    url, eng, dbname = busy_db
    role_url = budget_role(eng, f"budget_{dbname}", 8)
    eng.dispose()  # its connections are named "loadsim": the sampler would count them
    env = harness_env(role_url, tmp_path)
    sampler = ConnectionSampler(url, dbname)
    master, port = start_master(
        [*BASE, "--rate-limit", "0", "--mock-api", "--db-connections", "8", "--sim-duration", "12h",
         "--run-id", "join", "--runs-dir", str(tmp_path / "runs")],
        workers=1, env=env, tmp=tmp_path,
    )  # fmt: skip
    first = start_worker(port, env=env, tmp=tmp_path, log="w1.log")
    second = None
    try:
        mlog = tmp_path / "master.log"
        wait_for(lambda: "budget over 1 worker" in mlog.read_text(), timeout=90, what="run start")
        # The first worker is busy at its whole share: its agents have written an hour.
        probe = create_db_engine(url, total_connections=1, application_name="test-probe")
        try:
            wait_for(
                lambda: _safe_count(probe, "SELECT count(*) FROM agent_hours WHERE "
                                           "run_id = 'join' AND sim_hour >= 1") > 0,
                timeout=60, what="the first worker's agents to act",
            )  # fmt: skip
        finally:
            probe.dispose()
        second = start_worker(port, env=env, tmp=tmp_path, log="w2.log")
        wait_for(lambda: "budget over 2 worker" in mlog.read_text(), timeout=60, what="the join")
        master.wait(timeout=180)
    finally:
        for p in (master, first, second):
            if p is not None:
                stop(p)
    samples = sampler.stop()
    log = (tmp_path / "master.log").read_text()
    assert master.returncode == 0, log[-3000:]
    workers = [(tmp_path / w).read_text() for w in ("w1.log", "w2.log")]
    assert refused(log, *workers) == []
    assert "DB connections: master 4, each worker 4" in log  # 8 over the master and one
    assert "DB connections: master 2, each worker 3" in log  # 8 over the master and two
    # The joining worker got the run config (its first spawn can come before its init) and
    # its users played; the personas the first worker's users gave back went
    # to them with the release written first (the lease history has no overlap, and the
    # master never failed a step on its unique index). Only the first worker is sure to
    # name the flags it was overridden on: a joiner whose first spawn (which carries the
    # master's custom options, Locust's own doing) came before its init has none to name.
    assert "the master decides this run's options" in workers[0], workers[0][-2000:]
    assert "Traceback" not in log, log[-3000:]
    # The hand-over lost no agent-hour: every hour adds up against the master's lease book
    # (the run would exit 3 otherwise; this names the hours).
    with open(tmp_path / "runs" / "join" / "hours.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    gaps = {r["sim_hour"]: int(r["live_users"]) - sum(int(r[k]) for k in ("acted", "missed", "not_owed"))
            for r in rows}  # fmt: skip
    assert set(gaps.values()) == {0}, gaps
    print(
        f"[figure] join: {sum(int(r['live_users']) for r in rows)} live agent-hours, "
        f"{sum(int(r['missed']) for r in rows)} missed, "
        f"{sum(int(r['not_owed']) for r in rows)} not owed"
    )
    probe = create_db_engine(url, total_connections=1, application_name="test-probe")
    try:
        joined = _safe_count(probe, "SELECT count(DISTINCT agent_id) FROM agent_hours WHERE "
                                    "run_id = 'join' AND worker LIKE 'worker1%'")  # fmt: skip
        overlaps = lease_overlaps(probe, "join")
    finally:
        probe.dispose()
    # Its users played (how many depends on when it joined: the first worker's stopping
    # users keep their personas until their hour is done; without its config, none).
    assert joined > 0, joined
    assert overlaps == 0
    print(f"[figure] join: harness connections max {max(samples)} of 8, {len(samples)} samples")
    assert max(samples) >= 3, samples


def _password_role(eng, dbname: str) -> str:
    """A login role with a password (the embedded server trusts local connections, so the
    password is carried, not checked — what matters is that it never travels)."""
    with eng.begin() as conn:
        conn.execute(text("DROP ROLE IF EXISTS wire_user"))
        conn.execute(text(f"CREATE ROLE wire_user LOGIN SUPERUSER PASSWORD '{PASSWORD}'"))
    return "wire_user"


def test_a_fake_worker_receives_no_password(busy_db, tmp_path):
    url, eng, dbname = busy_db
    role = _password_role(eng, dbname)
    from sqlalchemy import make_url

    secret_url = make_url(url).set(username=role, password=PASSWORD)
    db_url = secret_url.render_as_string(hide_password=False)
    assert PASSWORD in db_url
    out = tmp_path / "wire.jsonl"
    master, port = start_master(
        [*BASE, "--rate-limit", "0", "--mock-api", "--sim-duration", "3h", "--run-id", "wire",
         "--runs-dir", str(tmp_path / "runs")],
        workers=1, env=harness_env(db_url, tmp_path), tmp=tmp_path,
    )  # fmt: skip
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_worker", "--port", port, "--out", str(out),
         "--seconds", "90", "--give-up", "1"],
        cwd=str(ROOT), env=harness_env(None, tmp_path), stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "fake.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    try:
        rc = master.wait(timeout=120)
        fake.wait(timeout=30)
    finally:
        stop(master)
        if fake.poll() is None:
            fake.kill()
    # The fake never uses its grant and gives the request up (its grant "lost" on the way):
    # the master frees the persona with one line, and a run in which no agent-hour was
    # acted or missed fails with exit 3 and its reason, never a silent 0.
    mlog = (tmp_path / "master.log").read_text()
    assert sum("but the grant never arrived" in ln for ln in mlog.splitlines()) == 1, mlog[-3000:]
    assert rc == 3, mlog[-3000:]
    assert (
        "[FAIL] run: no agent-hour was acted or counted missed in 3 simulated hour(s): 0 lease "
        "requests got no answer in time and 1 grants never reached their worker"
    ) in mlog
    msgs = [json.loads(line) for line in out.read_text().splitlines()]
    types = {m["type"] for m in msgs}
    assert {"ack", "spawn", "loadsim_config", "loadsim_grant"} <= types, (
        types, (tmp_path / "master.log").read_text()[-3000:])  # fmt: skip
    secret = PASSWORD.encode().hex()
    leaked = [m["type"] for m in msgs if secret in m["raw"]]
    assert leaked == [], f"password on the wire in {leaked}"
    config = next(m["data"] for m in msgs if m["type"] == "loadsim_config")
    assert config["database_url"] is None
    assert config["db"]["user"] == role and config["db"]["database"] == dbname
    assert config["harness"]["run_id"] == "wire"
    manifest = json.loads((tmp_path / "runs" / "wire" / "manifest.json").read_text())
    assert PASSWORD not in json.dumps(manifest) and manifest["database"].startswith(role + "@")


def test_a_worker_on_another_database_refuses_to_join(busy_db, pg_server, tmp_path):
    url, eng, dbname = busy_db
    other = pg_server.create_database("dist_other", drop_first=True)
    master, port = start_master(
        [*BASE, "--rate-limit", "0", "--mock-api", "--sim-duration", "3h", "--run-id", "other",
         "--runs-dir", str(tmp_path / "runs")],
        workers=1, env=harness_env(url, tmp_path), tmp=tmp_path,
    )  # fmt: skip
    worker = start_worker(port, env=harness_env(other, tmp_path), tmp=tmp_path, log="worker.log")
    mlog = tmp_path / "master.log"
    try:
        worker_rc = worker.wait(timeout=90)
        # Once the master has logged the refusal the test has seen what it needs: stop the
        # master rather than wait ~7 s for Locust to give the silent worker up.
        wait_for(lambda: "refused to join the run" in mlog.read_text(), timeout=30,
                 what="the master to log the refusal")  # fmt: skip
    finally:
        stop(master)
        stop(worker)
    worker_log = (tmp_path / "worker.log").read_text()
    lines = [ln for ln in worker_log.splitlines() if "refuses to join" in ln]
    assert len(lines) == 1 and "dist_other" in lines[0] and dbname in lines[0], worker_log[-2000:]
    assert "Traceback" not in worker_log and worker_rc == 2
    assert "refused to join the run" in mlog.read_text()


# ------------------------------------------------------------------ rate limit


def test_rate_limit_is_global_and_whole(busy_db, api, tmp_path):
    """Every request the harness sends — the agents', and the master's /health and
    /time/advance — counts: the server's busiest 10 s stays within 5 % of the limit with
    two workers, with three, and across the join of the third (the master re-divides the
    limit). One run for both worker counts (they were two runs of ~40 s each)."""
    url, eng, _ = busy_db
    limit = 20.0
    env = harness_env(url, tmp_path)
    master, port = start_master(
        [*BASE, "--rate-limit", str(limit), "--browse-via", "api", "--host", api.url,
         "--sim-duration", "14h", "--run-id", "rate", "--runs-dir", str(tmp_path / "runs"),
         # Throttled users are mid-hour at the end: the limit, not their graceful stop, is
         # the point (the workers' stop timeout comes from the master).
         "--stop-timeout", "5"],
        workers=2, env=env, tmp=tmp_path,
    )  # fmt: skip
    procs = [start_worker(port, env=env, tmp=tmp_path, log=f"worker{i}.log") for i in range(2)]
    mlog = tmp_path / "master.log"
    try:
        wait_for(lambda: "budget over 2 worker" in mlog.read_text(), timeout=90, what="run start")
        # Two workers until the server has seen 12 s of requests and the limit setting the
        # pace (a busiest 10 s at 80 % of it: past the start), then a third.
        wait_for(lambda: _paced(api.requests(), 0.8 * limit * 10), timeout=90,
                 what="two workers at the limit")  # fmt: skip
        procs.append(start_worker(port, env=env, tmp=tmp_path, log="worker2.log"))
        wait_for(lambda: "budget over 3 worker" in mlog.read_text(), timeout=60,
                 what="the third worker")  # fmt: skip
        joined = time.time()  # the re-divided limit went out at most one poll (0.2 s) ago
        rc = master.wait(timeout=240)
        rcs = [p.wait(timeout=90) for p in procs]
    finally:
        for p in (master, *procs):
            stop(p)
    master_log = mlog.read_text()
    assert rc == 0, master_log[-3000:]
    assert rcs == [0, 0, 0], rcs
    reqs = api.requests()
    times = [t for t, _ in reqs]  # everything the harness sent, its start-up probe included
    control = sum(1 for _, p in reqs if p.startswith(("/health", "/time/")))
    assert control > 0  # the master's traffic reached the server and was counted
    phases = {
        2: [t for t in times if t < joined - 0.2],
        3: [t for t in times if t >= joined],
        "2+3": times,  # the join itself: shares re-divided, no burst over the limit
    }
    for workers, ts in phases.items():
        busiest = busiest_window(ts)
        span = ts[-1] - ts[0]
        print(f"[figure] rate {limit:g}/s over {workers} workers: busiest 10 s {busiest} "
              f"requests ({busiest / 10 / limit:.3f} x limit), {len(ts)} in {span:.0f} s, "
              f"{control} control in the run")  # fmt: skip
        assert span >= 12, (workers, span)
        assert busiest <= 1.05 * limit * 10, (workers, busiest)
        assert busiest >= 0.5 * limit * 10, (workers, busiest)  # the limiter set the pace


def _paced(reqs: list[tuple[float, str]], busiest: float) -> bool:
    times = [t for t, _ in reqs]
    return bool(times) and times[-1] - times[0] >= 12 and busiest_window(times) >= busiest


# ------------------------------------------------------------------ lifecycle


def test_processes_end_with_a_master_that_fails_at_start(tmp_path):
    bad = f"postgresql://someone:{PASSWORD}@127.0.0.1:{free_port()}/nowhere"
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), *BASE,
         "--rate-limit", "0", "--mock-api", "--processes", "2", "--sim-duration", "2h",
         *zmq_port(), "--runs-dir", str(tmp_path / "runs")],
        env=harness_env(bad, tmp_path), cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err[-3000:]
    errors = [ln for ln in err.splitlines() if ln.startswith("loadsim: error:")]
    assert len(errors) == 1 and "127.0.0.1" in errors[0] and PASSWORD not in err, err[-3000:]
    assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert group_alive(proc.pid) == []


def test_processes_end_with_a_killed_master(tmp_path):
    log = tmp_path / "run.log"
    proc = start_locust(
        [*BASE, "--rate-limit", "0", "--mock-api", "--mock-db", "--processes", "2",
         "--sim-duration", "200h", *zmq_port(), "--runs-dir", str(tmp_path / "runs")],
        env=harness_env(None, tmp_path), cwd=tmp_path, log=log,
    )  # fmt: skip
    try:
        wait_for(lambda: "personas, time scale" in log.read_text(), timeout=90, what="run start")
        children = [p for p in group_alive(proc.pid) if p != proc.pid]
        assert len(children) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert group_alive(proc.pid) == [], log.read_text()[-2000:]
    finally:
        stop(proc, signal.SIGKILL)
    assert f"the master process (pid {proc.pid}) is gone" in log.read_text()


def test_a_hand_started_worker_leaves_when_its_master_is_gone(tmp_path):
    master, port = start_master(
        [*BASE, "--rate-limit", "0", "--mock-api", "--mock-db", "--sim-duration", "200h",
         "--runs-dir", str(tmp_path / "runs")],
        workers=1, env=harness_env(None, tmp_path), tmp=tmp_path,
    )  # fmt: skip
    worker = start_worker(
        port, env=harness_env(None, tmp_path, LOADSIM_MASTER_SILENCE_S="5"), tmp=tmp_path,
        log="worker.log",
    )  # fmt: skip
    try:
        wait_for(lambda: "personas, time scale" in (tmp_path / "master.log").read_text(),
                 timeout=90, what="run start")  # fmt: skip
        os.killpg(master.pid, signal.SIGKILL)
        killed = time.monotonic()
        rc = worker.wait(timeout=30)
        took = time.monotonic() - killed
    finally:
        stop(master, signal.SIGKILL)
        stop(worker, signal.SIGKILL)
    text_ = (tmp_path / "worker.log").read_text()
    assert "no heartbeat from the master at 127.0.0.1" in text_, text_[-2000:]
    print(f"[figure] worker left {took:.1f} s after its master was killed (silence limit 5 s)")
    assert rc == 1 and took < 20


def _safe_count(eng, sql: str) -> int:
    """A count while the run writes (the tables exist from the start: a failing query is
    a real error, never read as "not yet")."""
    from tests.e2e_support import count

    return count(eng, sql)
