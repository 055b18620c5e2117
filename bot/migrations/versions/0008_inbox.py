"""The inbox: every update from every platform is stored (and committed) before the platform gets its
answer; its unique dedupe key drops redeliveries. Replaces processed_updates, which it makes redundant.

Revision ID: 0008_inbox
Revises: 0007_roster_overrides
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0008_inbox"
down_revision = "0007_roster_overrides"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("chat_key", sa.String(128), nullable=False),
        sa.Column("sender_id", sa.String(256), nullable=False),
        sa.Column("chat_id", sa.String(256), nullable=False),
        sa.Column("platform_at", UTCDateTime, nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", UTCDateTime, nullable=True),
        sa.Column("done_at", UTCDateTime, nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("platform", "dedupe_key", name="uq_inbox_dedupe_key"),
    )
    op.create_index("ix_inbox_due", "inbox", ["state", "next_attempt_at"])
    op.create_index("ix_inbox_chat", "inbox", ["chat_key", "state", "id"])
    op.drop_table("processed_updates")


def downgrade() -> None:
    op.create_table(
        "processed_updates",
        sa.Column("platform", sa.String(16)),
        sa.Column("update_id", sa.String(128)),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("platform", "update_id", name="pk_processed_updates"),
    )
    op.drop_table("inbox")
