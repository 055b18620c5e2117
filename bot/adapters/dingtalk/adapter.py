"""DingTalk robot messages and card presses in; core messages out.

The Stream client hands every CALLBACK frame to `on_callback`, which only stores it in the inbox; the
frame is acked after that commit, so an acknowledged message survives a crash and DingTalk resends one
that was not acked. The dedupe key is DingTalk's own: the robot message's `msgId`, a card press's frame
`messageId`, so a redelivery is handled once. The inbox worker then turns the stored row into an
`Incoming` for the core.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from bot.adapters.dingtalk.api import OpenAPI
from bot.adapters.dingtalk.stream import CARD_TOPIC, ROBOT_TOPIC
from bot.adapters.dingtalk.transport import PLATFORM, DingTalkLimiter, DingTalkTransport
from bot.core import Core
from bot.inbox import Row, Update
from bot.messages import FileIn, Incoming, Outgoing, Person
from bot.outbox import Dispatcher, enqueue
from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024
PRIVATE, GROUP = "1", "2"  # a robot message's conversationType


def _content_key(data: dict[str, Any]) -> str:
    return "body:" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:40]


def sent_at(data: dict[str, Any]) -> datetime | None:
    """When the person sent the message, from `createAt` (epoch milliseconds)."""
    try:
        return datetime.fromtimestamp(int(data["createAt"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None


def sender_of(data: dict[str, Any]) -> str:
    """The sender's userId (staff id, what the org file names); an outsider has only a senderId."""
    return str(data.get("senderStaffId") or data.get("senderId") or "")


def text_of(data: dict[str, Any]) -> str:
    kind = data.get("msgtype")
    if kind == "text":
        text = data.get("text")
        return str(text.get("content") or "").strip() if isinstance(text, dict) else ""
    if kind == "richText":
        content = data.get("content")
        items = content.get("richText") if isinstance(content, dict) else None
        parts = [str(i.get("text")) for i in items or [] if isinstance(i, dict) and i.get("text")]
        return "".join(parts).strip()
    return ""


def card_token(data: dict[str, Any]) -> str:
    """The pressed button's token from a card callback's `content` (cardPrivateData.params.token)."""
    raw = data.get("content")
    try:
        content = json.loads(raw) if isinstance(raw, str) else raw
    except (ValueError, RecursionError):
        return ""
    if not isinstance(content, dict):
        return ""
    private = content.get("cardPrivateData")
    params = private.get("params") if isinstance(private, dict) else None
    token = params.get("token") if isinstance(params, dict) else None
    return str(token) if isinstance(token, str | int) else ""


