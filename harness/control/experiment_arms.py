"""The run's experiment (``--experiment FILE``) on the master: which arm each persona is in,
decided once before any agent acts, and where it goes.

- The assignment (``offer_engine.experiment``) is made when the director is built, so an
  arm left without personas is one line, exit 2, before anything is recorded.
- ``manifest.json`` gets the file's contents, its arms and the counts per arm and stratum;
  the database gets one ``experiment_assignments`` row per agent (the harness's own table,
  ``loadsim`` on an adopted database).
- A grant carries the agent's arm (and the arm's persona-side attributes in its persona),
  so the agent's sessions, events and requests carry it too.
- The local offer engine fills each arm's wallets with that arm's settings and discount
  multiplier; with ``--offer-engine target`` each user's arm goes with its refresh call.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from offer_engine.experiment import Assignment, Experiment, load_experiment

if TYPE_CHECKING:
    from db.settings import SimSettings
    from harness.config.options import HarnessOptions
    from harness.control.leases import LeasePool, PoolEntry

log = logging.getLogger("loadsim")

_INSERT = text(
    """
    INSERT INTO experiment_assignments (run_id, agent_id, persona_id, arm, stratum)
    SELECT :run_id, x.agent_id, x.persona_id, x.arm, x.stratum
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS x(agent_id bigint, persona_id text, arm text, stratum text)
    ON CONFLICT (run_id, agent_id) DO NOTHING
    """
)


@dataclass
class ExperimentArms:
    """The experiment of one run and its assignment, by agent and by user."""

    experiment: Experiment
    assignment: Assignment
    arm_of_agent: dict[int, str]
    arm_of_user: dict[int | str, str]  # int, or the owner's uuid string (LeaseEntry)
    stratum_of_agent: dict[int, str]
    persona_of_agent: dict[int, str]

    @classmethod
    def for_pool(cls, path: str, entries: list[PoolEntry]) -> ExperimentArms:
        """Load ``path`` and assign the pool's personas (``PoolEntry`` list).

        Raises:
            ExperimentError: a bad file, or an arm without personas (one line, exit 2).
        """
        exp = load_experiment(path)
        assignment = exp.assign(e.persona for e in entries)
        arms = cls(
            experiment=exp, assignment=assignment,
            arm_of_agent={e.agent_id: assignment.arm[e.persona_id] for e in entries},
            arm_of_user={e.user_id: assignment.arm[e.persona_id] for e in entries},
            stratum_of_agent={e.agent_id: assignment.stratum[e.persona_id] for e in entries},
            persona_of_agent={e.agent_id: e.persona_id for e in entries},
        )  # fmt: skip
        per_arm = {a: sum(s.values()) for a, s in assignment.counts().items()}
        log.info(
            "experiment %s: %s (control %s, stratified by %s)",
            path, ", ".join(f"{a} {n}" for a, n in per_arm.items()), exp.control,
            ", ".join(exp.stratify) or "nothing",
        )  # fmt: skip
        return arms

    def describe(self) -> dict[str, Any]:
        """The manifest's ``experiment``."""
        return self.experiment.describe(self.assignment)

    def grant(self, agent_id: int, persona: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The persona a grant carries (with the arm's persona-side attributes) and its arm."""
        name = self.arm_of_agent.get(agent_id)
        if name is None:
            return persona, None
        return self.experiment.arm(name).apply_persona(persona), name

    def record(self, engine: Engine, *, run_id: str) -> None:
        """One ``experiment_assignments`` row per agent (idempotent: a resumed run)."""
        rows = [
            {"agent_id": a, "persona_id": self.persona_of_agent[a], "arm": arm,
             "stratum": self.stratum_of_agent[a]}
            for a, arm in sorted(self.arm_of_agent.items())
        ]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(_INSERT, {"run_id": run_id, "rows": json.dumps(rows)})

    def wallet_policies(self, base: SimSettings) -> dict[int | str, tuple[SimSettings, float]]:
        """Per user: the offer settings and discount multiplier of its arm (users whose arm
        changes nothing are left out: they get the run's settings)."""
        per_arm = {
            a.name: (a.settings(base), a.multiplier)
            for a in self.experiment.arms
            if a.offer or a.multiplier != 1.0
        }  # one settings object per arm: the engine assigns an arm's users together
        return {u: per_arm[n] for u, n in self.arm_of_user.items() if n in per_arm}


def experiment_for(opts: HarnessOptions, pool: LeasePool) -> ExperimentArms | None:
    """The run's experiment, when ``--experiment`` was given (``None`` otherwise)."""
    path = getattr(opts, "experiment", "")
    return ExperimentArms.for_pool(path, list(pool.order)) if path else None
