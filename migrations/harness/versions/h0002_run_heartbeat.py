"""loadsim.simulation_runs.heartbeat_at (see migrations/versions/0002_run_heartbeat.py)

The harness's own table on an adopted database: no app table is touched.

Revision ID: h0002
Revises: h0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "h0002"
down_revision: str | None = "h0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "simulation_runs",
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        schema="loadsim",
    )


def downgrade() -> None:
    op.drop_column("simulation_runs", "heartbeat_at", schema="loadsim")
