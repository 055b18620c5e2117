"""Held alerts: a lead's alert about a finished shift that arrived inside quiet hours, kept for the one
morning summary per lead (schedules.reminders.held_by_quiet_hours).

Revision ID: 0010_held_alerts
Revises: 0009_org_settings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0010_held_alerts"
down_revision = "0009_org_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reminder_key", sa.String(200), nullable=False),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("shift_day", sa.Date, nullable=False),
        sa.Column("shift_code", sa.String(32), nullable=False),
        sa.Column("held_at", UTCDateTime, nullable=False),
        sa.Column("summarized_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("reminder_key", name="uq_held_alerts_reminder_key"),
    )
    op.create_index("ix_held_alerts_open", "held_alerts", ["summarized_at", "recipient_id"])


def downgrade() -> None:
    op.drop_index("ix_held_alerts_open", table_name="held_alerts")
    op.drop_table("held_alerts")
