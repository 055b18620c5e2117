"""加班申请: overtime beyond staying late must be approved in advance by the supervisor, within the
monthly cap (第二十五条). Staying late itself is counted from the clock-out punch (第二十三、二十四条)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import requests as engine
from bot.context import Context
from bot.punch_store import NO_SHIFT, existing_punch
from bot.schema import requests
from handlers import requests as decisions
from handlers.common import cite, parse_day, policy
from schedules.attendance import rest_day_overtime_minutes
from schedules.timeutil import local_instant

if TYPE_CHECKING:
    from bot.core import Core

KIND = "overtime"


def overtime_summary(app: Core, request: engine.Request, lang: str) -> str:
    p = request.payload
    if p.get("rest_day_punch"):
        return app.catalog.t(
            lang,
            "overtime.summary_rest_day",
            name=p["requester_name"],
            day=p["day"][5:],
            time=p["rest_day_punch"],
        )
    return app.catalog.t(
        lang,
        "overtime.summary",
        name=p["requester_name"],
        day=p["day"][5:],
        hours=p["hours"],
        reason=p["reason"],
    )


async def hours_this_month(app: Core, person_id: str, day: str) -> float:
    async with app.db.read() as conn:
        rows = await conn.execute(
            sa.select(requests.c.payload).where(
                requests.c.kind == KIND,
                requests.c.requester_id == person_id,
                requests.c.state.in_([engine.PENDING, engine.APPROVED]),
            )
        )
        return sum(float(p["hours"]) for (p,) in rows if str(p["day"])[:7] == day[:7])


async def overtime_on(conn: AsyncConnection, person_id: str, day: date) -> engine.Request | None:
    """The person's latest overtime request for ``day`` that is approved or still pending, if any."""
    rows = await conn.execute(
        sa.select(requests.c.id, requests.c.payload)
        .where(
            requests.c.kind == KIND,
            requests.c.requester_id == person_id,
            requests.c.state.in_([engine.PENDING, engine.APPROVED]),
        )
        .order_by(requests.c.id.desc())
    )
    found = next((r.id for r in rows if str(r.payload.get("day")) == day.isoformat()), None)
    return await engine.get(conn, found) if found is not None else None


async def request_rest_day_overtime(
    conn: AsyncConnection, ctx: Context, day: date, punched: str
) -> engine.Request | None:
    """A clock-in on a rest day without an overtime request becomes one (第二十五条: overtime is approved by
    the supervisor), decided like ``/overtime``: the hours are those between the two punches. It does not
    expire at the day's end like an advance request: the supervisor decides it afterwards. None when nobody
    can decide (the person has been told)."""
    return await decisions.submit_for_decision(
        conn,
        ctx,
        kind=KIND,
        level="supervisor",
        payload={
            "day": day.isoformat(),
            "hours": 0,
            "rest_day_punch": punched,
            "reason": "",
            "requester_name": ctx.person.name,
        },
        expires_at=None,  # decided after the fact: it waits for the supervisor, who is reminded
    )


async def record_rest_day_hours(
    conn: AsyncConnection, app: Core, request: engine.Request, now: datetime
) -> float | None:
    """Once a rest-day overtime request is approved and the day has its clock-out, store the hours worked
    on it (``schedules.attendance.rest_day_overtime_minutes``, 第二十五条) in the request, so the month's
    overtime total (the 36-hour cap) counts them; audited. Called on approval and on the clock-out,
    whichever comes second. None while either is missing, or for an overtime requested in advance."""
    p = request.payload
    if request.state != engine.APPROVED or not p.get("rest_day_punch"):
        return None
    day = date.fromisoformat(str(p["day"]))
    began = await existing_punch(conn, request.requester_id, day, NO_SHIFT, "clock_in")
    ended = await existing_punch(conn, request.requester_id, day, NO_SHIFT, "clock_out")
    if began is None or ended is None:
        return None
    minutes = rest_day_overtime_minutes(began, ended, None, policy(app))
    hours = round(minutes / 60, 2)
    await conn.execute(
        requests.update()
        .where(requests.c.id == request.id)
        .values(payload={**p, "hours": hours}, version=requests.c.version + 1, updated_at=now)
    )
    await app.audit_in(
        conn,
        actor="system",
        action="overtime.hours_recorded",
        object_id=str(request.id),
        before={"hours": p.get("hours")},
        after={"hours": hours, "minutes": minutes, "from": began.isoformat(), "to": ended.isoformat()},
    )
    return hours


async def on_approved(conn: AsyncConnection, app: Core, request: engine.Request, now: datetime) -> None:
    """Approving a rest-day overtime whose day already has its clock-out records its hours at once, and
    the person is told how many (at a later clock-out, the reply says it)."""
    hours = await record_rest_day_hours(conn, app, request, now)
    if hours is None:
        return
    article = policy(app).overtime.article_cap
    await decisions.tell(
        conn,
        app,
        request.requester_id,
        "overtime.hours_recorded",
        id=request.id,
        day=str(request.payload["day"])[5:],
        hours=f"{hours:g}",
        article=lambda lang: cite(article, lang),
    )


async def request_overtime(ctx: Context) -> None:
    """`/overtime 12-06 3 大促值守`."""
    app, rules = ctx.app, policy(ctx.app).overtime
    words = ctx.args.split(maxsplit=2)
    today = ctx.now.astimezone(app.tz).date()
    day = parse_day(words[0], today) if words else None
    try:
        hours = float(words[1]) if len(words) > 1 else 0.0
    except ValueError:
        hours = 0.0
    if day is None or not 0 < hours <= 12 or len(words) < 3:
        await ctx.reply(ctx.t("overtime.usage"))
        return
    used = await hours_this_month(app, ctx.person.id, day.isoformat())
    if used + hours > rules.monthly_cap_hours:
        await ctx.reply(
            ctx.t(
                "overtime.refused.cap",
                cap=rules.monthly_cap_hours,
                used=f"{used:g}",
                article=cite(rules.article_cap, ctx.lang),
            )
        )
        return
    async with app.db.transaction() as conn:
        request = await decisions.submit_for_decision(
            conn,
            ctx,
            kind=KIND,
            level="supervisor",
            payload={
                "day": day.isoformat(),
                "hours": hours,
                "reason": words[2][:300],
                "requester_name": ctx.person.name,
            },
            expires_at=local_instant(day + timedelta(days=1), time(0), app.tz),
        )
        if request is None:
            return
        await ctx.send(
            ctx.answer(
                ctx.t(
                    "overtime.sent",
                    summary=decisions.summary(app, request, ctx.lang),
                    article=cite(rules.article_cap, ctx.lang),
                )
            ),
            conn=conn,
        )
    await decisions.refresh_homes(app, ctx.person.id, request.decider_id)


def register(app: Core) -> None:
    decisions.register_kind(app, KIND, decisions.KindSpec(overtime_summary, on_approved=on_approved))
    app.router.command(
        "overtime",
        keywords=("加班申请",),
        help_key="help.desc.overtime",
        order=34,
        takes_args=True,
        personal=True,
    )(request_overtime)
