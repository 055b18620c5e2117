"""Test helpers: drive the App as the console does and collect what it sends."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from bot import roster_store
from bot.adapters.console import Console, ConsoleTransport
from bot.app import App
from bot.clock import FakeClock


class Chat:
    """A console session whose output is captured as JSON records."""

    def __init__(self, app: App, clock: FakeClock) -> None:
        self.buffer = io.StringIO()
        self.transport = ConsoleTransport(app.settings.tz, clock, self.buffer, as_json=True)
        self.console = Console(app, clock, self.transport)

    @property
    def sent(self) -> list[dict[str, Any]]:
        return self.transport.sent

    async def say(self, person: str, text: str, group: str | None = None) -> list[dict[str, Any]]:
        """`person` says `text` in their private chat, or in the group chat `group`."""
        before = len(self.sent)
        await self.console.say(person, text, group)
        return self.sent[before:]

    async def line(self, text: str) -> list[dict[str, Any]]:
        before = len(self.sent)
        await self.console.run_line(text)
        return self.sent[before:]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ASYNC109: the deadline is the helper's purpose: its error then says what was awaited.
async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 60.0,  # noqa: ASYNC109
    what: str = "condition",
    state: Callable[[], str] | None = None,
) -> None:
    """Poll until `predicate` holds, for work in other tasks or processes (HTTP round trips, child
    processes), never to wait for timed work, which runs on the fake clock. Deadlines are generous: they
    only bound a hung run. On timeout the error names what was awaited and, with `state`, what was seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            seen = f"; {state()}" if state is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{seen}")
        await asyncio.sleep(0.005)


async def roster(app: App, rows: dict[str, str], start: date = date(2026, 12, 1)) -> None:
    """rows: person → one letter a day from `start`: D day, E evening, - rest."""
    codes = {"D": "day", "E": "evening", "-": None}
    entries = [
        (person, start + timedelta(days=i), codes[letter])
        for person, letters in rows.items()
        for i, letter in enumerate(letters)
    ]
    async with app.db.transaction() as conn:
        await roster_store.upsert(conn, entries, app.clock.now())


async def shift_of(app: App, person: str, day: date) -> str | None:
    async with app.db.read() as conn:
        entry = await roster_store.entry(conn, person, day)
    return entry.shift_code if entry else None
