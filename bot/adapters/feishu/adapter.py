"""Feishu events in (messages and card presses), core messages out.

Both front doors, the long connection and the HTTP callback, hand every event to `on_event`, which only
stores it in the inbox (deduplicated on Feishu's `event_id`) and answers: the platform gets its answer after
that commit, so an acknowledged event survives a crash and one that was not acknowledged is sent again. A
card press is answered at once with a toast; the decision itself updates the card later, every copy.
The inbox worker then turns the stored row into an `Incoming` for the core.

The HTTP callback checks what Feishu signs before anything is stored: the verification token, and with
FEISHU_ENCRYPT_KEY the signature and the encrypted body. A request that fails gets 401, changes nothing and
leaves an audit row (`feishu.request_refused`, with the reason).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from bot import audit
from bot.adapters.feishu.api import OpenAPI
from bot.adapters.feishu.transport import PLATFORM, FeishuLimiter, FeishuTransport
from bot.core import Core
from bot.i18n import normalise_language
from bot.inbox import Row, Update
from bot.messages import FileIn, Incoming, Outgoing, Person
from bot.outbox import Dispatcher, enqueue
from bot.ratelimit import RateLimiter
from bot.schema import message_copies

log = logging.getLogger(__name__)

EVENTS_PATH = "/feishu/events"
MESSAGE_EVENT = "im.message.receive_v1"
CARD_EVENT = "card.action.trigger"
BOT_ADDED = "im.chat.member.bot.added_v1"  # the bot was added to a group
BOT_REMOVED = "im.chat.member.bot.deleted_v1"  # … or removed from one
P2P_ENTERED = "im.chat.access_event.bot_p2p_chat_entered_v1"  # someone opened their chat with the bot
MAX_BODY_BYTES = 1024 * 1024
MAX_FILE_BYTES = 20 * 1024 * 1024
MENTION = re.compile(r"@_user_\d+\s*")


class Refused(Exception):
    """A callback request that failed a check; the reason is audited."""


def decrypt(encrypt_key: str, encrypted: str) -> str:
    """Feishu's encrypted body: AES-256-CBC, key sha256(encrypt key), IV the first 16 bytes."""
    from Crypto.Cipher import AES

    try:
        raw = base64.b64decode(encrypted, validate=True)
    except ValueError:
        raise Refused("encrypted body is not base64") from None
    if len(raw) < 32 or len(raw) % 16:
        raise Refused("encrypted body has a wrong length")
    key = hashlib.sha256(encrypt_key.encode()).digest()
    plain = AES.new(key, AES.MODE_CBC, raw[:16]).decrypt(raw[16:])
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise Refused("encrypted body does not decrypt with FEISHU_ENCRYPT_KEY")
    try:
        return plain[:-pad].decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("encrypted body does not decrypt with FEISHU_ENCRYPT_KEY") from None


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def event_type(payload: dict[str, Any]) -> str:
    header = payload.get("header")
    if isinstance(header, dict):
        return str(header.get("event_type") or "")
    return str(payload.get("type") or "")


def event_token(payload: dict[str, Any]) -> str:
    header = payload.get("header")
    if isinstance(header, dict) and "token" in header:
        return str(header.get("token") or "")
    return str(payload.get("token") or "")


def _ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _post_text(content: dict[str, Any]) -> str:
    """The words of a rich-text (`post`) message: its text runs, line by line (the body may sit under a
    language key such as `zh_cn`)."""
    body = content if "content" in content else next((v for v in content.values() if isinstance(v, dict)), {})
    lines = []
    for line in body.get("content") or []:
        if isinstance(line, list):
            runs = [
                str(run.get("text") or "")
                for run in line
                if isinstance(run, dict) and run.get("tag") == "text"
            ]
            lines.append("".join(runs))
    return "\n".join(lines)


def text_of(message: dict[str, Any]) -> str:
    """A text or rich-text message's words without the @mention placeholders (`@_user_1`)."""
    kind = message.get("message_type")
    if kind not in ("text", "post"):
        return ""
    try:
        content = json.loads(str(message.get("content") or "{}"))
    except (ValueError, RecursionError):
        return ""
    if not isinstance(content, dict):
        return ""
    text = content.get("text") if kind == "text" else _post_text(content)
    return MENTION.sub("", str(text or "")).strip()


