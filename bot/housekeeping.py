"""Housekeeping, once a day: forget what only guarded against redelivery, and the bytes of files already
delivered.

Telegram keeps an undelivered update for 24 hours and Slack retries an event within the hour, so a week
of update ids is plenty; without this the table grows by every message anyone ever sent the bot. A report
or roster picture stays in the outbox only until it is sent (the person has it in the chat then); a week
later its bytes are dropped, the row itself stays as the record of what was sent.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from bot import audit
from bot.outbox import SENT
from bot.schema import outbox, processed_updates

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

UPDATE_IDS_KEPT = timedelta(days=7)
SENT_FILES_KEPT = timedelta(days=7)
# Local time of the daily clean-up: far from any shift start, when SQLite's single writer is idle.
RUN_AT = time(3, 30)


def passes(start: datetime, end: datetime, tz: tzinfo, at: time) -> bool:
    """Whether the window (start, end] holds a local `at` o'clock."""
    day = start.astimezone(tz).date()
    while day <= end.astimezone(tz).date():
        moment = datetime.combine(day, at, tzinfo=tz)
        if start < moment <= end:
            return True
        day += timedelta(days=1)
    return False


async def daily(app: App, start: datetime, end: datetime) -> None:
    if not passes(start, end, app.tz, RUN_AT):
        return
    await forget_old_update_ids(app, end)
    await drop_sent_files(app, end)


async def forget_old_update_ids(app: App, now: datetime) -> None:
    cutoff = now - UPDATE_IDS_KEPT
    async with app.db.transaction() as conn:
        result = await conn.execute(processed_updates.delete().where(processed_updates.c.at < cutoff))
        await audit.record(
            conn,
            at=now,
            actor=audit.SYSTEM,
            action="housekeeping.update_ids_forgotten",
            object_type="processed_updates",
            object_id="*",
            after={"before": cutoff.isoformat(), "rows": result.rowcount},
        )
    log.info("forgot %s update ids older than %s", result.rowcount, cutoff.isoformat())


async def drop_sent_files(app: App, now: datetime) -> None:
    cutoff = now - SENT_FILES_KEPT
    sent_long_ago = (outbox.c.status == SENT) & (outbox.c.sent_at < cutoff) & outbox.c.file_data.is_not(None)
    async with app.db.transaction() as conn:
        result = await conn.execute(outbox.update().where(sent_long_ago).values(file_data=None))
        await audit.record(
            conn,
            at=now,
            actor=audit.SYSTEM,
            action="housekeeping.sent_files_dropped",
            object_type="outbox",
            object_id="*",
            after={"sent_before": cutoff.isoformat(), "rows": result.rowcount},
        )
    log.info("dropped the bytes of %s files sent before %s", result.rowcount, cutoff.isoformat())


def register(app: App) -> None:
    app.ticks.register("housekeeping", daily)
