"""`deskmate telegram`: run the bot on Telegram, by long polling or (TELEGRAM_WEBHOOK_URL set) a webhook.

Whatever stops the bot from starting — a missing or refused token, an unreachable Bot API, a port in
use — is one line on stderr and exit code 2, and no line ever carries the token.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from bot.adapters import launch
from bot.adapters.launch import REDACTED, Platform, StartupError, run_command
from bot.adapters.telegram import texts
from bot.settings import Settings

log = logging.getLogger("deskmate.telegram")

TOKEN_FORMAT = re.compile(r"^[0-9]{3,}:[A-Za-z0-9_-]{10,}$")
SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TOKEN_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{6,}:[A-Za-z0-9_-]{30,}")  # anything shaped like a bot token


def secrets_of(settings: Settings) -> list[str]:
    values = (settings.telegram_token, settings.telegram_secret_token)
    return [v.get_secret_value() for v in values if v is not None]


def token_shapes(text: str) -> str:
    return TOKEN_IN_TEXT.sub(REDACTED, text)


def check_settings(settings: Settings) -> None:
    """What `deskmate telegram` needs, checked before any network call."""
    token = settings.telegram_token.get_secret_value() if settings.telegram_token else ""
    if not token:
        raise StartupError(texts.MISSING_TOKEN)
    if not TOKEN_FORMAT.match(token):
        raise StartupError(texts.BAD_TOKEN_FORMAT)
    if settings.telegram_webhook_url:
        if not settings.telegram_webhook_url.startswith("https://"):
            raise StartupError(texts.BAD_WEBHOOK_URL)
        secret = settings.telegram_secret_token.get_secret_value() if settings.telegram_secret_token else ""
        if not secret:
            raise StartupError(texts.MISSING_SECRET)
        if not SECRET_FORMAT.match(secret):
            raise StartupError(texts.BAD_SECRET)


def api_address(settings: Settings) -> str:
    """The Bot API address as it may be shown: without the token."""
    return TELEGRAM.redactor(settings).redact(settings.telegram_base_url)


def startup_error(exc: BaseException, settings: Settings) -> StartupError | None:
    """The one line for a failure at start, or None when it is not an operator's problem."""
    from telegram.error import InvalidToken, NetworkError, TelegramError

    redact = TELEGRAM.redactor(settings).redact
    if isinstance(exc, InvalidToken):
        return StartupError(texts.TOKEN_REFUSED)
    if isinstance(exc, NetworkError):
        reason = redact(str(exc) or type(exc).__name__)
        return StartupError(texts.API_UNREACHABLE.format(url=api_address(settings), reason=reason))
    if isinstance(exc, TelegramError):
        return StartupError(texts.API_REFUSED.format(reason=redact(str(exc))))
    if isinstance(exc, OSError):
        return StartupError(
            texts.CANNOT_LISTEN.format(
                host=settings.telegram_listen_host,
                port=settings.telegram_listen_port,
                reason=exc.strerror or exc,
            )
        )
    return None


async def check_connection(settings: Settings) -> None:
    """getMe before anything else, so a refused token or an unreachable API is said before the
    database is touched."""
    from telegram import Bot

    from bot.adapters.telegram.aiohttp_request import AiohttpRequest
    from bot.adapters.telegram.render import file_url_for

    assert settings.telegram_token is not None
    bot = Bot(
        settings.telegram_token.get_secret_value(),
        base_url=settings.telegram_base_url,
        base_file_url=file_url_for(settings.telegram_base_url),
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )
    try:
        async with bot:
            pass
    except Exception as exc:
        error = startup_error(exc, settings)
        if error is None:
            raise
        raise error from None


async def serve(
    settings: Settings, *, stop: asyncio.Event | None = None, announce: Callable[[str], None] | None = None
) -> int:
    """Run until `stop` is set (SIGINT/SIGTERM in production); StartupError when the bot cannot start."""
    say = announce or launch.announce
    stop = stop or asyncio.Event()
    await check_connection(settings)

    from bot.adapters.telegram.runner import TelegramBot

    async with launch.assembled(settings) as app:
        telegram_bot = TelegramBot(app)
        try:
            await telegram_bot.start()
        except Exception as exc:
            error = startup_error(exc, settings)
            if error is None:
                raise
            raise error from None
        from bot.runtime import background

        try:
            async with background(app):
                username = telegram_bot.application.bot.username
                if settings.telegram_webhook_url:
                    say(
                        texts.RUNNING_WEBHOOK.format(
                            username=username,
                            url=settings.telegram_webhook_url,
                            host=settings.telegram_listen_host,
                            port=telegram_bot.port,
                        )
                    )
                else:
                    say(texts.RUNNING_POLLING.format(username=username))
                await stop.wait()
        finally:
            await telegram_bot.stop()
    return 0


async def _serve(settings: Settings, stop: asyncio.Event) -> int:
    return await serve(settings, stop=stop)


TELEGRAM = Platform(
    secrets=secrets_of,
    token_shapes=token_shapes,
    check_settings=check_settings,
    serve=_serve,
    # httpx logs every request URL at INFO, and the URL carries the token.
    quiet_loggers=("httpx", "httpcore"),
)


def cmd_telegram(args: argparse.Namespace) -> int:
    return run_command(TELEGRAM)


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "telegram",
        help="run the bot on Telegram (long polling, or a webhook when TELEGRAM_WEBHOOK_URL is set)",
    )
    parser.set_defaults(func=cmd_telegram)
