"""Multi-step forms keep their state in the database, per person, so a restart does not lose them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.schema import conversations


@dataclass
class ConversationState:
    person_id: str
    kind: str
    step: str
    chat_id: str
    expires_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class Conversations:
    def __init__(self, timeout: timedelta) -> None:
        self.timeout = timeout

    async def get(self, conn: AsyncConnection, person_id: str) -> ConversationState | None:
        row = (
            await conn.execute(sa.select(conversations).where(conversations.c.person_id == person_id))
        ).first()
        if row is None:
            return None
        m = row._mapping
        return ConversationState(
            m["person_id"], m["kind"], m["step"], m["chat_id"], m["expires_at"], dict(m["data"])
        )

    async def save(
        self,
        conn: AsyncConnection,
        *,
        person_id: str,
        chat_id: str,
        kind: str,
        step: str,
        data: dict[str, Any],
        now: datetime,
    ) -> ConversationState:
        """Start or advance a conversation; each step pushes the timeout forward."""
        expires = now + self.timeout
        values = {
            "kind": kind,
            "step": step,
            "data": data,
            "chat_id": chat_id,
            "expires_at": expires,
            "updated_at": now,
        }
        updated = await conn.execute(
            conversations.update().where(conversations.c.person_id == person_id).values(values)
        )
        if updated.rowcount == 0:
            await conn.execute(conversations.insert().values(person_id=person_id, **values))
        return ConversationState(person_id, kind, step, chat_id, expires, data)

    async def end(self, conn: AsyncConnection, person_id: str) -> bool:
        result = await conn.execute(conversations.delete().where(conversations.c.person_id == person_id))
        return bool(result.rowcount)
