"""The roster in the database: who works which shift on which local date."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import db
from bot.schema import roster_entries


@dataclass(frozen=True)
class StoredEntry:
    person_id: str
    day: date
    shift_code: str | None
    note: str | None = None


def _row(row: sa.Row[tuple[object, ...]]) -> StoredEntry:
    m = row._mapping
    return StoredEntry(m["person_id"], m["day"], m["shift_code"], m["note"])


async def upsert(
    conn: AsyncConnection,
    entries: Iterable[tuple[str, date, str | None]],
    now: datetime,
    note: str | None = None,
) -> int:
    """Insert or replace entries (person, day, shift or None for rest); returns how many were written."""
    values = [
        {"person_id": p, "day": d, "shift_code": s, "note": note, "updated_at": now} for p, d, s in entries
    ]
    if not values:
        return 0
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        await conn.execute(
            db.upsert(
                conn,
                roster_entries,
                chunk,
                key=["person_id", "day"],
                update=lambda new: {
                    "shift_code": new.shift_code,
                    "note": new.note,
                    "updated_at": new.updated_at,
                },
            )
        )
    return len(values)


async def set_note(conn: AsyncConnection, person_id: str, day: date, note: str | None, now: datetime) -> None:
    await conn.execute(
        roster_entries.update()
        .where(roster_entries.c.person_id == person_id, roster_entries.c.day == day)
        .values(note=note, updated_at=now)
    )


async def entry(conn: AsyncConnection, person_id: str, day: date) -> StoredEntry | None:
    row = (
        await conn.execute(
            sa.select(roster_entries).where(
                roster_entries.c.person_id == person_id, roster_entries.c.day == day
            )
        )
    ).first()
    return _row(row) if row else None


async def between(
    conn: AsyncConnection, start: date, end: date, person_ids: Iterable[str] | None = None
) -> list[StoredEntry]:
    """Entries with start <= day <= end, optionally for some people, ordered by day then person."""
    query = sa.select(roster_entries).where(roster_entries.c.day >= start, roster_entries.c.day <= end)
    if person_ids is not None:
        query = query.where(roster_entries.c.person_id.in_(list(person_ids)))
    rows = await conn.execute(query.order_by(roster_entries.c.day, roster_entries.c.person_id))
    return [_row(r) for r in rows]
