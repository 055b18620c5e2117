"""The audit log: every state change writes who did what to which object, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.schema import audit_log

SYSTEM = "system"


async def record(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """Write one audit row inside the caller's transaction, so it commits or rolls back with the change."""
    await conn.execute(
        audit_log.insert().values(
            at=at,
            actor=_fit("actor", actor),
            action=action,
            object_type=object_type,
            object_id=_fit("object_id", object_id),
            before=before,
            after=after,
        )
    )


def _fit(column: str, value: str) -> str:
    """Ids from outside (an unregistered sender, a chat) can be longer than the column: the row is kept,
    the id shortened with a mark, rather than the whole change failing on PostgreSQL."""
    length = audit_log.c[column].type.length  # type: ignore[attr-defined]
    return value if len(value) <= length else value[: length - 1] + "…"


async def rows_for(conn: AsyncConnection, object_type: str, object_id: str) -> list[dict[str, Any]]:
    result = await conn.execute(
        sa.select(audit_log)
        .where(audit_log.c.object_type == object_type, audit_log.c.object_id == object_id)
        .order_by(audit_log.c.id)
    )
    return [dict(row._mapping) for row in result]
