"""Rate limits for platforms: a global rate and a per-chat rate, as Telegram and Slack impose."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    """Spaces sends so neither the global nor the per-chat rate is exceeded.

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
        self._now = now
        self._sleep = sleep
        self._next_global = 0.0
        self._next_chat: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, chat: str) -> None:
        async with self._lock:
            now = self._now()
            start = max(now, self._next_global, self._next_chat.get(chat, 0.0))
            self._next_global = start + self.interval
            if self.chat_interval:
                self._next_chat[chat] = start + self.chat_interval
                if len(self._next_chat) > 10_000:
                    self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}
            wait = start - now
        if wait > 0:
            await self._sleep(wait)
