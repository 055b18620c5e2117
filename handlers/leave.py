"""请假: type, dates and reason; notice periods per type; decided by lead (≤1 day), supervisor (≤3)
or manager; the roster is marked on approval; late sick-leave notice accepted but flagged (第六章)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import forms, roster_store
from bot import requests as engine
from bot.context import Context
from bot.conversations import ConversationState
from bot.messages import Button, Person
from handlers import requests as decisions
from handlers.common import cite, parse_day, policy
from handlers.requests import Refusal
from schedules.policy import LeaveType
from schedules.timeutil import local_instant, shift_window

if TYPE_CHECKING:
    from bot.app import App

KIND = "leave"
MAX_DAYS = 180


def leave_name(leave_type: LeaveType, lang: str) -> str:
    return leave_type.name_en if lang == "en" else leave_type.name_zh


def find_type(app: App, word: str) -> LeaveType | None:
    wanted = word.strip().lower()
    for leave_type in policy(app).leave.types:
        english = leave_type.name_en.lower()
        names = {leave_type.code, english, english.removesuffix(" leave"), _stem(leave_type.name_zh)}
        if wanted in names or _stem(wanted) in names:
            return leave_type
    return None


def _stem(word: str) -> str:
    """年休假, 年假 and 年休 all mean annual leave: compare without 假 and 休."""
    return word.replace("假", "").replace("休", "") or word


def leave_group_summary(app: App, request: engine.Request, lang: str) -> str:
    """The supervisors' group sees a leave reason only when the policy says so (default: not)."""
    return leave_summary(app, request, lang, reason=policy(app).privacy.leave_reason_on_group_cards)


def leave_summary(app: App, request: engine.Request, lang: str, *, reason: bool = True) -> str:
    p = request.payload
    leave_type = policy(app).leave.leave_type(p["type"])
    name = leave_name(leave_type, lang) if leave_type else p["type"]
    if leave_type is not None and not leave_type.paid:
        name += app.catalog.t(lang, "leave.unpaid")
    flag = app.catalog.t(lang, "leave.flag.late_sick") if p.get("late_notice") else ""
    fields = {"reason": p["reason"]} if reason else {}
    return app.catalog.t(
        lang,
        "leave.summary" if reason else "leave.summary_no_reason",
        name=p["requester_name"],
        type=name,
        start=p["start"][5:],
        end=p["end"][5:],
        days=p["days"],
        flag=flag,
        **fields,
    )


async def first_shift_start(
    conn: AsyncConnection, app: App, person_id: str, start: date, end: date
) -> datetime | None:
    for entry in await roster_store.between(conn, start, end, [person_id]):
        if entry.shift_code is not None:
            return shift_window(entry.day, policy(app).shift(entry.shift_code), app.tz)[0]
    return None


async def check(
    conn: AsyncConnection,
    app: App,
    person: Person,
    leave_type: LeaveType,
    start: date,
    end: date,
    now: datetime,
) -> dict[str, Any]:
    rules = policy(app).leave
    today = now.astimezone(app.tz).date()
    if end < start:
        raise Refusal("leave.refused.order")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise Refusal("leave.refused.too_long", days=MAX_DAYS)
    late_notice = False
    if leave_type.notice_days and (start - today).days < leave_type.notice_days:
        raise Refusal(
            "leave.refused.notice",
            type=leave_type.name_zh,
            days=leave_type.notice_days,
            article=leave_type.article,
        )
    if leave_type.notice_hours_before_shift:
        first = await first_shift_start(conn, app, person.id, start, end)
        if first is not None and first - now < timedelta(hours=leave_type.notice_hours_before_shift):
            late_notice = True
    level = rules.approver(days)
    peak = next(
        (
            policy(app).peak_sale_on(start + timedelta(days=i))
            for i in range(days)
            if policy(app).peak_sale_on(start + timedelta(days=i))
        ),
        None,
    )
    if peak is not None and leave_type.blocked_during_peak_sale:
        level = "manager"
    return {"days": days, "level": level, "late_notice": late_notice, "peak": peak.name if peak else None}


async def create_leave(ctx: Context, leave_type: LeaveType, start: date, end: date, reason: str) -> None:
    app = ctx.app
    async with app.db.transaction() as conn:
        try:
            facts = await check(conn, app, ctx.person, leave_type, start, end, ctx.now)
        except Refusal as refusal:
            names = {"type": leave_name(leave_type, ctx.lang)} if "type" in refusal.fields else {}
            await decisions.refuse(conn, ctx, "leave.refused", refusal, **names)
            return
        payload = {
            "type": leave_type.code,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": facts["days"],
            "reason": reason[:300],
            "requester_name": ctx.person.name,
            "late_notice": facts["late_notice"],
            "peak_sale": facts["peak"],
        }
        article = policy(app).leave.article_approval
        request = await decisions.submit_for_decision(
            conn,
            ctx,
            kind=KIND,
            level=facts["level"],
            payload=payload,
            expires_at=local_instant(end + timedelta(days=1), time(0), app.tz),
            card_key="leave.card",
            to_group=True,
            article=lambda lang: cite(article, lang),
        )
        if facts["late_notice"]:
            await app.audit_in(
                conn, actor=ctx.person.id, action="leave.late_sick_notice", object_id=str(request.id)
            )
        key = "leave.sent_flagged" if facts["late_notice"] else "leave.sent"
        decider_name = await _name(conn, app, request.decider_id) if request.decider_id else "-"
        await ctx.send(
            ctx.answer(
                ctx.t(key, summary=decisions.summary(app, request, ctx.lang), decider=decider_name),
                [
                    [
                        Button(
                            ctx.t("request.button.cancel", id=request.id),
                            "request.cancel",
                            {"id": request.id},
                        )
                    ]
                ],
            ),
            conn=conn,
        )
    await decisions.refresh_homes(app, ctx.person.id, request.decider_id)


