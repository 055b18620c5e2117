"""Timed work: each feature registers a pure-ish `tick(app, t0, t1)` that does what fell due in (t0, t1].

APScheduler only wakes `run_due` up; tests and the console's `clock:` lines call it directly with a
fake clock. The last run is stored per tick so a restart catches up instead of forgetting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from bot.db import greatest, upsert
from bot.schema import scheduler_state

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

Tick = Callable[["Core", datetime, datetime], Awaitable[None]]
FIRST_WINDOW = timedelta(minutes=1)


class Ticks:
    def __init__(self) -> None:
        self.ticks: dict[str, Tick] = {}

    def register(self, name: str, tick: Tick) -> None:
        if name in self.ticks:
            raise ValueError(f"tick {name!r} registered twice")
        self.ticks[name] = tick

    async def run_due(self, app: Core, now: datetime) -> None:
        for name, tick in self.ticks.items():
            async with app.db.read() as conn:
                last = (
                    await conn.execute(
                        sa.select(scheduler_state.c.last_run).where(scheduler_state.c.name == name)
                    )
                ).scalar()
            # A first run, or a clock set back (a new demo script), looks only at the last minute.
            start = last if last is not None and last <= now else now - FIRST_WINDOW
            if start >= now:
                continue
            try:
                await tick(app, start, now)
            except Exception:
                log.exception("scheduled work %s failed for (%s, %s]; it will be retried", name, start, now)
                continue
            async with app.db.transaction() as conn:
                # Replicas may finish the same window together: keep the latest time, never fail.
                await conn.execute(
                    upsert(
                        conn,
                        scheduler_state,
                        {"name": name, "last_run": now},
                        key=["name"],
                        update=lambda new: {
                            "last_run": greatest(conn, scheduler_state.c.last_run, new.last_run)
                        },
                    )
                )
