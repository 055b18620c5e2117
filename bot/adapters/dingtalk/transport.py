"""The outbox's DingTalk side: one `Delivery` becomes OpenAPI calls, and DingTalk's answers become the
outbox's outcomes (sent, try later, blocked, never).

Text goes out as the robot's `sampleText` (to one person with oToMessages/batchSend, to a group with
groupMessages/send); a message with buttons is an interactive card from DINGTALK_CARD_TEMPLATE_ID whose
`outTrackId` is kept as the copy's id, so a decision updates every copy; files and images are uploaded and
sent as `sampleFile` / `sampleImageMsg`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.adapters.dingtalk.api import DingTalkError, OpenAPI
from bot.messages import Person
from bot.outbox import Copy, Delivery, RecipientBlocked, RetryLater, Undeliverable
from bot.ratelimit import RateLimiter

log = logging.getLogger(__name__)

PLATFORM = "dingtalk"
SUPERVISORS = "supervisors"
TEXT_LIMIT = 5000  # characters of one sampleText; a longer text goes out in parts
AUTH_RETRY_SECONDS = 60.0
FLOW_CONTROL_SECONDS = 60.0
# DingTalk's documented limits for robot sending (README "DingTalk" names them):
API_QPS = 20.0  # calls per second of one API by one app (the default QPS limit of the OpenAPI)
SEND_PER_SECOND = 19.0  # the QPS less one: DingTalk counts on arrival, where network jitter bunches calls
GROUP_PER_MINUTE = 20  # messages a robot may send to one group per minute
QPS_RETRY_SECONDS = 1.0  # a QPS refusal lifts within the second

RATE_LIMIT_MARKERS = ("qpslimit", "throttl", "flowcontrol", "ratelimit", "limit.exceeded")
AUTH_CODES = frozenset({"invalidauthentication", "forbidden.accessdenied.accesstokenpermissiondenied"})
# oapi errcodes: 90018 QPS, 90002 per-minute, 90006 per-day limits; 88/40014/42001 token
OAPI_RATE_LIMITS = frozenset({"90018", "90002", "90006", "90019"})
OAPI_AUTH = frozenset({"88", "40014", "42001", "40001"})


def classify(exc: Exception) -> Exception:
    """The outbox exception for a failed call (the original when the outbox's backoff fits)."""
    if isinstance(exc, DingTalkError):
        code = exc.code.lower()
        if (
            exc.status == 429
            or any(marker in code for marker in RATE_LIMIT_MARKERS)
            or exc.code in OAPI_RATE_LIMITS
        ):
            wait = exc.retry_after if exc.retry_after is not None else QPS_RETRY_SECONDS
            if exc.code in ("90002",) or "minute" in code:
                wait = max(wait, 60.0)
            return RetryLater(wait, f"dingtalk rate limit ({exc.code or exc.status})")
        if exc.status >= 500:
            return RetryLater(None, f"dingtalk server error {exc.status}")
        if exc.status == 401 or code in AUTH_CODES or exc.code in OAPI_AUTH:
            return RetryLater(AUTH_RETRY_SECONDS, f"dingtalk refused the app's credentials ({exc.code})")
        if 400 <= exc.status < 500 or exc.code:
            return Undeliverable(f"dingtalk: {exc.status} {exc.code} {exc.detail}".strip()[:300])
        return exc
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | TimeoutError | OSError):
        return RetryLater(None, f"dingtalk unreachable: {type(exc).__name__}")
    return exc


def card_params(text: str, buttons: list[list[dict[str, str]]]) -> dict[str, str]:
    """The template's fields (README "DingTalk"): `content` the text, `buttons` a JSON array of
    {"label", "token"} (empty after a decision, so the buttons disappear)."""
    flat = [{"label": b["label"], "token": b["token"]} for row in buttons for b in row]
    return {"content": text, "buttons": json.dumps(flat, ensure_ascii=False)}


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return parts


def is_group(chat_key: str) -> bool:
    """Outbox chat keys of group chats: the supervisors' group and conversation ids (cid…)."""
    return chat_key == SUPERVISORS or chat_key.startswith("cid")


