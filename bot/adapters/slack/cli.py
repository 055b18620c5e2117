"""`deskmate slack`: run the bot in a Slack workspace (the running itself is in `runner`).

Socket Mode when SLACK_APP_TOKEN is set (no public URL needed), otherwise an HTTP server on
SLACK_LISTEN_HOST:SLACK_LISTEN_PORT taking commands, events and interactivity at /slack/events.
Whatever goes wrong before the bot is up is said in one line and exit code 2, and no line ever
carries a token.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from typing import Any

from bot.adapters.launch import run_command
from bot.adapters.slack import texts
from bot.adapters.slack.texts import StartupError
from bot.settings import Settings

log = logging.getLogger("deskmate.slack")

TOKEN_PATTERN = re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]+")


class RedactSecrets(logging.Filter):
    """Masks tokens and secrets in every record a handler writes, whichever library logged it."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "(redacted)")
        return TOKEN_PATTERN.sub(lambda m: m.group(1) + "-(redacted)", text)

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


def secrets_of(settings: Settings) -> list[str]:
    values = (settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret)
    return [v.get_secret_value() for v in values if v is not None]


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redactor = RedactSecrets(secrets_of(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)


def check_settings(settings: Settings) -> None:
    """The settings `deskmate slack` needs, checked before any network call."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if not token:
        raise StartupError(texts.MISSING_BOT_TOKEN)
    if not token.startswith("xoxb-"):
        raise StartupError(texts.BAD_BOT_TOKEN)
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if app_token and not app_token.startswith("xapp-"):
        raise StartupError(texts.BAD_APP_TOKEN)
    if not app_token and not settings.slack_signing_secret:
        raise StartupError(texts.MISSING_SIGNING_SECRET)


async def _serve(settings: Settings, stop: asyncio.Event) -> int:
    from bot.adapters.slack.runner import serve  # slack-bolt loads only for this command

    return await serve(settings, stop=stop)


def cmd_slack(args: argparse.Namespace) -> int:
    return run_command(
        setup_logging=setup_logging, check_settings=check_settings, serve=_serve, startup_error=StartupError
    )


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "slack", help="run the bot in Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP at /slack/events)"
    )
    parser.set_defaults(func=cmd_slack)
