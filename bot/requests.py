"""One request engine for every kind (swap, leave, missed punch, escalation, overtime).

Requests move through explicit states by compare-and-set (state and version checked in the UPDATE) inside
one transaction with their audit row, so two deciders pressing "approve" at once give one decision.
Every card sent about a request is remembered, so a decision edits every copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import audit, org
from bot.messages import Person
from bot.schema import people, request_cards, requests, roster_entries, teams
from schedules import requests as rules

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
    # REJECTED: by the rule at the colleague's press, when the roster changed since it was asked.
    AWAITING_COLLEAGUE: frozenset({PENDING, DECLINED, REJECTED, CANCELLED, EXPIRED}),
    PENDING: frozenset({PENDING, APPROVED, REJECTED, CANCELLED, EXPIRED}),
    APPROVED: frozenset({CANCELLED}),  # an approved cancellation of it, before it starts
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
    """Requests waiting for this person: they are the decider, or above the decider in the requester's
    chain (so they may decide too), oldest first."""
    query = sa.select(requests).where(requests.c.state.in_([PENDING, OPEN]))
    rows = await conn.execute(query.order_by(requests.c.created_at, requests.c.id))
    found = [_from_row(r) for r in rows]
    return [r for r in found if r.decider_id == person.id or person.id in (r.payload.get("above") or ())]


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
async def load_chart(conn: AsyncConnection) -> rules.Chart:
    """The org chart as the pure rules read it: active people, each team's lead and supervisor, and the
    approver of last resort (the org file's key, else the admin with the lowest id)."""
    rows = await conn.execute(sa.select(people).where(people.c.active).order_by(people.c.id))
    members = {r.id: rules.Member(r.id, r.name, r.role, r.team, r.joined_on) for r in rows}
    team_rows = (await conn.execute(sa.select(teams))).all()
    last_resort = await org.last_resort_setting(conn)
    if last_resort not in members:
        last_resort = next((m.id for m in members.values() if m.role == "admin"), None)
    return rules.Chart(
        members,
        {t.id: t.lead_id for t in team_rows},
        {t.id: t.supervisor_id for t in team_rows},
        last_resort,
    )


async def away_today(conn: AsyncConnection, person_ids: list[str], today: date) -> dict[str, str]:
    """Who of these people is away today: "leave" (approved leave covers today) or "off" (rostered to
    rest today). Someone without a roster entry today (a manager, say) is taken to be there."""
    if not person_ids:
        return {}
    away: dict[str, str] = {}
    cells = await conn.execute(
        sa.select(roster_entries.c.person_id, roster_entries.c.shift_code).where(
            roster_entries.c.day == today, roster_entries.c.person_id.in_(person_ids)
        )
    )
    for person_id, code in cells:
        if code is None:
            away[person_id] = "off"
    leaves = await conn.execute(
        sa.select(requests.c.requester_id, requests.c.payload).where(
            requests.c.kind == "leave",
            requests.c.state == APPROVED,
            requests.c.requester_id.in_(person_ids),
        )
    )
    for person_id, payload in leaves:
        if payload and payload.get("start", "9999") <= today.isoformat() <= payload.get("end", ""):
            away[person_id] = "leave"
    return away


async def decider_for(
    conn: AsyncConnection, requester_id: str, needed: str, today: date, colleague: str | None = None
) -> rules.Decider:
    """Gather the chart and who is away, then ask the rule; raises ``rules.Refusal`` when nobody can."""
    chart = await load_chart(conn)
    ids = [pid for _, pid in rules.decider_chain(requester_id, chart)]
    away = await away_today(conn, ids, today)
    return rules.pick_decider(requester_id, needed, chart, colleague=colleague, away=away)  # type: ignore[arg-type]


def may_decide(presser: Person, request: Request) -> bool:
    """The decider or someone above them in the requester's chain; never the requester or colleague."""
    above = request.payload.get("above") or ()
    return rules.may_decide(presser.id, request.requester_id, request.subject_id, request.decider_id, above)


async def push_reminder(conn: AsyncConnection, request: Request, at: datetime | None) -> None:
    """Move the next reminder; only if nobody changed the request meanwhile."""
    await conn.execute(
        requests.update()
        .where(requests.c.id == request.id, requests.c.version == request.version)
        .values(next_reminder_at=at)
    )
