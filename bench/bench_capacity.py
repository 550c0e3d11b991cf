"""How many agents one worker process sustains, what each costs in memory and CPU, and how
``--processes 2`` scales it.

    .venv/bin/python bench/bench_capacity.py                 # quick: ~4 min
    .venv/bin/python bench/bench_capacity.py --agents 1000,5000,10000 --scales 96,168 \\
        --processes 1,2 --targets mock,reference             # the full table (~1 h)
    .venv/bin/python bench/bench_capacity.py --smoke         # one tiny run: it works

Each row is one real ``locust -f locustfile.py --headless`` run (``--ramp 0:100``, so every
persona is a user from the start; ``--rate-limit 0``), sampled from outside with psutil.
``--target mock`` is ``--mock-api --mock-db`` (the harness alone); ``reference`` starts the
embedded default (Postgres + ``reference_api``) in a fresh ``LOADSIM_HOME`` per row.
Simulated hour 0 is partial (users join during it) and is skipped.

A row *sustains* its agents when the worst counted hour's slip p99 is under
``--max-slip-pct`` (10 % of a simulated hour by default; the target is 1 %), no session was
missed and every agent acted in every counted hour. Memory: steady-state RSS of the process(es) running users, divided by the
agents; "marginal" is the growth from just before users were spawned.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness_run import (  # noqa: E402
    ROOT,
    HarnessRun,
    machine,
    profile_shares,
    run_locust,
    user_pids,
    workbook,
)
from bench._smoke import add_smoke  # noqa: E402

MB = 1024 * 1024
SIM_START = "2026-01-10T09:00:00+00:00"  # a Saturday morning: the week's busiest hours


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--agents", default="1000,10000", help="comma-separated agent counts")
    ap.add_argument("--scales", default="168", help="comma-separated time scales")
    ap.add_argument("--processes", default="1", help="comma-separated: 1 = standalone")
    ap.add_argument("--targets", default="mock", help="comma-separated: mock, reference")
    ap.add_argument("--sim-hours", type=int, default=3, help="simulated hours per run (>= 2)")
    ap.add_argument("--sim-start", default=SIM_START)
    ap.add_argument(
        "--skip-hours", type=int, default=1,
        help="count simulated hours from this one on (1: skip the partial hour 0; 2: also "
        "the hour in which every user acts for the first time)",
    )  # fmt: skip
    ap.add_argument("--max-slip-pct", type=float, default=10.0)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "loadsim-bench"))
    ap.add_argument("--keep", action="store_true", help="keep run directories")
    ap.add_argument(
        "--profile", type=float, default=0.0, metavar="SECONDS",
        help="py-spy the (first) user process this long, from hour 1 on; prints CPU shares",
    )  # fmt: skip
    add_smoke(ap)
    a = ap.parse_args(argv)
    if a.smoke:  # 20 agents, 2 simulated hours at 3600x (one counted): one run of seconds
        a.agents, a.scales, a.processes, a.targets = "20", "3600", "1", "mock"
        a.sim_hours, a.skip_hours, a.profile = 2, 1, 0.0
    if a.sim_hours <= a.skip_hours:
        ap.error("--sim-hours: must be more than --skip-hours")
    for t in a.targets.split(","):
        if t not in ("mock", "reference"):
            ap.error(f"--targets: unknown target {t!r} (mock, reference)")
    return a


def run_row(
    *, agents: int, scale: float, processes: int, target: str, a: argparse.Namespace
) -> dict[str, object]:
    """One capacity run; returns its figures."""
    cache = Path(a.cache)
    wb = workbook(agents, cache / "workbooks")
    run_id = f"cap-{target}-{agents}-{int(scale)}x-p{processes}"
    runs_dir = cache / "runs"
    shutil.rmtree(runs_dir / run_id, ignore_errors=True)
    args = [
        "--personas", str(wb), "--time-scale", str(scale), "--ramp", "0:100",
        "--sim-duration", f"{a.sim_hours}h", "--sim-start", a.sim_start, "--rate-limit", "0",
    ]  # fmt: skip
    env: dict[str, str] = {}
    home = None
    if target == "mock":
        args += ["--mock-api", "--mock-db"]
    else:
        home = Path(tempfile.mkdtemp(prefix="loadsim-cap-", dir=cache))
        env["LOADSIM_HOME"] = str(home)  # a fresh embedded Postgres seeded with these personas
        env.pop("DATABASE_URL", None)
    if processes > 1:
        args += ["--processes", str(processes)]
    sim_real_s = a.sim_hours * 3600 / scale
    raw = runs_dir / f"{run_id}.pyspy.raw"
    profile = (3600 / scale, min(a.profile, sim_real_s - 3600 / scale), raw) if a.profile else None
    run = run_locust(
        args, run_id=run_id, runs_dir=runs_dir, timeout_s=sim_real_s + 240,
        env=env, sample_s=1.0, profile=profile,
    )  # fmt: skip
    if profile and raw.exists():
        shares = profile_shares(raw)
        print(f"# py-spy {run_id}: " + "; ".join(f"{b} {100 * x:.0f} %" for b, x in shares))
    run.skip_hours = a.skip_hours
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(ROOT / "data" / "checkpoints" / run_id, ignore_errors=True)
    row = figures(run, agents=agents, scale=scale, processes=processes, target=target)
    if not a.keep:
        shutil.rmtree(run.run_dir, ignore_errors=True)
    return row


def figures(
    run: HarnessRun, *, agents: int, scale: float, processes: int, target: str
) -> dict[str, object]:
    """Capacity, memory and CPU figures of one run."""
    users_pids = user_pids(run)
    t_end = run.wall_s
    t0 = (run.spawned_at or 0.0) + 0.3 * (t_end - (run.spawned_at or 0.0))
    rss = [run.rss_at(p, t0, t_end) or 0 for p in users_pids]
    before = [run.rss_before_spawn(p) or 0 for p in users_pids]
    steady_cpu = run.cpu_between(t0, t_end - 8.0) if t_end - 8.0 > t0 else 0.0
    steady_wall = max(1e-9, (t_end - 8.0) - t0)
    acted = run.total("acted")
    slip = run.slip_p99_pct()
    missed = run.total("missed")
    # Slots of the counted hours that nobody acted on nor counted as missed: users that
    # were not running yet (a user joining after its slot starts with the next hour).
    not_acted = agents * len(run.steady_hours()) - acted - missed
    return {
        "target": target, "agents": agents, "scale": scale, "processes": processes,
        "rc": run.rc, "hours": len(run.steady_hours()), "acted": acted,
        "shopped": run.total("shopped"), "idle": run.total("idle"), "missed": missed,
        "not_acted": not_acted,
        "slip_p99_pct": slip,
        "slip_by_hour": " / ".join(
            f"{float(h['slip_p99_pct_hour']):.2f}" for h in run.steady_hours()
            if h["slip_p99_pct_hour"]
        ),
        "rss_mb": sum(rss) / MB,
        "kb_per_agent": sum(rss) / agents / 1024,
        "marginal_kb_per_agent": (sum(rss) - sum(before)) / agents / 1024 if all(before) else None,
        "cpu_pct": 100 * steady_cpu / steady_wall,
        "cpu_ms_per_agent_hour": 1000 * run.cpu_s() / max(1, run.total("acted", steady=False)),
        "wall_s": run.wall_s,
        "log": str(run.log_path),
    }  # fmt: skip


def sustains(row: dict[str, object], max_slip_pct: float) -> bool:
    slip = row["slip_p99_pct"]
    return (
        row["rc"] == 0
        and int(row["hours"]) >= 1  # type: ignore[call-overload]
        and slip is not None
        and float(slip) < max_slip_pct  # type: ignore[arg-type]
        and row["missed"] == 0
        and row["not_acted"] == 0
    )


def _fmt(row: dict[str, object], max_slip_pct: float) -> str:
    slip = row["slip_p99_pct"]
    marg = row["marginal_kb_per_agent"]
    return (
        f"| {row['target']} | {row['agents']:,} | {row['scale']:g}x | {row['processes']} | "
        f"{row['acted']:,} / {row['shopped']:,} / {row['idle']:,} | "
        f"{'-' if slip is None else f'{slip:.2f} %'} ({row['slip_by_hour']}) | {row['missed']:,} / {row['not_acted']:,} | "
        f"{'yes' if sustains(row, max_slip_pct) else 'NO'} | {row['cpu_pct']:.0f} % | "
        f"{row['cpu_ms_per_agent_hour']:.2f} | {row['rss_mb']:.0f} | {row['kb_per_agent']:.1f} | "
        f"{'-' if marg is None else f'{marg:.1f}'} | rc {row['rc']}, {row['wall_s']:.0f} s |"
    )


HEADER = (
    "| target | agents | scale | procs | acted / shopped / idle (counted hours) | slip p99 "
    "(worst hour, % of sim hour; by hour) | missed / not acted | sustains | CPU (steady) | CPU ms / agent-hour | "
    "RSS MB (user procs) | KB / agent | marginal KB / agent | run |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"
)


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    print(f"# bench_capacity — {machine()}")
    print(f"# command: {' '.join(sys.argv)}")
    print(HEADER, flush=True)
    rows = []
    for target in a.targets.split(","):
        for scale in (float(s) for s in a.scales.split(",")):
            for procs in (int(p) for p in a.processes.split(",")):
                for n in (int(x) for x in a.agents.split(",")):
                    row = run_row(agents=n, scale=scale, processes=procs, target=target, a=a)
                    rows.append(row)
                    print(_fmt(row, a.max_slip_pct), flush=True)
    print()
    for target in a.targets.split(","):
        for scale in (float(s) for s in a.scales.split(",")):
            best: dict[int, int] = {}
            for r in rows:
                if r["target"] == target and r["scale"] == scale and sustains(r, a.max_slip_pct):
                    p = int(r["processes"])  # type: ignore[call-overload]
                    best[p] = max(best.get(p, 0), int(r["agents"]))  # type: ignore[call-overload]
            parts = [f"{p} proc: {n:,}" for p, n in sorted(best.items())]
            if 1 in best and 2 in best:
                parts.append(f"ratio 2/1 = {best[2] / best[1]:.2f}")
            print(
                f"largest sustained ({target}, {scale:g}x, slip p99 < {a.max_slip_pct:g} %, "
                f"0 missed, all acted, hours >= {a.skip_hours}, of the counts tried): "
                f"{', '.join(parts) or 'none'}"
            )
    if a.smoke:  # the run itself must work; its figures are not judged
        bad = [r for r in rows if r["rc"] != 0 or not r["acted"]]
        for r in bad:
            print(f"smoke: run exit {r['rc']}, {r['acted']} agent-hours acted (log {r['log']})")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
