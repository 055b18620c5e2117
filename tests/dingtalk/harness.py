"""Drive the DingTalk adapter as DingTalk would: frames pushed over the fake gateway's WebSocket on
127.0.0.1, replies read back from the fake OpenAPI. A scenario is a few lines:
`await desk.say("wangfang", "打卡")`, then `desk.texts_to("wangfang")`."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import datetime
from typing import Any

import aiohttp

from bot.adapters.dingtalk.adapter import DingTalkAdapter
from bot.adapters.dingtalk.api import OpenAPI
from bot.adapters.dingtalk.stream import CARD_TOPIC, ROBOT_TOPIC, StreamClient
from bot.app import App
from bot.clock import FakeClock
from bot.ratelimit import RateLimiter
from fakes.dingtalk_api import CORP_ID, FakeDingTalk


def staff(person_id: str) -> str:
    """The DingTalk userId the test org gives a person (tests/dingtalk/conftest.py)."""
    return f"dt{person_id}"


class DingTalkDesk:
    def __init__(
        self, app: App, clock: FakeClock, api: FakeDingTalk, *, handle_after_ack: bool = True
    ) -> None:
        self.app = app
        self.clock = clock
        self.fake = api
        self.handle_after_ack = handle_after_ack
        self.session = aiohttp.ClientSession()
        settings = app.settings
        assert settings.dingtalk_client_secret is not None
        self.api = OpenAPI(
            self.session,
            api.url,
            settings.dingtalk_client_id or "",
            settings.dingtalk_client_secret.get_secret_value(),
            settings.dingtalk_robot_code or "",
        )
        self.adapter = DingTalkAdapter(app, self.api)
        # Production keeps DingTalk's sending limits; tests need not wait for them.
        self.dispatcher = self.adapter.attach(limiter=RateLimiter(10_000.0))
        self.client = StreamClient(
            self.session,
            api.url,
            api.client_id,
            api.client_secret,
            self.adapter.on_callback,
            backoff_first=0.05,
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    async def start(self) -> DingTalkDesk:
        self._task = asyncio.create_task(self.client.run(self._stop))
        await asyncio.wait_for(self.client.connected.wait(), 60)
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 60)
        await self.session.close()

    # ----- what DingTalk sends ---------------------------------------------------------------------
    def message(
        self,
        person_id: str,
        *,
        text: str | None = None,
        group: str | None = None,
        msg_id: str | None = None,
        sent_at: datetime | None = None,
        user: str | None = None,
    ) -> dict[str, Any]:
        """A robot message as DingTalk delivers it (private chat, or an @mention in `group`)."""
        sender = user or staff(person_id)
        data: dict[str, Any] = {
            "msgId": msg_id or f"msgDT{next(self._ids):08d}",
            "conversationType": "2" if group else "1",
            "conversationId": group or f"cidPRIVATE{sender}",
            "senderId": f"$:LWCP_v1:${sender}",
            "senderStaffId": sender,
            "senderNick": person_id,
            "senderCorpId": CORP_ID,
            "chatbotCorpId": CORP_ID,
            "chatbotUserId": "$:LWCP_v1:$robot",
            "robotCode": self.fake.client_id,
            "isInAtList": bool(group),
            "isAdmin": False,
            "createAt": int((sent_at or self.clock.now()).timestamp() * 1000),
            "sessionWebhook": "http://127.0.0.1:9/never",
            "sessionWebhookExpiredTime": 0,
        }
        if text is not None:
            data["msgtype"] = "text"
            data["text"] = {"content": f" {text}" if group else text}
        return data

    async def deliver(
        self, topic: str, data: dict[str, Any], *, frame_id: str | None = None
    ) -> dict[str, Any]:
        """Push one frame, wait for its ack, then (by default) handle what was stored."""
        message_id = await self.fake.push(topic, data, message_id=frame_id)
        ack = await self.fake.wait_ack(message_id)
        if self.handle_after_ack:
            await self.app.inbox.drain()
        return ack

    async def say(self, person_id: str, text: str, **kw: Any) -> dict[str, Any]:
        return await self.deliver(ROBOT_TOPIC, self.message(person_id, text=text, **kw))

    async def send_file(self, person_id: str, name: str, data: bytes) -> dict[str, Any]:
        code = self.fake.add_file(name, data)
        body = self.message(person_id)
        body["msgtype"] = "file"
        body["content"] = {"downloadCode": code, "fileName": name, "fileId": f"file{code}", "spaceId": "1"}
        return await self.deliver(ROBOT_TOPIC, body)

    async def press(
        self, person_id: str, token: str, *, out_track_id: str = "", group: str | None = None
    ) -> dict[str, Any]:
        data = {
            "type": "actionCallback",
            "corpId": CORP_ID,
            "userId": staff(person_id),
            "outTrackId": out_track_id,
            "spaceType": "IM_GROUP" if group else "IM_ROBOT",
            "spaceId": group or staff(person_id),
            "userIdType": 1,
            "extension": "{}",
            "content": json.dumps({"cardPrivateData": {"actionIds": ["press"], "params": {"token": token}}}),
        }
        return await self.deliver(CARD_TOPIC, data)

    async def press_label(self, person_id: str, label: str, *, group: str | None = None) -> dict[str, Any]:
        """`person_id` presses the button labelled `label` on the latest card that has one, in their
        robot chat or in `group`."""
        cards = self.fake.cards_to(group=group) if group else self.fake.cards_to(user=staff(person_id))
        for card in reversed(cards):
            for text, token in self.fake.card_buttons(card):
                if text == label:
                    return await self.press(person_id, token, out_track_id=card["outTrackId"], group=group)
        raise AssertionError(f"no button {label!r} on cards to {group or person_id}")

    # ----- what the bot did ------------------------------------------------------------------------
    async def flush(self) -> None:
        for _ in range(20):
            if await self.app.deliver() == 0:
                return
        raise AssertionError("the outbox did not settle")

    def texts_to(self, person_id: str) -> list[str]:
        return self.fake.texts_to(staff(person_id))

    def last_text(self, person_id: str) -> str:
        texts = self.texts_to(person_id)
        assert texts, f"nothing was sent to {person_id}"
        return texts[-1]
