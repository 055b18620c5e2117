"""DingTalk's OpenAPI, the calls Deskmate makes, on aiohttp (never blocking the event loop).

An access token (`/v1.0/oauth2/accessToken`) is fetched once and kept until five minutes before it
expires; a 401 drops it and the call is tried once more with a fresh one. Every refused call raises
`DingTalkError` with DingTalk's status and code, which `transport.classify` turns into the outbox's
outcomes. Media upload is on the older `oapi` host (`/media/upload`), derived from DINGTALK_API_URL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

TOKEN_PATH = "/v1.0/oauth2/accessToken"
SEND_TO_USERS = "/v1.0/robot/oToMessages/batchSend"
SEND_TO_GROUP = "/v1.0/robot/groupMessages/send"
CARD_CREATE = "/v1.0/card/instances/createAndDeliver"
CARD_UPDATE = "/v1.0/card/instances"
FILE_DOWNLOAD = "/v1.0/robot/messageFiles/download"
MEDIA_UPLOAD = "/media/upload"
TOKEN_HEADER = "x-acs-dingtalk-access-token"
TOKEN_MARGIN = 300.0  # seconds before expiry a token is renewed
# New-API codes of a bad or expired access token (DingTalk answers them with 400 or 401).
TOKEN_CODES = frozenset({"invalidauthentication", "invalid.accesstoken", "accesstokenexpired"})


class DingTalkError(Exception):
    """A call DingTalk refused: HTTP status, DingTalk's code (new API) or errcode (oapi)."""

    def __init__(self, status: int, code: str, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"dingtalk {status} {code}".strip())
        self.status = status
        self.code = code
        self.detail = message[:300]
        self.retry_after = retry_after


def oapi_url(api_url: str) -> str:
    """https://api.dingtalk.com -> https://oapi.dingtalk.com; any other host (a fake, a proxy) as is."""
    parts = urlsplit(api_url.rstrip("/"))
    host = parts.hostname or ""
    if host.startswith("api.") and host.endswith("dingtalk.com"):
        return urlunsplit(parts._replace(netloc=parts.netloc.replace("api.", "oapi.", 1)))
    return urlunsplit(parts)


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("Retry-After")
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):
        return None


