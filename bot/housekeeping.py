"""Housekeeping: forget the update ids kept against redelivery once no platform can redeliver them.

Telegram keeps an undelivered update for 24 hours and Slack retries an event within the hour, so a week
of ids is plenty; without this the table grows by every message anyone ever sent the bot.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from bot import audit
from bot.schema import processed_updates

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

UPDATE_IDS_KEPT = timedelta(days=7)
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


async def forget_old_update_ids(app: App, start: datetime, end: datetime) -> None:
    if not passes(start, end, app.tz, RUN_AT):
        return
    cutoff = end - UPDATE_IDS_KEPT
    async with app.db.transaction() as conn:
        result = await conn.execute(processed_updates.delete().where(processed_updates.c.at < cutoff))
        await audit.record(
            conn,
            at=end,
            actor="system",
            action="housekeeping.update_ids_forgotten",
            object_type="processed_updates",
            object_id="*",
            after={"before": cutoff.isoformat(), "rows": result.rowcount},
        )
    log.info("forgot %s update ids older than %s", result.rowcount, cutoff.isoformat())


def register(app: App) -> None:
    app.ticks.register("housekeeping", forget_old_update_ids)
