"""Housekeeping, once a day: let go of people whose last day has come and anonymise those who left longer
ago than the policy's retention; forget what only guarded against redelivery, and the bytes of files already
delivered.

Telegram keeps an undelivered update for 24 hours and Slack retries an event within the hour, so a week
of update ids is plenty; without this the table grows by every message anyone ever sent the bot. A report
or roster picture stays in the outbox only until it is sent (the person has it in the chat then); a week
later its bytes are dropped, the row itself stays as the record of what was sent.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.sql.expression import Executable

from bot import audit, leavers
from bot.outbox import SENT
from bot.schema import inbox, outbox
from schedules.timeutil import local_instant

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

UPDATE_IDS_KEPT = timedelta(days=7)
SENT_FILES_KEPT = timedelta(days=7)
# Local time of the daily clean-up: far from any shift start, when SQLite's single writer is idle.
RUN_AT = time(3, 30)


def passes(start: datetime, end: datetime, tz: ZoneInfo, at: time) -> bool:
    """Whether the window (start, end] holds a local `at` o'clock."""
    day = start.astimezone(tz).date()
    while day <= end.astimezone(tz).date():
        if start < local_instant(day, at, tz) <= end:
            return True
        day += timedelta(days=1)
    return False


async def daily(app: Core, start: datetime, end: datetime) -> None:
    if not passes(start, end, app.tz, RUN_AT):
        return
    await people_who_left(app, end)
    cutoff = end - UPDATE_IDS_KEPT
    await _clean_up(
        app,
        end,
        inbox.delete().where(inbox.c.state == "done", inbox.c.received_at < cutoff),
        "housekeeping.update_ids_forgotten",
        "inbox",
        {"before": cutoff.isoformat()},
    )
    cutoff = end - SENT_FILES_KEPT
    sent_long_ago = (outbox.c.status == SENT) & (outbox.c.sent_at < cutoff) & outbox.c.file_data.is_not(None)
    await _clean_up(
        app,
        end,
        outbox.update().where(sent_long_ago).values(file_data=None),
        "housekeeping.sent_files_dropped",
        "outbox",
        {"sent_before": cutoff.isoformat()},
    )


async def _clean_up(
    app: Core, now: datetime, statement: Executable, action: str, object_type: str, after: dict[str, Any]
) -> None:
    """Run one clean-up statement with its audit row (how many rows it touched) in one transaction."""
    async with app.db.transaction() as conn:
        result = await conn.execute(statement)
        after = {**after, "rows": result.rowcount}
        await audit.record(
            conn,
            at=now,
            actor=audit.SYSTEM,
            action=action,
            object_type=object_type,
            object_id="*",
            after=after,
        )
    log.info("%s: %s", action, after)


async def people_who_left(app: Core, now: datetime) -> None:
    """Let go of whoever's `left_on` day has come, and anonymise whoever left longer ago than the policy's
    retention (each audited in `bot.leavers`)."""
    from handlers.common import policy  # the one cached policy of the running app

    today = now.astimezone(app.tz).date()
    years = policy(app).privacy.leaver_retention_years
    async with app.db.transaction() as conn:
        gone = await leavers.let_go(conn, today=today, now=now)
        erased = await leavers.erase_after_retention(conn, years=years, today=today, now=now)
    if gone or erased:
        log.info("housekeeping: %s left, %s anonymised after %s years", len(gone), len(erased), years)


def register(app: Core) -> None:
    app.ticks.register("housekeeping", daily)
