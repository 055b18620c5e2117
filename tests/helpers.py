"""Test helpers: drive the App as the console does and collect what it sends."""

from __future__ import annotations

import asyncio
import gc
import inspect
import io
import json
import logging
import os
import subprocess
import sys
import traceback
import warnings
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
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


def deskmate(
    *args: str, env: dict[str, str], cwd: Path, input: str | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m bot.cli ARGS` as a child process would run it (only this environment and folder, its
    own stdin, stdout and stderr, logging set up afresh, a traceback and exit code 1 on an uncaught
    error), but inside this process: a child costs 1-2 s of start-up and imports and adds nothing to
    what these tests check. Each entry point keeps one real child-process test (marked slow).
    Call it from a thread in async tests (`asyncio.to_thread`): the command runs its own event loop."""
    from bot import cli

    def stream(text: str = "") -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline="")

    def text_of(wrapper: io.TextIOWrapper) -> str:
        wrapper.flush()
        raw = wrapper.buffer.getvalue()  # type: ignore[attr-defined]
        return io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8").read()  # universal newlines, as text=True

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out, err = stream(), stream()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdin, sys.stdout, sys.stderr = stream(input or ""), out, err
    root.handlers = []  # as in a new process, so the command's logging.basicConfig takes effect
    try:
        try:
            # As in a child, whose default filters ignore ResourceWarning: a connection that the command's
            # shutdown leaves to the garbage collector is collected here, quietly as a child's would be,
            # instead of failing whichever later test the collector happens to run in.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                try:
                    code: int = cli.main(list(args))
                finally:
                    gc.collect()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except Exception:
            traceback.print_exc()
            code = 1
    finally:
        root.handlers, root.level = saved_handlers, saved_level
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    done = subprocess.CompletedProcess(["deskmate", *args], code, text_of(out), text_of(err))
    if check:
        done.check_returncode()
    return done