class FeishuAdapter:
    """Connects the core to one Feishu app (bot)."""

    def __init__(self, app: Core, api: OpenAPI) -> None:
        settings = app.settings
        self.app = app
        self.api = api
        self.transport = FeishuTransport(api, supervisors_chat=settings.feishu_supervisors_chat_id)
        self.verification_token = (
            settings.feishu_verification_token.get_secret_value()
            if settings.feishu_verification_token
            else ""
        )
        self.encrypt_key = (
            settings.feishu_encrypt_key.get_secret_value() if settings.feishu_encrypt_key else ""
        )
        app.inbox.register(PLATFORM, self._handle_row)
        if settings.feishu_supervisors_chat_id:
            # Features add a card for the supervisors' group only when a platform has one.
            app.shared.supervisors_chat = settings.feishu_supervisors_chat_id

    def attach(self, limiter: RateLimiter | None = None) -> Dispatcher:
        """Make Feishu the App's outbox transport (at Feishu's documented sending limits)."""
        return self.app.attach(self.transport, limiter=limiter or FeishuLimiter())

    # ----- the front doors' side: store, then answer ----------------------------------------------------
    async def on_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Store one event (already checked) and return the answer for Feishu."""
        kind = event_type(payload)
        event = payload.get("event")
        event = event if isinstance(event, dict) else {}
        header = payload.get("header")
        header = header if isinstance(header, dict) else {}
        event_id = str(header.get("event_id") or payload.get("uuid") or "")
        if kind == MESSAGE_EVENT:
            await self._store_message(event_id, event)
            return {}
        if kind == CARD_EVENT:
            return await self._store_press(event_id, event, _ms(header.get("create_time")))
        if kind in (BOT_ADDED, BOT_REMOVED):
            await self._store_membership(event_id, event, added=kind == BOT_ADDED)
            return {}
        if kind == P2P_ENTERED:  # nothing changes: they will write when they need something
            operator = _dict(event.get("operator_id"))
            log.info("feishu: %s opened their chat with the bot", str(operator.get("open_id") or "?")[:64])
            return {}
        log.info("feishu: an event of type %r; not ours, acknowledged", kind[:80])
        return {}

    async def _store_membership(self, event_id: str, event: dict[str, Any], *, added: bool) -> None:
        """The bot added to a group or removed from one: through the inbox (once per event, with its audit
        row and, when added, the greeting in one transaction)."""
        chat = str(event.get("chat_id") or "")
        by = str(_dict(event.get("operator_id")).get("open_id") or "")
        if not chat:
            return
        name = str(event.get("name") or "")[:200]
        log.info(
            "feishu: the bot was %s group %r (%s) by %s",
            "added to" if added else "removed from",
            name,
            chat,
            by or "?",
        )
        payload = {"kind": "membership", "added": added, "name": name, "_private": False}
        key = event_id or f"{chat}:{'added' if added else 'removed'}"
        await self.app.inbox.put(
            Update(PLATFORM, f"event:{key}", by, chat, payload, None, chat_key=f"{PLATFORM}:{chat}")
        )

    async def _store_message(self, event_id: str, event: dict[str, Any]) -> None:
        sender = _dict(event.get("sender"))
        ids = _dict(sender.get("sender_id"))
        user = str(ids.get("open_id") or "")
        message = _dict(event.get("message"))
        chat = str(message.get("chat_id") or "")
        if not user or not chat or sender.get("sender_type") not in (None, "user"):
            return  # a bot or an app: not a person talking to us
        private = message.get("chat_type") == "p2p"
        key = event_id or str(message.get("message_id") or "")
        payload = {"kind": "message", "message": message, "_private": private}
        stored = await self.app.inbox.put(
            Update(
                PLATFORM,
                f"event:{key}",
                user,
                chat,
                payload,
                _ms(message.get("create_time")),
                chat_key=f"{PLATFORM}:{user}",
            )
        )
        if stored is None:
            log.info("feishu event %s seen before; ignored", key)

    async def _store_press(
        self, event_id: str, event: dict[str, Any], pressed_at: datetime | None = None
    ) -> dict[str, Any]:
        """Store one card press with the header's create_time: a press that confirms a clock-out is a
        punch, timed by the person's action, not by when the worker got to it."""
        operator = _dict(event.get("operator"))
        user = str(operator.get("open_id") or "")
        action = _dict(event.get("action"))
        value = _dict(action.get("value"))
        token = str(value.get("token") or "")
        context = _dict(event.get("context"))
        message_id = str(context.get("open_message_id") or "")
        if not user or not token:
            return {}
        chat = await self._copy_chat(message_id) or user
        private = chat.startswith("ou_")
        key = event_id or f"{message_id}:{user}:{token}"
        payload = {"kind": "card", "token": token, "message_id": message_id, "_private": private}
        stored = await self.app.inbox.put(
            Update(PLATFORM, f"event:{key}", user, chat, payload, pressed_at, chat_key=f"{PLATFORM}:{user}")
        )
        if stored is None:
            log.info("feishu card press %s seen before; ignored", key)
        person = await self.app.resolve_person(PLATFORM, user)
        language = person.language if person else self.app.settings.default_language
        return {"toast": {"type": "info", "content": self.app.catalog.t(language, "feishu.button.received")}}

    async def _copy_chat(self, message_id: str) -> str | None:
        """Where the pressed card was sent: a person's open_id (a private chat) or a group's chat_id."""
        if not message_id:
            return None
        async with self.app.db.read() as conn:
            found = await conn.execute(
                sa.select(message_copies.c.chat_id).where(
                    message_copies.c.platform == PLATFORM, message_copies.c.platform_message_id == message_id
                )
            )
            return found.scalar()

    # ----- HTTP callback mode -------------------------------------------------------------------------
    def web_app(self) -> web.Application:
        application = web.Application(client_max_size=MAX_BODY_BYTES)
        application.router.add_post(EVENTS_PATH, self._http)
        return application

    def check(self, headers: Any, body: bytes) -> dict[str, Any]:
        """The request's event, or Refused naming the check it failed."""
        try:
            outer = json.loads(body)
        except (ValueError, RecursionError):
            raise Refused("body is not JSON") from None
        if not isinstance(outer, dict):
            raise Refused("body is not a JSON object")
        encrypted = outer.get("encrypt")
        if self.encrypt_key:
            if not isinstance(encrypted, str):
                raise Refused("body is not encrypted although FEISHU_ENCRYPT_KEY is set")
            plain = decrypt(self.encrypt_key, encrypted)
            try:
                payload = json.loads(plain)
            except (ValueError, RecursionError):
                raise Refused("decrypted body is not JSON") from None
            if not isinstance(payload, dict):
                raise Refused("decrypted body is not a JSON object")
        elif encrypted is not None:
            raise Refused("an encrypted body but no FEISHU_ENCRYPT_KEY")
        else:
            payload = outer
        if self.verification_token and not hmac.compare_digest(
            event_token(payload).encode(), self.verification_token.encode()
        ):
            raise Refused("wrong verification token")
        if self.encrypt_key and event_type(payload) != "url_verification":
            timestamp = str(headers.get("X-Lark-Request-Timestamp") or "")
            nonce = str(headers.get("X-Lark-Request-Nonce") or "")
            given = str(headers.get("X-Lark-Signature") or "")
            expected = signature(timestamp, nonce, self.encrypt_key, body)
            if not given or not hmac.compare_digest(given.encode(), expected.encode()):
                raise Refused("wrong signature")
        return payload

    async def _http(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = self.check(request.headers, body)
        except Refused as exc:
            await self._audit_refusal(request, str(exc))
            return web.json_response({"msg": "refused"}, status=401)
        if event_type(payload) == "url_verification":
            return web.json_response({"challenge": payload.get("challenge")})
        try:
            answer = await self.on_event(payload)
        except Exception:
            log.exception("feishu: could not store an event; Feishu will send it again")
            return web.json_response({"msg": "not stored"}, status=503)
        return web.json_response(answer or {"msg": "success"})

    async def _audit_refusal(self, request: web.Request, reason: str) -> None:
        log.warning("feishu: refused a callback request from %s: %s", request.remote, reason)
        try:
            async with self.app.db.transaction() as conn:
                await audit.record(
                    conn,
                    at=self.app.clock.now(),
                    actor=f"http:{request.remote or '?'}"[:64],
                    action="feishu.request_refused",
                    object_type="request",
                    object_id=EVENTS_PATH,
                    after={"reason": reason},
                )
        except Exception:
            log.exception("feishu: could not audit a refused request")

    # ----- the inbox worker's side -----------------------------------------------------------------
    async def _handle_row(self, row: Row) -> None:
        kind = row.payload.get("kind")
        private = bool(row.payload.get("_private", True))
        person = await self.app.resolve_person(PLATFORM, row.sender_id)
        if kind == "message":
            message: dict[str, Any] = row.payload.get("message") or {}
            await self._do_message(row, message, person, private)
        elif kind == "card":
            incoming = self._incoming(row, person, private=private)
            incoming.button_token = str(row.payload.get("token") or "")
            incoming.platform_message_id = str(row.payload.get("message_id") or "") or None
            if incoming.button_token:
                await self.app.process(incoming)
        elif kind == "membership":
            await self._membership(row, person)
        else:
            raise ValueError(f"unknown kind of stored Feishu event: {kind!r}")

    async def _membership(self, row: Row, person: Person | None) -> None:
        added = bool(row.payload.get("added"))
        async with self.app.db.transaction() as conn:
            await self.app.audit_in(
                conn,
                actor=person.id if person else f"feishu:{row.sender_id or '?'}"[:64],
                action="feishu.bot_added" if added else "feishu.bot_removed",
                object_type="chat",
                object_id=row.chat_id,
                after={"name": row.payload.get("name") or ""},
            )
            if added:  # the group learns how to ask; personal answers go privately
                language = self.app.settings.default_language
                hello = Outgoing(text=self.app.catalog.t(language, "feishu.group.hello"), to_chat=row.chat_id)
                await self.app.notify(conn, hello)

    async def _do_message(
        self, row: Row, message: dict[str, Any], person: Person | None, private: bool
    ) -> None:
        kind = message.get("message_type")
        if kind == "file" and person is not None and self.app.router.file_handler is not None:
            received = await self._download(person, message)
            if received is not None:
                incoming = self._incoming(row, person, private=private)
                incoming.file = received
                await self.app.process(incoming)
            return
        if kind == "image" and person is not None:
            await self._send(Outgoing(self.app.text_for(person, "feishu.picture"), person.id))
            return
        incoming = self._incoming(row, person, private=private, text=text_of(message))
        incoming.platform_message_id = str(message.get("message_id") or "") or None
        await self.app.process(incoming)

    def _incoming(
        self, row: Row, person: Person | None, *, private: bool, text: str | None = None
    ) -> Incoming:
        return Incoming(
            platform=PLATFORM,
            chat_id=row.chat_id,
            sender_id=row.sender_id,
            person=person,
            at=self.app.clock.now(),
            text=text,
            is_private=private,
            # In a group the bot only receives messages that @mention it.
            addressed_to_bot=True,
            platform_at=row.platform_at,
            locale_hint=normalise_language(None, self.app.settings.default_language),
        )

    async def _send(self, out: Outgoing) -> None:
        async with self.app.db.transaction() as conn:
            await enqueue(conn, out, self.app.clock.now())

    async def _download(self, person: Person, message: dict[str, Any]) -> FileIn | None:
        try:
            content = json.loads(str(message.get("content") or "{}"))
        except ValueError:
            content = {}
        content = content if isinstance(content, dict) else {}
        name = str(content.get("file_name") or "file")[:200]
        key = str(content.get("file_key") or "")
        body: bytes | None = None
        too_large = False
        if key:
            try:
                body = await self.api.download(str(message.get("message_id") or ""), key, MAX_FILE_BYTES)
                too_large = body is None
            except Exception as exc:
                log.warning("downloading a file for %s failed: %s", person.id, type(exc).__name__)
        if body is None:
            limit = MAX_FILE_BYTES // (1024 * 1024)
            key_name = "feishu.file.too_large" if too_large else "feishu.file.unavailable"
            await self._send(Outgoing(self.app.text_for(person, key_name, limit=limit), person.id))
            return None
        return FileIn(name, body)
