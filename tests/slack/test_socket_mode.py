"""Socket Mode: the same adapter behind slack-bolt's socket handler, against a loopback WebSocket."""

from __future__ import annotations

import asyncio

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.adapter import SlackAdapter
from bot.app import App, table_count
from bot.ratelimit import RateLimiter
from bot.schema import inbox
from fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import WANGFANG
from tests.slack.harness import dm_channel, message_text


# ASYNC109: a polling helper whose deadline is its purpose.
async def eventually(check: object, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if callable(check) and check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_a_command_over_socket_mode_is_acked_then_answered(app: App, slack_api: FakeSlackAPI) -> None:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(
            token=slack_api.token, base_url=slack_api.base_url, session=session, retry_handlers=[]
        )
        adapter = SlackAdapter(app, client, signing_secret=None)  # no HTTP, no signatures: the socket is ours
        adapter.attach(limiter=RateLimiter(10_000.0))
        handler = AsyncSocketModeHandler(adapter.bolt, app_token="xapp-1-test", web_client=client)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        try:
            await slack_api.envelopes.put(
                {
                    "envelope_id": "env-1",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": {
                        "command": "/desk",
                        "text": "帮助",
                        "user_id": WANGFANG,
                        "channel_id": dm_channel(WANGFANG),
                        "channel_name": "directmessage",
                        "team_id": "T0TEST001",
                        "trigger_id": "t.socket",
                    },
                }
            )
            await eventually(lambda: any(a.get("envelope_id") == "env-1" for a in slack_api.socket_acks))
            # The ack came after the command was stored: nothing acknowledged is only in memory.
            assert await table_count(app, inbox) == 1

            async def delivered() -> None:
                while not slack_api.messages(dm_channel(WANGFANG)):
                    await app.inbox.drain()  # what the inbox worker does in production
                    await app.deliver()
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(delivered(), 10)
            assert message_text(slack_api.messages(dm_channel(WANGFANG))[0]).startswith("王芳，您好")
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
            await adapter.close()