class DingTalkAdapter:
    """Connects the core to one DingTalk robot."""

    def __init__(self, app: Core, api: OpenAPI) -> None:
        settings = app.settings
        self.app = app
        self.api = api
        self.transport = DingTalkTransport(
            api,
            card_template=settings.dingtalk_card_template_id or "",
            supervisors_chat=settings.dingtalk_supervisors_chat_id,
        )
        app.inbox.register(PLATFORM, self._handle_row)
        if settings.dingtalk_supervisors_chat_id:
            # Features add a card for the supervisors' group only when a platform has one.
            app.shared.supervisors_chat = settings.dingtalk_supervisors_chat_id

    def attach(self, limiter: RateLimiter | None = None) -> Dispatcher:
        """Make DingTalk the App's outbox transport (at DingTalk's documented sending limits)."""
        return self.app.attach(self.transport, limiter=limiter or DingTalkLimiter())

    # ----- the Stream side: store, then the client acks ---------------------------------------------
    async def on_callback(
        self, topic: str, headers: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any] | None:
        if topic == ROBOT_TOPIC:
            await self._store_message(headers, data)
        elif topic == CARD_TOPIC:
            await self._store_press(headers, data)
        else:
            log.info("dingtalk: a callback on topic %r; not ours, acked", topic[:80])
        return {}

    async def _store_message(self, headers: dict[str, Any], data: dict[str, Any]) -> None:
        sender = sender_of(data)
        if not sender:
            log.warning("dingtalk: a robot message without a sender; ignored")
            return
        private = str(data.get("conversationType") or PRIVATE) != GROUP
        chat = sender if private else str(data.get("conversationId") or "")
        if not chat:
            return
        key = str(data.get("msgId") or headers.get("messageId") or "") or _content_key(data)
        payload = {"kind": "message", "data": data, "_private": private}
        stored = await self.app.inbox.put(
            Update(
                PLATFORM, f"msg:{key}", sender, chat, payload, sent_at(data), chat_key=f"{PLATFORM}:{sender}"
            )
        )
        if stored is None:
            log.info("dingtalk message %s seen before; ignored", key)
        elif not private:
            # The operator reads a group's openConversationId here (DINGTALK_SUPERVISORS_CHAT_ID).
            log.debug("dingtalk message %s in group %s", key, chat)

    async def _store_press(self, headers: dict[str, Any], data: dict[str, Any]) -> None:
        user = str(data.get("userId") or "")
        if not user:
            return
        group = data.get("spaceType") == "IM_GROUP" and bool(data.get("spaceId"))
        chat = str(data.get("spaceId")) if group else user
        key = str(headers.get("messageId") or "") or _content_key(data)
        payload = {"kind": "card", "data": data, "_private": not group}
        stored = await self.app.inbox.put(
            Update(PLATFORM, f"card:{key}", user, chat, payload, None, chat_key=f"{PLATFORM}:{user}")
        )
        if stored is None:
            log.info("dingtalk card press %s seen before; ignored", key)

    # ----- the inbox worker's side -----------------------------------------------------------------
    async def _handle_row(self, row: Row) -> None:
        data: dict[str, Any] = row.payload.get("data") or {}
        kind = row.payload.get("kind")
        private = bool(row.payload.get("_private", True))
        person = await self.app.resolve_person(PLATFORM, row.sender_id)
        if kind == "message":
            await self._do_message(row, data, person, private)
        elif kind == "card":
            incoming = self._incoming(row.chat_id, row.sender_id, person, private=private)
            incoming.button_token = card_token(data)
            incoming.platform_message_id = str(data.get("outTrackId") or "") or None
            if incoming.button_token:
                await self.app.process(incoming)
        else:
            raise ValueError(f"unknown kind of stored DingTalk request: {kind!r}")

    async def _do_message(self, row: Row, data: dict[str, Any], person: Person | None, private: bool) -> None:
        kind = data.get("msgtype")
        at = row.platform_at
        if kind == "file" and person is not None and self.app.router.file_handler is not None:
            received = await self._download(person, data)
            if received is not None:
                incoming = self._incoming(row.chat_id, row.sender_id, person, private=private, at=at)
                incoming.file = received
                await self.app.process(incoming)
            return
        if kind == "picture" and person is not None:
            await self._send(Outgoing(self.app.text_for(person, "dingtalk.picture"), person.id))
            return
        text = text_of(data)
        incoming = self._incoming(row.chat_id, row.sender_id, person, private=private, at=at, text=text)
        incoming.platform_message_id = str(data.get("msgId") or "") or None
        await self.app.process(incoming)

    def _incoming(
        self,
        chat: str,
        user: str,
        person: Person | None,
        *,
        private: bool,
        text: str | None = None,
        at: datetime | None = None,
    ) -> Incoming:
        return Incoming(
            platform=PLATFORM,
            chat_id=chat,
            sender_id=user,
            person=person,
            at=self.app.clock.now(),
            text=text,
            is_private=private,
            # In a group the robot only hears messages that @mention it.
            addressed_to_bot=True,
            platform_at=at,
        )

    async def _send(self, out: Outgoing) -> None:
        async with self.app.db.transaction() as conn:
            await enqueue(conn, out, self.app.clock.now())

    async def _download(self, person: Person, data: dict[str, Any]) -> FileIn | None:
        content = data.get("content")
        content = content if isinstance(content, dict) else {}
        name = str(content.get("fileName") or "file")[:200]
        code = str(content.get("downloadCode") or "")
        limit_mb = MAX_FILE_BYTES // (1024 * 1024)
        body: bytes | None = None
        too_large = False
        if code:
            try:
                url = await self.api.download_url(code)
                body = await self.api.fetch(url, MAX_FILE_BYTES + 1)
            except Exception as exc:
                log.warning("downloading a file for %s failed: %s", person.id, type(exc).__name__)
                body = None
        if body is not None and len(body) > MAX_FILE_BYTES:
            too_large, body = True, None
        if body is None:
            key = "dingtalk.file.too_large" if too_large else "dingtalk.file.unavailable"
            await self._send(Outgoing(self.app.text_for(person, key, limit=limit_mb), person.id))
            return None
        return FileIn(name, body)
