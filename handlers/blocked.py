"""When a person blocks the bot, their lead is told once: reminders and decisions no longer reach them,
and only a human can ask them to unblock it. Platform-neutral: any adapter reports a block the same way
(the outbox calls `Core.on_blocked`, which runs this hook once, in the transaction that marks the person).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.messages import Outgoing

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)


async def tell_lead(app: Core, conn: AsyncConnection, person_id: str, left: bool = False) -> None:
    """Queue one notice to the person's team lead (their supervisor when they are the lead): that they
    blocked the bot, or that the platform says they are no longer a member (``left``), which asks for
    something else of the lead (update the org file, or relink the account)."""
    person = await app.directory.by_id(conn, person_id)
    if person is None or person.team is None:
        log.warning("%s blocked the bot and has no team; nobody to tell", person_id)
        return
    team = await app.directory.team(conn, person.team)
    candidates = [team.lead_id, team.supervisor_id] if team is not None else []
    boss_id = next((c for c in candidates if c and c != person_id), None)
    boss = await app.directory.by_id(conn, boss_id) if boss_id else None
    if boss is None:
        log.warning("%s blocked the bot; their team has no lead or supervisor to tell", person_id)
        return
    key = "blocked.tell_lead_left" if left else "blocked.tell_lead"
    text = app.text_for(boss, key, name=person.name, id=person.id)
    await app.notify(conn, Outgoing(text=text, to_person=boss.id))


def register(app: Core) -> None:
    app.hooks.on_blocked.append(tell_lead)
