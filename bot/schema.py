"""The database schema (SQLAlchemy Core). Migrations in `bot/migrations` must produce exactly this;
a test compares them, so a table added here without a migration fails the suite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (portable across SQLite and PostgreSQL), returns aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=True),
    sa.Column("lead_id", sa.String(64), nullable=True),
    sa.Column("supervisor_id", sa.String(64), nullable=True),
)

# Department-wide org settings from the org file (migration 0004), e.g. the approver of last resort.
org_settings = sa.Table(
    "org_settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("team", sa.String(64), nullable=True),
    sa.Column("language", sa.String(10), nullable=False),
    sa.Column("joined_on", sa.Date, nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("blocked_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("left_on", sa.Date, nullable=True),  # the first day they no longer work here (org file)
    sa.Column("erased_at", UTCDateTime, nullable=True),  # their personal data anonymised (deskmate org erase)
)

# A person's accounts on the chat platforms (migration 0011): one row per platform account. The org file
# writes them (source "org"); `/link CODE` adds one for the sender (source "link").
identities = sa.Table(
    "identities",
    metadata,
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("external_id", sa.String(64), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("linked_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("platform", "external_id", name="pk_identities"),
    sa.UniqueConstraint("person_id", "platform", name="uq_identities_person_platform"),
)

# One-time codes of `deskmate org invite` (only a hash of the code is stored).
link_codes = sa.Table(
    "link_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
    sa.Column("used_by", sa.String(96), nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(32), nullable=False),
    sa.Column("object_id", sa.String(128), nullable=False),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Index("ix_audit_log_object", "object_type", "object_id"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("step", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("chat_id", sa.String(64), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

buttons = sa.Table(
    "buttons",
    metadata,
    sa.Column("token", sa.String(24), primary_key=True),
    sa.Column("message_id", sa.String(32), nullable=False, index=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(32), nullable=False, index=True),
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
    sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_chat", "chat_key", "status", "id"),
)

message_copies = sa.Table(
    "message_copies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(32), nullable=False, index=True),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("chat_id", sa.String(64), nullable=False),
    sa.Column("platform_message_id", sa.String(64), nullable=False),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("dedupe_key", sa.String(200), nullable=False),
    sa.Column("chat_key", sa.String(128), nullable=False),  # rows of one chat are handled in order
    sa.Column("sender_id", sa.String(256), nullable=False),  # the platform's user id
    sa.Column("chat_id", sa.String(256), nullable=False),  # where a parked row's apology goes
    sa.Column("platform_at", UTCDateTime, nullable=True),  # the platform's own timestamp
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending, done, parked
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("claimed_until", UTCDateTime, nullable=True),
    sa.Column("done_at", UTCDateTime, nullable=True),
    sa.Column("error", sa.String(500), nullable=True),
    sa.UniqueConstraint("platform", "dedupe_key", name="uq_inbox_dedupe_key"),
    sa.Index("ix_inbox_due", "state", "next_attempt_at"),
    sa.Index("ix_inbox_chat", "chat_key", "state", "id"),
)

scheduler_state = sa.Table(
    "scheduler_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("last_run", UTCDateTime, nullable=False),
)

# The next free send slot of a platform-wide rate (seconds since the epoch), shared by replicas.
send_slots = sa.Table(
    "send_slots",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("next_at", sa.Float, nullable=False),
)

# ----- roster, attendance, requests (migration 0002) ---------------------------------------------

roster_entries = sa.Table(
    "roster_entries",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("shift_code", sa.String(32), nullable=True),
    sa.Column("note", sa.String(64), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_roster_entries_day", "day", "shift_code"),
)

# ----- decisions over the plan (migration 0007_roster_overrides) ---------------------------------------

roster_overrides = sa.Table(
    "roster_overrides",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, nullable=True),
    sa.Column("decision", sa.String(24), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("sets_shift", sa.Boolean, nullable=False),
    sa.Column("shift_code", sa.String(32), nullable=True),
    sa.Column("note", sa.String(64), nullable=True),
    sa.Column("planned", sa.Boolean, nullable=False),
    sa.Column("planned_code", sa.String(32), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("undone_at", UTCDateTime, nullable=True),
    sa.Column("undone_by", sa.String(64), nullable=True),
    sa.Index("ix_roster_overrides_day", "day", "person_id"),
    sa.Index("ix_roster_overrides_request", "request_id"),
)

punches = sa.Table(
    "punches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
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
    sa.UniqueConstraint("person_id", "shift_day", "shift_code", "kind"),
    sa.Index("ix_punches_person_at", "person_id", "at"),
    sa.Index("ix_punches_shift_day", "shift_day"),
)

attendance_corrections = sa.Table(
    "attendance_corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("shift_day", sa.Date, nullable=False),
    sa.Column("verdict", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("corrected_by", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_attendance_corrections_day", "shift_day", "person_id"),
)

# A finished month's frozen shift verdicts (schedules.closing): its report is these plus corrections (0012).
closed_months = sa.Table(
    "closed_months",
    metadata,
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("closed_at", UTCDateTime, nullable=False),
    sa.Column("closed_by", sa.String(64), nullable=False),
)

closed_shifts = sa.Table(
    "closed_shifts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("month", sa.Date, nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("shift_day", sa.Date, nullable=False),
    sa.Column("verdict", sa.JSON, nullable=False),
    sa.UniqueConstraint("person_id", "shift_day"),
    sa.Index("ix_closed_shifts_month", "month"),
)

# A lead's alert about a finished shift that arrived in quiet hours: kept for one morning summary (0010).
held_alerts = sa.Table(
    "held_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reminder_key", sa.String(200), nullable=False),
    sa.Column("recipient_id", sa.String(64), nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("shift_day", sa.Date, nullable=False),
    sa.Column("shift_code", sa.String(32), nullable=False),
    sa.Column("held_at", UTCDateTime, nullable=False),
    sa.Column("summarized_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("reminder_key"),
    sa.Index("ix_held_alerts_open", "summarized_at", "recipient_id"),
)

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
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
    sa.Index("ix_requests_state", "state", "due_at"),
    sa.Index("ix_requests_decider", "decider_id", "state"),
    sa.Index("ix_requests_requester", "requester_id", "state"),
)

request_cards = sa.Table(
    "request_cards",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, nullable=False, index=True),
    sa.Column("message_id", sa.String(32), nullable=False),
    sa.Column("recipient", sa.String(64), nullable=False),
    sa.Column("open", sa.Boolean, nullable=False, server_default=sa.true()),
)

kb_feedback = sa.Table(
    "kb_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("question", sa.String(1000), nullable=False),
    sa.Column("ref", sa.String(64), nullable=True),
    sa.Column("vote", sa.Integer, nullable=False),
    # handlers.rules.learn_key(question): learned pairs are looked up by it (0013_kb_feedback_keys)
    sa.Column("question_key", sa.String(200), nullable=True, index=True),
    # One 👍/👎 per person per answer, enforced here: handlers.rules.vote_key(person, key, ref)
    sa.Column("vote_key", sa.String(64), nullable=True),
    sa.Index("uq_kb_feedback_vote_key", "vote_key", unique=True),
)
