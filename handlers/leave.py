"""请假: type, dates and reason; notice periods per type; decided by lead (≤1 day), supervisor (≤3)
or manager; the roster is marked on approval; late sick-leave notice accepted but flagged (第六章)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import forms, roster_store
from bot import requests as engine
from bot.context import Context
from bot.conversations import ConversationState
from bot.forms import Field, Form
from bot.messages import Button, Person
from bot.schema import requests
from handlers import requests as decisions
from handlers.common import calendar, cite, iso_day, looks_like_date, parse_day, policy
from schedules import requests as rules
from schedules.policy import LeaveType
from schedules.requests import Refusal

if TYPE_CHECKING:
    from bot.core import Core

KIND = "leave"


def leave_name(leave_type: LeaveType, lang: str) -> str:
    return leave_type.name_en if lang == "en" else leave_type.name_zh


def find_type(app: Core, word: str) -> LeaveType | None:
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


HALF_WORDS = {"上午": "am", "am": "am", "morning": "am", "下午": "pm", "pm": "pm", "afternoon": "pm"}


def half_of(word: str) -> str | None:
    """上午 / am / morning → "am", 下午 / pm / afternoon → "pm", else None."""
    return HALF_WORDS.get(word.strip().lower())


def leave_group_summary(app: Core, request: engine.Request, lang: str) -> str:
    """The supervisors' group sees a leave reason only when the policy says so (default: not)."""
    return leave_summary(app, request, lang, reason=policy(app).privacy.leave_reason_on_group_cards)


def leave_summary(app: Core, request: engine.Request, lang: str, *, reason: bool = True) -> str:
    p = request.payload
    leave_type = policy(app).leave.leave_type(p["type"])
    name = leave_name(leave_type, lang) if leave_type else p["type"]
    if leave_type is not None and not leave_type.paid:
        name += app.catalog.t(lang, "leave.unpaid")
    flag = app.catalog.t(lang, "leave.flag.late_sick") if p.get("late_notice") else ""
    fields = {"reason": p["reason"]} if reason else {}
    key = "leave.summary" if reason else "leave.summary_no_reason"
    if p.get("half") in ("am", "pm"):
        key = "leave.summary_half" if reason else "leave.summary_half_no_reason"
        fields["half"] = app.catalog.t(lang, f"leave.half.{p['half']}")
    return app.catalog.t(
        lang,
        key,
        name=p["requester_name"],
        type=name,
        start=p["start"][5:],
        end=p["end"][5:],
        days=f"{float(p['days']):g}",
        flag=flag,
        **fields,
    )


async def own_leave(
    conn: AsyncConnection, person_id: str, exclude: int | None = None
) -> list[rules.OpenRequest]:
    """The person's leave requests still waiting or approved (what a new one must not overlap), but
    ``exclude``."""
    rows = await conn.execute(
        sa.select(requests.c.id, requests.c.state, requests.c.payload).where(
            requests.c.id != (exclude if exclude is not None else -1),
            requests.c.kind == KIND,
            requests.c.requester_id == person_id,
            requests.c.state.in_([engine.PENDING, engine.APPROVED]),
        )
    )
    found = []
    for r in rows:
        start, end = date.fromisoformat(r.payload["start"]), date.fromisoformat(r.payload["end"])
        days = frozenset(start + timedelta(days=i) for i in range((end - start).days + 1))
        found.append(rules.OpenRequest(int(r.id), KIND, frozenset({person_id}), days, str(r.state)))
    return found


async def check(
    conn: AsyncConnection,
    app: Core,
    person: Person,
    leave_type: LeaveType,
    start: date,
    end: date,
    now: datetime,
    *,
    half_day: bool = False,
    afternoon: bool = False,
    approving: engine.Request | None = None,
) -> rules.LeavePlan:
    """Gather the facts the leave rule needs (the person's roster over the dates, their own leave, the
    holiday calendar) and ask it; raises ``Refusal``. ``approving``: the request being approved, checked
    again on the roster as it is now (itself left out of the overlap check)."""
    cells: dict[tuple[str, date], str | None] = {}
    if end >= start and (end - start).days < rules.MAX_LEAVE_DAYS:
        for e in await roster_store.between(conn, start, end, [person.id]):
            cells[(e.person_id, e.day)] = e.shift_code
    return rules.check_leave(
        person.id,
        leave_type,
        start,
        end,
        now,
        cells,
        policy(app),
        half_day=half_day,
        afternoon=afternoon,
        calendar=calendar(app),
        own_requests=await own_leave(conn, person.id, approving.id if approving is not None else None),
        card_days=float(approving.payload["days"]) if approving is not None else None,
    )


