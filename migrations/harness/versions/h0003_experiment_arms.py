"""loadsim.shopping_sessions.arm and loadsim.experiment_assignments (see
migrations/versions/0003_experiment_arms.py)

The harness's own tables on an adopted database: no app table is touched (the arm stays
in ``loadsim``; the owner's mirrored sessions do not get it).

Revision ID: h0003
Revises: h0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "h0003"
down_revision: str | None = "h0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "shopping_sessions",
        sa.Column("arm", sa.String(length=32), nullable=True),
        schema="loadsim",
    )
    op.create_table(
        "experiment_assignments",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("arm", sa.String(length=32), nullable=False),
        sa.Column("stratum", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["loadsim.simulation_runs.run_id"],
            name=op.f("fk_experiment_assignments_run_id_simulation_runs"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("run_id", "agent_id", name=op.f("pk_experiment_assignments")),
        schema="loadsim",
    )


def downgrade() -> None:
    op.drop_table("experiment_assignments", schema="loadsim")
    op.drop_column("shopping_sessions", "arm", schema="loadsim")
