"""补卡: missed-punch requests, checked against the deadline and the monthly limit and decided by the lead
(第三十四、三十五条); on approval the punch is recorded at the stated time and judged like any other."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import forms, roster_store
from bot import requests as engine
from bot.context import Context
from bot.forms import Field, Form
from bot.punch_store import existing_punch, grace_uses, record_punch
from bot.schema import requests
from handlers import requests as decisions
from handlers.common import calendar, cite, iso_day, parse_day, policy
from handlers.report import leave_half
from schedules.attendance import check_missed_punch, clock_in_verdict, clock_out_verdict, worked_window
from schedules.timeutil import local_instant, shift_window

if TYPE_CHECKING:
    from bot.core import Core

MISSED = "missed_punch"
# Requests that were refused, declined or withdrawn use up nothing of the monthly limit (第三十四条).
NOT_COUNTED = (engine.REJECTED, engine.DECLINED, engine.CANCELLED)


def missed_summary(app: Core, request: engine.Request, lang: str) -> str:
    p = request.payload
    kind = app.catalog.t(lang, f"missed.kind.{p['punch']}")
    return app.catalog.t(
        lang,
        "missed.summary",
        name=p["requester_name"],
        day=p["day"][5:],
        kind=kind,
        time=p["time"],
        reason=p["reason"],
    )


async def apply_missed(conn: AsyncConnection, app: Core, request: engine.Request, now: datetime) -> None:
    """On approval the punch is recorded at the stated time and judged like any other punch."""
    p = request.payload
    day = date.fromisoformat(p["day"])
    rules = policy(app)
    at = local_instant(
        day if p.get("time_day") is None else date.fromisoformat(p["time_day"]),
        time.fromisoformat(p["time"]),
        app.tz,
    )
    code = p["shift"]
    # with half of the shift on leave, the punch is judged against the half that is worked
    cell = await roster_store.entry(conn, request.requester_id, day)
    half = leave_half(cell.note if cell is not None else None)
    start, end = worked_window(*shift_window(day, rules.shift(code), app.tz), half)
    if await existing_punch(conn, request.requester_id, day, code, p["punch"]) is not None:
        return
    if p["punch"] == "clock_in":
        verdict = clock_in_verdict(start, at, await grace_uses(conn, request.requester_id, day), rules)
    else:
        verdict = clock_out_verdict(end, at, rules)
    await record_punch(
        conn,
        app,
        request.requester_id,
        p["punch"],
        at,
        day,
        code,
        verdict.kind.value,
        verdict,
        "missed_punch",
        request.decided_by or "system",
    )
    # the punch attests this shift: a later plan that drops it shows up as a conflict, not a silent change
    await roster_store.record_decision(
        conn,
        decision=MISSED,
        request_id=request.id,
        cells=[roster_store.set_shift(request.requester_id, day, code)],
        actor=request.decided_by or "system",
        now=now,
    )


async def missed_punch(ctx: Context) -> None:
    """`/missed 12-01 in 09:02 原因`: read the words, then :func:`file_missed`."""
    app = ctx.app
    words = ctx.args.split(maxsplit=3)
    today = ctx.now.astimezone(app.tz).date()
    kinds = {"in": "clock_in", "上班": "clock_in", "out": "clock_out", "下班": "clock_out"}
    day = parse_day(words[0], today) if words else None
    punch = kinds.get(words[1].lower()) if len(words) > 1 else None
    at = parse_clock(words[2]) if len(words) > 2 else None
    if not words and await forms.offer(ctx, missed_form(ctx)):
        return
    if day is None or punch is None or at is None or len(words) < 4:
        await ctx.reply(ctx.t("missed.usage"))
        return
    await file_missed(ctx, day, punch, at, words[3])


async def file_missed(ctx: Context, day: date, punch: str, at: time, reason: str) -> None:
    """Check the deadline and the monthly limit (schedules.attendance), then ask the lead."""
    app, rules = ctx.app, policy(ctx.app)
    today = ctx.now.astimezone(app.tz).date()
    if day > today:
        day = day.replace(year=day.year - 1) if (day - today).days > 180 else day
    async with app.db.transaction() as conn:
        entry = await roster_store.entry(conn, ctx.person.id, day)
        if entry is None or entry.shift_code is None:
            await ctx.send(ctx.answer(ctx.t("missed.no_shift", day=f"{day:%m-%d}")), conn=conn)
            return
        if await existing_punch(conn, ctx.person.id, day, entry.shift_code, punch) is not None:
            await ctx.send(ctx.answer(ctx.t("missed.exists", day=f"{day:%m-%d}")), conn=conn)
            return
        start, _ = shift_window(day, rules.shift(entry.shift_code), app.tz)
        time_day = (
            day + timedelta(days=1) if at < start.astimezone(app.tz).time() and punch == "clock_out" else day
        )
        month = day.strftime("%Y-%m")
        earlier = [
            (r.id, r.state, r.payload)
            for r in await conn.execute(
                sa.select(requests.c.id, requests.c.state, requests.c.payload).where(
                    requests.c.kind == MISSED,
                    requests.c.requester_id == ctx.person.id,
                    requests.c.state.not_in(NOT_COUNTED),
                )
            )
        ]
        same = next(
            (
                rid
                for rid, state, p in earlier
                if state in (engine.PENDING, engine.APPROVED)
                and p.get("day") == day.isoformat()
                and p.get("punch") == punch
            ),
            None,
        )
        verdict = check_missed_punch(
            day,
            today,
            sum(1 for _, _, p in earlier if str(p.get("day", "")).startswith(month)),
            rules,
            calendar(app),
            punch_at=local_instant(time_day, at, app.tz),
            now=ctx.now,
            already_requested=same is not None,
        )
        if not verdict.allowed:
            await app.audit_in(
                conn,
                actor=ctx.person.id,
                action="missed_punch.refused",
                object_id=ctx.person.id,
                after={"reason": verdict.reason},
            )
            await ctx.send(
                ctx.answer(
                    ctx.t(
                        f"missed.refused.{verdict.reason}",
                        deadline=f"{verdict.deadline:%m-%d}",
                        limit=rules.missed_punch.per_month,
                        article=cite(verdict.article, ctx.lang),
                        day=f"{day:%m-%d}",
                        time=at.strftime("%H:%M"),
                        kind=ctx.t(f"missed.kind.{punch}"),
                        request=same,
                    )
                ),
                conn=conn,
            )
            return
        payload = {
            "day": day.isoformat(),
            "punch": punch,
            "time": at.strftime("%H:%M"),
            "shift": entry.shift_code,
            "reason": reason[:300],
            "requester_name": ctx.person.name,
            "time_day": time_day.isoformat() if time_day != day else None,
        }
        deadline_at = local_instant(verdict.deadline + timedelta(days=1), time(0), app.tz)
        request = await decisions.submit_for_decision(
            conn, ctx, kind=MISSED, level="lead", payload=payload, expires_at=deadline_at + timedelta(days=2)
        )
        if request is None:
            return
        await ctx.send(
            ctx.answer(
                ctx.t(
                    "missed.sent", summary=decisions.summary(app, request, ctx.lang), left=verdict.uses_left
                )
            ),
            conn=conn,
        )
    await decisions.refresh_homes(app, ctx.person.id, request.decider_id)


def missed_form(ctx: Context) -> Form:
    """The one-screen 补卡 form (Slack modal); answered through :func:`submit_missed`."""
    return Form(
        "missed",
        ctx.t("form.missed.title"),
        ctx.t("form.submit"),
        (
            Field("day", ctx.t("form.missed.day"), "date"),
            Field(
                "punch",
                ctx.t("form.missed.punch"),
                "choice",
                choices=(("in", ctx.t("missed.kind.clock_in")), ("out", ctx.t("missed.kind.clock_out"))),
            ),
            Field("time", ctx.t("form.missed.time"), "text", hint="08:58"),
            Field("reason", ctx.t("form.missed.reason"), "text"),
        ),
    )


async def submit_missed(
    ctx: Context, values: dict[str, str], payload: dict[str, Any]
) -> dict[str, str] | None:
    """The form's answers, typed: a bad one is named on its own field and the rest are kept."""
    day = iso_day(values.get("day"))
    if day is None:
        return {"day": ctx.t("form.problem.date")}
    punch = "clock_out" if values.get("punch") == "out" else "clock_in"
    at = parse_clock(values.get("time", ""))
    if at is None:
        return {"time": ctx.t("form.problem.time")}
    await file_missed(ctx, day, punch, at, values.get("reason", "").strip() or "-")
    return None


def parse_clock(text: str) -> time | None:
    """09:02 or 9：02 as people type it."""
    hour, _, minute = text.strip().replace("：", ":").partition(":")
    try:
        return time(int(hour), int(minute))
    except ValueError:
        return None


def register(app: Core) -> None:
    decisions.register_kind(app, MISSED, decisions.KindSpec(missed_summary, apply_missed))
    forms.register(app, "missed", submit_missed)
    app.router.command(
        "missed", keywords=("补卡",), help_key="help.desc.missed", order=13, takes_args=True, personal=True
    )(missed_punch)
