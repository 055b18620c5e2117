"""One request engine for every kind (swap, leave, missed punch, escalation, overtime).

Requests move through explicit states by compare-and-set (state and version checked in the UPDATE) inside
one transaction with their audit row, so two deciders pressing "approve" at once give one decision.
Every card sent about a request is remembered, so a decision edits every copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import audit, org
from bot.messages import Person
from bot.schema import request_cards, requests, teams

# States shared by every kind; a kind uses the subset it needs.
AWAITING_COLLEAGUE = "awaiting_colleague"
PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
DECLINED = "declined"
CANCELLED = "cancelled"
EXPIRED = "expired"
OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"

FINAL_STATES = frozenset({APPROVED, REJECTED, DECLINED, CANCELLED, EXPIRED, RESOLVED})
LIVE_STATES = frozenset({AWAITING_COLLEAGUE, PENDING, OPEN, ACKNOWLEDGED})
LEVELS = ("lead", "supervisor", "manager")

TRANSITIONS: dict[str, frozenset[str]] = {
    AWAITING_COLLEAGUE: frozenset({PENDING, DECLINED, CANCELLED, EXPIRED}),
    PENDING: frozenset({PENDING, APPROVED, REJECTED, CANCELLED, EXPIRED}),
    OPEN: frozenset({OPEN, ACKNOWLEDGED, RESOLVED, CANCELLED}),
    ACKNOWLEDGED: frozenset({ACKNOWLEDGED, OPEN, RESOLVED}),
}


class InvalidTransition(Exception):
    pass


@dataclass(frozen=True)
class Request:
    id: int
    kind: str
    state: str
    requester_id: str
    subject_id: str | None
    team: str | None
    decider_level: str | None
    decider_id: str | None
    payload: dict[str, Any]
    due_at: datetime | None
    expires_at: datetime | None
    next_reminder_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def _from_row(row: Any) -> Request:
    m = dict(row._mapping)
    m["payload"] = dict(m["payload"] or {})
    return Request(**m)


def _snapshot(request: Request) -> dict[str, Any]:
    return {
        "state": request.state,
        "decider_level": request.decider_level,
        "decider_id": request.decider_id,
        "decided_by": request.decided_by,
        "reason": request.reason,
    }


async def create(
    conn: AsyncConnection,
    *,
    kind: str,
    state: str,
    requester_id: str,
    now: datetime,
    payload: dict[str, Any],
    subject_id: str | None = None,
    team: str | None = None,
    decider_level: str | None = None,
    decider_id: str | None = None,
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
    next_reminder_at: datetime | None = None,
) -> Request:
    values = {
        "kind": kind,
        "state": state,
        "requester_id": requester_id,
        "subject_id": subject_id,
        "team": team,
        "decider_level": decider_level,
        "decider_id": decider_id,
        "payload": payload,
        "due_at": due_at,
        "expires_at": expires_at,
        "next_reminder_at": next_reminder_at,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    result = await conn.execute(requests.insert().values(values).returning(requests.c.id))
    request_id = int(result.scalar_one())
    created = await get(conn, request_id)
    assert created is not None
    await audit.record(
        conn,
        at=now,
        actor=requester_id,
        action=f"{kind}.created",
        object_type="request",
        object_id=str(request_id),
        after={**_snapshot(created), "payload": payload},
    )
    return created


async def get(conn: AsyncConnection, request_id: int) -> Request | None:
    row = (await conn.execute(sa.select(requests).where(requests.c.id == request_id))).first()
    return _from_row(row) if row else None


async def transition(
    conn: AsyncConnection,
    request: Request,
    to_state: str,
    *,
    actor: str,
    now: datetime,
    action: str | None = None,
    **changes: Any,
) -> Request | None:
    """Move `request` to `to_state` if nobody else changed it meanwhile; None when we lost the race."""
    if to_state not in TRANSITIONS.get(request.state, frozenset()):
        raise InvalidTransition(f"{request.kind} #{request.id}: {request.state} → {to_state}")
    values: dict[str, Any] = {"state": to_state, "version": request.version + 1, "updated_at": now, **changes}
    if to_state in FINAL_STATES:
        values.setdefault("decided_by", actor)
        values.setdefault("decided_at", now)
        values.setdefault("next_reminder_at", None)
    result = await conn.execute(
        requests.update()
        .where(
            requests.c.id == request.id,
            requests.c.state == request.state,
            requests.c.version == request.version,
        )
        .values(values)
    )
    if result.rowcount != 1:
        return None
    after = replace(request, **{k: v for k, v in values.items() if k in Request.__dataclass_fields__})
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action=action or f"{request.kind}.{to_state}",
        object_type="request",
        object_id=str(request.id),
        before=_snapshot(request),
        after=_snapshot(after),
    )
    return after


async def add_card(conn: AsyncConnection, request_id: int, message_id: str, recipient: str) -> None:
    await conn.execute(
        request_cards.insert().values(request_id=request_id, message_id=message_id, recipient=recipient)
    )


async def take_open_cards(conn: AsyncConnection, request_id: int) -> list[tuple[str, str]]:
    """The (message id, recipient) of each card still showing buttons; marks them closed."""
    rows = (
        await conn.execute(
            sa.select(request_cards.c.message_id, request_cards.c.recipient).where(
                request_cards.c.request_id == request_id, request_cards.c.open
            )
        )
    ).all()
    await conn.execute(
        request_cards.update().where(request_cards.c.request_id == request_id).values(open=False)
    )
    return [(r.message_id, r.recipient) for r in rows]


async def list_for_decider(conn: AsyncConnection, person: Person) -> list[Request]:
    """Requests waiting for this person, or for their level in their scope, oldest first."""
    query = sa.select(requests).where(requests.c.state.in_([PENDING, OPEN]))
    rank = org.rank(person.role)
    if rank >= org.rank("manager"):
        pass  # managers and admins see everything that waits
    else:
        query = query.where(requests.c.decider_id == person.id)
    rows = await conn.execute(query.order_by(requests.c.created_at, requests.c.id))
    return [_from_row(r) for r in rows]


async def list_for_requester(conn: AsyncConnection, person_id: str, limit: int = 20) -> list[Request]:
    rows = await conn.execute(
        sa.select(requests)
        .where(sa.or_(requests.c.requester_id == person_id, requests.c.subject_id == person_id))
        .order_by(requests.c.created_at.desc(), requests.c.id.desc())
        .limit(limit)
    )
    return [_from_row(r) for r in rows]


async def live_of_kind(conn: AsyncConnection, kinds: tuple[str, ...]) -> list[Request]:
    rows = await conn.execute(
        sa.select(requests).where(requests.c.kind.in_(kinds), requests.c.state.in_(list(LIVE_STATES)))
    )
    return [_from_row(r) for r in rows]


async def due_for_reminder(conn: AsyncConnection, now: datetime) -> list[Request]:
    rows = await conn.execute(
        sa.select(requests).where(
            requests.c.state.in_(list(LIVE_STATES)),
            requests.c.next_reminder_at.is_not(None),
            requests.c.next_reminder_at <= now,
        )
    )
    return [_from_row(r) for r in rows]


async def due_for_expiry(conn: AsyncConnection, now: datetime) -> list[Request]:
    rows = await conn.execute(
        sa.select(requests).where(
            requests.c.state.in_(list(LIVE_STATES)),
            requests.c.expires_at.is_not(None),
            requests.c.expires_at <= now,
        )
    )
    return [_from_row(r) for r in rows]


# ----- who decides ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decider:
    level: str
    person_id: str


@dataclass
class Chain:
    """The people of each level for one team, resolved once."""

    lead: str | None = None
    supervisor: str | None = None
    manager: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def at(self, level: str) -> str | None:
        return {"lead": self.lead, "supervisor": self.supervisor, "manager": self.manager}.get(level)


async def chain_for(conn: AsyncConnection, team_id: str | None) -> Chain:
    from bot.schema import people

    chain = Chain()
    if team_id:
        row = (await conn.execute(sa.select(teams).where(teams.c.id == team_id))).first()
        if row is not None:
            chain.lead = row.lead_id
            chain.supervisor = row.supervisor_id
    active = people.c.active
    if chain.supervisor is None:
        chain.supervisor = (
            await conn.execute(
                sa.select(people.c.id)
                .where(people.c.role == "supervisor", active)
                .order_by(people.c.id)
                .limit(1)
            )
        ).scalar()
    chain.manager = (
        await conn.execute(
            sa.select(people.c.id).where(people.c.role == "manager", active).order_by(people.c.id).limit(1)
        )
    ).scalar()
    return chain


async def find_decider(
    conn: AsyncConnection, team_id: str | None, level: str, exclude: set[str]
) -> Decider | None:
    """The person deciding at `level` for a team, moving up when that person is excluded (their own
    request) or missing."""
    chain = await chain_for(conn, team_id)
    for candidate_level in LEVELS[LEVELS.index(level) :]:
        person_id = chain.at(candidate_level)
        if person_id and person_id not in exclude:
            return Decider(candidate_level, person_id)
    return None


def may_decide(presser: Person, request: Request) -> bool:
    """The designated decider, or anyone above their level; never the requester or the colleague."""
    if presser.id in (request.requester_id, request.subject_id):
        return False
    if presser.id == request.decider_id:
        return True
    level = request.decider_level or "lead"
    return org.rank(presser.role) > org.rank(level)


async def push_reminder(conn: AsyncConnection, request: Request, at: datetime | None) -> None:
    """Move the next reminder; only if nobody changed the request meanwhile."""
    await conn.execute(
        requests.update()
        .where(requests.c.id == request.id, requests.c.version == request.version)
        .values(next_reminder_at=at)
    )
