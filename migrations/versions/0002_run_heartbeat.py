"""simulation_runs.heartbeat_at: a live run's master touches it every few seconds

Start-up clean-up abandons only sessions of runs that are not live: a run whose
status is ended, or whose heartbeat is older than ``harness.control.run_record.STALE_AFTER_S``
(its master died without ending it). A second run against the same database never touches
a live run's sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "simulation_runs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("simulation_runs", "heartbeat_at")
