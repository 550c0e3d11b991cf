"""Master and worker memory over a long simulated run, and the master's CPU.

    .venv/bin/python bench/bench_soak_memory.py                    # 10,000 agents, 7 days
    .venv/bin/python bench/bench_soak_memory.py --agents 2000 --days 1 --scale 3600
    .venv/bin/python bench/bench_soak_memory.py --smoke     # one tiny day with --census

One real ``locust --processes 2 --mock-api --mock-db`` run (a master and two forked
workers, ``--ramp 0:100``), sampled from outside with psutil every ``--sample-s``. It
prints each process's RSS at each simulated day (the sample nearest the day's end, by the
run's own ``hours.csv`` real times), the growth from day 1 to the last day, and the
master's CPU per 10,000 agents over the steady part of the run. At a high time scale the
workers cannot act every slot (many are missed): that costs them nothing in memory, and
the master's per-hour state is what the run is measuring. "Flat" means the growth after
day 1 is within noise (a few MB), not proportional to days × agents.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness_run import machine, run_locust  # noqa: E402
from _smoke import add_smoke  # noqa: E402
from bench_capacity import workbook  # noqa: E402

SIM_START = "2026-01-05T00:00:00+00:00"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1800.0, help="time scale")
    ap.add_argument("--sample-s", type=float, default=5.0)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "loadsim-bench"))
    ap.add_argument(
        "--tracemalloc", action="store_true",
        help="trace each worker's allocations (slow; for attribution, not for the RSS table): "
        "top-30 growth by traceback once per simulated day, in <runs>/<run id>.memtrace/",
    )  # fmt: skip
    ap.add_argument(
        "--census", action="store_true",
        help="count each worker's live objects by type and the suspect structures once per "
        "simulated day (cheap, no tracing), in <runs>/<run id>.memtrace/",
    )  # fmt: skip
    add_smoke(ap)
    a = ap.parse_args()
    if a.smoke:  # one simulated day in ~6 s, the census hook included
        a.agents, a.days, a.scale, a.sample_s, a.census = 20, 1, 14400.0, 0.5, True
    if a.agents < 1 or a.days < 1 or a.scale <= 0:
        ap.error("--agents, --days and --scale must be positive")
    cache = Path(a.cache)
    wb = workbook(a.agents, cache / "workbooks")
    run_id = f"soak-{a.agents}-{a.days}d-{int(a.scale)}x"
    runs_dir = cache / "runs"
    shutil.rmtree(runs_dir / run_id, ignore_errors=True)
    hours = 24 * a.days
    args = [
        "--personas", str(wb), "--time-scale", str(a.scale), "--ramp", "0:100",
        "--sim-duration", f"{hours}h", "--sim-start", SIM_START, "--rate-limit", "0",
        "--mock-api", "--mock-db", "--processes", "2", "--drain-seconds", "3",
    ]  # fmt: skip
    env: dict[str, str] = {}
    if a.tracemalloc or a.census:
        trace_dir = runs_dir / f"{run_id}.memtrace"
        shutil.rmtree(trace_dir, ignore_errors=True)
        env = {
            "PYTHONPATH": os.pathsep.join(
                [
                    str(Path(__file__).resolve().parent / "_memtrace"),
                    os.environ.get("PYTHONPATH", ""),
                ]
            ).rstrip(os.pathsep),
            "LOADSIM_MEMTRACE_DIR": str(trace_dir),
            "LOADSIM_MEMTRACE_EVERY_S": str(86400 / a.scale),
            "LOADSIM_MEMTRACE_MODE": "census" if a.census else "tracemalloc",
        }
        print(f"# {'census' if a.census else 'tracemalloc'} per simulated day: {trace_dir}")
    print(f"# {machine()}")
    print(f"# locust {' '.join(args)}")
    t0_wall = time.time()  # run_locust's t = 0 (within milliseconds)
    run = run_locust(
        args, run_id=run_id, runs_dir=runs_dir, timeout_s=hours * 3600 / a.scale + 300,
        sample_s=a.sample_s, env=env,
    )  # fmt: skip
    print(f"# rc {run.rc}, wall {run.wall_s:.0f} s, load avg now {os.getloadavg()[0]:.1f}")
    root = run.samples[0].pid
    pids = run.pids()
    names = {p: ("master" if p == root else f"worker{i}") for i, p in enumerate(pids)}
    print("| sim day | " + " | ".join(f"{names[p]} RSS MB" for p in pids) + " |")
    print("|---|" + "---|" * len(pids))
    per_day: dict[int, dict[int, float]] = {}
    for day in range(1, a.days + 1):
        t = _real_t_of_hour(run, 24 * day - 1, t0_wall)
        if t is None:
            continue
        row = {p: _rss_near(run, p, t) for p in pids}
        per_day[day] = row
        print(f"| {day} | " + " | ".join(f"{row[p]:.0f}" for p in pids) + " |")
    if len(per_day) >= 2:
        first, last = min(per_day), max(per_day)
        growth = ", ".join(
            f"{names[p]} {per_day[last][p] - per_day[first][p]:+.0f} MB" for p in pids
        )
        print(f"# growth day {first} -> day {last}: {growth}")
        t1 = _real_t_of_hour(run, 24 * first - 1, t0_wall) or 0.0
        t2 = _real_t_of_hour(run, 24 * last - 1, t0_wall) or run.wall_s
        cpu = _cpu_between(run, root, t1, t2)
        share = cpu / max(1e-9, t2 - t1)
        print(f"# master CPU day {first}-{last}: {cpu:.1f} s over {t2 - t1:.0f} s = "
              f"{100 * share:.1f} % of a core = {100 * share * 10_000 / a.agents:.1f} % "
              "of a core per 10,000 agents")  # fmt: skip
    acted = sum(int(h["acted"] or 0) for h in run.hours)
    missed = sum(int(h["missed"] or 0) for h in run.hours)
    print(f"# hours {len(run.hours)}, acted {acted}, missed {missed}")
    shutil.rmtree(run.run_dir, ignore_errors=True)
    if a.smoke:  # the run itself must work, and the census must have written its day
        traced = list((runs_dir / f"{run_id}.memtrace").glob("*"))
        print(f"# smoke: census files {len(traced)}")
        return 0 if run.rc == 0 and acted and traced else 1
    return 0 if run.rc in (0, 1) else 1


def _real_t_of_hour(run, hour: int, t0_wall: float) -> float | None:
    """Seconds into the run when simulated hour ``hour`` started (``hours.csv``)."""
    for h in run.hours:
        if int(h["sim_hour"]) == hour and h["real_time"]:
            return datetime.fromisoformat(h["real_time"]).timestamp() - t0_wall
    return None


def _rss_near(run, pid: int, t: float) -> float:
    xs = [s for s in run.samples if s.pid == pid]
    best = min(xs, key=lambda s: abs(s.t - t))
    return best.rss / 2**20


def _cpu_between(run, pid: int, t1: float, t2: float) -> float:
    xs = [s for s in run.samples if s.pid == pid]
    a = [s.cpu_s for s in xs if s.t <= t1]
    b = [s.cpu_s for s in xs if s.t <= t2]
    return (b[-1] if b else 0.0) - (a[-1] if a else 0.0)


if __name__ == "__main__":
    raise SystemExit(main())
