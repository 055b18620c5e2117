"""/healthz and /metrics over real HTTP on 127.0.0.1."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bot import ops
from bot.app import App
from bot.clock import FakeClock
from tests.helpers import Chat


async def test_healthz_and_metrics(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    await chat.say("wangfang", "/help")
    web_app = web.Application()
    ops.add_routes(web_app, app)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                body = await response.json()
                assert response.status == 503 and body["database"] is True and body["scheduler"] is False
            app.hooks.scheduler_alive = lambda: True
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200 and (await response.json())["outbox_depth"] == 0
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
        assert 'deskmate_messages_in_total{platform="console"} 1.0' in text
        assert 'deskmate_messages_out_total{platform="console"} 1.0' in text
        assert "deskmate_handler_seconds_count 1.0" in text
        assert "deskmate_outbox_depth 0.0" in text
    finally:
        await runner.cleanup()
