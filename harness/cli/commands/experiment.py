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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from db.errors import ConfigError

if TYPE_CHECKING:
    from behaviors.run import HourResult
    from behaviors.shop import WalletCoupon
    from offer_engine.experiment import Experiment
    from personas.model import Persona
    from reports.experiment import PersonaOutcome


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

    for name, helptext in (
        ("simulate", "the whole experiment offline (no API, no database): DIR/experiment.json"),
        ("plan", "the minimum detectable effect per metric, from a fast offline pilot"),
    ):
        sp = esub.add_parser(name, help=helptext)
        sp.add_argument("file", metavar="FILE", help="the experiment file (TOML)")
        sp.add_argument("--personas", type=int, default=372,
                        help="how many personas (the shipped sample's first N; beyond 372 "
                        "synthetic ones, a fresh draw for each --seed)")  # fmt: skip
        sp.add_argument("--weeks", type=int, default=4, help="simulated weeks (default 4)")
        sp.add_argument("--seed", type=int, default=None,
                        help="the randomization and run seed (default: the file's seed)")  # fmt: skip
        if name == "simulate":
            sp.add_argument("-o", "--out", type=Path, required=True, metavar="DIR")
        sp.set_defaults(func=_simulate if name == "simulate" else _plan)


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


def _population(n: int, seed: int = 0) -> list[Persona]:
    """The shipped sample's first ``n`` personas; beyond its size ``n`` synthetic ones drawn
    with ``seed`` (each replication of a large offline experiment its own population)."""
    from personas import SAMPLE_PATH
    from personas.reader import read_personas

    people = read_personas(SAMPLE_PATH)
    if n <= len(people):
        return people[:n]
    from personas.sample import generate_personas

    return generate_personas(n, seed=seed)


