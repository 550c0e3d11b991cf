"""``loadsim demo`` — the main job on the embedded default, headless, with a summary."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="a short headless simulation on the embedded default (Postgres + reference API)",
        description=(
            "Runs `locust -f locustfile.py --headless` with the bundled 372 personas at 168x "
            "through the whole warm-up ramp (10 simulated hours, about 4 real minutes), then "
            "prints the run summary. Outputs go to runs/<run_id>/."
        ),
    )
    p.add_argument("--time-scale", type=float, default=168.0, help="default: 168")
    p.add_argument("--sim-duration", default="10h", help="default: 10h (the ramp ends at hour 8)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--sim-start",
        default="2026-01-10T08:00:00+00:00",
        help="default: a Saturday 08:00, so a short demo sees daytime shopping",
    )
    p.add_argument(
        "--processes", type=int, default=0, help="locust --processes N (default: standalone)"
    )
    p.add_argument("extra", nargs=argparse.REMAINDER, help="further locust options after --")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    run_id = datetime.now(UTC).strftime("demo-%Y%m%d-%H%M%S")
    cmd = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless",
        "--time-scale", str(args.time_scale), "--sim-duration", args.sim_duration,
        "--seed", str(args.seed), "--sim-start", args.sim_start, "--run-id", run_id,
        "--only-summary",
    ]  # fmt: skip
    if args.processes:
        cmd += ["--processes", str(args.processes)]
    cmd += [a for a in args.extra if a != "--"]
    print("running:", " ".join(cmd[2:]), flush=True)
    env = dict(os.environ)
    rc = subprocess.call(cmd, cwd=os.getcwd(), env=env)
    run_dir = Path("runs") / run_id
    if run_dir.is_dir():  # a run refused at start (bad option) has no outputs to point at
        shown = "report.html, summary.json, summary.txt, report.xlsx, plots/, locust_report.html"
        print(f"\nrun outputs: {run_dir}/ ({shown})")
        print(f"rebuild the report: .venv/bin/loadsim report {run_id}")
    return rc
