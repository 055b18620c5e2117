"""A fake Feishu open platform on 127.0.0.1 (port 0) that records every call.

It serves what Deskmate uses: the tenant access token, sending messages (text, interactive cards, images,
files), updating a card, image and file upload, downloading a file a user sent, and the long connection:
the endpoint discovery (`/callback/ws/endpoint`) and a WebSocket speaking lark-oapi's frame protocol
(protobuf `Frame`s: event frames pushed by tests, the client's answers recorded, pings answered with pongs,
connections dropped on demand). An event given to `deliver` is sent again, as Feishu does, until a frame
carrying it is answered with code 200: on the next connection when the one it went out on closed, and after
`resend_after` seconds (or at once after a non-200 answer) on the open one. On demand it answers a send with
Feishu's rate-limit refusal or another error code, or says a user is no longer reachable (left the tenant).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

APP_ID = "cli_fake0123456789ab"
APP_SECRET = "fake-feishu-secret-0123456789abcdef"
BOT_OPEN_ID = "ou_bot00000000000000000000000000000"
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
MESSAGES = "/open-apis/im/v1/messages"
RATE_LIMITED = 99991400  # "request trigger frequency limit" (HTTP 429)
NO_AVAILABILITY = (
    230013  # "Bot has NO availability to this user" (the user left, or is out of the app's scope)
)


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeFeishu:
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    calls: list[Call] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(
        default_factory=dict
    )  # file_key of a sent file -> (name, data)
    uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # our uploads: key -> (name, data)
    left: set[str] = field(default_factory=set)  # open_ids no longer reachable
    port: int = 0
    ping_interval: int = 120
    reconnect_interval: int = 1

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.tokens: set[str] = set()
        self.refusals: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.connects = 0
        self.endpoint_refusal: dict[str, Any] | None = None
        self.answers: dict[str, dict[str, Any]] = {}  # frame message_id -> the client's decoded answer
        self._answered: dict[str, asyncio.Event] = {}
        self.pings = 0
        # Events to deliver until acknowledged (`deliver`): event_id -> event, in the order given.
        self.unacknowledged: dict[str, dict[str, Any]] = {}
        self.acknowledged: set[str] = set()  # event_ids some frame of which was answered with code 200
        self.frames_sent: dict[str, int] = {}  # event_id -> how many frames carried it
        self.resend_after = 3.0
        self._frame_event: dict[str, str] = {}  # frame message_id -> event_id
        self._last_sent: dict[str, tuple[web.WebSocketResponse, float]] = {}
        self._resender: asyncio.Task[None] | None = None
        # Feishu's documented sending limits, enforced when set (the benchmark): sends of the app in any
        # rolling second and minute; a send beyond them gets the frequency-limit refusal.
        self.per_second: int | None = None
        self.per_minute: int | None = None
        self.throttled = 0
        self._sent_at: deque[float] = deque()

    # ----- life cycle --------------------------------------------------------------------------
    async def start(self) -> FakeFeishu:
        web_app = web.Application(client_max_size=64 * 1024 * 1024)
        web_app.router.add_post(TOKEN_PATH, self._token)
        web_app.router.add_post("/callback/ws/endpoint", self._endpoint)
        web_app.router.add_get("/ws", self._socket)
        web_app.router.add_post(MESSAGES, self._send)
        web_app.router.add_patch(MESSAGES + "/{message_id}", self._patch)
        web_app.router.add_get(MESSAGES + "/{message_id}/resources/{key}", self._resource)
        web_app.router.add_post("/open-apis/im/v1/images", self._upload)
        web_app.router.add_post("/open-apis/im/v1/files", self._upload)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._resender is not None:
            self._resender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resender
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ----- what tests ask for ------------------------------------------------------------------
    def rate_limit(self, times: int = 1, reset: int = 1) -> None:
        """The next `times` sends get Feishu's frequency-limit refusal (HTTP 429, x-ogw-ratelimit-reset)."""
        self.refuse(
            429, {"code": RATE_LIMITED, "msg": "request trigger frequency limit", "_reset": reset}, times
        )

    def refuse(self, status: int, body: dict[str, Any], times: int = 1) -> None:
        self.refusals.setdefault("send", []).extend([(status, body)] * times)

    def add_file(self, name: str, data: bytes) -> str:
        """A file as if a user had sent it; returns its file_key."""
        key = f"file_v2_fake{next(self._ids):06d}"
        self.files[key] = (name, data)
        return key

    def sends(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.path == MESSAGES]

    def patches(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PATCH"]

    @staticmethod
    def shown(call: Call) -> str | None:
        """What a text or a card shows (files and images: None)."""
        body = call.body
        content = json.loads(body.get("content") or "{}")
        if body.get("msg_type") == "text":
            return str(content.get("text"))
        elements = content.get("elements")
        if isinstance(elements, list):
            for element in elements:
                if element.get("tag") == "div":
                    return str(element["text"]["content"])
        return None

    @staticmethod
    def buttons(call: Call) -> list[tuple[str, str]]:
        """A card's buttons as (label, token)."""
        content = json.loads(call.body.get("content") or "{}")
        found: list[tuple[str, str]] = []
        for element in content.get("elements") or []:
            for action in element.get("actions") or []:
                found.append((action["text"]["content"], action["value"]["token"]))
        return found

    def sent_to(self, receive_id: str) -> list[Call]:
        """What reached a group, or a person (by open_id or in their private chat); refusals excluded."""
        where = {receive_id, p2p_chat(receive_id)} if receive_id.startswith("ou_") else {receive_id}
        return [c for c in self.sends() if c.body.get("receive_id") in where and not c.body.get("_refused")]

    def texts_to(self, receive_id: str) -> list[str]:
        return [shown for c in self.sent_to(receive_id) if (shown := self.shown(c)) is not None]

    def message(self, message_id: str) -> Call | None:
        return next((c for c in self.sends() if c.body.get("_message_id") == message_id), None)

    # ----- events, as Feishu would send them ---------------------------------------------------
    def next_event_id(self) -> str:
        return f"ev_{next(self._ids):08d}"

    def message_event(
        self,
        open_id: str,
        text: str | None = None,
        *,
        chat_id: str | None = None,
        chat_type: str = "p2p",
        event_id: str | None = None,
        file_key: str | None = None,
        file_name: str = "",
        token: str = "",
        created: float | None = None,
    ) -> dict[str, Any]:
        """An im.message.receive_v1 event (schema 2.0); in a group the text is @mentioning the bot."""
        n = next(self._ids)
        if file_key is not None:
            kind, content = "file", {"file_key": file_key, "file_name": file_name}
        else:
            words = f"@_user_1 {text}" if chat_type == "group" else (text or "")
            kind, content = "text", {"text": words}
        message: dict[str, Any] = {
            "message_id": f"om_in{n:08d}",
            "create_time": str(int((created if created is not None else time.time()) * 1000)),
            "chat_id": chat_id or p2p_chat(open_id),
            "chat_type": chat_type,
            "message_type": kind,
            "content": json.dumps(content, ensure_ascii=False),
        }
        if chat_type == "group":
            message["mentions"] = [{"key": "@_user_1", "id": {"open_id": BOT_OPEN_ID}, "name": "Deskmate"}]
        return {
            "schema": "2.0",
            "header": {
                "event_id": event_id or self.next_event_id(),
                "event_type": "im.message.receive_v1",
                "create_time": message["create_time"],
                "token": token,
                "app_id": self.app_id,
                "tenant_key": "fake_tenant",
            },
            "event": {
                "sender": {
                    "sender_id": {"open_id": open_id},
                    "sender_type": "user",
                    "tenant_key": "fake_tenant",
                },
                "message": message,
            },
        }

    def press_event(
        self,
        open_id: str,
        button_token: str,
        message_id: str,
        *,
        chat_id: str = "",
        token: str = "",
        created: float | None = None,
    ) -> dict[str, Any]:
        """A card.action.trigger callback: `open_id` pressed the button carrying `button_token` (at
        `created`, epoch seconds, in the header's create_time when given)."""
        header: dict[str, Any] = {
            "event_id": self.next_event_id(),
            "event_type": "card.action.trigger",
            "token": token,
            "app_id": self.app_id,
        }
        if created is not None:
            header["create_time"] = str(int(created * 1000))
        return {
            "schema": "2.0",
            "header": header,
            "event": {
                "operator": {"open_id": open_id},
                "action": {"tag": "button", "value": {"token": button_token}},
                "context": {"open_message_id": message_id, "open_chat_id": chat_id},
            },
        }

    def chat_event(
        self, event_type: str, chat_id: str, open_id: str, *, name: str = "", token: str = ""
    ) -> dict[str, Any]:
        """A chat event (schema 2.0): im.chat.member.bot.added_v1 / deleted_v1 (`open_id` added or removed
        the bot), im.chat.access_event.bot_p2p_chat_entered_v1 (`open_id` opened their chat with it)."""
        return {
            "schema": "2.0",
            "header": {
                "event_id": self.next_event_id(),
                "event_type": event_type,
                "token": token,
                "app_id": self.app_id,
                "tenant_key": "fake_tenant",
            },
            "event": {
                "chat_id": chat_id,
                "operator_id": {"open_id": open_id},
                "name": name,
                "external": False,
            },
        }

    # ----- the long connection ----------------------------------------------------------------
    async def push(self, event: dict[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Send an event frame on the open connection and wait for the client's answer to it."""

        deadline = asyncio.get_running_loop().time() + timeout
        while not [s for s in self.sockets if not s.closed]:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("no long connection to push an event on")
            await asyncio.sleep(0.02)
        socket = [s for s in self.sockets if not s.closed][-1]
        frame_id = await self._send_frame(socket, event)
        answered = self._answered[frame_id]
        await asyncio.wait_for(answered.wait(), max(deadline - asyncio.get_running_loop().time(), 0.1))
        return self.answers[frame_id]

    async def deliver(self, event: dict[str, Any]) -> bool:
        """Send an event as Feishu does: now when a connection is open, and again (on its own) until a frame
        carrying it is answered with code 200. Returns True once acknowledged, False when the connection it
        went out on closed first or none was open (it stays to be sent again)."""
        event_id = str(event["header"]["event_id"])
        self.unacknowledged.setdefault(event_id, event)
        if self._resender is None:
            self._resender = asyncio.get_running_loop().create_task(self._resend_forever())
        open_sockets = [s for s in self.sockets if not s.closed]
        if not open_sockets:
            return False
        socket = open_sockets[-1]
        answered = self._answered[await self._send_frame(socket, event)]
        while not answered.is_set() and not socket.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered.wait(), 0.05)
        return event_id in self.acknowledged

    async def _send_frame(self, socket: web.WebSocketResponse, event: dict[str, Any]) -> str:
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        frame_id = f"frame{next(self._ids):08d}"
        frame = Frame()
        frame.SeqID = 1
        frame.LogID = 1
        frame.service = 7
        frame.method = 1  # DATA
        for key, value in (("type", "event"), ("message_id", frame_id), ("sum", "1"), ("seq", "0")):
            header = frame.headers.add()
            header.key, header.value = key, value
        header = frame.headers.add()
        header.key, header.value = "trace_id", "trace-" + frame_id
        frame.payload = json.dumps(event, ensure_ascii=False).encode()
        self._answered.setdefault(frame_id, asyncio.Event())
        event_id = str(event.get("header", {}).get("event_id", ""))
        if event_id:
            self._frame_event[frame_id] = event_id
            self.frames_sent[event_id] = self.frames_sent.get(event_id, 0) + 1
            self._last_sent[event_id] = (socket, time.monotonic())
        await socket.send_bytes(frame.SerializeToString())
        return frame_id

    async def _resend_forever(self) -> None:
        """Feishu's resending: an unacknowledged event whose connection closed goes out on the open one;
        one that got no answer within `resend_after` seconds (or a non-200 one) goes out again."""
        while True:
            await asyncio.sleep(0.05)
            open_sockets = [s for s in self.sockets if not s.closed]
            if not open_sockets:
                continue
            now = time.monotonic()
            for event_id, event in list(self.unacknowledged.items()):
                if event_id in self.acknowledged:
                    continue
                socket, sent_at = self._last_sent.get(event_id, (None, 0.0))
                if socket is None or socket.closed or now - sent_at >= self.resend_after:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await self._send_frame(open_sockets[-1], event)

    async def drop(self) -> None:
        """Close every open connection (the client is expected to reconnect)."""
        for socket in list(self.sockets):
            if not socket.closed:
                await socket.close()

    async def _endpoint(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("POST", request.path, {}, {"AppID": body.get("AppID")}))
        if self.endpoint_refusal is not None:
            return web.json_response(self.endpoint_refusal)
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        return web.json_response(
            {
                "code": 0,
                "msg": "ok",
                "data": {
                    "URL": f"ws://127.0.0.1:{self.port}/ws?device_id=dev{next(self._ids)}&service_id=7",
                    "ClientConfig": {
                        "ReconnectCount": -1,
                        "ReconnectInterval": self.reconnect_interval,
                        "ReconnectNonce": 0,
                        "PingInterval": self.ping_interval,
                    },
                },
            }
        )

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        self.connects += 1
        async for message in socket:
            if message.type.name != "BINARY":
                continue
            frame = Frame()
            frame.ParseFromString(message.data)
            headers = {h.key: h.value for h in frame.headers}
            if frame.method == 0 and headers.get("type") == "ping":
                self.pings += 1
                pong = Frame()
                pong.SeqID, pong.LogID, pong.service, pong.method = 0, 0, frame.service, 0
                h = pong.headers.add()
                h.key, h.value = "type", "pong"
                await socket.send_bytes(pong.SerializeToString())
                continue
            frame_id = headers.get("message_id", "")
            answer = json.loads(frame.payload or b"{}")
            data = answer.get("data")
            if isinstance(data, str) and data:
                answer["data"] = json.loads(base64.b64decode(data))
            self.answers[frame_id] = answer
            event_id = self._frame_event.get(frame_id)
            if event_id is not None:
                if answer.get("code") == 200:
                    self.acknowledged.add(event_id)
                    self.unacknowledged.pop(event_id, None)
                elif event_id in self._last_sent:  # refused: due again at once
                    self._last_sent[event_id] = (socket, 0.0)
            self._answered.setdefault(frame_id, asyncio.Event()).set()
        return socket

    # ----- the open platform ------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.tokens

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("POST", request.path, {}, {"app_id": body.get("app_id")}))
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        token = "t-" + hashlib.sha256(os.urandom(8)).hexdigest()[:32]
        self.tokens.add(token)
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})

    def _refusal(self) -> web.Response | None:
        queue = self.refusals.get("send")
        if not queue:
            return None
        status, body = queue.pop(0)
        headers = {}
        if "_reset" in body:
            headers["x-ogw-ratelimit-reset"] = str(body["_reset"])
            body = {k: v for k, v in body.items() if k != "_reset"}
        return web.json_response(body, status=status, headers=headers)

    def _over_limit(self) -> web.Response | None:
        if self.per_second is None and self.per_minute is None:
            return None
        now = time.monotonic()
        while self._sent_at and self._sent_at[0] <= now - 60.0:
            self._sent_at.popleft()
        last_second = sum(1 for t in self._sent_at if t > now - 1.0)
        if (self.per_second is not None and last_second >= self.per_second) or (
            self.per_minute is not None and len(self._sent_at) >= self.per_minute
        ):
            self.throttled += 1
            body = {"code": RATE_LIMITED, "msg": "request trigger frequency limit"}
            return web.json_response(body, status=429, headers={"x-ogw-ratelimit-reset": "1"})
        self._sent_at.append(now)
        return None

    async def _send(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"code": 99991663, "msg": "Invalid access token"}, status=400)
        body = await request.json()
        refusal = self._refusal() or self._over_limit()
        call = Call("POST", request.path, dict(request.query), body)
        if refusal is not None:
            call.body = {**body, "_refused": True}
            self.calls.append(call)
            return refusal
        if body.get("receive_id") in self.left:
            self.calls.append(Call("POST", request.path, dict(request.query), {**body, "_refused": True}))
            return web.json_response(
                {"code": NO_AVAILABILITY, "msg": "Bot has NO availability to this user."}, status=400
            )
        message_id = f"om_out{next(self._ids):08d}"
        call.body = {**body, "_message_id": message_id}
        self.calls.append(call)
        return web.json_response({"code": 0, "msg": "success", "data": {"message_id": message_id}})

    async def _patch(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"code": 99991663, "msg": "Invalid access token"}, status=400)
        body = await request.json()
        self.calls.append(Call("PATCH", request.path, {"message_id": request.match_info["message_id"]}, body))
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"code": 99991663, "msg": "Invalid access token"}, status=400)
        form = await request.post()
        upload = form.get("image") or form.get("file")
        if not isinstance(upload, web.FileField):
            return web.json_response({"code": 230001, "msg": "no file"}, status=400)
        data = upload.file.read()
        is_image = request.path.endswith("/images")
        key = f"{'img' if is_image else 'file'}_v3_up{next(self._ids):06d}"
        self.uploads[key] = (upload.filename, data)
        self.calls.append(
            Call("POST", request.path, {}, {"name": upload.filename, "key": key, "size": len(data)})
        )
        return web.json_response(
            {"code": 0, "msg": "success", "data": {"image_key" if is_image else "file_key": key}}
        )

    async def _resource(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"code": 99991663, "msg": "Invalid access token"}, status=400)
        key = request.match_info["key"]
        self.calls.append(Call("GET", request.path, dict(request.query), {"key": key}))
        if key not in self.files:
            return web.json_response({"code": 234003, "msg": "file not found"}, status=404)
        return web.Response(body=self.files[key][1], content_type="application/octet-stream")


def encrypt(encrypt_key: str, payload: dict[str, Any]) -> bytes:
    """A callback body as Feishu encrypts it: {"encrypt": base64(IV + AES-256-CBC(sha256(key), PKCS#7))}."""
    from Crypto.Cipher import AES

    plain = json.dumps(payload, ensure_ascii=False).encode()
    pad = 16 - len(plain) % 16
    iv = os.urandom(16)
    key = hashlib.sha256(encrypt_key.encode()).digest()
    sealed = iv + AES.new(key, AES.MODE_CBC, iv).encrypt(plain + bytes([pad]) * pad)
    return json.dumps({"encrypt": base64.b64encode(sealed).decode()}).encode()


def sign(
    encrypt_key: str, body: bytes, timestamp: str = "1700000000", nonce: str = "n0nce"
) -> dict[str, str]:
    """The headers Feishu signs a callback with: sha256(timestamp + nonce + encrypt key + body)."""
    digest = hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()
    return {"X-Lark-Request-Timestamp": timestamp, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": digest}


def p2p_chat(open_id: str) -> str:
    """The private chat id the fake gives a user's chat with the bot."""
    return f"oc_p2p_{open_id[3:15]}"
