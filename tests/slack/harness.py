"""Drive the Slack adapter as Slack would: signed HTTP requests to /slack/events on 127.0.0.1, replies
read back from the fake Web API. A new scenario is a few lines: `await desk.command(USER, "打卡")`."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.adapter import SlackAdapter
from bot.adapters.slack.blocks import BUTTON_ACTION_PREFIX
from bot.app import App
from bot.clock import FakeClock
from bot.ratelimit import RateLimiter
from fakes.slack_api import BOT_USER, FakeSlackAPI

SECRET = "test-signing-secret-0123456789"


def dm_channel(user: str) -> str:
    """The DM channel the fake opens between the bot and a member."""
    return "D" + user[1:]


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def message_text(params: dict[str, Any]) -> str:
    """What a person reads: the section blocks' text (unescaped), else the fallback text."""
    sections = [b["text"]["text"] for b in params.get("blocks") or [] if b.get("type") == "section"]
    return unescape("\n".join(sections) if sections else str(params.get("text") or ""))


def message_buttons(params: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (element["text"]["text"], element["value"])
        for block in params.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


class SlackDesk:
    """The adapter under test on a real aiohttp server, with a signed-request client and the fake API."""

    def __init__(
        self, app: App, clock: FakeClock, api: FakeSlackAPI, *, handle_after_ack: bool = True
    ) -> None:
        self.app = app
        self.clock = clock
        self.api = api
        self.session = aiohttp.ClientSession()
        self.client = AsyncWebClient(
            token=api.token, base_url=api.base_url, session=self.session, retry_handlers=[], timeout=10
        )
        self.adapter = SlackAdapter(
            app,
            self.client,
            signing_secret=SECRET,
            home_refresh_seconds=0,
        )
        # Production spaces messages to one chat a second apart; tests need not wait for that.
        self.dispatcher = self.adapter.attach(limiter=RateLimiter(10_000.0))
        # Production's inbox worker handles what was acked; tests handle it right after the answer.
        self.handle_after_ack = handle_after_ack
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)
        self.url = ""

    async def start(self) -> SlackDesk:
        self._runner = web.AppRunner(self.adapter.web_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        await self.adapter.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.session.close()

    # ----- raw requests ----------------------------------------------------------------------------
    def sign(self, body: bytes, *, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
        assert signature is not None
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}

    async def post(
        self,
        body: bytes,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str = SECRET,
    ) -> tuple[int, str]:
        sent = {"Content-Type": content_type, **self.sign(body, timestamp=timestamp, secret=secret)}
        sent.update(headers or {})
        async with self.session.post(self.url + "/slack/events", data=body, headers=sent) as response:
            answer = response.status, await response.text()
        if self.handle_after_ack:
            await self.app.inbox.drain()
        return answer

    # ----- what Slack sends ------------------------------------------------------------------------
    def command_body(self, user: str, text: str, *, channel: str | None = None) -> bytes:
        channel = channel or dm_channel(user)
        fields = {
            "token": "legacy",
            "team_id": "T0TEST001",
            "team_domain": "test-desk",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/desk",
            "text": text,
            "api_app_id": "A0DESK0001",
            "response_url": "http://127.0.0.1:9/never",
            "trigger_id": f"trigger.{next(self._ids)}",
        }
        return urlencode(fields).encode()

    async def command(
        self, user: str, text: str, *, channel: str | None = None, **kw: Any
    ) -> tuple[int, str]:
        """`/desk text` typed by `user` (in their DM with the bot unless `channel` says otherwise)."""
        return await self.post(
            self.command_body(user, text, channel=channel), "application/x-www-form-urlencoded", **kw
        )

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> bytes:
        envelope = {
            "token": "legacy",
            "team_id": "T0TEST001",
            "api_app_id": "A0DESK0001",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(self.clock.now().timestamp()),
            "authorizations": [{"team_id": "T0TEST001", "user_id": BOT_USER, "is_bot": True}],
        }
        return json.dumps(envelope).encode()

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> int:
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        status, _ = await self.post(
            self.event_body(event, event_id=event_id), "application/json", headers=headers
        )
        return status

    async def dm(
        self,
        user: str,
        text: str,
        *,
        files: list[dict[str, Any]] | None = None,
        event_id: str | None = None,
        sent_at: datetime | None = None,
    ) -> int:
        """`user` writes to the bot; the event's ``ts`` is ``sent_at`` (the person's time), now by default."""
        sent = int((sent_at or self.clock.now()).timestamp())
        event: dict[str, Any] = {
            "type": "message",
            "channel": dm_channel(user),
            "channel_type": "im",
            "user": user,
            "text": text,
            "ts": f"{sent}.{next(self._ids):06d}",
        }
        if files:
            event["subtype"] = "file_share"
            event["files"] = files
        return await self.event(event, event_id=event_id)

    async def mention(self, user: str, channel: str, text: str) -> int:
        event = {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "text": f"<@{BOT_USER}> {text}",
            "ts": f"{int(self.clock.now().timestamp())}.{next(self._ids):06d}",
        }
        return await self.event(event)

    async def home_opened(self, user: str) -> int:
        return await self.event(
            {"type": "app_home_opened", "user": user, "channel": dm_channel(user), "tab": "home"}
        )

    async def press(
        self, user: str, value: str, *, channel: str | None = None, ts: str = "1.0"
    ) -> tuple[int, str]:
        """`user` presses the button whose value (token) is `value`; `channel=None` means their DM."""
        channel = channel or dm_channel(user)
        payload = {
            "type": "block_actions",
            "team": {"id": "T0TEST001"},
            "user": {"id": user},
            "api_app_id": "A0DESK0001",
            "trigger_id": f"trigger.{next(self._ids)}",
            "container": {"type": "message", "channel_id": channel, "message_ts": ts, "is_ephemeral": False},
            "channel": {"id": channel},
            "message": {"ts": ts},
            "actions": [{"type": "button", "action_id": BUTTON_ACTION_PREFIX + value, "value": value}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.post(body, "application/x-www-form-urlencoded")

    async def press_label(self, user: str, label: str, *, channel: str | None = None) -> tuple[int, str]:
        """`user` presses the button labelled `label` on the latest message that has one, in their DM
        with the bot or in `channel`."""
        where = channel or dm_channel(user)
        for params in reversed(self.api.messages(where)):
            for text, value in message_buttons(params):
                if text == label:
                    return await self.press(user, value, channel=where)
        raise AssertionError(f"no button {label!r} in messages to {where}")

    # ----- what the bot did ------------------------------------------------------------------------
    async def flush(self) -> None:
        """Deliver the outbox and let Home redraws finish, until nothing moves."""
        for _ in range(20):
            sent = await self.app.deliver()
            await self.adapter.settle()
            if sent == 0 and not self.adapter._tasks:
                return
        raise AssertionError("the outbox did not settle")

    # ASYNC109: a polling helper whose deadline is its purpose.
    async def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """For the real (async) ack: poll until the work after the ack produced `count` calls."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            await self.app.inbox.drain()
            await self.app.deliver()
            if len(self.api.calls_to(method)) >= count:
                return self.api.calls_to(method)
            await asyncio.sleep(0.02)
        raise AssertionError(f"{method} was called {len(self.api.calls_to(method))} times, wanted {count}")

    def texts_to(self, user: str) -> list[str]:
        return [message_text(p) for p in self.api.messages(dm_channel(user))]

    def last_text(self, user: str) -> str:
        texts = self.texts_to(user)
        assert texts, f"nothing was sent to {user}"
        return texts[-1]
