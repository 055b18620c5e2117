"""Roster entries, punches, requests with their cards, and handbook feedback.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_entries",
        sa.Column("person_id", sa.String(64)),
        sa.Column("day", sa.Date),
        sa.Column("shift_code", sa.String(32), nullable=True),
        sa.Column("note", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("person_id", "day", name="pk_roster_entries"),
    )
    op.create_index("ix_roster_entries_day", "roster_entries", ["day", "shift_code"])
    op.create_table(
        "punches",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("shift_day", sa.Date, nullable=False),
        sa.Column("shift_code", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("grace_used", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("overtime_units", sa.Integer, nullable=False, server_default="0"),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_punches"),
        sa.UniqueConstraint(
            "person_id",
            "shift_day",
            "shift_code",
            "kind",
            name="uq_punches_person_id_shift_day_shift_code_kind",
        ),
    )
    op.create_index("ix_punches_person_at", "punches", ["person_id", "at"])
    op.create_index("ix_punches_shift_day", "punches", ["shift_day"])
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("requester_id", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("team", sa.String(64), nullable=True),
        sa.Column("decider_level", sa.String(16), nullable=True),
        sa.Column("decider_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=True),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("next_reminder_at", UTCDateTime, nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_requests"),
    )
    op.create_index("ix_requests_state", "requests", ["state", "due_at"])
    op.create_index("ix_requests_decider", "requests", ["decider_id", "state"])
    op.create_index("ix_requests_requester", "requests", ["requester_id", "state"])
    op.create_table(
        "request_cards",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("request_id", sa.Integer, nullable=False),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.PrimaryKeyConstraint("id", name="pk_request_cards"),
    )
    op.create_index("ix_request_cards_request_id", "request_cards", ["request_id"])
    op.create_table(
        "kb_feedback",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("question", sa.String(1000), nullable=False),
        sa.Column("ref", sa.String(64), nullable=True),
        sa.Column("vote", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_feedback"),
    )


def downgrade() -> None:
    for table in ("kb_feedback", "request_cards", "requests", "punches", "roster_entries"):
        op.drop_table(table)
