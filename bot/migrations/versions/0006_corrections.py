"""Corrections of one shift's attendance verdict by a lead or an admin, with the reason (issue 12).

Revision ID: 0006_corrections
Revises: 0005_leavers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0006_corrections"
down_revision = "0005_leavers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attendance_corrections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("shift_day", sa.Date, nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("corrected_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_attendance_corrections_day", "attendance_corrections", ["shift_day", "person_id"])


def downgrade() -> None:
    op.drop_index("ix_attendance_corrections_day", "attendance_corrections")
    op.drop_table("attendance_corrections")