class OpenAPI:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        client_id: str,
        client_secret: str,
        robot_code: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.api_url = api_url.rstrip("/")
        self.oapi_url = oapi_url(api_url)
        self.client_id = client_id
        self.client_secret = client_secret
        self.robot_code = robot_code
        self._monotonic = monotonic
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    # ----- tokens ----------------------------------------------------------------------------------
    async def token(self) -> str:
        async with self._lock:
            if self._token is not None and self._monotonic() < self._expires:
                return self._token
            body = {"appKey": self.client_id, "appSecret": self.client_secret}
            answer = await self._json("POST", self.api_url + TOKEN_PATH, body, token=None)
            token = answer.get("accessToken")
            if not isinstance(token, str) or not token:
                raise DingTalkError(200, "no accessToken in the answer")
            try:
                lifetime = float(answer.get("expireIn") or 7200)
            except (TypeError, ValueError):
                lifetime = 7200.0
            self._token = token
            self._expires = self._monotonic() + max(lifetime - TOKEN_MARGIN, 60.0)
            return token

    def forget_token(self) -> None:
        self._token = None

    async def call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One new-API call with the access token; a 401 renews the token and tries once more."""
        for attempt in (1, 2):
            token = await self.token()
            try:
                return await self._json(method, self.api_url + path, body, token=token)
            except DingTalkError as exc:
                if exc.status == 401 or exc.code.lower() in TOKEN_CODES:
                    self.forget_token()  # the next call, this one's retry or a later one, takes a new one
                    if attempt == 1:
                        continue
                raise
        raise AssertionError("unreachable")

    async def _json(
        self, method: str, url: str, body: dict[str, Any], *, token: str | None
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers[TOKEN_HEADER] = token
        async with self.session.request(method, url, json=body, headers=headers) as response:
            text = await response.text()
            answer = _object(text)
            if response.status >= 400:
                raise DingTalkError(
                    response.status,
                    str(answer.get("code") or ""),
                    str(answer.get("message") or text[:200]),
                    _retry_after(response.headers),
                )
            return answer

    # ----- robot messages --------------------------------------------------------------------------
    async def send_to_user(self, user_id: str, msg_key: str, param: dict[str, Any]) -> dict[str, Any]:
        body = {
            "robotCode": self.robot_code,
            "userIds": [user_id],
            "msgKey": msg_key,
            "msgParam": json.dumps(param, ensure_ascii=False),
        }
        return await self.call("POST", SEND_TO_USERS, body)

    async def send_to_group(
        self, conversation_id: str, msg_key: str, param: dict[str, Any]
    ) -> dict[str, Any]:
        body = {
            "robotCode": self.robot_code,
            "openConversationId": conversation_id,
            "msgKey": msg_key,
            "msgParam": json.dumps(param, ensure_ascii=False),
        }
        return await self.call("POST", SEND_TO_GROUP, body)

    # ----- interactive cards -----------------------------------------------------------------------
    async def create_card(
        self,
        template_id: str,
        out_track_id: str,
        params: dict[str, str],
        *,
        user: str | None,
        group: str | None,
    ) -> dict[str, Any]:
        """Create a card from the template and deliver it to one person's robot chat or one group."""
        body: dict[str, Any] = {
            "cardTemplateId": template_id,
            "outTrackId": out_track_id,
            "cardData": {"cardParamMap": params},
            "callbackType": "STREAM",
            "userIdType": 1,  # userId (staff id), not unionId
        }
        if group is not None:
            body["openSpaceId"] = f"dtv1.card//IM_GROUP.{group}"
            body["imGroupOpenSpaceModel"] = {"supportForward": False}
            body["imGroupOpenDeliverModel"] = {"robotCode": self.robot_code}
        else:
            body["openSpaceId"] = f"dtv1.card//IM_ROBOT.{user}"
            body["imRobotOpenSpaceModel"] = {"supportForward": False}
            body["imRobotOpenDeliverModel"] = {"spaceType": "IM_ROBOT", "robotCode": self.robot_code}
        return await self.call("POST", CARD_CREATE, body)

    async def update_card(self, out_track_id: str, params: dict[str, str]) -> dict[str, Any]:
        body = {
            "outTrackId": out_track_id,
            "cardData": {"cardParamMap": params},
            "cardUpdateOptions": {"updateCardDataByKey": True},
            "userIdType": 1,
        }
        return await self.call("PUT", CARD_UPDATE, body)

    # ----- files -----------------------------------------------------------------------------------
    async def upload(self, name: str, data: bytes, mime: str, kind: str) -> str:
        """Upload a file or image (oapi `/media/upload`); returns its media id."""
        for attempt in (1, 2):
            token = await self.token()
            form = aiohttp.FormData()
            form.add_field("type", kind)
            form.add_field("media", data, filename=name, content_type=mime)
            url = f"{self.oapi_url}{MEDIA_UPLOAD}"
            async with self.session.post(url, params={"access_token": token}, data=form) as response:
                text = await response.text()
                answer = _object(text)
            errcode = answer.get("errcode")
            if response.status >= 400 or errcode not in (0, None):
                code = str(errcode if errcode is not None else answer.get("code") or "")
                if code in OAPI_TOKEN_ERRORS and attempt == 1:
                    self.forget_token()
                    continue
                raise DingTalkError(response.status, code, str(answer.get("errmsg") or text[:200]))
            media = answer.get("media_id")
            if not isinstance(media, str) or not media:
                raise DingTalkError(response.status, "no media_id in the answer")
            return media
        raise AssertionError("unreachable")

    async def download_url(self, download_code: str) -> str:
        answer = await self.call(
            "POST", FILE_DOWNLOAD, {"downloadCode": download_code, "robotCode": self.robot_code}
        )
        url = answer.get("downloadUrl")
        if not isinstance(url, str) or not url:
            raise DingTalkError(200, "no downloadUrl in the answer")
        return url

    async def fetch(self, url: str, limit: int) -> bytes | None:
        """A file's bytes from its (pre-signed) download URL, cut off just past `limit` (the caller
        refuses a file longer than that); None when refused."""
        timeout = aiohttp.ClientTimeout(total=60)
        async with self.session.get(url, timeout=timeout) as response:
            if response.status != 200:
                return None
            chunks: list[bytes] = []
            total = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                total += len(chunk)
                chunks.append(chunk)
                if total > limit:
                    break
            return b"".join(chunks)


# oapi errcodes for a bad or expired token.
OAPI_TOKEN_ERRORS = frozenset({"40014", "42001", "40001"})


def _object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