async def recheck_leave(conn: AsyncConnection, app: Core, request: engine.Request, now: datetime) -> None:
    """At the approver's press: the leave rule again, on the roster as it is now; raises ``Refusal``."""
    p = request.payload
    person = await app.directory.by_id(conn, request.requester_id)
    leave_type = policy(app).leave.leave_type(str(p.get("type")))
    if person is None or leave_type is None:
        return  # nothing left to check against; the decider's judgement stands
    await check(
        conn,
        app,
        person,
        leave_type,
        date.fromisoformat(p["start"]),
        date.fromisoformat(p["end"]),
        now,
        half_day=bool(p.get("half")),
        afternoon=p.get("half") == "pm",
        approving=request,
    )


async def create_leave(
    ctx: Context, leave_type: LeaveType, start: date, end: date, reason: str, *, half: str | None = None
) -> None:
    """Check, find the decider, store the request and send its card, in one transaction. ``half``: "am"
    or "pm" for half a day (start == end), where the type's unit allows it."""
    app = ctx.app
    async with app.db.transaction() as conn:
        try:
            plan = await check(
                conn,
                app,
                ctx.person,
                leave_type,
                start,
                end,
                ctx.now,
                half_day=half is not None,
                afternoon=half == "pm",
            )
        except Refusal as refusal:
            await decisions.refuse(conn, ctx, "leave.refused", refusal, type=leave_name(leave_type, ctx.lang))
            return
        payload = {
            "type": leave_type.code,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": plan.days,
            "work_days": [d.isoformat() for d in plan.work_days],
            "reason": reason[:300],
            "requester_name": ctx.person.name,
            "late_notice": plan.late_notice,
            "peak_sale": plan.peak_sale,
            "half": half,
        }
        article = policy(app).leave.article_approval
        expires = plan.first_start if plan.first_start and plan.first_start > ctx.now else None
        request = await decisions.submit_for_decision(
            conn,
            ctx,
            kind=KIND,
            level=plan.level,
            payload=payload,
            expires_at=expires,
            card_key="leave.card",
            to_group=True,
            article=lambda lang: cite(article, lang),
        )
        if request is None:
            return
        if plan.late_notice:
            await app.audit_in(
                conn, actor=ctx.person.id, action="leave.late_sick_notice", object_id=str(request.id)
            )
        key = "leave.sent_flagged" if plan.late_notice else "leave.sent"
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


async def _name(conn: AsyncConnection, app: Core, person_id: str) -> str:
    person = await app.directory.by_id(conn, person_id)
    return person.name if person else person_id


async def mark_roster(conn: AsyncConnection, app: Core, request: engine.Request, now: datetime) -> None:
    """On approval the roster people see shows the leave on each day it covers (an override per day)."""
    p = request.payload
    start, end = date.fromisoformat(p["start"]), date.fromisoformat(p["end"])
    days = [e.day for e in await roster_store.between(conn, start, end, [request.requester_id])]
    await roster_store.record_decision(
        conn,
        decision=KIND,
        request_id=request.id,
        cells=[roster_store.mark(request.requester_id, d, leave_note(p)) for d in days],
        actor=request.decided_by or "system",
        now=now,
    )


def leave_note(payload: dict[str, Any]) -> str:
    """The roster note of an approved leave: ``leave:<type>``, ``leave:<type>#am`` for a morning."""
    half = payload.get("half")
    return f"leave:{payload['type']}" + (f"#{half}" if half in ("am", "pm") else "")


