"""考勤报表: gather each rostered day's facts from the stores, judge them with ``schedules.attendance``,
and write the sums (and the per-shift detail they come from) as CSV, XLSX or a chart."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import requests as engine
from bot import roster_store
from bot.punch_store import NO_SHIFT, corrections_between
from bot.schema import closed_months, closed_shifts, people, punches, requests
from handlers.common import policy
from schedules.attendance import ShiftFacts, ShiftVerdict, ShiftVerdictKind, judge_shifts
from schedules.closing import closes_at, freeze, month_of, thaw
from schedules.report import detail_rows, summarise, write_csv, write_detail_csv, write_png, write_xlsx

if TYPE_CHECKING:
    from bot.core import Core

Format = Literal["csv", "xlsx", "png"]
LEAVE_PREFIX = "leave:"
MISSED = "missed_punch"
OVERTIME = "overtime"


def leave_type(note: str | None) -> str | None:
    """The leave type of a roster note written on approval (``leave:<type>``), else None."""
    if note is None or not note.startswith(LEAVE_PREFIX):
        return None
    return note[len(LEAVE_PREFIX) :].split("#", 1)[0] or None


def leave_half(note: str | None) -> str | None:
    """ "am" or "pm" for a half-day leave's note (``leave:<type>#am``), else None."""
    if leave_type(note) is None or note is None:
        return None
    half = note.rsplit("#", 1)[-1]
    return half if half in ("am", "pm") else None


def overtime_cap(payload: Mapping[str, Any]) -> int | None:
    """The minutes an approved overtime request allows: None for a rest-day punch the supervisor approved
    as worked (its punches say how long), else the hours approved in advance (``/overtime``)."""
    return None if payload.get("rest_day_punch") else round(float(payload["hours"]) * 60)


async def shift_facts(
    conn: AsyncConnection, first: date, last: date, person_ids: Iterable[str] | None = None
) -> list[ShiftFacts]:
    """The facts of every roster day in [first, last] (rest days too): punches, leave, the requests that
    changed them. One query per table, whatever the period."""
    ids = None if person_ids is None else list(person_ids)
    stored = await roster_store.between(conn, first, last, ids)
    query = sa.select(punches).where(punches.c.shift_day >= first, punches.c.shift_day <= last)
    if ids is not None:
        query = query.where(punches.c.person_id.in_(ids))
    punched: dict[tuple[str, date, str, str], datetime] = {}
    for r in await conn.execute(query):
        punched[(r.person_id, r.shift_day, r.shift_code, r.kind)] = r.at
    approved = (
        sa.select(requests.c.id, requests.c.kind, requests.c.requester_id, requests.c.payload)
        .where(requests.c.state == engine.APPROVED, requests.c.kind.in_([MISSED, "leave", OVERTIME]))
        .order_by(requests.c.id)
    )  # the latest approved overtime of a day is the one that counts
    if ids is not None:
        approved = approved.where(requests.c.requester_id.in_(ids))
    by_missed: dict[tuple[str, date, str], str] = {}
    leaves: list[tuple[str, date, date, str]] = []
    overtime: dict[tuple[str, date], tuple[str, int | None]] = {}
    for r in await conn.execute(approved):
        p = r.payload
        try:
            if r.kind == OVERTIME:
                day = date.fromisoformat(p["day"])
                overtime[(r.requester_id, day)] = (f"{OVERTIME}#{r.id}", overtime_cap(p))
            elif r.kind == MISSED:
                by_missed[(r.requester_id, date.fromisoformat(p["day"]), p["punch"])] = f"{MISSED}#{r.id}"
            else:
                leaves.append(
                    (
                        r.requester_id,
                        date.fromisoformat(p["start"]),
                        date.fromisoformat(p["end"]),
                        f"leave#{r.id}",
                    )
                )
        except (KeyError, TypeError, ValueError):
            continue  # a payload from an older version without these fields: nothing to trace
    corrected = await corrections_between(conn, first, last, ids)
    facts = []
    for e in stored:
        leave = leave_type(e.note)
        request = None
        if leave is not None:
            request = next((rid for pid, a, b, rid in leaves if pid == e.person_id and a <= e.day <= b), None)
        elif e.note and "#" in e.note:
            request = e.note  # a swap or give-away: "swap#12"
        if e.shift_code is None:
            approved_overtime, cap = overtime.get((e.person_id, e.day), (None, None))
            facts.append(
                ShiftFacts(
                    e.person_id,
                    e.day,
                    None,
                    request=request,
                    rest_day_punch=punched.get((e.person_id, e.day, NO_SHIFT, "clock_in")),
                    rest_day_clock_out=punched.get((e.person_id, e.day, NO_SHIFT, "clock_out")),
                    overtime_request=approved_overtime,
                    overtime_cap_minutes=cap,
                )
            )
            continue
        key = (e.person_id, e.day, e.shift_code)
        clock_in, clock_out = punched.get((*key, "clock_in")), punched.get((*key, "clock_out"))
        facts.append(
            ShiftFacts(
                e.person_id,
                e.day,
                e.shift_code,
                clock_in=clock_in,
                clock_out=clock_out,
                leave=leave,
                leave_half=leave_half(e.note),
                request=request,
                clock_in_by_request=by_missed.get((e.person_id, e.day, "clock_in")) if clock_in else None,
                clock_out_by_request=by_missed.get((e.person_id, e.day, "clock_out")) if clock_out else None,
                correction=corrected.get((e.person_id, e.day)),
            )
        )
    return facts


