"""People who leave: from their `left_on` day they get no messages and their platform ids stop resolving;
after the policy's retention (or at once, `deskmate org erase PERSON`) their personal data is anonymised.

What goes: their name, platform ids, the texts of their requests (leave reasons, escalation descriptions
and order numbers, the decider's reasons), what they asked the handbook, open forms, the messages sent to
them and the cards of their requests, and the same fields in the audit rows about them. What stays: the
person id, punches and roster cells (attendance totals are records people are paid by) and every request's
dates, kind and outcome.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import audit, identities
from bot.schema import audit_log, conversations, kb_feedback, outbox, people, request_cards, requests

ERASED = "(erased)"
# Keys under which a request payload or an audit row holds someone's words, name or platform id.
PERSONAL_KEYS = frozenset(
    {
        "name",
        *(platform for platform in identities.PLATFORMS),
        *(f"{platform}_id" for platform in identities.PLATFORMS),
        "account",
        "reason",
        "description",
        "order",
        "requester_name",
        "colleague_name",
    }
)


def retention_over(left_on: date, years: int, today: date) -> bool:
    """Whether `years` after `left_on` have passed by `today` (29 February counts as 28)."""
    try:
        until = left_on.replace(year=left_on.year + years)
    except ValueError:
        until = left_on.replace(year=left_on.year + years, day=28)
    return until <= today


def scrub(value: Any) -> Any:
    """The same JSON with every personal field blanked."""
    if isinstance(value, dict):
        return {k: (ERASED if k in PERSONAL_KEYS and v is not None else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


async def let_go(conn: AsyncConnection, *, today: date, now: datetime) -> list[str]:
    """Deactivate everyone whose `left_on` day has come (audited); returns their ids."""
    due = people.c.active & people.c.left_on.is_not(None) & (people.c.left_on <= today)
    gone = list((await conn.execute(sa.select(people.c.id).where(due))).scalars())
    if not gone:
        return []
    await conn.execute(people.update().where(people.c.id.in_(gone)).values(active=False, updated_at=now))
    await conn.execute(conversations.delete().where(conversations.c.person_id.in_(gone)))
    for person_id in gone:
        await audit.record(
            conn, at=now, actor=audit.SYSTEM, action="person.left", object_type="person", object_id=person_id
        )
    return gone


async def erase(conn: AsyncConnection, person_id: str, *, actor: str, now: datetime, why: str) -> bool:
    """Anonymise one person's personal data in the caller's transaction; False if there is no such
    person or it was done before."""
    row = (await conn.execute(sa.select(people).where(people.c.id == person_id))).first()
    if row is None or row.erased_at is not None:
        return False
    left_on = row.left_on or now.date()
    await conn.execute(
        people.update()
        .where(people.c.id == person_id)
        .values(
            name=ERASED,
            blocked_at=None,
            active=False,
            left_on=left_on,
            erased_at=now,
            updated_at=now,
        )
    )
    await identities.forget(conn, person_id)
    theirs = (requests.c.requester_id == person_id) | (requests.c.subject_id == person_id)
    request_rows = (await conn.execute(sa.select(requests.c.id, requests.c.payload).where(theirs))).all()
    for request_id, payload in request_rows:
        await conn.execute(
            requests.update().where(requests.c.id == request_id).values(payload=scrub(payload), reason=None)
        )
    request_ids = [r[0] for r in request_rows]
    cards = sa.select(request_cards.c.message_id).where(request_cards.c.request_id.in_(request_ids))
    messages = (outbox.c.to_person == person_id) | outbox.c.message_id.in_(cards)
    for outbox_id, payload in (
        await conn.execute(sa.select(outbox.c.id, outbox.c.payload).where(messages))
    ).all():
        await conn.execute(
            outbox.update()
            .where(outbox.c.id == outbox_id)
            .values(payload={**payload, "text": ERASED}, file_data=None)
        )
    await conn.execute(
        kb_feedback.update()
        .where(kb_feedback.c.person_id == person_id)
        .values(question=ERASED, question_key=None, vote_key=None)
    )
    await conn.execute(conversations.delete().where(conversations.c.person_id == person_id))
    about_them = ((audit_log.c.object_type == "person") & (audit_log.c.object_id == person_id)) | (
        (audit_log.c.object_type == "request") & audit_log.c.object_id.in_([str(i) for i in request_ids])
    )
    audited = sa.select(audit_log.c.id, audit_log.c.before, audit_log.c.after).where(about_them)
    for audit_id, before, after in (await conn.execute(audited)).all():
        await conn.execute(
            audit_log.update()
            .where(audit_log.c.id == audit_id)
            .values(before=scrub(before), after=scrub(after))
        )
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="person.erased",
        object_type="person",
        object_id=person_id,
        after={"why": why, "requests": len(request_ids)},
    )
    return True


async def erase_after_retention(
    conn: AsyncConnection, *, years: int, today: date, now: datetime
) -> list[str]:
    """Anonymise everyone who left at least `years` ago and is not anonymised yet; returns their ids."""
    candidates = sa.select(people.c.id, people.c.left_on).where(
        people.c.left_on.is_not(None), people.c.erased_at.is_(None), people.c.left_on <= today
    )
    due = [
        pid
        for pid, left_on in (await conn.execute(candidates)).all()
        if retention_over(left_on, years, today)
    ]
    for person_id in due:
        await erase(conn, person_id, actor=audit.SYSTEM, now=now, why="retention")
    return due
