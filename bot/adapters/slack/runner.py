"""The running bot: Web API client, startup checks, and the HTTP or Socket Mode front door."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters import launch
from bot.adapters.launch import StartupError
from bot.adapters.slack import texts
from bot.adapters.slack.adapter import EVENTS_PATH, SlackAdapter, api_base_url
from bot.adapters.slack.transport import api_error
from bot.settings import Settings

log = logging.getLogger("deskmate.slack")

API_TIMEOUT = 30


def api_session() -> aiohttp.ClientSession:
    """The Web API client's session. slack_sdk applies its own `timeout` only to sessions it makes
    itself, so a session handed to it must carry the timeout, or a hung call waits for minutes."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT))


def make_client(settings: Settings, session: aiohttp.ClientSession | None) -> AsyncWebClient:
    """No built-in retries: the outbox decides when to try again (and honours Retry-After)."""
    assert settings.slack_bot_token is not None
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=api_base_url(settings.slack_api_url),
        session=session,
        timeout=API_TIMEOUT,
        retry_handlers=[],
    )


async def check_connection(client: AsyncWebClient) -> dict[str, Any]:
    """auth.test: the token is valid and the API reachable; returns who the bot is."""
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        status, code = api_error(exc)
        error = code or f"HTTP {status}"
        raise StartupError(texts.TOKEN_REFUSED.format(error=error)) from None
    except Exception as exc:  # refused connection, timeout, a proxy's HTML page, a non-JSON answer …
        reason = type(exc).__name__
        raise StartupError(texts.API_UNREACHABLE.format(url=client.base_url, reason=reason)) from None
    return dict(response.data) if isinstance(response.data, dict) else {}


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    announce: Callable[[str], None] | None = None,
) -> int:
    """Run until `stop` is set (SIGINT/SIGTERM in production)."""
    from bot.runtime import background

    say = announce or launch.announce
    stop = stop or asyncio.Event()
    session = api_session()
    try:
        client = make_client(settings, session)
        try:
            identity = await check_connection(client)
        except StartupError as exc:
            print(exc, file=sys.stderr)
            return 2
        async with launch.assembled(settings) as app:
            signing = (
                settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
            )
            adapter = SlackAdapter(app, client, signing_secret=signing)
            adapter.attach()
            who = texts.IDENTITY.format(user=identity.get("user", "?"), team=identity.get("team", "?"))
            try:
                async with background(app):
                    if settings.slack_app_token is not None:
                        await _socket_mode(
                            adapter, settings.slack_app_token.get_secret_value(), stop, say, who
                        )
                    else:
                        await _http_mode(adapter, settings, stop, say, who)
            finally:
                await adapter.close()
    finally:
        await session.close()
    return 0


async def _http_mode(
    adapter: SlackAdapter, settings: Settings, stop: asyncio.Event, say: Callable[[str], None], who: str
) -> None:
    quiet = settings.log_level != "DEBUG"
    runner = web.AppRunner(
        adapter.web_app(),
        access_log=None if quiet else logging.getLogger("aiohttp.access"),
        shutdown_timeout=2.0,  # a request still open at a stop gets 2 s (aiohttp's default is 60 s)
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.slack_listen_host, settings.slack_listen_port)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        say(texts.LISTENING.format(url=f"http://{host}:{port}{EVENTS_PATH}", who=who))
        await stop.wait()
    finally:
        await runner.cleanup()


async def _socket_mode(
    adapter: SlackAdapter, app_token: str, stop: asyncio.Event, say: Callable[[str], None], who: str
) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(adapter.bolt, app_token=app_token, web_client=adapter.client)
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
    except SlackApiError as exc:
        raise StartupError(texts.APP_TOKEN_REFUSED.format(error=api_error(exc)[1] or "refused")) from None
    try:
        say(texts.SOCKET_MODE.format(who=who))
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
