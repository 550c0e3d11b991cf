"""experiment arms: shopping_sessions.arm and experiment_assignments (--experiment)

A run with an experiment file records each agent's arm and stratum once
(``experiment_assignments``, written by the master before any agent acts) and the arm on
every session it plays (``shopping_sessions.arm``; NULL in a run without an experiment).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shopping_sessions", sa.Column("arm", sa.String(length=32), nullable=True))
    op.create_table(
        "experiment_assignments",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("arm", sa.String(length=32), nullable=False),
        sa.Column("stratum", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_experiment_assignments_agent_id_agents"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["simulation_runs.run_id"],
            name=op.f("fk_experiment_assignments_run_id_simulation_runs"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("run_id", "agent_id", name=op.f("pk_experiment_assignments")),
    )


def downgrade() -> None:
    op.drop_table("experiment_assignments")
    op.drop_column("shopping_sessions", "arm")
