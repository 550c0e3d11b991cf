"""What the harness costs per request and per shopping session against a plain Locust
``FastHttpUser`` issuing the same requests, layer by layer.

    .venv/bin/python bench/bench_overhead.py                  # quick: ~4 min
    .venv/bin/python bench/bench_overhead.py --agents 10000 --time-scale 168 --sim-hours 4
    .venv/bin/python bench/bench_overhead.py --smoke    # runs 2 and 3 only, tiny: they work

One invocation, one machine state, five Locust runs against one minimal loopback server
(``_loopback_api.py``, its own process, so its CPU is not the client's):

1. ``http+db``: the full harness — graph, HttpShop over FastHttpSession, per-agent commits
   to a fresh embedded Postgres (the Postgres server's CPU is not counted, only the Locust
   process's);
2. ``http``: the same with ``--mock-db`` (the server records every request it gets);
3. ``plain``: a plain ``FastHttpUser`` replaying exactly the requests run 2 sent, back to
   back (``_plain_locustfile.py``) — the baseline;
4. ``mock``: ``--mock-api --mock-db`` (graph + in-memory shop, no I/O);
5. ``none``: ``--mock-api --mock-db`` with personas that never shop (``shopping_frequency
   0``): what an agent-hour without shopping costs (clock, scheduling, decision, counters).

Client CPU is psutil's user+system time of the Locust process from "All users spawned" to
the end. Requests per CPU-second is what one worker process generates when it is CPU-bound.
No-shopping hours are ~96 % of a run's agent-hours, so a session's own cost is measured
directly, without them, by bench_session_cost.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness_run import ROOT, HarnessRun, machine, run_locust, workbook  # noqa: E402
from bench._smoke import add_smoke  # noqa: E402

SIM_START = "2026-01-10T09:00:00+00:00"  # Saturday morning: the week's busiest hours
HTTP_TYPES = ("GET", "POST", "DELETE")


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--time-scale", type=float, default=840.0, help="high: many sessions fast")
    ap.add_argument("--sim-hours", type=int, default=6)
    ap.add_argument("--plain-seconds", type=int, default=30)
    ap.add_argument("--plain-users", type=int, default=20)
    ap.add_argument("--skip-db", action="store_true", help="skip run 1 (embedded Postgres)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "loadsim-bench"))
    add_smoke(ap)
    a = ap.parse_args(argv)
    if a.smoke:  # five Locust runs would take a minute: the recorded run and its replay only
        a.agents, a.time_scale, a.sim_hours, a.skip_db = 20, 3600.0, 2, True
        a.plain_seconds, a.plain_users = 2, 2
    return a


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Loopback:
    """The loopback server as a subprocess (recording optional)."""

    def __init__(self, record: Path | None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, str(ROOT / "bench" / "_loopback_api.py"), "--port", str(self.port)]
        if record is not None:
            cmd += ["--record", str(record)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("loopback server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _cpu(run: HarnessRun) -> float:
    """Client CPU from the moment users were spawned to the end of the run."""
    return run.cpu_between(run.spawned_at or 0.0, run.wall_s + 1)


def _http_requests(run: HarnessRun) -> int:
    return sum(run.requests(t) for t in HTTP_TYPES)


def _harness(
    name: str, extra: list[str], wb: Path, a: argparse.Namespace, env: dict[str, str] | None = None
) -> HarnessRun:
    runs = Path(a.cache) / "runs"
    run_id = f"ovh-{name}"
    shutil.rmtree(runs / run_id, ignore_errors=True)
    args = [
        "--personas", str(wb), "--time-scale", str(a.time_scale), "--ramp", "0:100",
        "--sim-duration", f"{a.sim_hours}h", "--sim-start", SIM_START, "--rate-limit", "0",
        *extra,
    ]  # fmt: skip
    timeout = a.sim_hours * 3600 / a.time_scale + 240
    run = run_locust(args, run_id=run_id, runs_dir=runs, timeout_s=timeout, env=env)
    shutil.rmtree(ROOT / "data" / "checkpoints" / run_id, ignore_errors=True)
    if run.rc != 0:
        print(f"# WARNING: run {name} exited {run.rc}; see {run.log_path}", flush=True)
    return run


def _row(name: str, run: HarnessRun) -> dict[str, float]:
    cpu = _cpu(run)
    acted = run.total("acted", steady=False)
    sessions = run.total("shopped", steady=False) + run.total("idle", steady=False)
    none_hours = acted - sessions
    reqs = _http_requests(run)
    return {
        "name": name, "cpu_s": cpu, "agent_hours": acted, "sessions": sessions,
        "none_hours": none_hours, "requests": reqs,
        "req_per_cpu_s": reqs / cpu if cpu and reqs else 0.0,
        "ms_per_agent_hour": 1000 * cpu / max(1, acted),
        "rc": run.rc,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    cache = Path(a.cache)
    print(f"# bench_overhead — {machine()}")
    print(f"# command: {' '.join(sys.argv)}", flush=True)
    wb = workbook(a.agents, cache / "workbooks")
    wb_none = workbook(a.agents, cache / "workbooks", shopping_frequency=0.0)
    work = Path(tempfile.mkdtemp(prefix="ovh-", dir=cache))
    runs: dict[str, HarnessRun] = {}
    try:
        rec = work / "requests.jsonl"
        server = Loopback(record=rec)
        try:
            runs["http"] = _harness("http", ["--host", server.url, "--mock-db"], wb, a)
        finally:
            server.stop()
        server = Loopback(record=None)
        try:
            if not a.skip_db:  # a fresh embedded Postgres, seeded with the same personas
                env = {"LOADSIM_HOME": str(work / "home")}
                runs["http+db"] = _harness("http-db", ["--host", server.url], wb, a, env)
            plain_dir = cache / "runs"
            shutil.rmtree(plain_dir / "ovh-plain", ignore_errors=True)
            runs["plain"] = run_locust(
                ["-H", server.url, "-u", str(a.plain_users), "-r", str(a.plain_users),
                 "-t", f"{a.plain_seconds}s"],
                run_id="ovh-plain", runs_dir=plain_dir, timeout_s=a.plain_seconds + 120,
                locustfile="bench/_plain_locustfile.py", env={"BENCH_SEQUENCES": str(rec)},
                harness=False,
            )  # fmt: skip
        finally:
            server.stop()
        if not a.smoke:
            runs["mock"] = _harness("mock", ["--mock-api", "--mock-db"], wb, a)
            runs["none"] = _harness("none", ["--mock-api", "--mock-db"], wb_none, a)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(runs, a)
    if a.smoke:  # the runs themselves must work; their figures are not judged
        bad = {k: r.rc for k, r in runs.items() if r.rc != 0}
        if bad or not _http_requests(runs["http"]) or not runs["plain"].requests():
            print(f"smoke: exit codes {bad}, see {runs['http'].log_path}")
            return 1
    return 0


def report(runs: dict[str, HarnessRun], a: argparse.Namespace) -> None:
    """Print the per-layer table and the ratios."""
    plain = runs["plain"]
    p_cpu = _cpu(plain)
    p_reqs = plain.requests()
    p_ms_per_req = 1000 * p_cpu / max(1, p_reqs)
    print(
        f"# {a.agents:,} agents, {a.time_scale:g}x, {a.sim_hours} simulated hours from "
        f"{SIM_START}; plain: {a.plain_users} users for {a.plain_seconds} s"
    )
    print(
        "| run | client CPU s | agent-hours | sessions | HTTP requests | requests / CPU-s | "
        "CPU ms / agent-hour | rc |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    rows = {}
    for name in ("http+db", "http", "mock", "none"):
        if name not in runs:
            continue
        r = rows[name] = _row(name, runs[name])
        print(
            f"| {name} | {r['cpu_s']:.1f} | {r['agent_hours']:,} | {r['sessions']:,} | "
            f"{r['requests']:,} | {r['req_per_cpu_s']:.0f} | {r['ms_per_agent_hour']:.3f} | "
            f"{r['rc']} |"
        )
    print(
        f"| plain FastHttpUser | {p_cpu:.1f} | - | - | {p_reqs:,} | {1000 / p_ms_per_req:.0f} | "
        f"- | {plain.rc} |"
    )
    print()
    for name in ("http+db", "http"):
        if name in rows:
            ratio = rows[name]["req_per_cpu_s"] * p_ms_per_req / 1000
            print(
                f"{name}: overhead ratio (requests per CPU-second, harness ÷ plain, every "
                f"agent-hour included) = {ratio:.3f}"
            )
    if "none" in runs:
        none = runs["none"]
        c_none = 1000 * _cpu(none) / max(1, none.total("acted", steady=False))
        print(
            f"no-shopping agent-hour (run 'none', end to end): {c_none:.3f} CPU ms; compare "
            f"with a session's CPU from bench_session_cost.py"
        )
    print(json.dumps({k: {kk: vv for kk, vv in v.items()} for k, v in rows.items()}, default=str))


if __name__ == "__main__":
    sys.exit(main())
