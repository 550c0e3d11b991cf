"""user_coupons.discount_value: a wallet copy's own value (experiment arms)

An experiment arm with a ``discount_multiplier`` scales the catalog's coupon values for
its personas' wallets only: the offer engine writes the scaled value on the wallet copy,
and the reference API prices and lists ``coalesce(user_coupons.discount_value,
coupons.discount_value)``. NULL (every wallet outside such an arm) keeps the coupon's.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("user_coupons", sa.Column("discount_value", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("user_coupons", "discount_value")
