"""Roster overrides: approved decisions (leave, swap, give-away, missed punch) kept beside the plan.

Before this revision a decision was written into the plan's cell itself (a swapped shift code, a
``leave:…`` note), so a re-import undid it. Those marks move here: every noted cell becomes an override
of the value it shows now, and the plan's note is cleared.

Revision ID: 0007_roster_overrides
Revises: 0006_corrections
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0007_roster_overrides"
down_revision = "0006_corrections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_overrides",
        sa.Column("id", sa.Integer, autoincrement=True),
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
        sa.PrimaryKeyConstraint("id", name="pk_roster_overrides"),
    )
    op.create_index("ix_roster_overrides_day", "roster_overrides", ["day", "person_id"])
    op.create_index("ix_roster_overrides_request", "roster_overrides", ["request_id"])
    _move_notes()


def _move_notes() -> None:
    """Cells an earlier version changed in place (``swap#12``, ``give_away#3``, ``leave:annual``)."""
    bind = op.get_bind()
    cells = sa.table(
        "roster_entries",
        sa.column("person_id", sa.String),
        sa.column("day", sa.Date),
        sa.column("shift_code", sa.String),
        sa.column("note", sa.String),
    )
    overrides = sa.table(
        "roster_overrides",
        sa.column("request_id", sa.Integer),
        sa.column("decision", sa.String),
        sa.column("person_id", sa.String),
        sa.column("day", sa.Date),
        sa.column("sets_shift", sa.Boolean),
        sa.column("shift_code", sa.String),
        sa.column("note", sa.String),
        sa.column("planned", sa.Boolean),
        sa.column("planned_code", sa.String),
        sa.column("active", sa.Boolean),
        sa.column("created_at", UTCDateTime),
    )
    now = datetime.now(UTC)
    rows = bind.execute(sa.select(cells).where(cells.c.note.is_not(None))).all()
    moved = []
    for row in rows:
        note: str = row.note
        if note.startswith("leave:"):
            decision, request_id, sets_shift, shown = "leave", None, False, note
        elif "#" in note and note.split("#", 1)[1].isdigit():
            decision, number = note.split("#", 1)
            request_id, sets_shift, shown = int(number), True, note
        else:
            continue
        moved.append(
            {
                "request_id": request_id,
                "decision": decision[:24],
                "person_id": row.person_id,
                "day": row.day,
                "sets_shift": sets_shift,
                "shift_code": row.shift_code,
                "note": shown,
                "planned": True,
                "planned_code": row.shift_code,
                "active": True,
                "created_at": now,
            }
        )
    if moved:
        bind.execute(overrides.insert(), moved)
        bind.execute(cells.update().where(cells.c.note.is_not(None)).values(note=None))


def downgrade() -> None:
    op.drop_index("ix_roster_overrides_request", "roster_overrides")
    op.drop_index("ix_roster_overrides_day", "roster_overrides")
    op.drop_table("roster_overrides")