async def unmark_roster(conn: AsyncConnection, app: Core, request: engine.Request, now: datetime) -> None:
    """A cancelled leave: its marks on the roster are undone (the overrides its approval recorded)."""
    p = request.payload
    start, end = date.fromisoformat(p["start"]), date.fromisoformat(p["end"])
    marks = [
        o
        for o in await roster_store.overrides_between(conn, start, end, [request.requester_id])
        if o.request_id == request.id
    ]
    await roster_store.undo_decision(
        conn, marks, actor=request.decided_by or "system", now=now, reason="cancelled"
    )


def type_buttons(app: Core, lang: str) -> list[list[Button]]:
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


def leave_form(ctx: Context) -> Form:
    types = tuple((t.code, leave_name(t, ctx.lang)) for t in policy(ctx.app).leave.types)
    return Form(
        "leave",
        ctx.t("form.leave.title"),
        ctx.t("form.submit"),
        (
            Field("type", ctx.t("form.leave.type"), "choice", choices=types),
            Field("start", ctx.t("form.leave.start"), "date"),
            Field("end", ctx.t("form.leave.end"), "date"),
            Field(
                "half",
                ctx.t("form.leave.half"),
                "choice",
                choices=(("am", ctx.t("leave.button.am")), ("pm", ctx.t("leave.button.pm"))),
                required=False,
                hint=ctx.t("form.leave.half_hint"),
            ),
            Field("reason", ctx.t("form.leave.reason"), "long_text"),
        ),
    )


def unit_refusal(ctx: Context, leave_type: LeaveType) -> str | None:
    """Why this type cannot be taken by the half day (its unit is a day or more), or None when it can."""
    if leave_type.min_unit_days <= 0.5:
        return None
    return ctx.t(
        "leave.refused.unit",
        type=leave_name(leave_type, ctx.lang),
        unit=f"{leave_type.min_unit_days:g}",
        article=cite(leave_type.article, ctx.lang),
    )


async def submit_leave(
    ctx: Context, values: dict[str, str], payload: dict[str, Any]
) -> dict[str, str] | None:
    leave_type = policy(ctx.app).leave.leave_type(values.get("type", ""))
    start, end = iso_day(values.get("start")), iso_day(values.get("end"))
    problems = {}
    if leave_type is None:
        problems["type"] = ctx.t("form.problem.choose")
    if start is None:
        problems["start"] = ctx.t("form.problem.date")
    if end is None:
        problems["end"] = ctx.t("form.problem.date")
    if problems or leave_type is None or start is None or end is None:
        return problems
    if end < start:
        return {"end": ctx.t("leave.refused.order")}
    half = half_of(values.get("half") or "")
    if half is not None:
        refusal = unit_refusal(ctx, leave_type)
        if refusal is not None:
            return {"half": refusal}
        if end != start:
            return {"half": ctx.t("leave.refused.half_one_day")}
    await create_leave(ctx, leave_type, start, end, values.get("reason", "").strip() or "-", half=half)
    return None


