"""A platform's per-bot rate shared by replicas: the grid of send slots lives in the database.

Each replica's RateLimiter alone keeps its own sends at the rate, so two replicas together would send
twice as fast and draw 429s. Here a slot is reserved with one atomic UPDATE of a row per bot, so the
replicas together keep to the rate (their clocks are assumed to agree, as NTP keeps them). Per-chat spacing
and the check against the real times of recent sends stay local, as in RateLimiter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.db import Database, greatest, upsert
from bot.ratelimit import RateLimiter
from bot.schema import send_slots


class SharedRateLimiter(RateLimiter):
    def __init__(
        self,
        db: Database,
        name: str,
        per_second: float,
        per_chat_per_second: float | None = None,
        *,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(per_second, per_chat_per_second, now=now, sleep=sleep)
        self.db = db
        self.name = name

    async def _global_slot(self, now: float) -> float:
        async with self.db.transaction() as conn:
            # The first send of this bot creates the row; every later one moves it on by one interval
            # from wherever it stands (or from now, when the bot has been quiet).
            reserve = upsert(
                conn,
                send_slots,
                {"name": self.name, "next_at": now + self.interval},
                key=["name"],
                update=lambda _new: {"next_at": greatest(conn, send_slots.c.next_at, now) + self.interval},
            ).returning(send_slots.c.next_at)
            next_at = float((await conn.execute(reserve)).scalar_one())
        return next_at - self.interval
