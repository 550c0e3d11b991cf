"""What each randomized persona of a run did, read from the database for the experiment
readout (``reports.experiment``): one :class:`~reports.experiment.PersonaOutcome` per row
of ``experiment_assignments`` — personas that never shopped included, as zeros.

- exposure: the simulated hours the agent was live in the run (its ``agent_hours`` rows,
  acted, quiet or missed) / 168 — the ramp brings personas in over time, in both arms alike;
- sessions: its ``shop`` sessions; orders: those with an order (``orders.subtotal_cents``
  is the basket value, ``total_cents`` the revenue, ``discount_cents`` the discount cost);
- coupons offered: its wallet's coupons assigned by the run's own offer cycles (the local
  engine), else — a target's engine — assigned within the run's simulated window;
  redeemed: those now ``redeemed``; cycles: distinct offer cycles among them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from db.errors import ConfigError
from reports.experiment import COMPLETE_JOURNEY, PersonaOutcome, forest_plot, readout

_OUTCOMES = text(
    """
    WITH r AS (
        SELECT sim_start, coalesce(sim_end, 'infinity'::timestamptz) AS sim_end,
               EXISTS (SELECT 1 FROM offer_cycles WHERE run_id = :run) AS own_cycles
        FROM simulation_runs WHERE run_id = :run
    ), a AS (
        SELECT e.agent_id, e.persona_id, e.arm, e.stratum, ag.user_id
        FROM experiment_assignments e LEFT JOIN agents ag ON ag.id = e.agent_id
        WHERE e.run_id = :run
    ), h AS (
        SELECT agent_id, count(*) AS hours FROM agent_hours WHERE run_id = :run GROUP BY agent_id
    ), s AS (
        SELECT s.agent_id,
               count(*) FILTER (WHERE s.kind = 'shop') AS sessions,
               count(*) FILTER (WHERE s.kind = 'shop' AND s.order_id IS NOT NULL) AS with_order,
               count(o.id) AS orders,
               coalesce(sum(o.subtotal_cents), 0) AS value,
               coalesce(sum(o.total_cents), 0) AS revenue,
               coalesce(sum(o.discount_cents), 0) AS discount
        FROM shopping_sessions s LEFT JOIN orders o ON o.id = s.order_id
        WHERE s.run_id = :run GROUP BY s.agent_id
    ), c AS (
        SELECT a.agent_id,
               count(uc.id) AS offered,
               count(uc.id) FILTER (WHERE uc.status = 'redeemed') AS redeemed,
               count(DISTINCT uc.offer_cycle_id) AS cycles,
               count(DISTINCT uc.offer_cycle_id) FILTER (WHERE uc.status = 'redeemed')
                   AS cycles_redeemed
        FROM a CROSS JOIN r JOIN user_coupons uc ON uc.user_id = a.user_id
        WHERE CASE WHEN r.own_cycles
                   THEN uc.offer_cycle_id IN (SELECT id FROM offer_cycles WHERE run_id = :run)
                   ELSE uc.assigned_sim_at >= r.sim_start AND uc.assigned_sim_at < r.sim_end END
        GROUP BY a.agent_id
    )
    SELECT a.persona_id, a.arm, a.stratum, coalesce(h.hours, 0) AS hours,
           coalesce(s.sessions, 0) AS sessions, coalesce(s.with_order, 0) AS with_order,
           coalesce(s.orders, 0) AS orders, coalesce(s.value, 0) AS value,
           coalesce(s.revenue, 0) AS revenue, coalesce(s.discount, 0) AS discount,
           coalesce(c.offered, 0) AS offered, coalesce(c.redeemed, 0) AS redeemed,
           coalesce(c.cycles, 0) AS cycles, coalesce(c.cycles_redeemed, 0) AS cycles_redeemed
    FROM a LEFT JOIN h ON h.agent_id = a.agent_id LEFT JOIN s ON s.agent_id = a.agent_id
        LEFT JOIN c ON c.agent_id = a.agent_id
    ORDER BY a.persona_id
    """
)


def load_outcomes(conn: Connection, *, run_id: str) -> list[PersonaOutcome]:
    """One outcome per persona the run randomized (empty: the run had no experiment)."""
    return [_outcome(r) for r in conn.execute(_OUTCOMES, {"run": run_id}).mappings()]


def _outcome(r: Any) -> PersonaOutcome:
    return PersonaOutcome(
        persona_id=r["persona_id"], arm=r["arm"], stratum=r["stratum"],
        weeks=float(r["hours"]) / 168.0, sessions=int(r["sessions"]),
        sessions_with_order=int(r["with_order"]), orders=int(r["orders"]),
        order_value_cents=int(r["value"]), revenue_cents=int(r["revenue"]),
        discount_cents=int(r["discount"]), coupons_offered=int(r["offered"]),
        redemptions=int(r["redeemed"]), cycles_offered=int(r["cycles"]),
        cycles_redeemed=int(r["cycles_redeemed"]),
    )  # fmt: skip


def offer_response(outcomes: Sequence[PersonaOutcome], control: str | None = None) -> str | None:
    """One line for the realism report: each arm's persona-cycles with at least one
    redemption over its persona-cycles with offers, beside Complete Journey's 12.0 % of
    household-campaigns (``reports.experiment.COMPLETE_JOURNEY``) — the control arm first
    and named as such (``None``: no randomized persona).

    Args:
        outcomes: the run's randomized personas (``load_outcomes``).
        control: the control arm's name, when known.
    """
    if not outcomes:
        return None
    tally: dict[str, list[int]] = {}
    for o in outcomes:
        t = tally.setdefault(o.arm, [0, 0])
        t[0] += o.cycles_redeemed
        t[1] += o.cycles_offered
    names = sorted(tally, key=lambda a: (a != control, a))
    parts = []
    for a in names:
        got, of = tally[a]
        share = f"{got / of:.1%}" if of else "n/a"
        label = f"control arm {a!r}" if a == control else f"arm {a!r}"
        parts.append(f"{label} {share} ({got} of {of} persona-cycles)")
    return (
        "offer response (persona-cycles with at least one redemption): "
        + "; ".join(parts)
        + f" — {COMPLETE_JOURNEY['what']}, i.e. {COMPLETE_JOURNEY['value']:.1%}"
    )


def control_of(conn: Connection, run_id: str) -> str | None:
    """The control arm of a run's experiment, from the file its options name (``None``
    when the run had none or the file is no longer readable)."""
    path = conn.execute(
        text("SELECT config->>'experiment' FROM simulation_runs WHERE run_id = :r"), {"r": run_id}
    ).scalar()
    if not path:
        return None
    import tomllib

    try:
        control = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("control")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return control if isinstance(control, str) else None


def write_readout(
    run_dir: Path, engine: Any, *, run_id: str, control: str, arms: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Read the outcomes, compute the readout, write ``run_dir/experiment.json`` and
    ``run_dir/plots/experiment_forest.png`` (``loadsim experiment report`` and a run's end).

    Raises:
        ConfigError: the database holds no assignment for ``run_id``.
    """
    with engine.connect() as conn:
        outcomes = load_outcomes(conn, run_id=run_id)
    if not outcomes:
        raise ConfigError(
            f"{run_id}: the database holds no experiment assignments for this run "
            "(another database, or a run that ended before it started)"
        )
    result = readout(outcomes, control=control, arms=arms)
    out = run_dir / "experiment.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out)
    forest_plot(result, run_dir / "plots" / "experiment_forest.png",
                title=f"experiment of {run_id} (control: {control})")  # fmt: skip
    if (run_dir / "report.xlsx").is_file():
        add_experiment_sheet(run_dir / "report.xlsx", result)
    return result


