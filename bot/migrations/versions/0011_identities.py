"""Identities: a person's platform accounts in one table instead of a column per platform, and the
one-time codes of `deskmate org invite`. The Telegram and Slack ids stored in `people` move over.

Revision ID: 0011_identities
Revises: 0010_held_alerts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import UTCDateTime

revision = "0011_identities"
down_revision = "0010_held_alerts"
branch_labels = None
depends_on = None

_COLUMNS = {"telegram": "telegram_id", "slack": "slack_id"}


def upgrade() -> None:
    identities = op.create_table(
        "identities",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("linked_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("platform", "external_id", name="pk_identities"),
        sa.UniqueConstraint("person_id", "platform", name="uq_identities_person_platform"),
    )
    op.create_table(
        "link_codes",
        sa.Column("code_hash", sa.String(64)),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.Column("used_by", sa.String(96), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_link_codes"),
    )
    op.create_index("ix_link_codes_person_id", "link_codes", ["person_id"])
    # Copied inside the database (no value passes through Python, so the stored times stay as they are).
    people = sa.table(
        "people", sa.column("id"), sa.column("telegram_id"), sa.column("slack_id"), sa.column("updated_at")
    )
    for platform, column in _COLUMNS.items():
        value = getattr(people.c, column)
        copied = sa.select(
            sa.literal(platform), value, people.c.id, sa.literal("org"), people.c.updated_at
        ).where(value.is_not(None))
        op.execute(
            identities.insert().from_select(
                ["platform", "external_id", "person_id", "source", "linked_at"], copied
            )
        )
    with op.batch_alter_table("people") as batch:
        batch.drop_constraint("uq_people_telegram_id", type_="unique")
        batch.drop_constraint("uq_people_slack_id", type_="unique")
        batch.drop_column("telegram_id")
        batch.drop_column("slack_id")


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("telegram_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("slack_id", sa.String(32), nullable=True))
        batch.create_unique_constraint("uq_people_telegram_id", ["telegram_id"])
        batch.create_unique_constraint("uq_people_slack_id", ["slack_id"])
    bind = op.get_bind()
    identities = sa.table(
        "identities", sa.column("platform"), sa.column("external_id"), sa.column("person_id")
    )
    people = sa.table("people", sa.column("id"), sa.column("telegram_id"), sa.column("slack_id"))
    for platform, column in _COLUMNS.items():
        pairs = bind.execute(
            sa.select(identities.c.person_id, identities.c.external_id).where(
                identities.c.platform == platform
            )
        ).all()
        for person_id, external_id in pairs:
            if len(external_id) <= 32:
                bind.execute(people.update().where(people.c.id == person_id).values({column: external_id}))
    op.drop_index("ix_link_codes_person_id", table_name="link_codes")
    op.drop_table("link_codes")
    op.drop_table("identities")
