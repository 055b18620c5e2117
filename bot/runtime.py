"""Live modes (Telegram, Slack, interactive console): the outbox worker and APScheduler's wake-ups.

APScheduler only wakes `App.run_due`; what is due is decided by the ticks over the stored last run,
so a missed wake-up or a restart never drops timed work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App

log = logging.getLogger(__name__)

TICK_SECONDS = 30


@contextlib.asynccontextmanager
async def background(app: App, *, tick_seconds: int = TICK_SECONDS) -> AsyncIterator[None]:
    """Run the outbox worker and the scheduler while the body runs; stop both cleanly after."""
    if app.dispatcher is None:
        raise RuntimeError("attach a transport before starting the background work")
    scheduler = AsyncIOScheduler(timezone=app.settings.timezone)
    scheduler.add_job(
        app.run_due, "interval", seconds=tick_seconds, id="run_due", max_instances=1, coalesce=True
    )
    workers = [
        asyncio.create_task(app.dispatcher.run_forever(), name="outbox-worker"),
        asyncio.create_task(app.inbox.run_forever(), name="inbox-worker"),
    ]
    scheduler.start()
    app.services["scheduler_alive"] = lambda: scheduler.running
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
        for worker in workers:
            worker.cancel()
        # A cancelled worker rolls its transaction back; its claims expire and are taken again.
        await asyncio.gather(*workers, return_exceptions=True)
