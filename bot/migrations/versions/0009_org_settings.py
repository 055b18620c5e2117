"""Org settings: department-wide values from the org file, such as the approver of last resort.

Revision ID: 0009_org_settings
Revises: 0008_inbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_org_settings"
down_revision = "0008_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_settings",
        sa.Column("key", sa.String(64)),
        sa.Column("value", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_org_settings"),
    )


def downgrade() -> None:
    op.drop_table("org_settings")
