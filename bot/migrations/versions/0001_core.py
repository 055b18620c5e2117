"""Core tables: people, teams, audit log, conversations, buttons, outbox, dedup and job keys.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=True),
        sa.Column("lead_id", sa.String(64), nullable=True),
        sa.Column("supervisor_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.String(64)),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("team", sa.String(64), nullable=True),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("telegram_id", sa.String(32), nullable=True),
        sa.Column("slack_id", sa.String(32), nullable=True),
        sa.Column("joined_on", sa.Date, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("blocked_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_people"),
        sa.UniqueConstraint("telegram_id", name="uq_people_telegram_id"),
        sa.UniqueConstraint("slack_id", name="uq_people_slack_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])
    op.create_table(
        "conversations",
        sa.Column("person_id", sa.String(64)),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("person_id", name="pk_conversations"),
    )
    op.create_table(
        "buttons",
        sa.Column("token", sa.String(24)),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_buttons"),
    )
    op.create_index("ix_buttons_message_id", "buttons", ["message_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("to_person", sa.String(64), nullable=True),
        sa.Column("to_chat", sa.String(64), nullable=True),
        sa.Column("chat_key", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("file_data", sa.LargeBinary, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
    )
    op.create_index("ix_outbox_message_id", "outbox", ["message_id"])
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_chat", "outbox", ["chat_key", "status", "id"])
    op.create_table(
        "message_copies",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("platform_message_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_message_copies"),
    )
    op.create_index("ix_message_copies_message_id", "message_copies", ["message_id"])
    op.create_table(
        "processed_updates",
        sa.Column("platform", sa.String(16)),
        sa.Column("update_id", sa.String(128)),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("platform", "update_id", name="pk_processed_updates"),
    )
    op.create_table(
        "job_keys",
        sa.Column("key", sa.String(200)),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_job_keys"),
    )
    op.create_table(
        "scheduler_state",
        sa.Column("name", sa.String(64)),
        sa.Column("last_run", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_scheduler_state"),
    )


def downgrade() -> None:
    for table in (
        "scheduler_state",
        "job_keys",
        "processed_updates",
        "message_copies",
        "outbox",
        "buttons",
        "conversations",
        "audit_log",
        "people",
        "teams",
    ):
        op.drop_table(table)
