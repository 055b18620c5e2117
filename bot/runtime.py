"""Live modes (Telegram, Slack, interactive console): the outbox worker and APScheduler's wake-ups.

APScheduler only wakes `Core.run_due`; what is due is decided by the ticks over the stored last run,
so a missed wake-up or a restart never drops timed work.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core import Core

log = logging.getLogger(__name__)

# On a stop (SIGTERM), how long the workers and a running tick may take to finish what they hold before
# they are cancelled. Together with the outbox's and the database's own waits the process is gone well
# within 10 seconds, whatever it was doing.
STOP_GRACE_SECONDS = 2.5


class _Tick:
    """The scheduler's job: runs `Core.run_due` in a task of our own, which APScheduler's shutdown
    cannot cancel half-way; `stop` waits for it (and cancels it only past the grace period)."""

    def __init__(self, app: Core) -> None:
        self.app = app
        self.running: set[asyncio.Task[None]] = set()
        self.stopped = False

    async def run(self) -> None:
        if self.stopped:
            return
        task = asyncio.get_running_loop().create_task(self.app.run_due(), name="scheduler-tick")
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # APScheduler's shutdown cancels its job (and would log that as a failure with a traceback);
            # the tick itself goes on in its own task, which `background` waits for.
            return


def _waiting_in(task: asyncio.Task[None]) -> str:
    """The innermost coroutine a task awaits, as file:line (what held it up, for the log)."""
    where = "?"
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is not None:
            where = f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {frame.f_code.co_name}"
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    return where


async def _stop(tasks: list[asyncio.Task[None]], grace: float) -> None:
    """Wait up to `grace` for tasks asked to stop; cancel what is left (its transaction rolls back,
    its claims are given back or expire) and wait for that too, so no connection is left in use."""
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=grace)
    for task in late:
        log.warning(
            "%s did not finish within %.0f s of the stop (waiting in %s); cancelled",
            task.get_name(),
            grace,
            _waiting_in(task),
        )
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def background(
    app: Core, *, tick_seconds: float | None = None, grace: float = STOP_GRACE_SECONDS
) -> AsyncIterator[None]:
    """Run the outbox worker and the scheduler while the body runs; stop both cleanly after: no new
    tick or claim, the work in hand finishes (or is cancelled after `grace`), and only then may the
    caller close the database."""
    if app.dispatcher is None:
        raise RuntimeError("attach a transport before starting the background work")
    dispatcher = app.dispatcher
    scheduler = AsyncIOScheduler(timezone=app.settings.timezone)
    tick = _Tick(app)
    seconds = tick_seconds if tick_seconds is not None else app.settings.scheduler_tick_seconds
    scheduler.add_job(tick.run, "interval", seconds=seconds, id="run_due", max_instances=1, coalesce=True)
    dispatcher.stopping = app.inbox.stopping = False
    workers = [
        asyncio.create_task(dispatcher.run_forever(), name="outbox-worker"),
        asyncio.create_task(app.inbox.run_forever(), name="inbox-worker"),
    ]
    scheduler.start()
    app.hooks.scheduler_alive = lambda: scheduler.running
    # Everything start-up made (the SDKs, SQLAlchemy's tables and caches, the catalog, the handbook) lives
    # as long as the workers: out of the cycle collector's sight while they run, a full collection no longer
    # walks all of it. Such a collection paused the loop for 0.27 s in the middle of a 300-reminder tick,
    # before the first reminder could go out. Unfrozen at the end, so nothing is kept past its life.
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        tick.stopped = True
        scheduler.shutdown(wait=False)
        dispatcher.stop()
        app.inbox.stop()
        await _stop([*workers, *tick.running], grace)
        await app.inbox.settle()
        await dispatcher.settle()
