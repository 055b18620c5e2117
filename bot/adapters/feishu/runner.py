"""The running bot: open-platform client, a startup check, and the long connection or the HTTP callback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
from aiohttp import web

from bot.adapters import launch
from bot.adapters.feishu import texts
from bot.adapters.feishu.adapter import FeishuAdapter
from bot.adapters.feishu.api import FeishuError, OpenAPI
from bot.adapters.feishu.longconn import ConnectionRefused, LongConnection
from bot.adapters.launch import StartupError
from bot.clock import Clock
from bot.settings import Settings

log = logging.getLogger("deskmate.feishu")

API_TIMEOUT = 30


def make_api(settings: Settings, session: aiohttp.ClientSession) -> OpenAPI:
    assert settings.feishu_app_secret is not None
    return OpenAPI(
        session,
        settings.feishu_base_url,
        settings.feishu_app_id or "",
        settings.feishu_app_secret.get_secret_value(),
    )


async def check_connection(api: OpenAPI) -> None:
    """A tenant access token: the credentials are right and the open platform reachable."""
    try:
        await api.token()
    except FeishuError as exc:
        raise StartupError(texts.CREDENTIALS_REFUSED.format(error=f"code {exc.code}")) from None
    except Exception as exc:  # refused connection, timeout, a proxy's page …
        raise StartupError(
            texts.API_UNREACHABLE.format(url=api.base_url, reason=type(exc).__name__)
        ) from None


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    announce: Callable[[str], None] | None = None,
    clock: Clock | None = None,
) -> int:
    """Run until `stop` is set (SIGINT/SIGTERM in production); `clock` is the kill -9 test's."""
    from bot.runtime import background

    say = announce or launch.announce
    stop = stop or asyncio.Event()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT))
    try:
        api = make_api(settings, session)
        await check_connection(api)
        async with launch.assembled(settings, clock) as app:
            adapter = FeishuAdapter(app, api)
            adapter.attach()
            async with background(app):
                if settings.feishu_event_mode == "http":
                    await _serve_http(settings, adapter, stop, say)
                else:
                    await _serve_ws(settings, adapter, stop, say)
    finally:
        await session.close()
    return 0


async def _serve_http(
    settings: Settings, adapter: FeishuAdapter, stop: asyncio.Event, say: Callable[[str], None]
) -> None:
    runner = web.AppRunner(adapter.web_app(), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    host, port = settings.feishu_listen_host, settings.feishu_listen_port
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(
                texts.CANNOT_LISTEN.format(host=host, port=port, reason=exc.strerror)
            ) from None
        sockets = getattr(site._server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        say(texts.LISTENING.format(app=settings.feishu_app_id, host=host, port=bound))
        await stop.wait()
    finally:
        await runner.cleanup()


async def _serve_ws(
    settings: Settings, adapter: FeishuAdapter, stop: asyncio.Event, say: Callable[[str], None]
) -> None:
    assert settings.feishu_app_secret is not None
    connection = LongConnection(
        settings.feishu_app_id or "",
        settings.feishu_app_secret.get_secret_value(),
        settings.feishu_base_url,
        adapter.on_event,
    )
    connection.start()
    try:
        started = asyncio.create_task(connection.wait_started())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({started, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if started.done():
            try:
                started.result()
            except ConnectionRefused as exc:
                raise StartupError(texts.CREDENTIALS_REFUSED.format(error=str(exc))) from None
            say(texts.CONNECTED_WS.format(app=settings.feishu_app_id, url=settings.feishu_base_url))
        else:
            started.cancel()
        try:
            await connection.run_until(stop)
        except ConnectionRefused as exc:
            raise StartupError(texts.CREDENTIALS_REFUSED_LATER.format(error=str(exc))) from None
    finally:
        await connection.stop()