def month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


async def judged_between(
    conn: AsyncConnection, app: Core, first: date, last: date, ids: list[str] | None, now: datetime
) -> list[ShiftVerdict]:
    """Every shift verdict of [first, last] (``first`` a month's first day), in (person, day) order: a
    closed month's frozen verdicts with the corrections on top, an open month's judged now."""
    rules = policy(app)
    closed = set(
        (
            await conn.execute(
                sa.select(closed_months.c.month).where(
                    closed_months.c.month >= first, closed_months.c.month <= last
                )
            )
        )
        .scalars()
        .all()
    )
    facts = await shift_facts(conn, first, last, ids)
    verdicts = judge_shifts([f for f in facts if month_of(f.day) not in closed], now, rules, app.tz)
    if closed:
        query = sa.select(closed_shifts).where(
            closed_shifts.c.month.in_(sorted(closed)), closed_shifts.c.shift_day <= last
        )
        if ids is not None:
            query = query.where(closed_shifts.c.person_id.in_(ids))
        corrected = await corrections_between(conn, min(closed), last, ids)
        for r in await conn.execute(query):
            verdicts.append(thaw(r.verdict, corrected.get((r.person_id, r.shift_day)), rules))
    return sorted(verdicts, key=lambda v: (v.facts.person_id, v.facts.day))


async def close_month(conn: AsyncConnection, app: Core, month: date, by: str, now: datetime) -> int | None:
    """Freeze a finished month's verdicts (in the caller's transaction, audited): the number of shifts
    frozen, or None when the month is already closed or not over yet."""
    month = month_of(month)
    last = month_end(month)
    if now.astimezone(app.tz).date() <= last:
        return None
    seen = await conn.execute(sa.select(closed_months.c.month).where(closed_months.c.month == month))
    if seen.first() is not None:
        return None
    facts = await shift_facts(conn, month, last)
    # frozen without corrections: those are applied on top, before and after closing alike
    verdicts = judge_shifts([replace(f, correction=None) for f in facts], now, policy(app), app.tz)
    await conn.execute(closed_months.insert().values(month=month, closed_at=now, closed_by=by))
    if verdicts:
        await conn.execute(
            closed_shifts.insert(),
            [
                {
                    "month": month,
                    "person_id": v.facts.person_id,
                    "shift_day": v.facts.day,
                    "verdict": freeze(v),
                }
                for v in verdicts
            ],
        )
    await app.audit_in(
        conn,
        actor=by,
        action="attendance.month_closed",
        object_type="month",
        object_id=f"{month:%Y-%m}",
        after={
            "shifts": len(verdicts),
            "in_progress": sum(1 for v in verdicts if v.kind is ShiftVerdictKind.IN_PROGRESS),
        },
    )
    return len(verdicts)


async def close_due_months(app: Core, t0: datetime, t1: datetime) -> None:
    """Scheduled: last month closes by itself at 00:00 on ``attendance.close_on_day`` (第三十七条)."""
    today = t1.astimezone(app.tz).date()
    last_month = month_of(month_of(today) - timedelta(days=1))
    if t1 < closes_at(last_month, policy(app), app.tz):
        return
    async with app.db.transaction() as conn:
        await close_month(conn, app, last_month, "system", t1)


async def period_verdicts(
    app: Core, first: date, last: date, team: str | None
) -> tuple[list[ShiftVerdict], dict[str, str], dict[str, str]]:
    """Verdicts of the shifts in [first, last] for the team (or everyone rostered), with teams and names.

    The month of ``first`` is judged from its first day, so grace uses before the period count.
    """
    async with app.db.read() as conn:
        everyone = (
            await conn.execute(sa.select(people.c.id, people.c.name, people.c.team, people.c.role))
        ).all()
        in_scope = [p.id for p in everyone if team is None or p.team == team]
        verdicts = await judged_between(conn, app, first.replace(day=1), last, in_scope, app.clock.now())
    rostered = {v.facts.person_id for v in verdicts}
    team_of = {p.id: p.team or "" for p in everyone if p.id in rostered or p.role in ("agent", "lead")}
    if team is not None:
        team_of = {k: v for k, v in team_of.items() if v == team}
    names = {p.id: p.name for p in everyone}
    return [v for v in verdicts if first <= v.facts.day <= last], team_of, names


async def attendance_report(
    app: Core, first: date, last: date, team: str | None, fmt: Format, lang: str, *, detail: bool = False
) -> bytes:
    """The report: CSV summary (or per-shift detail with ``detail``), XLSX with both sheets, or PNG."""
    verdicts, team_of, names = await period_verdicts(app, first, last, team)
    rules = policy(app)
    rows = summarise(verdicts, (first, last), rules, team_of=team_of, names=names, people=list(team_of))
    short: Literal["zh", "en"] = "en" if lang == "en" else "zh"
    if fmt == "png":
        return await asyncio.to_thread(write_png, rows, None, lang=short)
    shown = [v for v in verdicts if v.facts.person_id in team_of]
    lines = detail_rows(shown, rules, lang=short, team_of=team_of, names=names)
    if fmt == "xlsx":
        buffer = io.BytesIO()
        await asyncio.to_thread(write_xlsx, rows, buffer, lang=short, detail=lines, detail_first=detail)
        return buffer.getvalue()
    text = io.StringIO()
    if detail:
        write_detail_csv(lines, text, lang=short)
    else:
        write_csv(rows, text, lang=short)
    return text.getvalue().encode("utf-8-sig")
