"""A fake Telegram Bot API on 127.0.0.1: enough of the real protocol that the real python-telegram-bot
library runs against it unchanged, so the tests exercise our adapter and PTB together over real HTTP.

It serves getUpdates from a queue, records every call (method, parameters, uploaded files, time and the
HTTP status it answered), keeps the messages it "sent" so edits can be checked, and misbehaves on demand:
429 with retry_after, 500, 403 for a blocked user, or a rolling 30-messages-per-second limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-fake-token-never-real"
BOT_ID = 123456
BOT_USERNAME = "deskmate_test_bot"

# Parameters PTB sends JSON-encoded (everything else arrives as a plain string).
JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "commands",
    "scope",
    "entities",
    "caption_entities",
    "link_preview_options",
}
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "user_id", "max_connections"}
SEND_METHODS = {"sendMessage", "sendDocument", "sendPhoto"}
LONG_POLL_CAP = 0.25  # seconds a getUpdates waits at most, so shutdowns stay quick


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = 0.0
    status: int = 200

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str | None:
        return self.params.get("text", self.params.get("caption"))

    def button_tokens(self) -> list[str]:
        markup = self.params.get("reply_markup") or {}
        return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]

    def button_labels(self) -> list[str]:
        markup = self.params.get("reply_markup") or {}
        return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


@dataclass
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    chat_id: int | None = None
    times: int = 1
    migrate_to: int | None = None


def utf16_len(text: str) -> int:
    """Telegram counts entity offsets in UTF-16 code units (Chinese text makes this matter)."""
    return len(text.encode("utf-16-le")) // 2


def chat_object(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"}
    return {"id": chat_id, "type": "supergroup", "title": f"group{chat_id}"}


def user_object(user_id: int, language_code: str | None = "zh-hans") -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
    if language_code:
        user["language_code"] = language_code
    return user


class FakeBotAPI:
    """Start with `await api.start()`; point PTB at `api.base_url` and `api.base_file_url`."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.blocked: set[int] = set()
        self.limit_per_second: int | None = None
        self.throttled = 0
        self.files: dict[str, tuple[str, bytes]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._recent_sends: deque[float] = deque()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.listeners: list[Any] = []
        # Sends to these chats are never answered (a hung platform call) until the fake is closed.
        self.hanging: set[int] = set()
        self.hung = 0
        self._closing = asyncio.Event()

    # ----- server -------------------------------------------------------------------------
    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self._new_update.set()
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ----- what the tests read ------------------------------------------------------------
    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        """Successful calls, optionally of one method and to one chat."""
        return [
            c
            for c in self.calls
            if c.ok and (method is None or c.method == method) and (chat_id is None or c.chat_id == chat_id)
        ]

    def deliveries(self, chat_id: int | None = None) -> list[Call]:
        """Every message that reached a chat (text, document or photo)."""
        return [c for c in self.sent(chat_id=chat_id) if c.method in SEND_METHODS]

    def attempts(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # ----- misbehaviour on demand ---------------------------------------------------------
    def fail(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        chat_id: int | None = None,
        times: int = 1,
        migrate_to: int | None = None,
    ) -> None:
        """The next `times` calls of `method` (to `chat_id`, if given) fail with this status."""
        default = {429: "Too Many Requests", 500: "Internal Server Error", 403: "Forbidden"}
        text = description or default.get(status, "Bad Request")
        if status == 429 and retry_after is not None and description is None:
            text = f"Too Many Requests: retry after {retry_after}"
        self.failures.append(Failure(method, status, text, retry_after, chat_id, times, migrate_to))

    def block(self, user_id: int) -> None:
        """From now on every message to this user gets 403, as when they blocked the bot."""
        self.blocked.add(user_id)

    # ----- updates the tests feed in ------------------------------------------------------
    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        self._updates.append(update)
        self._new_update.set()
        return update

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def text_update(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to_bot: bool = False,
        language_code: str | None = "zh-hans",
        date: int | None = None,
    ) -> dict[str, Any]:
        """A text message as Telegram would send it, with bot_command and mention entities; ``date`` is
        the message's Unix time (the person's), now by default."""
        chat = chat_id if chat_id is not None else user_id
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()) if date is None else date,
            "chat": chat_object(chat),
            "from": user_object(user_id, language_code),
            "text": text,
        }
        entities = self._entities(text)
        if entities:
            message["entities"] = entities
        if reply_to_bot:
            message["reply_to_message"] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": chat_object(chat),
                "from": self.me(),
                "text": "…",
            }
        return {"update_id": self.next_update_id(), "message": message}

    def press_update(
        self, user_id: int, data: str, *, chat_id: int | None = None, message_id: int = 1
    ) -> dict[str, Any]:
        chat = chat_id if chat_id is not None else user_id
        return {
            "update_id": self.next_update_id(),
            "callback_query": {
                "id": f"cq{next(self._message_ids)}",
                "from": user_object(user_id),
                "chat_instance": f"ci{chat}",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": chat_object(chat),
                    "from": self.me(),
                    "text": "…",
                },
            },
        }

    def document_update(
        self, user_id: int, name: str, data: bytes, *, caption: str | None = None, chat_id: int | None = None
    ) -> dict[str, Any]:
        file_id = f"file{next(self._file_ids)}"
        self.files[file_id] = (f"documents/{file_id}_{name}", data)
        chat = chat_id if chat_id is not None else user_id
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat_object(chat),
            "from": user_object(user_id),
            "document": {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_name": name,
                "file_size": len(data),
            },
        }
        if caption is not None:
            message["caption"] = caption
        return {"update_id": self.next_update_id(), "message": message}

    def _entities(self, text: str) -> list[dict[str, Any]]:
        entities: list[dict[str, Any]] = []
        if text.startswith("/"):
            head = text.split()[0] if text.split() else text
            entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(head)})
        mention = "@" + BOT_USERNAME
        at = text.find(mention)
        if at >= 0 and not text.startswith("/"):
            entities.append({"type": "mention", "offset": utf16_len(text[:at]), "length": utf16_len(mention)})
        return entities

    def me(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Deskmate",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    # ----- HTTP handlers ------------------------------------------------------------------
    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json":
            raw = await request.json()
            params.update(raw)
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename, value.file.read())
                else:
                    params[key] = value
        params.update({k: v for k, v in request.query.items() if k not in params})
        for key, value in list(params.items()):
            if key in JSON_FIELDS and isinstance(value, str):
                params[key] = json.loads(value)
            elif key in INT_FIELDS and isinstance(value, str) and value.lstrip("-").isdigit():
                params[key] = int(value)
        # PTB uploads a file as attach://name when it cannot put it in the field itself.
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                files[key] = files.pop(value[9:])
        return params, files

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await self._params(request)
        call = Call(method, params, files, time.monotonic())
        self.calls.append(call)
        for listener in self.listeners:
            listener(call)
        if request.match_info["token"] != self.token:
            return self._error(call, 401, "Unauthorized")
        failure = self._failure_for(call)
        if failure is not None:
            return self._error(
                call, failure.status, failure.description, failure.retry_after, failure.migrate_to
            )
        if method in SEND_METHODS:
            if call.chat_id in self.hanging:
                self.hung += 1
                await self._closing.wait()
                return self._error(call, 500, "Internal Server Error")
            if call.chat_id in self.blocked:
                return self._error(call, 403, "Forbidden: bot was blocked by the user")
            if self.limit_per_second is not None and not self._within_rate(call.at):
                self.throttled += 1
                return self._error(call, 429, "Too Many Requests: retry after 1", 1)
        handler = getattr(self, "_m_" + method, None)
        if handler is None:
            return self._error(call, 404, "Not Found: method not found")
        if method == "getUpdates":
            result = await self._m_getUpdates(params)
            return web.json_response({"ok": True, "result": result})
        try:
            result = handler(call)
        except _BadRequest as exc:
            return self._error(call, 400, f"Bad Request: {exc}")
        return web.json_response({"ok": True, "result": result})

    def _failure_for(self, call: Call) -> Failure | None:
        for failure in self.failures:
            if failure.method == call.method and failure.chat_id in (None, call.chat_id):
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.remove(failure)
                return failure
        return None

    def _within_rate(self, now: float) -> bool:
        """A rolling one-second window: at most `limit_per_second` sends in any second."""
        assert self.limit_per_second is not None
        while self._recent_sends and now - self._recent_sends[0] >= 1.0:
            self._recent_sends.popleft()
        if len(self._recent_sends) >= self.limit_per_second:
            return False
        self._recent_sends.append(now)
        return True

    def _error(
        self,
        call: Call,
        status: int,
        description: str,
        retry_after: int | None = None,
        migrate_to: int | None = None,
    ) -> web.Response:
        call.status = status
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        if migrate_to is not None:
            body["parameters"] = {"migrate_to_chat_id": migrate_to}
        return web.json_response(body, status=status)

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for stored_path, data in self.files.values():
            if stored_path == path:
                self.calls.append(Call("download", {"path": path}, at=time.monotonic()))
                return web.Response(body=data)
        return web.Response(status=404)

    # ----- methods ------------------------------------------------------------------------
    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), LONG_POLL_CAP)
        self._updates = [u for u in self._updates if u["update_id"] >= offset or not offset]
        if not self._updates and wait > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), wait)
        ready = [u for u in self._updates if u["update_id"] >= offset][:limit]
        return ready

    def _m_getMe(self, call: Call) -> dict[str, Any]:
        return self.me()

    def _m_setMyCommands(self, call: Call) -> bool:
        return True

    def _m_deleteWebhook(self, call: Call) -> bool:
        return True

    def _m_setWebhook(self, call: Call) -> bool:
        return True

    def _m_answerCallbackQuery(self, call: Call) -> bool:
        return True

    def _new_message(self, call: Call, **content: Any) -> dict[str, Any]:
        chat_id = call.chat_id
        if chat_id is None:
            raise _BadRequest("chat_id is empty")
        message_id = next(self._message_ids)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat_object(chat_id),
            "from": self.me(),
            **content,
        }
        self.messages[(chat_id, message_id)] = {
            "text": content.get("text", content.get("caption")),
            "reply_markup": call.params.get("reply_markup"),
            "kind": call.method,
        }
        return message

    def _m_sendMessage(self, call: Call) -> dict[str, Any]:
        text = call.params.get("text") or ""
        if not text.strip():
            raise _BadRequest("message text is empty")
        if utf16_len(text) > 4096:
            raise _BadRequest("message is too long")
        return self._new_message(call, text=text)

    def _file_from(self, call: Call, field_name: str) -> tuple[str, bytes]:
        if field_name not in call.files:
            raise _BadRequest(f"there is no {field_name} in the request")
        return call.files[field_name]

    def _m_sendDocument(self, call: Call) -> dict[str, Any]:
        name, data = self._file_from(call, "document")
        file_id = f"out{next(self._file_ids)}"
        document = {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "file_name": name,
            "file_size": len(data),
        }
        extra = {"caption": call.params["caption"]} if call.params.get("caption") else {}
        return self._new_message(call, document=document, **extra)

    def _m_sendPhoto(self, call: Call) -> dict[str, Any]:
        self._file_from(call, "photo")
        file_id = f"out{next(self._file_ids)}"
        photo = [{"file_id": file_id, "file_unique_id": "u" + file_id, "width": 10, "height": 10}]
        extra = {"caption": call.params["caption"]} if call.params.get("caption") else {}
        return self._new_message(call, photo=photo, **extra)

    def _edit(self, call: Call, field_name: str) -> dict[str, Any]:
        chat_id, message_id = call.chat_id, call.params.get("message_id")
        stored = self.messages.get((chat_id or 0, int(message_id or 0)))
        if stored is None:
            raise _BadRequest("message to edit not found")
        new_text = call.params.get(field_name, stored["text"])
        markup = call.params.get("reply_markup")
        if new_text == stored["text"] and markup == stored["reply_markup"]:
            raise _BadRequest(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        stored.update(text=new_text, reply_markup=markup)
        assert chat_id is not None
        return {
            "message_id": int(message_id or 0),
            "date": int(time.time()),
            "edit_date": int(time.time()),
            "chat": chat_object(chat_id),
            "from": self.me(),
            "text": new_text,
        }

    def _m_editMessageText(self, call: Call) -> dict[str, Any]:
        return self._edit(call, "text")

    def _m_editMessageCaption(self, call: Call) -> dict[str, Any]:
        return self._edit(call, "caption")

    def _m_editMessageReplyMarkup(self, call: Call) -> dict[str, Any]:
        return self._edit(call, "__none__")

    def _m_getFile(self, call: Call) -> dict[str, Any]:
        file_id = str(call.params.get("file_id"))
        if file_id not in self.files:
            raise _BadRequest("invalid file_id")
        path, data = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "file_size": len(data),
            "file_path": path,
        }


class _BadRequest(Exception):
    pass
