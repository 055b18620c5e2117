"""The identity store: which person a platform account belongs to, and the one-time link codes.

Every platform (Telegram, Slack, Feishu, DingTalk) resolves its senders here and finds here where to
send a person's private messages. The org file writes accounts (source "org"); a person can also link
their own account with `/link CODE` after an admin ran `deskmate org invite PERSON` (source "link"),
which matters where an id differs per app (Feishu's open_id) and nobody can copy it into the org file.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import audit
from bot.schema import identities, link_codes, people

PLATFORMS = ("telegram", "slack", "feishu", "dingtalk")
# Where `/link CODE` is accepted: every platform, and the console, whose unregistered senders are told the
# same line (a console name not in the org becomes that person's console name).
LINKABLE = (*PLATFORMS, "console")
# What each platform's account id looks like in the org file (a typo is refused before it is stored).
ACCOUNT_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "telegram": (re.compile(r"^[1-9][0-9]{3,15}$"), "digits only"),
    "slack": (re.compile(r"^[UW][A-Z0-9]{6,20}$"), "like U012AB3CD"),
    "feishu": (
        re.compile(r"^ou_[0-9A-Za-z]{8,60}$"),
        "the open_id, like ou_7d8a6e6df7621556ce0d21922b676706",
    ),
    "dingtalk": (re.compile(r"^[0-9A-Za-z_$-]{1,64}$"), "the userId, like manager4220"),
}
CODE_LIFETIME = timedelta(hours=24)
# No 0/O, 1/I/L: a code read aloud or copied by hand is still right.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
LINK_COMMAND = re.compile(r"^[/／]link(?:@\S+)?(?:\s+(.*))?$", re.I | re.S)

LinkStatus = Literal["linked", "already", "used", "expired", "unknown", "taken", "gone"]


@dataclass(frozen=True)
class LinkResult:
    status: LinkStatus
    person_id: str | None = None


def account_problem(platform: str, value: str) -> str | None:
    """Why `value` cannot be an account id on `platform` (None when it can)."""
    pattern, hint = ACCOUNT_FORMATS[platform]
    if pattern.match(value):
        return None
    return f"malformed {platform} user id {value!r} ({hint})"


async def accounts_of(conn: AsyncConnection, person_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each person's accounts, platform → external id, in one query."""
    ids = list(person_ids)
    found: dict[str, dict[str, str]] = {pid: {} for pid in ids}
    if not ids:
        return found
    rows = await conn.execute(
        sa.select(identities.c.person_id, identities.c.platform, identities.c.external_id).where(
            identities.c.person_id.in_(ids)
        )
    )
    for person_id, platform, external_id in rows:
        found.setdefault(person_id, {})[platform] = external_id
    return found


async def all_accounts(conn: AsyncConnection) -> dict[str, dict[str, str]]:
    """Everyone's accounts (the org import compares a whole file against them)."""
    found: dict[str, dict[str, str]] = {}
    rows = await conn.execute(
        sa.select(identities.c.person_id, identities.c.platform, identities.c.external_id)
    )
    for person_id, platform, external_id in rows:
        found.setdefault(person_id, {})[platform] = external_id
    return found


async def person_for(conn: AsyncConnection, platform: str, external_id: str) -> str | None:
    """The person id an account belongs to, whether or not they still work here."""
    return (
        await conn.execute(
            sa.select(identities.c.person_id).where(
                identities.c.platform == platform, identities.c.external_id == external_id
            )
        )
    ).scalar()


async def set_account(
    conn: AsyncConnection,
    person_id: str,
    platform: str,
    external_id: str | None,
    *,
    now: datetime,
    source: str,
) -> None:
    """Give `person_id` this account on `platform` (None: none), taking it from whoever held it."""
    await conn.execute(
        identities.delete().where(identities.c.person_id == person_id, identities.c.platform == platform)
    )
    if external_id is None:
        return
    await conn.execute(
        identities.delete().where(identities.c.platform == platform, identities.c.external_id == external_id)
    )
    await conn.execute(
        identities.insert().values(
            platform=platform, external_id=external_id, person_id=person_id, source=source, linked_at=now
        )
    )


async def forget(conn: AsyncConnection, person_id: str) -> None:
    """Remove every account and open code of a person (their data is being erased)."""
    await conn.execute(identities.delete().where(identities.c.person_id == person_id))
    await conn.execute(link_codes.delete().where(link_codes.c.person_id == person_id))


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalise_code(text: str) -> str:
    """What a person typed, as the code: case, spaces and dashes do not matter."""
    return re.sub(r"[\s\-－—_]", "", text).upper()


def show_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


async def new_code(conn: AsyncConnection, person_id: str, *, now: datetime, actor: str) -> str:
    """A fresh one-time code for `person_id`, valid CODE_LIFETIME; only its hash is stored (audited)."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = now + CODE_LIFETIME
    await conn.execute(
        link_codes.insert().values(
            code_hash=_hash(code), person_id=person_id, created_at=now, expires_at=expires
        )
    )
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="identity.invited",
        object_type="person",
        object_id=person_id,
        after={"expires_at": expires.isoformat()},
    )
    return code


async def redeem(
    conn: AsyncConnection, code: str, platform: str, external_id: str, *, now: datetime
) -> LinkResult:
    """Link the sender's account with the code's person, once, in the caller's transaction (audited
    whatever the outcome)."""
    sender = f"{platform}:{external_id}"
    row = (
        await conn.execute(sa.select(link_codes).where(link_codes.c.code_hash == _hash(normalise_code(code))))
    ).first()
    result: LinkResult
    holder = await person_for(conn, platform, external_id)
    if row is None:
        result = LinkResult("unknown")
    elif row.used_at is not None:
        result = LinkResult("already" if holder == row.person_id else "used", row.person_id)
    elif row.expires_at <= now:
        result = LinkResult("expired", row.person_id)
    elif holder is not None and holder != row.person_id:
        result = LinkResult("taken", holder)
    else:
        active = (await conn.execute(sa.select(people.c.active).where(people.c.id == row.person_id))).scalar()
        if not active:
            result = LinkResult("gone", row.person_id)
        else:
            claimed = await conn.execute(
                link_codes.update()
                .where(link_codes.c.code_hash == row.code_hash, link_codes.c.used_at.is_(None))
                .values(used_at=now, used_by=sender[:96])
            )
            if claimed.rowcount != 1:  # someone else used it a moment ago
                result = LinkResult("used", row.person_id)
            else:
                before = (await accounts_of(conn, [row.person_id]))[row.person_id].get(platform)
                await set_account(conn, row.person_id, platform, external_id, now=now, source="link")
                await audit.record(
                    conn,
                    at=now,
                    actor=sender,
                    action="identity.linked",
                    object_type="person",
                    object_id=row.person_id,
                    before={"platform": platform, "account": before},
                    after={"platform": platform, "account": external_id},
                )
                return LinkResult("linked", row.person_id)
    await audit.record(
        conn,
        at=now,
        actor=sender,
        action="identity.link_refused",
        object_type="person" if result.person_id else "link_code",
        object_id=result.person_id or "-",
        after={"reason": result.status},
    )
    return result