class DingTalkLimiter(RateLimiter):
    """The app's QPS for every send, and a group's per-minute allowance for sends to that group."""

    def __init__(
        self,
        per_second: float = SEND_PER_SECOND,
        group_per_minute: int = GROUP_PER_MINUTE,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(per_second, now=now, sleep=sleep)
        self.groups = RateLimiter(1_000_000.0, group_per_minute / 60.0, now=now, sleep=sleep)

    async def acquire(self, chat: str) -> None:
        if is_group(chat):
            await self.groups.acquire(chat)
        await super().acquire(chat)


class DingTalkTransport:
    """Implements `bot.outbox.Transport` for DingTalk."""

    platform = PLATFORM

    def __init__(self, api: OpenAPI, *, card_template: str, supervisors_chat: str | None) -> None:
        self.api = api
        self.card_template = card_template
        self.supervisors_chat = supervisors_chat
        self._cards = 0

    def _target(self, item: Delivery) -> tuple[str | None, str | None]:
        """(user id, group conversation id): exactly one is set."""
        if item.recipient is not None:
            user = dingtalk_id(item.recipient)
            if not user:
                raise Undeliverable(f"{item.recipient.id} has no DingTalk userId")
            return user, None
        chat = item.chat_id or ""
        if chat == SUPERVISORS:
            if not self.supervisors_chat:
                raise Undeliverable("DINGTALK_SUPERVISORS_CHAT_ID is not set")
            return None, self.supervisors_chat
        if not chat:
            raise Undeliverable("no recipient and no chat")
        if chat.startswith("cid"):
            return None, chat
        return chat, None  # a private chat is the person's userId

    async def deliver(self, item: Delivery) -> list[Copy]:
        try:
            return await self._deliver(item)
        except (RetryLater, Undeliverable, RecipientBlocked):
            raise
        except Exception as exc:
            raise classify(exc) from exc

    async def _deliver(self, item: Delivery) -> list[Copy]:
        if item.edit_of:
            params = card_params(item.text, item.buttons)
            for copy in item.edit_copies:
                try:
                    await self.api.update_card(copy.platform_message_id, params)
                except DingTalkError as exc:
                    # One copy gone must not stop the others from showing the decision.
                    if not isinstance(classify(exc), Undeliverable):
                        raise
                    log.warning("could not update a card copy in %s: %s", copy.chat_id, exc.code)
            return []
        user, group = self._target(item)
        where = group or user or ""
        copies: list[Copy] = []
        if item.buttons:
            self._cards += 1
            track = f"dm-{item.message_id}-{item.outbox_id}"
            answer = await self.api.create_card(
                self.card_template, track, card_params(item.text, item.buttons), user=user, group=group
            )
            self._check_card(answer, item)
            copies.append(Copy(where, track))
        elif item.text.strip():
            for part in split_text(item.text):
                await self._send(user, group, "sampleText", {"content": part}, item)
        if item.file_data is not None:
            await self._send_file(user, group, item)
        return copies

    async def _send(
        self, user: str | None, group: str | None, key: str, param: dict[str, Any], item: Delivery
    ) -> None:
        if group is not None:
            await self.api.send_to_group(group, key, param)
            return
        assert user is not None
        answer = await self.api.send_to_user(user, key, param)
        if user in (answer.get("invalidStaffIdList") or []):
            # No such member any more: they left the organisation (or were removed).
            raise RecipientBlocked(f"dingtalk: {user} is not a member of the organisation", left=True)
        if user in (answer.get("flowControlledStaffIdList") or []):
            raise RetryLater(FLOW_CONTROL_SECONDS, "dingtalk flow control for this person")

    def _check_card(self, answer: dict[str, Any], item: Delivery) -> None:
        result = answer.get("result")
        results = result.get("deliverResults") if isinstance(result, dict) else None
        for delivered in results or []:
            if isinstance(delivered, dict) and delivered.get("success") is False:
                reason = str(delivered.get("errorMsg") or "refused")[:200]
                if item.recipient is not None and "not exist" in reason.lower():
                    raise RecipientBlocked(f"dingtalk card: {reason}", left=True)
                raise Undeliverable(f"dingtalk card: {reason}")

    async def _send_file(self, user: str | None, group: str | None, item: Delivery) -> None:
        assert item.file_data is not None
        name = item.file_name or "file"
        mime = item.file_mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if mime.startswith("image/"):
            media = await self.api.upload(name, item.file_data, mime, "image")
            await self._send(user, group, "sampleImageMsg", {"photoURL": media}, item)
            return
        media = await self.api.upload(name, item.file_data, mime, "file")
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else "file"
        await self._send(
            user, group, "sampleFile", {"mediaId": media, "fileName": name, "fileType": extension}, item
        )


def dingtalk_id(person: Person) -> str | None:
    """The person's DingTalk userId from their platform accounts (`dingtalk:` in the org file)."""
    return person.account(PLATFORM)
