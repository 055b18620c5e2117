"""The outbox's Slack side: one `Delivery` becomes Web API calls, and Slack's errors become the
outbox's three outcomes (sent, try later, never)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack import blocks
from bot.messages import Person
from bot.outbox import Copy, Delivery, RetryLater, Undeliverable

log = logging.getLogger(__name__)

PLATFORM = "slack"
SUPERVISORS = "supervisors"
EPHEMERAL = "ephemeral:"
AUTH_RETRY_SECONDS = 60.0
# Errors that no retry can fix for this one message.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "user_not_visible",
        "users_not_found",
        "account_inactive",
        "user_disabled",
        "cannot_dm_bot",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "too_many_attachments",
        "restricted_action",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "file_uploads_disabled",
        "file_upload_size_restricted",
    }
)
# The token is wrong or revoked: every message waits for the operator instead of being dropped.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive_bot"}
)

Delivered = Callable[[Person], Awaitable[None]]


def retry_after(headers: Any, default: float = 1.0) -> float:
    try:
        value = float(headers.get("Retry-After") or headers.get("retry-after") or default)
    except (TypeError, ValueError, AttributeError):
        value = default
    return max(value, 0.0)


def api_error(exc: SlackApiError) -> tuple[int, str]:
    """(HTTP status, Slack's error code); a proxy's or load balancer's page has no code."""
    response = exc.response
    status = int(getattr(response, "status_code", 200) or 200)
    data = getattr(response, "data", None)
    return status, str(data.get("error") or "") if isinstance(data, dict) else ""


def classify(exc: Exception) -> Exception:
    """The outbox exception for a failed Web API call (or the original when the outbox's backoff fits)."""
    if isinstance(exc, SlackApiError):
        status, error = api_error(exc)
        if status == 429 or error == "ratelimited":
            return RetryLater(retry_after(exc.response.headers), "slack rate limit (429)")
        if status >= 500:
            return RetryLater(None, f"slack server error {status}")
        if error in AUTH_ERRORS:
            return RetryLater(AUTH_RETRY_SECONDS, f"slack refused the bot token ({error})")
        if error in PERMANENT_ERRORS:
            return Undeliverable(f"slack: {error}")
        return exc
    if isinstance(
        exc, aiohttp.ClientError | asyncio.TimeoutError | TimeoutError | OSError | SlackClientError
    ):
        return RetryLater(None, f"slack unreachable: {type(exc).__name__}")
    return exc


class SlackTransport:
    """Implements `bot.outbox.Transport` for Slack."""

    platform = PLATFORM

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        supervisors_channel: str | None = None,
        on_delivered: Delivered | None = None,
    ) -> None:
        self.client = client
        self.supervisors_channel = supervisors_channel
        self.on_delivered = on_delivered
        self.dm_channels: dict[str, str] = {}

    async def dm_channel(self, user_id: str) -> str:
        """The bot's direct-message channel with a member, opened once and remembered."""
        channel = self.dm_channels.get(user_id)
        if channel is None:
            response = await self.client.conversations_open(users=user_id)
            channel = str(response["channel"]["id"])
            self.dm_channels[user_id] = channel
        return channel

    async def _target(self, item: Delivery) -> tuple[str, str | None]:
        """(channel, ephemeral user or None) for a new message."""
        if item.recipient is not None:
            if not item.recipient.slack:
                raise Undeliverable(f"{item.recipient.id} has no Slack member id")
            return await self.dm_channel(item.recipient.slack), None
        chat = item.chat_id or ""
        if chat == SUPERVISORS:
            if not self.supervisors_channel:
                raise Undeliverable("SLACK_SUPERVISORS_CHANNEL is not set")
            return self.supervisors_channel, None
        if chat.startswith(EPHEMERAL):
            channel, _, user = chat.removeprefix(EPHEMERAL).partition(":")
            return channel, user or None
        if chat[:1] in ("U", "W"):
            return await self.dm_channel(chat), None
        if not chat:
            raise Undeliverable("no recipient and no chat")
        return chat, None

    async def deliver(self, item: Delivery) -> list[Copy]:
        try:
            copies = await self._deliver(item)
        except (RetryLater, Undeliverable):
            raise
        except Exception as exc:
            raise classify(exc) from exc
        if item.recipient is not None and self.on_delivered is not None:
            try:
                await self.on_delivered(item.recipient)
            except Exception:
                log.exception("after-delivery hook failed")
        return copies

    async def _deliver(self, item: Delivery) -> list[Copy]:
        body = blocks.message(item.text, item.buttons)
        if item.edit_of:
            for copy in item.edit_copies:
                try:
                    await self.client.chat_update(channel=copy.chat_id, ts=copy.platform_message_id, **body)
                except SlackApiError as exc:
                    # One copy deleted by hand must not stop the others from showing the decision.
                    if not isinstance(classify(exc), Undeliverable):
                        raise
                    log.warning("could not edit a copy in %s: %s", copy.chat_id, api_error(exc)[1])
            return []
        channel, ephemeral_user = await self._target(item)
        if ephemeral_user is not None:
            await self.client.chat_postEphemeral(channel=channel, user=ephemeral_user, **body)
            return []  # ephemeral messages cannot be edited later
        copies: list[Copy] = []
        if item.file_data is not None and not item.buttons:
            await self._upload(channel, item, comment=body["text"])
            return copies
        response = await self.client.chat_postMessage(
            channel=channel, unfurl_links=False, unfurl_media=False, **body
        )
        copies.append(Copy(str(response.get("channel") or channel), str(response["ts"])))
        if item.file_data is not None:
            await self._upload(channel, item, comment=None)
        return copies

    async def _upload(self, channel: str, item: Delivery, *, comment: str | None) -> None:
        assert item.file_data is not None
        name = item.file_name or "file"
        await self.client.files_upload_v2(
            channel=channel, file=item.file_data, filename=name, title=name, initial_comment=comment
        )
