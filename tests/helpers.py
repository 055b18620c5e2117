"""Test helpers: drive the App as the console does and collect what it sends."""

from __future__ import annotations

import io
import json
from typing import Any

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
