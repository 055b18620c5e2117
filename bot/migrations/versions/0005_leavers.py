"""People who leave: the day they left (the org file's `left_on`) and when their personal data was erased.

Revision ID: 0005_leavers
Revises: 0004_drop_job_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0005_leavers"
down_revision = "0004_drop_job_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("left_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("erased_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("left_on")
