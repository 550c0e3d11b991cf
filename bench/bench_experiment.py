"""Is the experiment readout right? ``loadsim experiment simulate`` over many seeds.

Two experiment files (written to a temporary directory, arms 0.5 / 0.5, stratified by
income): an A/A file (two identical arms) and a planted-effect file (``deeper`` with
``discount_multiplier = 2.0``). Each seed is one replication: one ``loadsim experiment
simulate`` process (imports, graph compile, every persona's hours, readout, forest plot),
timed from outside. With ``--personas`` above the shipped sample's 372, each seed draws a
fresh synthetic population, so the replications sample the same superpopulation.

The truth for coverage: the planted file simulated once (``--truth-seeds`` times, averaged)
on ``--truth-factor`` × the personas; its difference per metric is the true effect, and its
own standard error is printed beside it.

Reported:
- A/A: the share of seeds whose primary metric (orders per persona-week) is significant,
  with the 95 % binomial upper bound for a nominal 5 % over that many seeds; any metric;
- planted: the share of seeds whose redemption-rate differences have the right (positive)
  sign, and per metric the share whose 95 % interval covers the true effect;
- the cost of one replication (median wall seconds) and the load average.

    .venv/bin/python bench/bench_experiment.py --seeds 40 --personas 400 --weeks 2
    .venv/bin/python bench/bench_experiment.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from math import comb
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._smoke import add_smoke  # noqa: E402
from tests.experiment_files import AA, DEEPER  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOADSIM = ROOT / ".venv" / "bin" / "loadsim"
PRIMARY = "orders_per_persona_week"
REDEMPTION = ("redemption_rate_per_coupon", "redemption_rate_per_persona_cycle")


def binomial_upper(n: int, p: float = 0.05, level: float = 0.95) -> int:
    """The largest count k with P(X ≥ k) > 1 − level under Binomial(n, p): more than this
    many significant A/A seeds rejects a nominal ``p``."""
    tail = 1.0
    for k in range(n + 1):
        if tail <= 1 - level:
            return k - 1
        tail -= comb(n, k) * p**k * (1 - p) ** (n - k)
    return n


def simulate(file: Path, out: Path, *, personas: int, weeks: int, seed: int) -> tuple[dict, float]:
    """One replication: ``loadsim experiment simulate`` in its own process, timed."""
    cmd = [str(LOADSIM), "experiment", "simulate", str(file), "--personas", str(personas),
           "--weeks", str(weeks), "--seed", str(seed), "-o", str(out)]  # fmt: skip
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr[-2000:]}")
    return json.loads((out / "experiment.json").read_text(encoding="utf-8")), wall


def rows(result: dict) -> dict[str, dict]:
    return {m["metric"]: m for m in result["metrics"]}


def se_of(row: dict) -> float | None:
    if row["ci_low"] is None:
        return None
    return (row["ci_high"] - row["ci_low"]) / (2 * 1.959963984540054)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--personas", type=int, default=400)
    ap.add_argument("--weeks", type=int, default=2)
    ap.add_argument("--truth-factor", type=int, default=20)
    ap.add_argument("--truth-seeds", type=int, default=1)
    ap.add_argument("--only", choices=("aa", "planted"), default=None,
                    help="only the A/A file, or only the planted-effect file (and its truth)")  # fmt: skip
    ap.add_argument("--json", type=Path, default=None, help="write the summary here too")
    add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:
        args.seeds, args.personas, args.weeks, args.truth_factor = 1, 12, 1, 2
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    summary: dict = {"personas": args.personas, "weeks": args.weeks, "seeds": args.seeds}
    with tempfile.TemporaryDirectory(prefix="bench_experiment_") as tmp:
        d = Path(tmp)
        (d / "aa.toml").write_text(AA, encoding="utf-8")
        (d / "deep.toml").write_text(DEEPER, encoding="utf-8")

        if args.only != "aa":
            summary.update(planted(args, d, seeds))
        if args.only != "planted":
            summary["aa"] = aa(args, d, seeds)
    summary["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average {summary['loadavg']}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


def planted(args: argparse.Namespace, d: Path, seeds: range) -> dict:
    """The truth on a large population, then each seed's readout against it."""
    truths: list[dict[str, dict]] = []
    t_truth = 0.0
    big = args.personas * args.truth_factor
    for k in range(args.truth_seeds):
        res, wall = simulate(d / "deep.toml", d / f"truth-{k}", personas=big,
                             weeks=args.weeks, seed=10_000 + k)  # fmt: skip
        truths.append(rows(res))
        t_truth += wall
    metrics = list(truths[0])
    truth = {m: statistics.fmean(t[m]["diff"] for t in truths) for m in metrics}
    truth_se = {
        m: statistics.fmean(se_of(t[m]) or 0.0 for t in truths) / len(truths) ** 0.5
        for m in metrics
    }
    print(f"truth: {big} personas x {args.weeks} weeks x {args.truth_seeds} seed(s), "
          f"{t_truth:.0f} s", flush=True)  # fmt: skip
    for m in metrics:
        print(f"  {m:<36} diff {truth[m]:+.6g} (se {truth_se[m]:.3g})", flush=True)

    walls: list[float] = []
    per_seed: dict[int, dict] = {}
    positive = dict.fromkeys(metrics, 0)
    significant = dict.fromkeys(metrics, 0)
    covered = dict.fromkeys(metrics, 0)
    for s in seeds:
        res, wall = simulate(d / "deep.toml", d / f"deep-{s}", personas=args.personas,
                             weeks=args.weeks, seed=s)  # fmt: skip
        walls.append(wall)
        got = rows(res)
        per_seed[s] = {m: [r["diff"], r["ci_low"], r["ci_high"]] for m, r in got.items()}
        for m, row in got.items():
            if row["diff"] is None:
                continue
            positive[m] += row["diff"] > 0
            significant[m] += bool(row["significant"])
            if row["ci_low"] is not None and row["ci_low"] <= truth[m] <= row["ci_high"]:
                covered[m] += 1
        print(f"  seed {s}: {wall:.1f} s", flush=True)
    n = len(seeds)
    print(f"planted x2: {n} seeds, median {statistics.median(walls):.2f} s per replication")
    for m in metrics:
        print(f"  {m:<36} positive {positive[m]}/{n}  significant {significant[m]}/{n}  "
              f"CI covers truth {covered[m]}/{n} ({covered[m] / n:.1%})")  # fmt: skip
    return {
        "truth": {"personas": big, "diff": truth, "se": truth_se, "seconds": round(t_truth, 1)},
        "planted": {"median_seconds": round(statistics.median(walls), 2), "positive": positive,
                    "significant": significant, "covered": covered, "per_seed": per_seed},
    }  # fmt: skip


def aa(args: argparse.Namespace, d: Path, seeds: range) -> dict:
    """Two identical arms: how often the readout calls a difference significant."""
    walls: list[float] = []
    sig_primary = sig_any = 0
    for s in seeds:
        res, wall = simulate(d / "aa.toml", d / f"aa-{s}", personas=args.personas,
                             weeks=args.weeks, seed=s)  # fmt: skip
        walls.append(wall)
        r = rows(res)
        sig_primary += bool(r[PRIMARY]["significant"])
        sig_any += any(row["significant"] for row in r.values())
    n = len(seeds)
    bound = binomial_upper(n)
    print(f"A/A: {n} seeds, median {statistics.median(walls):.2f} s per replication")
    print(f"  {PRIMARY} significant {sig_primary}/{n} ({sig_primary / n:.1%}); "
          f"nominal 5 % allows <= {bound}/{n}; any metric {sig_any}/{n}")  # fmt: skip
    return {"median_seconds": round(statistics.median(walls), 2),
            "significant_primary": sig_primary, "significant_any": sig_any,
            "binomial_upper": bound}  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
