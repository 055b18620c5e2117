"""`deskmate dingtalk`: run the bot as a DingTalk robot in Stream mode (no public URL needed).

Settings are checked before any network call; whatever stops the bot from starting is one line and exit
code 2, and no line ever carries the client secret or an access token.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from bot.adapters.dingtalk import texts
from bot.adapters.launch import REDACTED, Platform, StartupError, run_command
from bot.settings import Settings

# access_token=… in an oapi URL, and the ticket of a Stream endpoint
TOKEN_PATTERN = re.compile(r"\b(access_token|ticket)=[^&\s\"']+")

REQUIRED = (
    ("DINGTALK_CLIENT_ID", "dingtalk_client_id", "the app's Client ID (AppKey)"),
    ("DINGTALK_CLIENT_SECRET", "dingtalk_client_secret", "the app's Client Secret (AppSecret)"),
    ("DINGTALK_ROBOT_CODE", "dingtalk_robot_code", "the robot's RobotCode, often the Client ID"),
    ("DINGTALK_CARD_TEMPLATE_ID", "dingtalk_card_template_id", "the card template with callback buttons"),
)


def secrets_of(settings: Settings) -> list[str]:
    secret = settings.dingtalk_client_secret
    return [secret.get_secret_value()] if secret is not None else []


def token_shapes(text: str) -> str:
    return TOKEN_PATTERN.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def check_settings(settings: Settings) -> None:
    """The settings `deskmate dingtalk` needs, checked before any network call."""
    for name, field, what in REQUIRED:
        value = getattr(settings, field)
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        if not text:
            raise StartupError(texts.MISSING.format(name=name, what=what))
    if not settings.dingtalk_api_url.startswith(("https://", "http://")):
        raise StartupError("setting DINGTALK_API_URL: must start with https:// (or http:// for a local fake)")


async def _serve(settings: Settings, stop: asyncio.Event) -> int:
    from bot.adapters.dingtalk.runner import serve

    return await serve(settings, stop=stop)


DINGTALK = Platform(
    secrets=secrets_of,
    token_shapes=token_shapes,
    check_settings=check_settings,
    serve=_serve,
    quiet_loggers=("aiohttp.access",),
)


def cmd_dingtalk(args: argparse.Namespace) -> int:
    return run_command(DINGTALK)


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dingtalk", help="run the bot as a DingTalk robot (Stream mode, no public URL)"
    )
    parser.set_defaults(func=cmd_dingtalk)
