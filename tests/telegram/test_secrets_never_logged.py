"""Secrets never reach the log, at any level and of any length: a 4-character webhook secret sent in
setWebhook's parameters at DEBUG is masked like a long one."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.adapters.launch import Redactor
from bot.adapters.slack.cli import SLACK
from bot.adapters.telegram.cli import TELEGRAM
from bot.settings import Settings
from tests.telegram.conftest import StartTelegram

SHORT = "Ab1x"


@pytest.fixture
def debug_log() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream, handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_short_webhook_secret_is_masked_in_debug_lines(
    start_telegram: StartTelegram, debug_log: tuple[io.StringIO, logging.Handler]
) -> None:
    stream, handler = debug_log
    # What `deskmate telegram` installs before it starts (the token is the test's, known to the redactor).
    handler.addFilter(TELEGRAM.redactor(Settings(telegram_secret_token=SecretStr(SHORT))))
    telegram = await start_telegram(webhook=True, telegram_secret_token=SecretStr(SHORT))
    assert telegram.api.sent("setWebhook")[0].params["secret_token"] == SHORT
    text = stream.getvalue()
    assert "setWebhook" in text and SHORT not in text and "(redacted)" in text


@pytest.mark.parametrize("secret", ["x", "ab", "Ab1x", "12345", "a-much-longer-secret"])
def test_every_secret_length_is_masked_in_messages_and_tracebacks(secret: str) -> None:
    settings = Settings(slack_signing_secret=SecretStr(secret), telegram_secret_token=SecretStr(secret))
    for redactor in (TELEGRAM.redactor(settings), SLACK.redactor(settings)):
        try:
            raise RuntimeError(f"bad signature with {secret}")
        except RuntimeError:
            record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "params %r", ({"s": secret},), None)
            record.exc_info = __import__("sys").exc_info()
        redactor.filter(record)
        assert secret not in record.getMessage()
        assert record.exc_text is not None and secret not in record.exc_text


def test_a_secret_inside_another_is_masked_whole() -> None:
    redactor = Redactor(["abc", "xxabcxx"], lambda text: text)
    assert redactor.redact("t=xxabcxx") == "t=(redacted)"


def test_the_database_password_is_masked_too() -> None:
    settings = Settings(database_url="postgresql://deskmate:pw9@127.0.0.1:5432/deskmate")
    redactor = TELEGRAM.redactor(settings)
    assert redactor.redact("could not connect to postgresql://deskmate:pw9@127.0.0.1") == (
        "could not connect to postgresql://deskmate:(redacted)@127.0.0.1"
    )
