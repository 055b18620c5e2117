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
from typing import Any

from bot.adapters.launch import REDACTED, Platform, StartupError, run_command
from bot.adapters.slack import texts
from bot.settings import Settings

log = logging.getLogger("deskmate.slack")

TOKEN_PATTERN = re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]+")


def secrets_of(settings: Settings) -> list[str]:
    values = (settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret)
    return [v.get_secret_value() for v in values if v is not None]


def token_shapes(text: str) -> str:
    return TOKEN_PATTERN.sub(lambda m: f"{m.group(1)}-{REDACTED}", text)


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


SLACK = Platform(secrets=secrets_of, token_shapes=token_shapes, check_settings=check_settings, serve=_serve)


def cmd_slack(args: argparse.Namespace) -> int:
    return run_command(SLACK)


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "slack", help="run the bot in Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP at /slack/events)"
    )
    parser.set_defaults(func=cmd_slack)
