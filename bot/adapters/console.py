"""The console: an interactive chat in the terminal, and a script mode for demos and tests.

Script lines (one at a time, see README): `PERSON: text`, `PERSON: press N|LABEL`, `PERSON@GROUP: …` (the
same, said in a group chat),
`clock: 2026-12-01 08:45`, `# comment`, blank. With `--json` every message the bot sends is one JSON line.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from bot.clock import FakeClock
from bot.core import Core
from bot.inbox import Row, Update
from bot.messages import Incoming
from bot.outbox import Copy, Delivery
from schedules.texthygiene import json_line, terminal_safe

PLATFORM = "console"
CLOCK_RE = re.compile(r"^clock\s*:\s*(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2})?)\s*$", re.I)
LINE_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:@([A-Za-z0-9._-]+))?\s*:\s*(.*)$", re.S)
PRESS_RE = re.compile(r"^press\s+(.+)$", re.I)


class ScriptError(Exception):
    pass


def _plain(label: str) -> str:
    """A label without emoji, symbols or spaces, so `press 批准` finds "✅ 批准"."""
    return "".join(ch for ch in label.lower() if ch.isalnum())


@dataclass
class ConsoleTransport:
    """Prints what the bot sends and remembers each person's latest buttons."""

    tz: ZoneInfo
    clock: FakeClock
    out: IO[str]
    as_json: bool = False
    platform: str = PLATFORM
    concurrency: int = 1  # one at a time: a script's output stays in a repeatable order
    latest_buttons: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    latest_buttons_message: dict[str, str] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def _emit(self, record: dict[str, Any], name: str | None) -> None:
        self.sent.append(record)
        if self.as_json:
            self.out.write(json_line(record) + "\n")
        else:
            who = f"{name} ({record['to']})" if name else str(record["to"])
            mark = "✎ " if record["edit_of"] else ""
            self.out.write(terminal_safe(f"→ {who}: {mark}{record['text']}", keep_newlines=True) + "\n")
            if record["buttons"]:
                shown = "  ".join(f"[{i}] {label}" for i, label in enumerate(record["buttons"], start=1))
                self.out.write(f"   {terminal_safe(shown)}\n")
            if record["file"]:
                self.out.write(f"   📎 {terminal_safe(record['file'])}\n")
        self.out.flush()

    async def deliver(self, item: Delivery) -> list[Copy]:
        flat = [b for row in item.buttons for b in row]
        at = self.clock.now().astimezone(self.tz).isoformat(timespec="seconds")
        targets: list[tuple[str, str | None]]
        if item.edit_of:
            targets = [(c.chat_id, None) for c in item.edit_copies] or []
        elif item.recipient is not None:
            targets = [(item.recipient.id, item.recipient.name)]
        else:
            targets = [(item.chat_id or "?", None)]
        for chat, name in targets:
            record = {
                "to": chat,
                "text": item.text,
                "buttons": [b["label"] for b in flat],
                "edit_of": item.edit_of,
                "file": item.file_name,
                "at": at,
                "id": item.message_id,
            }
            self._emit(record, name)
            if flat:
                self.latest_buttons[chat] = flat
                self.latest_buttons_message[chat] = item.edit_of or item.message_id
            elif item.edit_of and self.latest_buttons_message.get(chat) == item.edit_of:
                self.latest_buttons.pop(chat, None)
        if item.edit_of:
            return []
        return [Copy(chat, item.message_id) for chat, _ in targets]

    def button_token(self, person: str, choice: str) -> str:
        buttons = self.latest_buttons.get(person)
        if not buttons:
            raise ScriptError(f"{person} has no message with buttons to press")
        choice = choice.strip()
        if choice.isdigit():
            index = int(choice)
            if not 1 <= index <= len(buttons):
                raise ScriptError(f"{person} has buttons 1..{len(buttons)}, not {index}")
            return buttons[index - 1]["token"]
        wanted = _plain(choice)
        for match in (
            lambda label: label.strip().lower() == choice.lower(),
            lambda label: _plain(label) == wanted,
            lambda label: bool(wanted) and wanted in _plain(label),
        ):
            found = [b for b in buttons if match(b["label"])]
            if len(found) == 1:
                return found[0]["token"]
        labels = ", ".join(b["label"] for b in buttons)
        raise ScriptError(f"{person} has no button {choice!r} (buttons: {labels})")


