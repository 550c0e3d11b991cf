"""``loadsim experiment report RUN`` — the readout of a run made with ``--experiment``.

Reads the run's manifest (the experiment: arms, control) and the database (what each
randomized persona did), and writes ``RUN/experiment.json`` (per arm and stratum; each
treatment against control with a 95 % interval over personas, Holm-corrected p-values and
the minimum detectable effect — ``reports.experiment``) and
``RUN/plots/experiment_forest.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from db.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    ep = sub.add_parser("experiment", help="offer experiments: the readout of a run")
    esub = ep.add_subparsers(dest="experiment_command", metavar="ACTION", required=True)
    rp = esub.add_parser(
        "report", help="experiment.json + forest plot of a run made with --experiment FILE"
    )
    rp.add_argument("run", metavar="RUN", help="run id (under --runs-dir) or a run directory")
    rp.add_argument(
        "--runs-dir", type=Path, default=Path("runs"), help="where runs live (default: ./runs)"
    )
    rp.set_defaults(func=_report)


def experiment_of(run_dir: Path) -> dict[str, Any]:
    """The manifest's ``experiment``.

    Raises:
        ConfigError: the run was not made with ``--experiment`` (one line, exit 2).
    """
    manifest = run_dir / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{manifest}: not valid JSON ({exc})") from None
    exp = data.get("experiment")
    if not isinstance(exp, dict) or not exp.get("arms"):
        raise ConfigError(
            f"{run_dir.name}: not an experiment run (manifest.json has no experiment; "
            "run with --experiment FILE)"
        )
    if data.get("mock_db"):
        raise ConfigError(f"{run_dir.name}: a --mock-db run recorded nothing to read out")
    return dict(exp, run_id=data.get("run_id", run_dir.name))


def render(result: dict[str, Any]) -> str:
    """A few lines for the console: personas per arm, then each comparison."""
    lines = [
        "arms: " + ", ".join(
            f"{a['arm']} {a['personas']}" + (" (control)" if a["control"] else "")
            + (" (persona-side)" if a["persona_side"] else "")
            for a in result["arms"]
        )
    ]  # fmt: skip
    for m in result["metrics"]:
        if m["diff"] is None:
            lines.append(f"  {m['arm']:>12} {m['metric']:<36} n/a")
            continue
        lo, hi = m["ci_low"], m["ci_high"]
        ci = f"[{lo:+.4g}, {hi:+.4g}]" if lo is not None else "[n/a]"
        p = f"p={m['p_value']:.3g}" if m["p_value"] is not None else "p=n/a"
        star = " *" if m["significant"] else ""
        lines.append(
            f"  {m['arm']:>12} {m['metric']:<36} {m['control']:.4g} -> {m['value']:.4g} "
            f"diff {m['diff']:+.4g} {ci} {p}{star}"
        )
    return "\n".join(lines)


def _report(args: argparse.Namespace) -> int:
    from harness.cli.commands.reports import _engine, require_run, resolve_run_dir

    run_dir = require_run(resolve_run_dir(args.run, args.runs_dir))
    exp = experiment_of(run_dir)
    from reports.experiment_data import write_readout

    with _engine(True) as engine:
        result = write_readout(
            run_dir, engine, run_id=exp["run_id"], control=exp["control"], arms=exp["arms"]
        )
    print(render(result))
    print(
        f"experiment readout written to {run_dir}/ (experiment.json, plots/experiment_forest.png)"
    )
    return 0
