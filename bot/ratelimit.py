"""Rate limits for platforms: a global rate and a per-chat rate, as Telegram and Slack impose."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

WINDOW_SECONDS = 1.0


class RateLimiter:
    """Spaces sends so neither the global nor the per-chat rate is exceeded.

    Slots are handed out on a grid of `1 / per_second`. A busy event loop wakes sleepers late, and the
    ones it woke late then go out together with the next on-time ones: counted by when they really left,
    a second could hold more sends than the rate. So each grant is also checked against the real times
    of the last grants: never more than `per_second` (rounded down) in any rolling second.

    `now` and `sleep` are injectable so tests can check the spacing without waiting.
    """

    def __init__(
        self,
        per_second: float,
        per_chat_per_second: float | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / per_second
        self.chat_interval = 1.0 / per_chat_per_second if per_chat_per_second else 0.0
        self.per_window = max(1, math.floor(per_second * WINDOW_SECONDS))
        self._now = now
        self._sleep = sleep
        self._next_global = 0.0
        self._next_chat: dict[str, float] = {}
        self._granted: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._window_lock = asyncio.Lock()

    async def acquire(self, chat: str) -> None:
        async with self._lock:
            now = self._now()
            start = max(now, await self._global_slot(now), self._next_chat.get(chat, 0.0))
            if self.chat_interval:
                self._next_chat[chat] = start + self.chat_interval
                if len(self._next_chat) > 10_000:
                    self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}
            wait = start - now
        if wait > 0:
            await self._sleep(wait)
        await self._within_window()

    async def _global_slot(self, now: float) -> float:
        """Reserve the next slot of the global grid; returns when it starts."""
        start = max(now, self._next_global)
        self._next_global = start + self.interval
        return start

    async def _within_window(self) -> None:
        """Wait (holding everyone else back, as the window is full for all) until a grant now keeps
        the rolling second within `per_window`, then record it."""
        async with self._window_lock:
            while True:
                now = self._now()
                # (a hair of tolerance: a sleep of exactly the remainder may land one float step short)
                while self._granted and self._granted[0] + WINDOW_SECONDS <= now + 1e-9:
                    self._granted.popleft()
                if len(self._granted) < self.per_window:
                    self._granted.append(now)
                    return
                await self._sleep(self._granted[0] + WINDOW_SECONDS - now)
