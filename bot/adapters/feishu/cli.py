"""`deskmate feishu`: run the bot as a Feishu (Lark) app bot, by the SDK's long connection (no public URL
needed) or, with FEISHU_EVENT_MODE=http, by event callbacks at /feishu/events.

Settings are checked before any network call; whatever stops the bot from starting is one line and exit
code 2, and no line ever carries the app secret, the verification token, the encrypt key or an access token.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from bot.adapters.feishu import texts
from bot.adapters.launch import REDACTED, Platform, StartupError, run_command
from bot.settings import Settings

# Tenant/app access tokens (t-…, a-…) and bearer headers
TOKEN_PATTERN = re.compile(r"\b(Bearer\s+|tenant_access_token[\"'=:\s]+)[A-Za-z0-9._-]{8,}")

REQUIRED = (
    ("FEISHU_APP_ID", "feishu_app_id", "the app's App ID, cli_…"),
    ("FEISHU_APP_SECRET", "feishu_app_secret", "the app's App Secret"),
)


def secrets_of(settings: Settings) -> list[str]:
    values = (settings.feishu_app_secret, settings.feishu_verification_token, settings.feishu_encrypt_key)
    return [v.get_secret_value() for v in values if v is not None]


def token_shapes(text: str) -> str:
    return TOKEN_PATTERN.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def check_settings(settings: Settings) -> None:
    """The settings `deskmate feishu` needs, checked before any network call."""
    for name, field, what in REQUIRED:
        value = getattr(settings, field)
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        if not text:
            raise StartupError(texts.MISSING.format(name=name, what=what))
    if not settings.feishu_base_url.startswith(("https://", "http://")):
        raise StartupError("setting FEISHU_BASE_URL: must start with https:// (or http:// for a local fake)")
    if settings.feishu_event_mode == "http" and settings.feishu_verification_token is None:
        raise StartupError(
            texts.MISSING.format(
                name="FEISHU_VERIFICATION_TOKEN", what="with FEISHU_EVENT_MODE=http: the Verification Token"
            )
        )


async def _serve(settings: Settings, stop: asyncio.Event) -> int:
    from bot.adapters.feishu.runner import serve

    return await serve(settings, stop=stop)


FEISHU = Platform(
    secrets=secrets_of,
    token_shapes=token_shapes,
    check_settings=check_settings,
    serve=_serve,
    quiet_loggers=("aiohttp.access", "Lark"),
)


def cmd_feishu(args: argparse.Namespace) -> int:
    return run_command(FEISHU)


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "feishu",
        help="run the bot in Feishu/Lark (the SDK's long connection; FEISHU_EVENT_MODE=http: /feishu/events)",
    )
    parser.set_defaults(func=cmd_feishu)