class Console:
    """Feeds lines to the core as a console user and flushes the outbox after each one.

    Each line goes through the inbox like any platform's update (keyed by this run and the line's
    number), handled inline in the same transaction that stores it, so a script runs in order."""

    def __init__(self, app: Core, clock: FakeClock, transport: ConsoleTransport) -> None:
        self.app = app
        self.clock = clock
        self.transport = transport
        self.run_id = uuid.uuid4().hex[:12]
        self._lines = itertools.count(1)
        app.attach(transport)
        # One attempt: the person at the terminal hears at once when a line could not be handled.
        app.inbox.register(PLATFORM, self._handle_row, max_attempts=1)

    async def say(self, person_id: str, text: str, group: str | None = None) -> None:
        """`person_id` says `text` in their private chat, or in the group chat `group`."""
        person = await self.app.resolve_person(PLATFORM, person_id)
        payload: dict[str, Any] = {"_private": group is None}
        match = PRESS_RE.match(text.strip())
        if match and person is not None:
            payload["button_token"] = self.transport.button_token(group or person_id, match.group(1))
        else:
            payload["text"] = text
        now = self.clock.now()
        chat = group or person_id
        update = Update(PLATFORM, f"{self.run_id}:{next(self._lines)}", person_id, chat, payload, now)
        try:
            await self.app.inbox.put_and_run(update)
        except Exception as exc:  # the line could not even be stored: say so rather than stay silent
            incoming = Incoming(
                PLATFORM, chat, person_id, person, now, text=payload.get("text"), is_private=group is None
            )
            await self.app.apologise(incoming, exc)
        await self.app.deliver()

    async def _handle_row(self, row: Row) -> None:
        person = await self.app.resolve_person(PLATFORM, row.sender_id)
        incoming = Incoming(
            platform=PLATFORM,
            chat_id=row.chat_id,
            sender_id=row.sender_id,
            person=person,
            at=self.clock.now(),
            text=row.payload.get("text"),
            button_token=row.payload.get("button_token"),
            is_private=bool(row.payload.get("_private", True)),
            platform_at=row.platform_at,  # the console's clock when the line was read: the person's time
        )
        await self.app.process(incoming)

    async def set_clock(self, day: str, time_of_day: str) -> None:
        hour, _, rest = time_of_day.partition(":")
        try:
            local = datetime.fromisoformat(f"{day}T{hour.zfill(2)}:{rest}")
        except ValueError as exc:
            raise ScriptError(f"not a valid time: {day} {time_of_day}") from exc
        when = local.replace(tzinfo=self.app.tz)
        self.clock.set(when)
        await self.app.run_due(self.clock.now())
        await self.app.deliver()

    async def run_line(self, line: str) -> None:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return
        clock = CLOCK_RE.match(stripped)
        if clock:
            await self.set_clock(clock.group(1), clock.group(2))
            return
        if stripped.lower().startswith("clock"):
            raise ScriptError("a clock line looks like `clock: 2026-12-01 08:45`")
        match = LINE_RE.match(stripped)
        if not match:
            raise ScriptError(
                "expected `PERSON: text`, `PERSON@GROUP: text`, `PERSON: press N`, `clock: YYYY-MM-DD HH:MM` "
                "or `# comment`"
            )
        person, group, text = match.group(1), match.group(2), match.group(3).strip()
        if not text:
            raise ScriptError(f"{person} says nothing")
        await self.say(person, text, group)

    async def run_script(self, lines: IO[str], errors: IO[str]) -> int:
        """Run every line; a bad line is reported on stderr with its number and the script goes on,
        so one typo in a long demo does not hide everything after it."""
        for number, line in enumerate(lines, start=1):
            try:
                await self.run_line(line)
            except ScriptError as exc:
                errors.write(f"script line {number}: {exc}\n")
                errors.flush()
        return 0


async def _read_line(prompt: str) -> str | None:
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = await asyncio.to_thread(sys.stdin.readline)
    return line if line else None


async def interactive(console: Console, as_person: str | None) -> int:
    """A chat in the terminal: pick who you are, then type as that person."""
    app = console.app
    async with app.db.read() as conn:
        everyone = await app.directory.all(conn)
    ids = {p.id for p in everyone}
    me = as_person
    while me not in ids:
        if me is not None:
            print(f"unknown person {me!r}")
        for index, p in enumerate(everyone, start=1):
            print(f"  {index:>2}. {p.name} ({p.id}, {p.role})")
        answer = await _read_line("你是谁？/ Who are you? (number or id): ")
        if answer is None:
            return 0
        answer = answer.strip()
        me = everyone[int(answer) - 1].id if answer.isdigit() and 0 < int(answer) <= len(everyone) else answer
    print("输入消息；/as PERSON 切换身份，press N 按按钮，clock: 2026-12-01 08:45 拨动时钟，Ctrl-D 退出。")
    print("Type a message; /as PERSON switches person, press N presses a button, Ctrl-D quits.")
    while True:
        line = await _read_line(f"{me}> ")
        if line is None:
            return 0
        text = line.strip()
        if text.startswith("/as "):
            candidate = text[4:].strip()
            if candidate in ids:
                me = candidate
            else:
                print(f"unknown person {candidate!r}")
            continue
        try:
            if CLOCK_RE.match(text) or text.lower().startswith("clock"):
                await console.run_line(text)
            elif text:
                await console.say(me, text)
        except ScriptError as exc:
            print(f"! {exc}")
