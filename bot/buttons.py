"""Button tokens: the platform only ever sees a short random id; the action and object stay here.

A forged or replayed id finds nothing (or an already-decided object), and permission is checked for
whoever pressed, at press time, by the action's handler.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Button
from bot.schema import buttons


@dataclass(frozen=True)
class PressedButton:
    token: str
    message_id: str
    action: str
    payload: dict[str, Any]
    label: str


def new_token() -> str:
    return secrets.token_urlsafe(9)


async def register(
    conn: AsyncConnection, message_id: str, rows: list[list[Button]], now: datetime
) -> list[list[dict[str, str]]]:
    """Store the buttons of one message; returns the rows as label/token pairs for rendering."""
    rendered: list[list[dict[str, str]]] = []
    values: list[dict[str, Any]] = []
    for row in rows:
        out_row = []
        for button in row:
            token = new_token()
            out_row.append({"label": button.label, "token": token})
            values.append(
                {
                    "token": token,
                    "message_id": message_id,
                    "action": button.action,
                    "payload": button.payload,
                    "label": button.label[:200],
                    "created_at": now,
                }
            )
        rendered.append(out_row)
    if values:
        await conn.execute(buttons.insert(), values)
    return rendered


async def lookup(conn: AsyncConnection, token: str) -> PressedButton | None:
    if not token or len(token) > 24:
        return None
    row = (await conn.execute(sa.select(buttons).where(buttons.c.token == token))).first()
    if row is None:
        return None
    m = row._mapping
    return PressedButton(m["token"], m["message_id"], m["action"], dict(m["payload"]), m["label"])


async def close(conn: AsyncConnection, message_id: str, outcome: str) -> None:
    """Mark every button of one message as answered (``outcome`` in their payload), so a later press of
    the same card is told it was answered instead of acting again."""
    rows = (await conn.execute(sa.select(buttons).where(buttons.c.message_id == message_id))).all()
    for row in rows:
        payload = {**dict(row._mapping["payload"]), "closed": outcome}
        await conn.execute(
            buttons.update().where(buttons.c.token == row._mapping["token"]).values(payload=payload)
        )


async def closed(conn: AsyncConnection, message_id: str) -> str | None:
    """How a message's buttons were answered (see ``close``); None while they are open."""
    rows = (await conn.execute(sa.select(buttons.c.payload).where(buttons.c.message_id == message_id))).all()
    return next((str(r[0]["closed"]) for r in rows if r[0].get("closed")), None)
