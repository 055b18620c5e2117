"""Punches in the database: one row per person, shift and kind (上班卡/下班卡), with its audit row.

A punch stores two times: ``at``, the person's time (the platform's own timestamp of their message), which
the verdict is judged on, and ``created_at``, when the bot received it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db import insert_or_ignore
from bot.schema import attendance_corrections, punches
from schedules.attendance import Correction, ShiftVerdictKind, Verdict

if TYPE_CHECKING:
    from bot.core import Core

NO_SHIFT = "-"
"""The shift code of a clock-in on a day without a rostered shift."""

# punches' unique key: one punch of each kind per person and shift
PUNCH_KEY = ["person_id", "shift_day", "shift_code", "kind"]


async def grace_uses(conn: AsyncConnection, person_id: str, day: date) -> int:
    """Grace uses stored for the person in the local month of ``day`` (第二十九条)."""
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    query = (
        sa.select(sa.func.count())
        .select_from(punches)
        .where(
            punches.c.person_id == person_id,
            punches.c.grace_used,
            punches.c.shift_day >= first,
            punches.c.shift_day < nxt,
        )
    )
    return int((await conn.execute(query)).scalar_one())


async def existing_punch(
    conn: AsyncConnection, person_id: str, day: date, code: str, kind: str
) -> datetime | None:
    """The person's time of an already stored punch of this kind on this shift, or None."""
    at: datetime | None = (
        await conn.execute(
            sa.select(punches.c.at).where(
                punches.c.person_id == person_id,
                punches.c.shift_day == day,
                punches.c.shift_code == code,
                punches.c.kind == kind,
            )
        )
    ).scalar()
    return at


async def record_punch(
    conn: AsyncConnection,
    app: Core,
    person_id: str,
    kind: str,
    at: datetime,
    day: date,
    code: str,
    verdict_kind: str,
    verdict: Verdict | None,
    source: str,
    actor: str,
) -> bool:
    """Store one punch with its audit row; False when the same punch already exists."""
    received = app.clock.now()
    values = {
        "person_id": person_id,
        "kind": kind,
        "at": at,
        "shift_day": day,
        "shift_code": code,
        "verdict": verdict_kind,
        "minutes": (verdict.minutes_late or verdict.minutes_early) if verdict else 0,
        "grace_used": bool(verdict and verdict.uses_grace),
        "overtime_units": verdict.overtime_units if verdict else 0,
        "source": source,
        "created_at": received,
    }
    stored = await conn.execute(insert_or_ignore(conn, punches, values, key=PUNCH_KEY))
    if not stored.rowcount:
        # Another replica or a double tap stored the same punch a moment ago: keep theirs.
        return False
    await app.audit_in(
        conn,
        actor=actor,
        action=f"punch.{kind}",
        object_type="punch",
        object_id=f"{person_id}:{day.isoformat()}:{code}",
        after={
            **values,
            "at": at.isoformat(),
            "shift_day": day.isoformat(),
            "created_at": received.isoformat(),
        },
    )
    return True


async def add_correction(
    conn: AsyncConnection, app: Core, person_id: str, day: date, verdict: str, reason: str, actor: str
) -> int:
    """Store a correction of one shift's verdict with its audit row; the latest correction of a day wins."""
    now = app.clock.now()
    result = await conn.execute(
        attendance_corrections.insert().values(
            person_id=person_id,
            shift_day=day,
            verdict=verdict,
            reason=reason,
            corrected_by=actor,
            created_at=now,
        )
    )
    correction_id = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    await app.audit_in(
        conn,
        actor=actor,
        action="attendance.corrected",
        object_type="shift",
        object_id=f"{person_id}:{day.isoformat()}",
        after={"correction": correction_id, "verdict": verdict, "reason": reason},
    )
    return correction_id


async def corrections_between(
    conn: AsyncConnection, first: date, last: date, person_ids: list[str] | None = None
) -> dict[tuple[str, date], Correction]:
    """The latest correction of each (person, day) with first <= day <= last."""
    query = sa.select(attendance_corrections).where(
        attendance_corrections.c.shift_day >= first, attendance_corrections.c.shift_day <= last
    )
    if person_ids is not None:
        query = query.where(attendance_corrections.c.person_id.in_(person_ids))
    found: dict[tuple[str, date], Correction] = {}
    for r in await conn.execute(query.order_by(attendance_corrections.c.id)):
        found[(r.person_id, r.shift_day)] = Correction(
            r.id, ShiftVerdictKind(r.verdict), r.reason, r.corrected_by, r.created_at
        )
    return found
