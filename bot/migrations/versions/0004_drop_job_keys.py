"""Drop job_keys: created with the first schema but never written or read by any code.

Revision ID: 0004_drop_job_keys
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0004_drop_job_keys"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("job_keys")


def downgrade() -> None:
    op.create_table(
        "job_keys",
        sa.Column("key", sa.String(200)),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_job_keys"),
    )
