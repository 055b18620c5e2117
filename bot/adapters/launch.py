"""What every long-running adapter command shares: run until SIGINT or SIGTERM, then stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable

from bot.settings import Settings, load_settings


async def until_signal(serve: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run `serve(stop)`; SIGINT and SIGTERM set `stop` so the adapter can finish its work and exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return await serve(stop)


def run_command(
    *,
    setup_logging: Callable[[Settings], None],
    check_settings: Callable[[Settings], None],
    serve: Callable[[Settings, asyncio.Event], Awaitable[int]],
    startup_error: type[Exception],
) -> int:
    """`deskmate telegram` and `deskmate slack`: settings, logging, checks, then serve until a signal.
    A startup problem is one line on stderr and exit code 2; Ctrl-C is 130."""
    settings = load_settings()
    setup_logging(settings)
    try:
        check_settings(settings)
        return asyncio.run(until_signal(lambda stop: serve(settings, stop)))
    except startup_error as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
