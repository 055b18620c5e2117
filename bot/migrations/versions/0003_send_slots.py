"""Send slots: a platform's per-bot rate kept in the database, so that replicas share it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_slots",
        sa.Column("name", sa.String(64)),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_send_slots"),
    )


def downgrade() -> None:
    op.drop_table("send_slots")