SHEET = "experiment"


def add_experiment_sheet(path: Path, result: dict[str, Any]) -> None:
    """The readout as a sheet of the run's ``report.xlsx`` (replaced when present): one row
    per treatment × metric, then each arm's values and persona counts. ``loadsim report``
    rebuilds the workbook without it; ``loadsim experiment report`` adds it again."""
    from openpyxl import load_workbook
    from openpyxl.styles import Font

    wb = load_workbook(path)
    if SHEET in wb.sheetnames:
        del wb[SHEET]
    ws = wb.create_sheet(SHEET)
    bold = Font(bold=True)
    keys = list(result["metrics"][0]) if result["metrics"] else []
    ws.append(["treatment vs control (95 % CI over personas, Holm-corrected p)"])
    ws.append(keys)
    for m in result["metrics"]:
        ws.append([m[k] for k in keys])
    ws.append([])
    metrics = list(result["arms"][0]["values"]) if result["arms"] else []
    ws.append(["arm", "control", "personas", "persona_weeks", "persona_side", *metrics])
    header_rows = (1, 2, ws.max_row)
    for a in result["arms"]:
        ws.append([a["arm"], a["control"], a["personas"], a["persona_weeks"],
                   a["persona_side"], *(a["values"][m] for m in metrics)])  # fmt: skip
    for r in header_rows:
        for cell in ws[r]:
            cell.font = bold
    tmp = path.with_name(path.name + ".tmp")
    wb.save(tmp)
    tmp.replace(path)
