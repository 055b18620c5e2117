"""Closed months: a finished month's shift verdicts, frozen (schedules.closing); its report is these with
the corrections applied on top.

Revision ID: 0012_closed_months
Revises: 0011_identities
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0012_closed_months"
down_revision = "0011_identities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closed_months",
        sa.Column("month", sa.Date, primary_key=True),
        sa.Column("closed_at", UTCDateTime, nullable=False),
        sa.Column("closed_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "closed_shifts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("shift_day", sa.Date, nullable=False),
        sa.Column("verdict", sa.JSON, nullable=False),
        sa.UniqueConstraint("person_id", "shift_day", name="uq_closed_shifts_person_id_shift_day"),
    )
    op.create_index("ix_closed_shifts_month", "closed_shifts", ["month"])


def downgrade() -> None:
    op.drop_index("ix_closed_shifts_month", table_name="closed_shifts")
    op.drop_table("closed_shifts")
    op.drop_table("closed_months")
