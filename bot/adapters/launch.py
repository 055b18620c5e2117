"""The one start-up path of every platform command (`deskmate telegram`, `slack`, `feishu`, `dingtalk`).

Settings are loaded and checked before any network call, every log line passes a filter that masks the
platform's secrets and anything shaped like one, and the bot serves until SIGINT or SIGTERM. Whatever stops
it from starting is one line on stderr and exit code 2; Ctrl-C is 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.core import Core

REDACTED = "(redacted)"


class StartupError(Exception):
    """Something an operator must fix before the bot can start; the message is the one line to print."""


class Redactor(logging.Filter):
    """Masks known secrets, and text shaped like a platform token, in every record a handler writes
    (HTTP libraries put tokens in request URLs and in exception text)."""

    def __init__(self, secrets: Sequence[str], shapes: Callable[[str], str]) -> None:
        super().__init__()
        # Every secret, however short (a 4-character webhook secret is still a secret); the longest
        # first, so one secret inside another is masked whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.shapes = shapes

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return self.shapes(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


@dataclass(frozen=True)
class Platform:
    """What differs between platform commands; `run_command` does the rest the same way for all."""

    secrets: Callable[[Settings], list[str]]
    """The settings' secret values, masked wherever they appear in a log line."""
    token_shapes: Callable[[str], str]
    """Masks anything shaped like this platform's tokens, known or not."""
    check_settings: Callable[[Settings], None]
    """Raises StartupError for a missing or malformed setting, before any network call."""
    serve: Callable[[Settings, asyncio.Event], Awaitable[int]]
    """Runs the bot until the event is set; raises StartupError when it cannot start."""
    quiet_loggers: tuple[str, ...] = ()
    """Libraries whose INFO lines would only repeat request URLs: kept to warnings."""

    def redactor(self, settings: Settings) -> Redactor:
        return Redactor([*self.secrets(settings), *database_secrets(settings)], self.token_shapes)


def database_secrets(settings: Settings) -> list[str]:
    """The password in DATABASE_URL (driver errors and connection logs may quote the URL)."""
    from sqlalchemy.engine import make_url

    try:
        password = make_url(settings.database_url).password
    except Exception:  # an unparsable URL has been refused by the settings already
        return []
    return [str(password)] if password else []


def setup_logging(settings: Settings, platform: Platform) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redactor = platform.redactor(settings)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    for name in platform.quiet_loggers:
        logging.getLogger(name).setLevel(logging.WARNING)


async def until_signal(serve: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run `serve(stop)`; SIGINT and SIGTERM set `stop` so the adapter can finish its work and exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping(sig: signal.Signals) -> None:
        if not stop.is_set():
            logging.getLogger("deskmate").info("%s: stopping", sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping, sig)
    return await serve(stop)


def announce(line: str) -> None:
    """The line a platform command prints once it serves. One write: print() writes the newline
    separately, and a log line from a worker thread can land in between."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@contextlib.asynccontextmanager
async def assembled(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Core]:
    """The whole bot for a platform command, ready to attach to its platform: the features assembled,
    the schema migrated and an empty database given the org file; closed once the platform is done.
    (`clock`: a test's, for a real process on a fake clock.)"""
    from bot.app import App

    app = App(settings, clock=clock)
    try:
        await app.prepare()
        yield app
    finally:
        await app.close()


def run_command(platform: Platform) -> int:
    """Settings, logging with redaction, checks, then serve until a signal."""
    settings = load_settings()
    setup_logging(settings, platform)
    try:
        platform.check_settings(settings)
        code = asyncio.run(until_signal(lambda stop: platform.serve(settings, stop)))
    except StartupError as exc:
        print(platform.redactor(settings).redact(str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    leave(code)


def leave(code: int) -> NoReturn:
    """End the process now that the bot has stopped: the database is closed, every claim committed
    or given back, the sockets shut. What is left is the interpreter's own teardown (seconds on a
    loaded machine with numpy and the SDKs loaded) and a handbook build that may still run in its
    daemon thread; neither holds anything, and SIGTERM must end the process within 10 s."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
