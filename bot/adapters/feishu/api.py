"""Feishu's open platform, the calls Deskmate makes, on aiohttp (never blocking the event loop).

lark-oapi's own async calls fetch the tenant access token with blocking `requests` (its TokenManager), so
outgoing calls are made here: the tenant access token (`/open-apis/auth/v3/tenant_access_token/internal`)
is kept until five minutes before it expires, and dropped when Feishu calls it invalid. Every refused call
raises `FeishuError` with the HTTP status and Feishu's `code`, which `transport.classify` maps.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
MESSAGES = "/open-apis/im/v1/messages"
IMAGES = "/open-apis/im/v1/images"
FILES = "/open-apis/im/v1/files"
TOKEN_MARGIN = 300.0  # seconds before expiry a token is renewed
TOKEN_INVALID = frozenset({99991661, 99991663, 99991668})


class FeishuError(Exception):
    """A call Feishu refused: HTTP status and Feishu's numeric code."""

    def __init__(self, status: int, code: int, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"feishu {status} {code}")
        self.status = status
        self.code = code
        self.detail = message[:300]
        self.retry_after = retry_after


class TokenRefused(FeishuError):
    """The tenant access token was refused (app secret reset, app disabled): what waited for it can be
    sent once the credentials work again, so the outbox retries instead of giving the message up."""


def _retry_after(headers: Any) -> float | None:
    """Feishu's gateway says when a rate limit lifts in x-ogw-ratelimit-reset (seconds)."""
    for name in ("x-ogw-ratelimit-reset", "Retry-After"):
        try:
            value = headers.get(name)
            if value is not None:
                return max(float(value), 0.0)
        except (TypeError, ValueError):
            continue
    return None


class OpenAPI:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        app_id: str,
        app_secret: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.app_secret = app_secret
        self._monotonic = monotonic
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._token is not None and self._monotonic() < self._expires:
                return self._token
            try:
                body = await self._json(
                    "POST",
                    TOKEN_PATH,
                    json_body={"app_id": self.app_id, "app_secret": self.app_secret},
                    auth=False,
                )
            except FeishuError as exc:
                if exc.status == 429 or exc.status >= 500 or exc.code < 0:
                    raise  # busy, down, or not the open platform answering: retried as such
                raise TokenRefused(exc.status, exc.code, exc.detail, exc.retry_after) from None
            token = body.get("tenant_access_token")
            if not isinstance(token, str) or not token:
                raise FeishuError(200, int(body.get("code") or -1), "no tenant_access_token in the answer")
            expire = float(body.get("expire") or 7200)
            self._token = token
            self._expires = self._monotonic() + max(expire - TOKEN_MARGIN, 30.0)
            return token

    async def _json(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        form: aiohttp.FormData | None = None,
        auth: bool = True,
    ) -> dict[str, Any]:
        for attempt in (1, 2):
            headers = {"Content-Type": "application/json; charset=utf-8"} if form is None else {}
            if auth:
                headers["Authorization"] = f"Bearer {await self.token()}"
            async with self.session.request(
                method,
                self.base_url + path,
                json=json_body if form is None else None,
                data=form,
                params=params,
                headers=headers,
            ) as response:
                try:
                    body = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    body = None
                status = response.status
                retry = _retry_after(response.headers)
            if not isinstance(body, dict):
                raise FeishuError(status, -1, "not a JSON answer", retry)
            code = int(body.get("code") or 0)
            if code in TOKEN_INVALID and auth and attempt == 1:
                self._token = None  # revoked or expired early: one more try with a fresh token
                continue
            if status >= 400 or code != 0:
                raise FeishuError(status, code, str(body.get("msg") or ""), retry)
            return body
        raise AssertionError("unreachable")

    async def send(
        self, receive_id_type: str, receive_id: str, msg_type: str, content: dict[str, Any]
    ) -> str:
        """One message (text, interactive, image, file); returns its message_id."""
        body = await self._json(
            "POST",
            MESSAGES,
            params={"receive_id_type": receive_id_type},
            json_body={
                "receive_id": receive_id,
                "msg_type": msg_type,
                "content": json.dumps(content, ensure_ascii=False),
            },
        )
        data = body.get("data") or {}
        return str(data.get("message_id") or "")

    async def update_card(self, message_id: str, card: dict[str, Any]) -> None:
        await self._json(
            "PATCH", f"{MESSAGES}/{message_id}", json_body={"content": json.dumps(card, ensure_ascii=False)}
        )

    async def upload_image(self, name: str, data: bytes, mime: str) -> str:
        form = aiohttp.FormData()
        form.add_field("image_type", "message")
        form.add_field("image", data, filename=name, content_type=mime)
        body = await self._json("POST", IMAGES, form=form)
        return str((body.get("data") or {}).get("image_key") or "")

    async def upload_file(self, name: str, data: bytes, mime: str) -> str:
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        kind = extension if extension in ("pdf", "doc", "xls", "ppt", "mp4", "opus") else "stream"
        if extension in ("docx",):
            kind = "doc"
        elif extension in ("xlsx", "csv"):
            kind = "xls" if extension == "xlsx" else "stream"
        form = aiohttp.FormData()
        form.add_field("file_type", kind)
        form.add_field("file_name", name)
        form.add_field("file", data, filename=name, content_type=mime)
        body = await self._json("POST", FILES, form=form)
        return str((body.get("data") or {}).get("file_key") or "")

    async def download(self, message_id: str, file_key: str, limit: int) -> bytes | None:
        """A file someone sent (a roster spreadsheet); None when it is larger than `limit`."""
        headers = {"Authorization": f"Bearer {await self.token()}"}
        url = f"{self.base_url}{MESSAGES}/{message_id}/resources/{file_key}"
        async with self.session.get(url, params={"type": "file"}, headers=headers) as response:
            if response.status >= 400:
                raise FeishuError(response.status, -1, "download refused", _retry_after(response.headers))
            data = await response.content.read(limit + 1)
        return None if len(data) > limit else data
