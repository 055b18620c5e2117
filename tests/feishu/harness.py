"""Drive the Feishu adapter as Feishu would: events posted to /feishu/events over real HTTP on 127.0.0.1
(or pushed over the fake's long connection), replies read back from the fake open platform. A scenario is a
few lines: `await desk.say("wangfang", "打卡")`, then `desk.texts_to("wangfang")`."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from bot.adapters.feishu.adapter import EVENTS_PATH, FeishuAdapter
from bot.adapters.feishu.api import OpenAPI
from bot.app import App
from bot.clock import FakeClock
from bot.ratelimit import RateLimiter
from fakes.feishu_api import Call, FakeFeishu, encrypt, p2p_chat, sign


def open_id(person_id: str) -> str:
    """The open_id the test org gives a person (tests/feishu/conftest.py)."""
    return "ou_" + person_id.ljust(12, "0")


class FeishuDesk:
    def __init__(
        self, app: App, clock: FakeClock, fake: FakeFeishu, *, limiter: RateLimiter | None = None
    ) -> None:
        self.app = app
        self.clock = clock
        self.fake = fake
        self.session = aiohttp.ClientSession()
        settings = app.settings
        assert settings.feishu_app_secret is not None
        self.api = OpenAPI(
            self.session,
            fake.url,
            settings.feishu_app_id or "",
            settings.feishu_app_secret.get_secret_value(),
        )
        self.adapter = FeishuAdapter(app, self.api)
        # Production keeps Feishu's sending limits (checked in test_limits.py); scenarios need not wait.
        self.dispatcher = self.adapter.attach(limiter=limiter or RateLimiter(10_000.0))
        self.token = (
            settings.feishu_verification_token.get_secret_value()
            if settings.feishu_verification_token
            else ""
        )
        self.encrypt_key = (
            settings.feishu_encrypt_key.get_secret_value() if settings.feishu_encrypt_key else ""
        )
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> FeishuDesk:
        self._runner = web.AppRunner(self.adapter.web_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}{EVENTS_PATH}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.session.close()

    # ----- what Feishu sends ---------------------------------------------------------------------
    async def post(
        self,
        payload: dict[str, Any] | None = None,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One callback request as Feishu makes it (encrypted and signed when the app has an encrypt key)."""
        if body is None:
            assert payload is not None
            if self.encrypt_key:
                body = encrypt(self.encrypt_key, payload)
                headers = {**sign(self.encrypt_key, body), **(headers or {})}
            else:
                import json

                body = json.dumps(payload, ensure_ascii=False).encode()
        async with self.session.post(
            self.url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
        ) as response:
            return response.status, await response.json(content_type=None)

    async def deliver(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Post one event, then handle what was stored and send what it queued."""
        status, answer = await self.post(payload)
        assert status == 200, (status, answer)
        await self.app.inbox.drain()
        await self.flush()
        return answer

    async def say(self, person_id: str, text: str, **kw: Any) -> list[str]:
        """`person_id` writes `text` (privately, or @mentioning the bot in `chat_id` with chat_type="group");
        returns the texts sent meanwhile to them and to that chat."""
        before = len(self.fake.sends())
        await self.deliver(self.fake.message_event(open_id(person_id), text, token=self.token, **kw))
        where = {open_id(person_id), p2p_chat(open_id(person_id)), kw.get("chat_id")}
        return [
            shown
            for c in self.fake.sends()[before:]
            if c.body.get("receive_id") in where
            and not c.body.get("_refused")
            and (shown := self.fake.shown(c))
        ]

    async def send_file(self, person_id: str, name: str, data: bytes) -> dict[str, Any]:
        key = self.fake.add_file(name, data)
        event = self.fake.message_event(open_id(person_id), file_key=key, file_name=name, token=self.token)
        return await self.deliver(event)

    def latest_card(self, receive_id: str, label: str) -> Call:
        for call in reversed(self.fake.sent_to(receive_id)):
            if label in [text for text, _ in self.fake.buttons(call)]:
                return call
        raise AssertionError(f"no button {label!r} on cards to {receive_id}")

    async def press_label(
        self, person_id: str, label: str, *, group: str | None = None, created: float | None = None
    ) -> dict[str, Any]:
        """`person_id` presses the button labelled `label` on the latest card that has one, in their private
        chat or in `group`; returns Feishu's immediate answer (the toast)."""
        card = self.latest_card(group or open_id(person_id), label)
        token = dict(self.fake.buttons(card))[label]
        event = self.fake.press_event(
            open_id(person_id),
            token,
            card.body["_message_id"],
            chat_id=group or "",
            token=self.token,
            created=created,
        )
        return await self.deliver(event)

    # ----- what the bot did ------------------------------------------------------------------------
    async def flush(self) -> None:
        for _ in range(20):
            if await self.app.deliver() == 0:
                return
        raise AssertionError("the outbox did not settle")

    def texts_to(self, person_id: str) -> list[str]:
        return self.fake.texts_to(open_id(person_id))
