"""The running bot: OpenAPI client, a startup check, and the Stream connection until stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp

from bot.adapters import launch
from bot.adapters.dingtalk import texts
from bot.adapters.dingtalk.adapter import DingTalkAdapter
from bot.adapters.dingtalk.api import DingTalkError, OpenAPI
from bot.adapters.dingtalk.stream import StreamClient, StreamRefused
from bot.adapters.launch import StartupError
from bot.settings import Settings

log = logging.getLogger("deskmate.dingtalk")

API_TIMEOUT = 30


def make_api(settings: Settings, session: aiohttp.ClientSession) -> OpenAPI:
    assert settings.dingtalk_client_secret is not None
    return OpenAPI(
        session,
        settings.dingtalk_api_url,
        settings.dingtalk_client_id or "",
        settings.dingtalk_client_secret.get_secret_value(),
        settings.dingtalk_robot_code or "",
    )


async def check_connection(api: OpenAPI) -> None:
    """An access token: the credentials are right and the OpenAPI reachable."""
    try:
        await api.token()
    except DingTalkError as exc:
        raise StartupError(texts.CREDENTIALS_REFUSED.format(error=exc.code or f"HTTP {exc.status}")) from None
    except Exception as exc:  # refused connection, timeout, a proxy's page …
        raise StartupError(texts.API_UNREACHABLE.format(url=api.api_url, reason=type(exc).__name__)) from None


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
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT, sock_read=None))
    try:
        api = make_api(settings, session)
        await check_connection(api)
        async with launch.assembled(settings) as app:
            adapter = DingTalkAdapter(app, api)
            adapter.attach()
            client = StreamClient(
                session,
                settings.dingtalk_api_url,
                api.client_id,
                api.client_secret,
                adapter.on_callback,
            )
            async with background(app):
                runner = asyncio.create_task(client.run(stop))
                connected = asyncio.create_task(client.connected.wait())
                done, _ = await asyncio.wait({runner, connected}, return_when=asyncio.FIRST_COMPLETED)
                if connected in done:
                    say(texts.CONNECTED.format(robot=settings.dingtalk_robot_code))
                else:
                    connected.cancel()
                try:
                    await runner
                except StreamRefused as exc:
                    raise StartupError(texts.CREDENTIALS_REFUSED.format(error=str(exc))) from None
    finally:
        await session.close()
    return 0