def register(app: Core) -> None:
    router = app.router
    decisions.register_kind(
        app,
        KIND,
        decisions.KindSpec(
            leave_summary,
            mark_roster,
            group_summary=leave_group_summary,
            undo=unmark_roster,
            recheck=recheck_leave,
        ),
    )
    forms.register(app, "leave", submit_leave)

    @router.command(
        "leave", keywords=("请假",), help_key="help.desc.leave", order=32, takes_args=True, personal=True
    )
    async def leave(ctx: Context) -> None:
        words = ctx.args.split(maxsplit=3)
        if not words:
            if await forms.offer(ctx, leave_form(ctx)):
                return
            await ctx.start_conversation("leave", "type")
            await ctx.reply(ctx.t("leave.ask.type"), type_buttons(ctx.app, ctx.lang))
            return
        today = ctx.now.astimezone(ctx.app.tz).date()
        leave_type = find_type(ctx.app, words[0])
        if leave_type is None:
            await ctx.reply(ctx.t("leave.bad_type", value=words[0]), type_buttons(ctx.app, ctx.lang))
            return
        if len(words) < 2:
            await ctx.reply(ctx.t("leave.usage"))
            return
        start = parse_day(words[1], today)
        if start is None:
            await ctx.reply(ctx.t("leave.bad_date", value=words[1]))
            return
        # The word after the start: 上午/下午, an end date, or (one day off) the reason's first word.
        third = words[2] if len(words) > 2 else ""
        half = half_of(third) if third else None
        end = start if half is not None else parse_day(third, today) if third else None
        if third and half is None and end is None and looks_like_date(third):
            await ctx.reply(ctx.t("leave.bad_date", value=third))
            return
        reason_from = 3 if end is not None else 2
        reason = ctx.args.split(maxsplit=reason_from)[reason_from:]
        if not reason:
            await ctx.reply(ctx.t("leave.usage"))
            return
        await create_leave(ctx, leave_type, start, end or start, reason[0], half=half)

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

    @router.action("leave.half")
    async def half_day(ctx: Context, payload: dict[str, Any]) -> None:
        async with ctx.app.db.read() as conn:
            state = await ctx.app.conversations.get(conn, ctx.person.id)
        half = half_of(str(payload.get("half", "")))
        if state is None or state.kind != "leave" or state.step != "end" or half is None:
            await ctx.reply(ctx.t("conversation.expired"))
            return
        await ctx.start_conversation(
            "leave", "reason", {**state.data, "end": state.data["start"], "half": half}
        )
        await ctx.reply(ctx.t("leave.ask.reason"))

    def end_buttons(ctx: Context, data: dict[str, Any]) -> list[list[Button]]:
        """只请这一天, and 上午 / 下午 where the type may be taken by the half day."""
        rows = [[Button(ctx.t("leave.button.same_day"), "leave.same_day")]]
        chosen = policy(ctx.app).leave.leave_type(str(data.get("type")))
        if chosen is not None and chosen.min_unit_days <= 0.5:
            rows.append(
                [
                    Button(ctx.t("leave.button.am"), "leave.half", {"half": "am"}),
                    Button(ctx.t("leave.button.pm"), "leave.half", {"half": "pm"}),
                ]
            )
        return rows

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
        elif state.step == "end" and half_of(text) is not None:
            chosen = policy(ctx.app).leave.leave_type(str(data.get("type")))
            why = unit_refusal(ctx, chosen) if chosen is not None else None
            if why is not None:
                await ctx.reply(why + "\n" + ctx.t("leave.ask.end"), end_buttons(ctx, data))
                return
            half = half_of(text)
            await ctx.start_conversation("leave", "reason", {**data, "end": data["start"], "half": half})
            await ctx.reply(ctx.t("leave.ask.reason"))
        elif state.step in ("start", "end"):
            day = parse_day(text, today)
            if day is None:
                await ctx.reply(ctx.t("leave.bad_date", value=text[:30]))
                return
            if state.step == "start":
                chosen = policy(ctx.app).leave.leave_type(str(data.get("type")))
                try:
                    if chosen is not None:
                        rules.check_leave_notice(chosen, day, today)
                except Refusal as refusal:
                    # Only the start is asked again, before the end and the reason are typed in vain.
                    async with ctx.app.db.transaction() as conn:
                        kind = leave_name(chosen, ctx.lang) if chosen is not None else ""
                        await decisions.refuse(conn, ctx, "leave.refused", refusal, type=kind)
                    await ctx.reply(ctx.t("leave.ask.start"))
                    return
                await ctx.start_conversation("leave", "end", {**data, "start": day.isoformat()})
                await ctx.reply(ctx.t("leave.ask.end"), end_buttons(ctx, data))
            elif day < date.fromisoformat(data["start"]):
                # Only this step is asked again; the type and the start are kept.
                await ctx.reply(
                    ctx.t("leave.refused.order") + "\n" + ctx.t("leave.ask.end"), end_buttons(ctx, data)
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
            half = half_of(str(data.get("half") or ""))
            await create_leave(
                ctx,
                leave_type,
                date.fromisoformat(data["start"]),
                date.fromisoformat(data["end"]),
                text,
                half=half,
            )
