"""A fake DingTalk Stream gateway and OpenAPI on 127.0.0.1 (port 0) that records every call.

It serves what Deskmate uses: the access token, `connections/open` and the Stream WebSocket (frames pushed
by tests, acks recorded, pings and disconnects on demand), robot sending to a person and to a group,
interactive cards (create-and-deliver, update), media upload and robot file download. On demand it answers
a call with DingTalk's QPS refusal, another error, or says a person is no longer a member.
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

CLIENT_ID = "dingfaketestclient01"
CLIENT_SECRET = "fake-dingtalk-secret-0123456789abcdef"
ROBOT_CODE = CLIENT_ID
CORP_ID = "dingcorpfake0001"
QPS_LIMIT = "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"

SEND_TO_USERS = "/v1.0/robot/oToMessages/batchSend"
SEND_TO_GROUP = "/v1.0/robot/groupMessages/send"
CARD_CREATE = "/v1.0/card/instances/createAndDeliver"
CARD_UPDATE = "/v1.0/card/instances"
FILE_DOWNLOAD = "/v1.0/robot/messageFiles/download"
MEDIA_UPLOAD = "/media/upload"


@dataclass
class Call:
    path: str
    body: dict[str, Any]


@dataclass
class FakeDingTalk:
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    calls: list[Call] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # downloadCode -> (name, data)
    uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # media id -> (name, data)
    left: set[str] = field(default_factory=set)  # userIds no longer in the organisation
    port: int = 0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.tokens: set[str] = set()
        self.tickets: set[str] = set()
        self.opened: list[dict[str, Any]] = []  # connections/open bodies
        self.acks: dict[str, dict[str, Any]] = {}
        self._ack_events: dict[str, asyncio.Event] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self.connected = asyncio.Event()
        self.refusals: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.open_refusals: list[int] = []
        # DingTalk's QPS limit, when a test or the bench sets it: more than `qps` calls of one API in any
        # rolling second are refused (and counted in `throttled`).
        self.qps: int | None = None
        # CALLBACK frames sent but not acked: like DingTalk, sent again to the next connection.
        self.unacked: dict[str, dict[str, Any]] = {}
        self.throttled = 0
        self._recent: dict[str, deque[float]] = {}

    # ----- life cycle --------------------------------------------------------------------------
    async def start(self) -> FakeDingTalk:
        web_app = web.Application(client_max_size=64 * 1024 * 1024)
        web_app.router.add_post("/v1.0/oauth2/accessToken", self._token)
        web_app.router.add_post("/v1.0/gateway/connections/open", self._open)
        web_app.router.add_get("/connect", self._socket)
        web_app.router.add_post(MEDIA_UPLOAD, self._upload)
        web_app.router.add_get("/download/{code}", self._download)
        web_app.router.add_route("*", "/v1.0/{tail:.*}", self._api)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ----- what tests ask for ------------------------------------------------------------------
    def rate_limit(self, path: str, times: int = 1) -> None:
        """The next `times` calls of `path` get DingTalk's QPS refusal (403, no Retry-After)."""
        self.refuse(path, 403, {"code": QPS_LIMIT, "message": "qps limit"}, times)

    def refuse(self, path: str, status: int, body: dict[str, Any], times: int = 1) -> None:
        self.refusals.setdefault(path, []).extend([(status, body)] * times)

    def add_file(self, name: str, data: bytes) -> str:
        """A file as if a user had sent it to the robot; returns its downloadCode."""
        code = f"dlcode{next(self._ids):06d}"
        self.files[code] = (name, data)
        return code

    def calls_to(self, path: str) -> list[dict[str, Any]]:
        return [c.body for c in self.calls if c.path == path]

    def texts_to(self, user: str) -> list[str]:
        """Texts and card contents that reached a person's robot chat, in order (files excluded)."""
        return [
            shown for c in self.calls if self._to_user(c) == user and (shown := self._shown(c)) is not None
        ]

    def texts_in(self, group: str) -> list[str]:
        return [
            shown for c in self.calls if self._to_group(c) == group and (shown := self._shown(c)) is not None
        ]

    def cards_to(self, user: str | None = None, group: str | None = None) -> list[dict[str, Any]]:
        space = f"dtv1.card//IM_ROBOT.{user}" if user else f"dtv1.card//IM_GROUP.{group}"
        return [b for b in self.calls_to(CARD_CREATE) if b.get("openSpaceId") == space]

    @staticmethod
    def card_buttons(card: dict[str, Any]) -> list[tuple[str, str]]:
        buttons = json.loads(card["cardData"]["cardParamMap"]["buttons"])
        return [(b["label"], b["token"]) for b in buttons]

    def _to_user(self, call: Call) -> str | None:
        if call.path == SEND_TO_USERS and call.body.get("msgKey") == "sampleText":
            users = call.body.get("userIds") or []
            return str(users[0]) if users else None
        if call.path == CARD_CREATE and str(call.body.get("openSpaceId", "")).startswith(
            "dtv1.card//IM_ROBOT."
        ):
            return str(call.body["openSpaceId"]).removeprefix("dtv1.card//IM_ROBOT.")
        return None

    def _to_group(self, call: Call) -> str | None:
        if call.path == SEND_TO_GROUP and call.body.get("msgKey") == "sampleText":
            return str(call.body.get("openConversationId"))
        if call.path == CARD_CREATE and str(call.body.get("openSpaceId", "")).startswith(
            "dtv1.card//IM_GROUP."
        ):
            return str(call.body["openSpaceId"]).removeprefix("dtv1.card//IM_GROUP.")
        return None

    @staticmethod
    def _shown(call: Call) -> str | None:
        if call.path == CARD_CREATE:
            return str(call.body["cardData"]["cardParamMap"]["content"])
        if call.body.get("msgKey") == "sampleText":
            return str(json.loads(call.body["msgParam"])["content"])
        return None

    # ----- the Stream side ---------------------------------------------------------------------
    async def push(
        self, topic: str, data: dict[str, Any], *, message_id: str | None = None, kind: str = "CALLBACK"
    ) -> str:
        """Send one frame to every connected client; returns its messageId."""
        message_id = message_id or f"msg-{next(self._ids):08d}"
        frame = {
            "specVersion": "1.0",
            "type": kind,
            "headers": {
                "appId": "fake-app",
                "connectionId": "fake-connection",
                "contentType": "application/json",
                "messageId": message_id,
                "time": "1700000000000",
                "topic": topic,
            },
            "data": json.dumps(data, ensure_ascii=False),
        }
        self._ack_events.setdefault(message_id, asyncio.Event())
        if kind == "CALLBACK":
            self.unacked[message_id] = frame
        for socket in list(self._sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await socket.send_json(frame)
        return message_id

    async def wait_ack(self, message_id: str, timeout: float = 60.0) -> dict[str, Any]:  # noqa: ASYNC109
        event = self._ack_events.setdefault(message_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"frame {message_id} was not acked within {timeout} s") from None
        return self.acks[message_id]

    async def drop(self) -> None:
        """Close every Stream connection (the network blinked)."""
        self.connected.clear()
        for socket in list(self._sockets):
            await socket.close()

    # ----- handlers ----------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("/v1.0/oauth2/accessToken", {"appKey": body.get("appKey")}))
        if body.get("appKey") != self.client_id or body.get("appSecret") != self.client_secret:
            return web.json_response({"code": "invalidClientIdOrSecret", "message": "bad"}, status=400)
        token = f"faketoken{next(self._ids):06d}"
        self.tokens.add(token)
        return web.json_response({"accessToken": token, "expireIn": 7200})

    async def _open(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.opened.append(body)
        if self.open_refusals:
            return web.json_response({"code": "fake"}, status=self.open_refusals.pop(0))
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            return web.json_response({"code": "invalidClientIdOrSecret", "message": "bad"}, status=401)
        ticket = f"ticket{next(self._ids):06d}"
        self.tickets.add(ticket)
        return web.json_response({"endpoint": f"ws://127.0.0.1:{self.port}/connect", "ticket": ticket})

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            return web.Response(status=401)
        self.tickets.discard(ticket)  # one-time
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.add(socket)
        self.connected.set()
        for frame in list(self.unacked.values()):
            await socket.send_json(frame)
        try:
            async for message in socket:
                if message.type == web.WSMsgType.TEXT:
                    answer = json.loads(message.data)
                    message_id = str((answer.get("headers") or {}).get("messageId") or "")
                    self.acks[message_id] = answer
                    self.unacked.pop(message_id, None)
                    self._ack_events.setdefault(message_id, asyncio.Event()).set()
        finally:
            self._sockets.discard(socket)
            if not self._sockets:
                self.connected.clear()
        return socket

    def _authorised(self, request: web.Request) -> bool:
        token = request.headers.get("x-acs-dingtalk-access-token") or request.query.get("access_token")
        return token in self.tokens

    async def _api(self, request: web.Request) -> web.Response:
        path = request.path
        body = await request.json() if request.can_read_body else {}
        self.calls.append(Call(path, body))
        if not self._authorised(request):
            return web.json_response({"code": "InvalidAuthentication", "message": "token"}, status=401)
        refusals = self.refusals.get(path)
        if refusals:
            status, answer = refusals.pop(0)
            return web.json_response(answer, status=status)
        if self.qps is not None and self._over_qps(path):
            self.throttled += 1
            return web.json_response({"code": QPS_LIMIT, "message": "qps limit"}, status=403)
        if path == SEND_TO_USERS:
            users = [str(u) for u in body.get("userIds") or []]
            gone = [u for u in users if u in self.left]
            return web.json_response(
                {
                    "processQueryKey": f"pqk{next(self._ids)}",
                    "invalidStaffIdList": gone,
                    "flowControlledStaffIdList": [],
                }
            )
        if path == SEND_TO_GROUP:
            return web.json_response({"processQueryKey": f"pqk{next(self._ids)}"})
        if path == CARD_CREATE:
            space = str(body.get("openSpaceId") or "")
            user = space.removeprefix("dtv1.card//IM_ROBOT.") if "IM_ROBOT." in space else None
            ok = user is None or user not in self.left
            result = {
                "spaceType": space.split("//")[-1].split(".")[0],
                "spaceId": space.split(".", 2)[-1],
                "success": ok,
            }
            if not ok:
                result["errorMsg"] = "user not exist"
            return web.json_response(
                {
                    "success": True,
                    "result": {"outTrackId": body.get("outTrackId"), "deliverResults": [result]},
                }
            )
        if path == CARD_UPDATE and request.method == "PUT":
            return web.json_response({"success": True, "result": True})
        if path == FILE_DOWNLOAD:
            code = str(body.get("downloadCode") or "")
            if code not in self.files:
                return web.json_response({"code": "resource.not.found", "message": "no file"}, status=404)
            return web.json_response({"downloadUrl": f"{self.url}/download/{code}"})
        return web.json_response({"code": "unknown", "message": path}, status=404)

    def _over_qps(self, path: str) -> bool:
        now = time.monotonic()
        recent = self._recent.setdefault(path, deque())
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if self.qps is not None and len(recent) >= self.qps:
            return True
        recent.append(now)
        return False

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        media = form.get("media")
        self.calls.append(
            Call(MEDIA_UPLOAD, {"type": form.get("type"), "name": getattr(media, "filename", None)})
        )
        if not self._authorised(request):
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        refusals = self.refusals.get(MEDIA_UPLOAD)
        if refusals:
            status, answer = refusals.pop(0)
            return web.json_response(answer, status=status)
        if media is None or isinstance(media, str | bytes | bytearray):
            return web.json_response({"errcode": 40004, "errmsg": "no media"})
        media_id = f"@media{next(self._ids):06d}"
        data = media.file.read()
        self.uploads[media_id] = (str(media.filename), data)
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "media_id": media_id, "type": form.get("type")}
        )

    async def _download(self, request: web.Request) -> web.Response:
        entry = self.files.get(request.match_info["code"])
        if entry is None:
            return web.Response(status=404)
        return web.Response(body=entry[1], content_type="application/octet-stream")


async def system(fake: FakeDingTalk, topic: str, data: dict[str, Any] | None = None) -> str:
    """Push a SYSTEM frame (ping, disconnect)."""
    return await fake.push(topic, data or {}, kind="SYSTEM")
