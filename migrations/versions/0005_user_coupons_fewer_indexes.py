"""user_coupons: drop two indexes that no live query needs (each row write paid for them)

An offer cycle writes every wallet row twice over its life: 32 inserts per user per cycle
and, under ``replace_oldest``, 32 updates marking the replaced ones (never HOT: ``status``
is in the active partial indexes' predicates). Each of those writes also inserted into
every full index of the table. Two of them are read by nothing on the live paths:

* ``ix_user_coupons_offer_cycle_id``: no statement of the offer engine or the reference
  API filters on the cycle; only the reports do (a run's cycles, which is most of the
  table, read sequentially anyway).
* ``ix_user_coupons_user_status`` (user_id, status): every per-wallet read asks for the
  *active* coupons of a user, which the partial unique index
  ``uq_user_coupons_active_user_coupon`` (user_id, coupon_id) WHERE status = 'active'
  already serves; other reads go by ``id`` (the primary key).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_user_coupons_offer_cycle_id", table_name="user_coupons")
    op.drop_index("ix_user_coupons_user_status", table_name="user_coupons")


def downgrade() -> None:
    op.create_index(
        "ix_user_coupons_user_status", "user_coupons", ["user_id", "status"], unique=False
    )
    op.create_index(
        "ix_user_coupons_offer_cycle_id", "user_coupons", ["offer_cycle_id"], unique=False
    )
