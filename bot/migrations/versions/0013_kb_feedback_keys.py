"""Handbook feedback keyed for learning: each row's question key (the question with width, traditional
characters, case, spaces and punctuation set aside), so learned question -> article pairs are read from the
database by every replica; and a vote key, unique, so a person's 👍/👎 on one answer is one row whatever the
timing of two presses. Older duplicate votes (a person's repeated presses on one answer) keep the latest.

Revision ID: 0013_kb_feedback_keys
Revises: 0012_closed_months
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_kb_feedback_keys"
down_revision = "0012_closed_months"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from handlers.rules import learn_key, vote_key

    with op.batch_alter_table("kb_feedback") as batch:
        batch.add_column(sa.Column("question_key", sa.String(200), nullable=True))
        batch.add_column(sa.Column("vote_key", sa.String(64), nullable=True))
    feedback = sa.table(
        "kb_feedback",
        sa.column("id", sa.Integer),
        sa.column("person_id", sa.String),
        sa.column("question", sa.String),
        sa.column("ref", sa.String),
        sa.column("vote", sa.Integer),
        sa.column("question_key", sa.String),
        sa.column("vote_key", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            feedback.c.id, feedback.c.person_id, feedback.c.question, feedback.c.ref, feedback.c.vote
        ).order_by(feedback.c.id.desc())
    ).all()
    seen: set[str] = set()
    for row in rows:
        key = learn_key(row.question)
        votes = None
        if row.vote in (1, -1) and row.ref is not None:
            votes = vote_key(row.person_id, key, row.ref)
            if votes in seen:  # an older press on the same answer: the latest one counts
                conn.execute(feedback.delete().where(feedback.c.id == row.id))
                continue
            seen.add(votes)
        conn.execute(
            feedback.update().where(feedback.c.id == row.id).values(question_key=key or None, vote_key=votes)
        )
    op.create_index("ix_kb_feedback_question_key", "kb_feedback", ["question_key"])
    op.create_index("uq_kb_feedback_vote_key", "kb_feedback", ["vote_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_kb_feedback_vote_key", table_name="kb_feedback")
    op.drop_index("ix_kb_feedback_question_key", table_name="kb_feedback")
    with op.batch_alter_table("kb_feedback") as batch:
        batch.drop_column("vote_key")
        batch.drop_column("question_key")