async def _name(conn: AsyncConnection, app: App, person_id: str) -> str:
    person = await app.directory.by_id(conn, person_id)
    return person.name if person else person_id


async def mark_roster(conn: AsyncConnection, app: App, request: engine.Request, now: datetime) -> None:
    """On approval the roster people see shows the leave on each day it covers (an override per day)."""
    p = request.payload
    start, end = date.fromisoformat(p["start"]), date.fromisoformat(p["end"])
    days = [e.day for e in await roster_store.between(conn, start, end, [request.requester_id])]
    await roster_store.record_decision(
        conn,
        decision=KIND,
        request_id=request.id,
        cells=[roster_store.mark(request.requester_id, d, f"leave:{p['type']}") for d in days],
        actor=request.decided_by or "system",
        now=now,
    )


def type_buttons(app: App, lang: str) -> list[list[Button]]:
    types = policy(app).leave.types
    row: list[Button] = []
    rows: list[list[Button]] = []
    for leave_type in types:
        row.append(Button(leave_name(leave_type, lang), "leave.type", {"type": leave_type.code}))
        if len(row) == 3:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    return rows


def register(app: App) -> None:
    router = app.router
    decisions.register_kind(
        app, KIND, decisions.KindSpec(leave_summary, mark_roster, group_summary=leave_group_summary)
    )

    @router.command(
        "leave", keywords=("请假",), help_key="help.desc.leave", order=32, takes_args=True, personal=True
    )
    async def leave(ctx: Context) -> None:
        words = ctx.args.split(maxsplit=3)
        if not words:
            from handlers.forms import leave_form

            if await forms.offer(ctx, leave_form(ctx)):
                return
            await ctx.start_conversation("leave", "type")
            await ctx.reply(ctx.t("leave.ask.type"), type_buttons(ctx.app, ctx.lang))
            return
        today = ctx.now.astimezone(ctx.app.tz).date()
        leave_type = find_type(ctx.app, words[0])
        start = parse_day(words[1], today) if len(words) > 1 else None
        end = parse_day(words[2], today) if len(words) > 2 else None
        if leave_type is None or start is None or end is None or len(words) < 4:
            await ctx.reply(ctx.t("leave.usage"))
            return
        await create_leave(ctx, leave_type, start, end, words[3])

    @router.action("leave.type")
    async def picked_type(ctx: Context, payload: dict[str, Any]) -> None:
        await ctx.start_conversation("leave", "start", {"type": payload.get("type")})
        await ctx.reply(ctx.t("leave.ask.start"))

    @router.action("leave.same_day")
    async def same_day(ctx: Context, payload: dict[str, Any]) -> None:
        async with ctx.app.db.read() as conn:
            state = await ctx.app.conversations.get(conn, ctx.person.id)
        if state is None or state.kind != "leave" or state.step != "end":
            await ctx.reply(ctx.t("conversation.expired"))
            return
        await ctx.start_conversation("leave", "reason", {**state.data, "end": state.data["start"]})
        await ctx.reply(ctx.t("leave.ask.reason"))

    @router.conversation("leave")
    async def step(ctx: Context, state: ConversationState) -> None:
        text = (ctx.incoming.text or "").strip()
        today = ctx.now.astimezone(ctx.app.tz).date()
        data = dict(state.data)
        if state.step == "type":
            leave_type = find_type(ctx.app, text)
            if leave_type is None:
                await ctx.reply(ctx.t("leave.ask.type"), type_buttons(ctx.app, ctx.lang))
                return
            await ctx.start_conversation("leave", "start", {"type": leave_type.code})
            await ctx.reply(ctx.t("leave.ask.start"))
        elif state.step in ("start", "end"):
            day = parse_day(text, today)
            if day is None:
                await ctx.reply(ctx.t("leave.bad_date", value=text[:30]))
                return
            if state.step == "start":
                await ctx.start_conversation("leave", "end", {**data, "start": day.isoformat()})
                await ctx.reply(
                    ctx.t("leave.ask.end"), [[Button(ctx.t("leave.button.same_day"), "leave.same_day")]]
                )
            else:
                await ctx.start_conversation("leave", "reason", {**data, "end": day.isoformat()})
                await ctx.reply(ctx.t("leave.ask.reason"))
        else:
            if not text:
                await ctx.reply(ctx.t("leave.ask.reason"))
                return
            await ctx.end_conversation()
            leave_type = policy(ctx.app).leave.leave_type(str(data.get("type")))
            if leave_type is None:
                await ctx.reply(ctx.t("leave.usage"))
                return
            await create_leave(
                ctx, leave_type, date.fromisoformat(data["start"]), date.fromisoformat(data["end"]), text
            )
