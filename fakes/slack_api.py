"""A fake Slack Web API on 127.0.0.1 (port 0) that records every call.

The real slack_sdk client talks to it over HTTP: `AsyncWebClient(base_url=fake.base_url)`. It answers the
methods Deskmate uses, serves private file downloads, takes file uploads, and can answer 429 with
Retry-After or an `ok: false` error on demand. Also used by bench/slack.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = "UBOT000001"
BOT_ID = "B0BOT00001"
TEAM = "Test Desk"
TOKEN = "xoxb-1111-2222-fake-test-token"


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeSlackAPI:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    rate_limits: dict[str, list[int]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        # Socket Mode: envelopes to push to the connected app, and the acks it sent back.
        self.envelopes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.socket_acks: list[dict[str, Any]] = []
        self.pushed: list[str] = []  # envelope ids written to a connected app, in order
        self._sockets: set[web.WebSocketResponse] = set()

    # ----- life cycle --------------------------------------------------------------------------
    async def start(self) -> FakeSlackAPI:
        web_app = web.Application(client_max_size=64 * 1024 * 1024)
        web_app.router.add_post("/api/{method}", self._api)
        web_app.router.add_get("/files/{file_id}/{name}", self._download)
        web_app.router.add_post("/upload/{file_id}", self._upload)
        web_app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/api/"

    # ----- what tests ask for ------------------------------------------------------------------
    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls of `method` get 429 with this Retry-After."""
        self.rate_limits.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        self.failures.setdefault(method, []).extend([error] * times)

    def add_file(
        self, name: str, data: bytes, *, mimetype: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """Store a file as if a user had uploaded it; returns the file object an event carries."""
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = data
        url = f"{self.root}/files/{file_id}/{name}"
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "size": len(data),
            "url_private": url,
            "url_private_download": url,
        }

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """chat.postMessage calls, optionally to one channel (a DM channel is `D` + the user id's tail)."""
        return [
            p for p in self.calls_to("chat.postMessage") if channel is None or p.get("channel") == channel
        ]

    def clear(self) -> None:
        self.calls.clear()

    # ----- handlers ----------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            for key, value in (await request.post()).items():
                if isinstance(value, str | bytes | bytearray):
                    params[key] = value
                else:
                    params[key] = value.file.read()
        for key in ("files", "blocks", "view"):
            if isinstance(params.get(key), str) and params[key][:1] in "[{":
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append(Call(method, params))
        auth = request.headers.get("Authorization", "")
        given = auth.removeprefix("Bearer ").strip() or str(params.get("token") or "")
        if method != "apps.connections.open" and given != self.token:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        limits = self.rate_limits.get(method)
        if limits:
            seconds = limits.pop(0)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(seconds)}
            )
        failures = self.failures.get(method)
        if failures:
            error = failures.pop(0)
            if error.startswith("http_"):
                return web.Response(status=int(error[5:]), text="upstream trouble")
            return web.json_response({"ok": False, "error": error})
        return web.json_response(self._answer(method, params))

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "user": "deskmate", "team": TEAM, "team_id": "T0TEST001",
                    "bot_id": BOT_ID, "url": "https://test-desk.slack.com/"}  # fmt: skip
        if method in ("chat.postMessage", "chat.update"):
            ts = str(params.get("ts") or f"1700000000.{next(self._ts):06d}")
            return {
                "ok": True,
                "channel": params.get("channel"),
                "ts": ts,
                "message": {"text": params.get("text")},
            }
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}
        if method == "conversations.open":
            user = str(params.get("users") or "").split(",")[0]
            return {"ok": True, "channel": {"id": "D" + user[1:]}}
        if method in ("views.publish", "views.open", "views.update"):
            return {"ok": True, "view": {"id": f"V{next(self._ids):08d}", **(params.get("view") or {})}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ids):08d}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.root}/upload/{file_id}"}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        if method == "files.completeUploadExternal":
            files = params.get("files") or []
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}
        return {"ok": False, "error": "unknown_method"}

    async def _download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            # What Slack does without a valid token: its sign-in page, with status 200.
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        data = self.files.get(request.match_info["file_id"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        self.calls.append(Call("upload", {"file_id": request.match_info["file_id"]}))
        return web.Response(text=f"OK - {len(self.uploads[request.match_info['file_id']])}")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, push queued envelopes, record the app's acks."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.add(socket)
        await socket.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})

        async def push() -> None:
            while True:
                envelope = await self.envelopes.get()
                await socket.send_json(envelope)
                self.pushed.append(str(envelope.get("envelope_id")))

        pusher = asyncio.create_task(push())
        try:
            async for message in socket:
                if message.type == web.WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(message.data))
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            self._sockets.discard(socket)
        return socket
