"""What every long-running adapter command shares: run until SIGINT or SIGTERM, then stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable


async def until_signal(serve: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run `serve(stop)`; SIGINT and SIGTERM set `stop` so the adapter can finish its work and exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return await serve(stop)
