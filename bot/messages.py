"""The platform-neutral message model: adapters translate to and from these, nothing else does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def new_message_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Button:
    """A button shown under a message; `action` and `payload` stay on the server behind a short token."""

    label: str
    action: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileOut:
    name: str
    data: bytes
    mime: str = "application/octet-stream"


@dataclass(frozen=True)
class FileIn:
    name: str
    data: bytes


@dataclass
class Outgoing:
    """One message the bot sends: to a person (rendered in their private chat) or to a chat."""

    text: str
    to_person: str | None = None
    to_chat: str | None = None
    buttons: list[list[Button]] = field(default_factory=list)
    file: FileOut | None = None
    edit_of: str | None = None
    id: str = field(default_factory=new_message_id)

    def button_labels(self) -> list[str]:
        return [b.label for row in self.buttons for b in row]


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    role: str
    team: str | None
    language: str
    # Their platform accounts, (platform, external id) pairs, from the identity store (bot/identities.py).
    accounts: tuple[tuple[str, str], ...] = ()
    blocked: bool = False  # a platform refused our messages to them (403) and none has reached them since

    def account(self, platform: str) -> str | None:
        """Their id on `platform`, if they have one."""
        return next((external for name, external in self.accounts if name == platform), None)

    @property
    def telegram(self) -> str | None:
        return self.account("telegram")

    @property
    def slack(self) -> str | None:
        return self.account("slack")

    @property
    def feishu(self) -> str | None:
        return self.account("feishu")

    @property
    def dingtalk(self) -> str | None:
        return self.account("dingtalk")


@dataclass
class Incoming:
    """One thing a user did: sent text, pressed a button, or sent a file."""

    platform: str
    chat_id: str
    sender_id: str
    person: Person | None
    at: datetime
    text: str | None = None
    button_token: str | None = None
    file: FileIn | None = None
    is_private: bool = True
    addressed_to_bot: bool = True
    platform_message_id: str | None = None
    locale_hint: str | None = None
    platform_at: datetime | None = None  # the platform's own time of the person's action (a punch's time)
    # Where a note only the sender sees goes in a group, when the platform has such a thing (Slack's
    # ephemeral message: "ephemeral:CHANNEL:USER"); without it a note goes to their private chat.
    note_chat: str | None = None
    # A platform that answers a button press itself (Telegram's callback answer) sets a list here and
    # shows the notes the handler left in it once the press is handled.
    press_notes: list[str] | None = None