def simulate_outcomes(
    exp: Experiment, personas: list[Persona], *, weeks: int, seed: int
) -> list[PersonaOutcome]:
    """Every persona through ``weeks`` offline weeks (the rules and graph of ``loadsim
    calibrate``, the in-memory shop), each with its arm's weekly wallet and persona-side
    attributes: one ``PersonaOutcome`` per persona.

    Offline, a wallet is one cycle's (``behaviors.synthetic.weekly_wallet``: 2 frontstore +
    6 category/brand coupons, renewed weekly): an arm's ``discount_multiplier`` scales its
    values, ``wallet_capacity`` and the per-cycle counts cut it (they cannot add coupons the
    offline wallet does not hold), and ``expiration_days`` has no effect (every wallet
    lasts its week).
    """
    from dataclasses import replace

    from behaviors.calibration import calibrate
    from behaviors.synthetic import weekly_wallet
    from harness.agent.catalog_cache import CatalogCache
    from personas.catalog import DEFAULT_CATALOG_SEED, generate_catalog
    from personas.model import Persona
    from reports.experiment import PersonaOutcome

    exp = exp.with_seed(seed)
    assignment = exp.assign(personas)
    arms = {a.name: a for a in exp.arms}
    people = [
        Persona(**arms[assignment.arm[p.persona_id]].apply_persona(p.model_dump(mode="json")))
        for p in personas
    ]
    stats: dict[str, dict[str, Any]] = {
        p.persona_id: {"offered": 0, "cycles": 0, "weeks_redeemed": set(), "sessions": 0,
                       "orders": 0, "value": 0, "revenue": 0, "discount": 0, "redeemed": 0}
        for p in people
    }  # fmt: skip

    def wallet(persona: Persona, week: int) -> list[WalletCoupon]:
        arm = arms[assignment.arm[persona.persona_id]]
        coupons = weekly_wallet(persona, week)
        m = arm.multiplier
        if m != 1.0:
            coupons = [
                replace(c, discount_value=max(1, min(100, round(c.discount_value * m))
                        if c.discount_type == "percent" else round(c.discount_value * m)),
                        catalog_value=c.discount_value)
                for c in coupons
            ]  # fmt: skip
        front = [c for c in coupons if c.kind == "frontstore"]
        other = [c for c in coupons if c.kind != "frontstore"]
        front = front[: arm.offer.get("frontstore_per_cycle", len(front))]
        other = other[: arm.offer.get("category_brand_per_cycle", len(other))]
        coupons = (front + other)[: arm.offer.get("max_wallet_capacity", len(coupons))]
        st = stats[persona.persona_id]
        st["offered"] += len(coupons)
        st["cycles"] += 1 if coupons else 0
        return coupons

    def on_session(persona: Persona, sim_hour: int, slot: datetime, r: HourResult) -> None:
        st = stats[persona.persona_id]
        st["sessions"] += 1
        if r.order is not None:
            st["orders"] += 1
            st["value"] += r.cart_value_cents + r.discount_cents
            st["revenue"] += r.cart_value_cents
            st["discount"] += r.discount_cents
            if r.coupon_applied:
                st["redeemed"] += 1
                st["weeks_redeemed"].add(sim_hour // 168)

    catalog = CatalogCache.from_generated(generate_catalog(seed=DEFAULT_CATALOG_SEED))
    calibrate(people, weeks=weeks, seed=seed, products=list(catalog.products),
              store_ids=catalog.stores, wallet_factory=wallet, on_session=on_session)  # fmt: skip
    return [
        PersonaOutcome(
            persona_id=p.persona_id,
            arm=assignment.arm[p.persona_id],
            stratum=assignment.stratum[p.persona_id],
            weeks=float(weeks),
            sessions=st["sessions"],
            sessions_with_order=st["orders"],
            orders=st["orders"],
            order_value_cents=st["value"],
            revenue_cents=st["revenue"],
            discount_cents=st["discount"],
            coupons_offered=st["offered"],
            redemptions=st["redeemed"],
            cycles_offered=st["cycles"],
            cycles_redeemed=len(st["weeks_redeemed"]),
        )  # fmt: skip
        for p in people
        for st in (stats[p.persona_id],)
    ]


def _offline(args: argparse.Namespace) -> tuple[Experiment, dict[str, Any]]:
    from offer_engine.experiment import load_experiment
    from reports.experiment import readout

    if args.weeks < 1:
        raise ConfigError(f"--weeks: must be at least 1 (got {args.weeks})")
    if args.personas < 2:
        raise ConfigError(f"--personas: must be at least 2 (got {args.personas})")
    exp = load_experiment(args.file)
    seed = exp.seed if args.seed is None else args.seed
    people = _population(args.personas, seed)
    outcomes = simulate_outcomes(exp, people, weeks=args.weeks, seed=seed)
    return exp, readout(outcomes, control=exp.control, arms=[a.describe() for a in exp.arms])


def _simulate(args: argparse.Namespace) -> int:
    import time

    from reports.experiment import forest_plot

    t0 = time.perf_counter()
    exp, result = _offline(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "experiment.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    forest_plot(result, out / "experiment_forest.png", title=f"offline: {Path(args.file).name}")
    print(render(result))
    print(f"offline experiment written to {out}/ (experiment.json, experiment_forest.png) "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    return 0


def _plan(args: argparse.Namespace) -> int:
    exp, result = _offline(args)
    print(f"minimum detectable effect at 80 % power, alpha 0.05, {args.personas} personas, "
          f"{args.weeks} weeks (offline pilot):")  # fmt: skip
    for arm in result["arms"]:
        if arm["control"]:
            continue
        for metric, p in arm["power"].items():
            control = next(a for a in result["arms"] if a["control"])["values"][metric]
            rel = f"{p['relative_mde']:.1%}" if p["relative_mde"] is not None else "n/a"
            mde = f"{p['mde']:.4g}" if p["mde"] is not None else "n/a"
            print(f"  {arm['arm']:>12} {metric:<36} control {control} MDE {mde} ({rel})")
    return 0
