"""上报 / 升级: an agent escalates a case to the on-duty person of the next level; unacknowledged
within the level's deadline it climbs by itself; emergencies go straight to the top and every skipped
level is told (第九章, 第八十至八十八条). The agent hears of every step."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import audit, forms, org, roster_store
from bot import requests as engine
from bot.context import Context
from bot.conversations import ConversationState
from bot.forms import Field, Form
from bot.messages import Button, Outgoing
from bot.schema import requests
from handlers import requests as decisions
from handlers.common import cite, policy
from schedules import requests as rules
from schedules.policy import Level
from schedules.timeutil import shift_window

if TYPE_CHECKING:
    from bot.core import Core

KIND = "escalation"
LEVELS = ("lead", "supervisor", "manager", "last_resort")
CATEGORIES = (
    "data_leak",
    "major_error",
    "safety",
    "beyond_authority",
    "major_complaint",
    "fraud",
    "difficult_customer",
    "system_outage",
    "other",
)


def escalation_summary(app: Core, request: engine.Request, lang: str) -> str:
    p = request.payload
    urgent = app.catalog.t(lang, "esc.emergency_mark") if p.get("emergency") else ""
    order = app.catalog.t(lang, "esc.order", ref=p["order"]) if p.get("order") else ""
    return app.catalog.t(
        lang,
        "esc.summary",
        urgent=urgent,
        category=app.catalog.t(lang, f"esc.category.{p['category']}"),
        name=p["requester_name"],
        description=p["description"],
        order=order,
        level=app.catalog.t(lang, f"common.role.{request.decider_level or 'lead'}"),
    )


async def on_duty(conn: AsyncConnection, app: Core, person_id: str, now: datetime) -> bool:
    """Whether a person's rostered shift covers `now` (yesterday's overnight shift included)."""
    today = now.astimezone(app.tz).date()
    for entry in await roster_store.between(conn, today - timedelta(days=1), today, [person_id]):
        if entry.shift_code is None:
            continue
        start, end = shift_window(entry.day, policy(app).shift(entry.shift_code), app.tz)
        if start <= now < end:
            return True
    return False


async def target_at(
    conn: AsyncConnection, app: Core, level: str, team: str | None, now: datetime, exclude: set[str]
) -> str | None:
    """The on-duty person of one level: the team lead, else the shift lead on duty (当班班长);
    the team's supervisor; the manager; above the manager the approver of last resort."""
    chart = await engine.load_chart(conn)
    if level == "lead":
        lead = chart.team_lead.get(team) if team else None
        if lead and lead not in exclude and await on_duty(conn, app, lead, now):
            return lead
        for other in sorted(p.id for p in chart.people.values() if p.role == "lead"):
            if other not in exclude and await on_duty(conn, app, other, now):
                return other
        return None
    person: str | None
    if level == "supervisor":
        person = chart.team_supervisor.get(team) if team else None
        if person is None:
            person = next(
                (p.id for p in sorted(chart.people.values(), key=lambda m: m.id) if p.role == "supervisor"),
                None,
            )
    elif level == "manager":
        person = chart.manager
    else:
        person = chart.last_resort
    return person if person and person not in exclude else None


async def route(
    conn: AsyncConnection, app: Core, start_level: str, team: str | None, now: datetime, exclude: set[str]
) -> tuple[str, str] | None:
    for level in LEVELS[LEVELS.index(start_level) :]:
        person = await target_at(conn, app, level, team, now, exclude)
        if person is not None:
            return level, person
    return None


def policy_level(level: str | None) -> Level:
    """The policy's deadlines for a level; the approver of last resort keeps the manager's."""
    return level if level in ("lead", "supervisor") else "manager"  # type: ignore[return-value]


def deadline(app: Core, level: str) -> timedelta:
    """How long a level has to acknowledge (第八十三条)."""
    return timedelta(minutes=policy(app).escalation.for_level(policy_level(level)).respond_minutes)


def card_buttons(app: Core, lang: str, request: engine.Request) -> list[list[Button]]:
    payload = {"id": request.id}
    if request.state == engine.ACKNOWLEDGED:
        return [
            [
                Button(app.catalog.t(lang, "esc.button.resolve"), "esc.resolve", payload),
                Button(app.catalog.t(lang, "esc.button.escalate"), "esc.escalate", payload),
            ]
        ]
    return [
        [
            Button(app.catalog.t(lang, "esc.button.acknowledge"), "esc.ack", payload),
            Button(app.catalog.t(lang, "esc.button.resolve"), "esc.resolve", payload),
            Button(app.catalog.t(lang, "esc.button.escalate"), "esc.escalate", payload),
        ]
    ]


async def send_to_decider(
    conn: AsyncConnection, app: Core, request: engine.Request, key: str = "esc.card"
) -> None:
    assert request.decider_id is not None
    person = await app.directory.by_id(conn, request.decider_id)
    if person is None:
        return
    minutes = int(deadline(app, request.decider_level or "lead").total_seconds() // 60)
    await decisions.send_card(
        conn,
        app,
        request,
        person,
        intro_key=key,
        buttons=card_buttons(app, person.language, request),
        minutes=minutes,
        article=cite(policy(app).escalation.article_respond, person.language),
    )


async def create(ctx: Context, data: dict[str, Any]) -> None:
    app = ctx.app
    rules = policy(app).escalation
    emergency = bool(data.get("emergency"))
    start_level = (
        "lead"
        if org.rank(ctx.person.role) < org.rank("lead")
        else ("supervisor" if ctx.person.role == "lead" else "manager")
    )
    async with app.db.transaction() as conn:
        exclude = {ctx.person.id}
        if emergency:
            target = await route(conn, app, "manager", ctx.person.team, ctx.now, exclude)
        else:
            target = await route(conn, app, start_level, ctx.person.team, ctx.now, exclude)
        if target is None:
            await ctx.send(ctx.answer(ctx.t("esc.nobody")), conn=conn)
            return
        level, person_id = target
        payload = {
            "category": data.get("category", "other"),
            "description": str(data.get("description", ""))[:500],
            "order": (str(data["order"])[:64] if data.get("order") else None),
            "emergency": emergency,
            "requester_name": ctx.person.name,
            "history": [[level, person_id, ctx.now.isoformat()]],
        }
        request = await engine.create(
            conn,
            kind=KIND,
            state=engine.OPEN,
            requester_id=ctx.person.id,
            now=ctx.now,
            payload=payload,
            team=ctx.person.team,
            decider_level=level,
            decider_id=person_id,
            due_at=ctx.now + deadline(app, level),
        )
        await send_to_decider(conn, app, request)
        name = await app.directory.by_id(conn, person_id)
        above = await next_target(conn, app, request, ctx.now)
        await plan_ack_reminder(conn, app, request, ctx.now, top=above is None)
        await ctx.send(
            ctx.answer(
                ctx.t(
                    "esc.sent" if above is not None else "esc.sent_top",
                    id=request.id,
                    name=name.name if name else person_id,
                    minutes=int(deadline(app, level).total_seconds() // 60),
                )
            ),
            conn=conn,
        )
        if emergency:
            skipped_levels = LEVELS[LEVELS.index(start_level) : LEVELS.index(level)]
            told = set()
            for skipped in skipped_levels:
                skipped_person = await target_at(
                    conn, app, skipped, ctx.person.team, ctx.now, exclude | {person_id}
                )
                if skipped_person and skipped_person not in told:
                    told.add(skipped_person)
                    await decisions.tell(
                        conn,
                        app,
                        skipped_person,
                        "esc.told.skipped",
                        request,
                        article=lambda lang: cite(rules.article_skip_level, lang),
                    )
            await app.audit_in(
                conn,
                actor=ctx.person.id,
                action="escalation.skip_level",
                object_id=str(request.id),
                after={"told": sorted(told)},
            )
    await decisions.refresh_homes(app, ctx.person.id, request.decider_id)


async def plan_ack_reminder(
    conn: AsyncConnection, app: Core, request: engine.Request, now: datetime, *, top: bool
) -> None:
    """Below the top of the chain the holder is reminded halfway to the acknowledgement deadline, before it
    passes (第八十三条); at the top the reminder comes at each deadline instead (see :func:`climb`)."""
    if not top:
        await engine.push_reminder(conn, request, now + deadline(app, request.decider_level or "lead") / 2)


async def next_target(
    conn: AsyncConnection, app: Core, request: engine.Request, now: datetime
) -> tuple[str, str] | None:
    """Who the escalation would move to next; None at the top of the chain."""
    level = request.decider_level or "lead"
    if level == LEVELS[-1]:
        return None
    exclude = {request.requester_id, request.decider_id or ""}
    return await route(conn, app, LEVELS[LEVELS.index(level) + 1], request.team, now, exclude)


async def move_up(
    conn: AsyncConnection,
    app: Core,
    request: engine.Request,
    *,
    actor: str,
    now: datetime,
    note: str | None,
    automatic: bool,
) -> engine.Request | None:
    """Hand the escalation to the next level; at the top it stays with the manager."""
    current_level = request.decider_level or "lead"
    missed = request.decider_id
    exclude = {request.requester_id}
    nxt = None
    if current_level != LEVELS[-1]:
        nxt = await route(conn, app, LEVELS[LEVELS.index(current_level) + 1], request.team, now, exclude)
    if nxt is None:
        return None
    level, person_id = nxt
    history = [*request.payload.get("history", []), [level, person_id, now.isoformat()]]
    payload = {**request.payload, "history": history, "last_note": note}
    moved = await engine.transition(
        conn,
        request,
        engine.OPEN,
        actor=actor,
        now=now,
        action="escalation.auto_escalated" if automatic else "escalation.escalated",
        decider_level=level,
        decider_id=person_id,
        due_at=now + deadline(app, level),
        next_reminder_at=None,
        payload=payload,
    )
    if moved is None:
        return None
    await decisions.close_cards(conn, app, moved, actor=person_id, key="request.card.moved")
    await send_to_decider(conn, app, moved, key="esc.card_escalated")
    await plan_ack_reminder(conn, app, moved, now, top=await next_target(conn, app, moved, now) is None)
    new_name = await app.directory.by_id(conn, person_id)
    shown = new_name.name if new_name else person_id
    if automatic:
        old = await app.directory.by_id(conn, missed) if missed else None
        undecided = request.state == engine.ACKNOWLEDGED
        article = policy(app).escalation.article_decide if undecided else policy(app).escalation.article_auto
        await decisions.tell(
            conn,
            app,
            request.requester_id,
            "esc.told.auto_decide" if undecided else "esc.told.auto",
            moved,
            name=shown,
            missed=old.name if old else "-",
            article=lambda lang: cite(article, lang),
        )
        await decisions.tell(
            conn, app, missed, "esc.told.missed_decide" if undecided else "esc.told.missed", moved, name=shown
        )
    else:
        await decisions.tell(
            conn, app, request.requester_id, "esc.told.escalated", moved, name=shown, note=note or "-"
        )
    return moved


async def climb(app: Core, t0: datetime, t1: datetime) -> None:
    """Scheduled: an escalation past its level's acknowledgement deadline (第八十三、八十四条) or, once
    acknowledged, past its decision deadline (第八十五条) moves up; halfway to the decision deadline the
    acknowledger is reminded. At the top of the chain the holder is reminded at each deadline instead."""
    async with app.db.read() as conn:
        rows = await conn.execute(
            sa.select(requests.c.id).where(
                requests.c.kind == KIND,
                requests.c.state.in_([engine.OPEN, engine.ACKNOWLEDGED]),
                sa.or_(requests.c.due_at <= t1, requests.c.next_reminder_at <= t1),
            )
        )
        ids = [int(r) for r in rows.scalars()]
    for request_id in ids:
        refresh: tuple[str | None, ...] = ()
        async with app.db.transaction() as conn:
            request = await engine.get(conn, request_id)
            if request is None or request.state not in (engine.OPEN, engine.ACKNOWLEDGED):
                continue
            if request.due_at is not None and request.due_at <= t1:
                if await next_target(conn, app, request, t1) is not None:
                    moved = await move_up(
                        conn, app, request, actor=audit.SYSTEM, now=t1, note=None, automatic=True
                    )
                    if moved is not None:
                        refresh = (request.decider_id, moved.decider_id, request.requester_id)
                    continue
                # At the top: remind the holder and restart the clock.
                await remind(conn, app, request, request.due_at)
                await conn.execute(
                    requests.update()
                    .where(requests.c.id == request.id, requests.c.version == request.version)
                    .values(due_at=t1 + deadline(app, request.decider_level or "manager"))
                )
            elif request.next_reminder_at is not None and request.next_reminder_at <= t1:
                await remind(conn, app, request, request.next_reminder_at)
                await conn.execute(
                    requests.update()
                    .where(requests.c.id == request.id, requests.c.version == request.version)
                    .values(next_reminder_at=None)
                )
        await decisions.refresh_homes(app, *refresh)


async def remind(conn: AsyncConnection, app: Core, request: engine.Request, stamp: datetime) -> None:
    """Remind the holder, with the card's buttons: to acknowledge (open) or to give a resolution
    (acknowledged), by the deadline. Below the top the reminder says the case moves up at the deadline; at
    the top it promises only what happens: another reminder every N minutes."""
    person = await app.directory.by_id(conn, request.decider_id) if request.decider_id else None
    if person is None:
        return
    lang = person.language
    rules = policy(app).escalation
    top = await next_target(conn, app, request, stamp) is None
    key = "esc.reminder_decide" if request.state == engine.ACKNOWLEDGED else "esc.reminder"
    text = app.catalog.t(
        lang,
        key + ("_top" if top else ""),
        summary=decisions.summary(app, request, lang),
        deadline=decisions.local_time(app, request.due_at),
        minutes=int(deadline(app, request.decider_level or "manager").total_seconds() // 60),
        article=cite(
            rules.article_decide if request.state == engine.ACKNOWLEDGED else rules.article_respond, lang
        ),
    )
    await app.notify(
        conn,
        Outgoing(text=text, to_person=person.id, buttons=card_buttons(app, lang, request)),
        idempotency_key=f"esc-remind:{request.id}:{request.state}:{stamp.isoformat()}",
    )


async def may_act(ctx: Context, request: engine.Request) -> bool:
    if request.final:
        await decisions.already_decided(ctx, request)
        return False
    if not engine.may_decide(ctx.person, request):
        await decisions.refuse_press(
            ctx, request, "request.own" if ctx.person.id == request.requester_id else "request.not_decider"
        )
        return False
    return True


async def acknowledge(ctx: Context, payload: dict[str, Any]) -> None:
    request = await decisions.load_for_press(ctx, payload)
    if request is None or not await may_act(ctx, request):
        return
    if request.state == engine.ACKNOWLEDGED:
        await decisions.already_decided(ctx, request)
        return
    app = ctx.app
    async with app.db.transaction() as conn:
        current = await engine.get(conn, request.id)
        done = None
        if current is not None and current.state == engine.OPEN:
            due = rules.escalation_deadlines(
                policy_level(current.decider_level), ctx.now, policy(app)
            ).decide_by
            done = await engine.transition(
                conn,
                current,
                engine.ACKNOWLEDGED,
                actor=ctx.person.id,
                now=ctx.now,
                decider_id=ctx.person.id,
                due_at=due,
                next_reminder_at=ctx.now + (due - ctx.now) / 2,
            )
        if done is not None:
            await decisions.close_cards(conn, app, done, actor=ctx.person.id)
            await decisions.send_card(
                conn,
                app,
                done,
                ctx.person,
                intro_key="esc.card_mine",
                deadline=decisions.local_time(app, done.due_at),
                article=cite(policy(app).escalation.article_decide, ctx.lang),
                buttons=card_buttons(app, ctx.lang, done),
            )
            await decisions.tell(
                conn, app, done.requester_id, "esc.told.acknowledged", done, name=ctx.person.name
            )
    if done is None:
        await decisions.already_decided(ctx, request)
        return
    await decisions.refresh_homes(app, done.requester_id, done.decider_id)


async def finish(ctx: Context, request_id: int, resolve: bool, note: str) -> None:
    app = ctx.app
    async with app.db.transaction() as conn:
        request = await engine.get(conn, request_id)
        if request is None or request.final or not engine.may_decide(ctx.person, request):
            done = None
        elif resolve:
            done = await engine.transition(
                conn,
                request,
                engine.RESOLVED,
                actor=ctx.person.id,
                now=ctx.now,
                reason=note,
                decided_by=ctx.person.id,
            )
            if done is not None:
                await decisions.close_cards(conn, app, done)
                await decisions.tell(
                    conn, app, done.requester_id, "esc.told.resolved", done, name=ctx.person.name, note=note
                )
        else:
            done = await move_up(
                conn, app, request, actor=ctx.person.id, now=ctx.now, note=note, automatic=False
            )
            if done is None:
                await ctx.send(ctx.answer(ctx.t("esc.top")), conn=conn)
                return
    if done is None:
        await decisions.lost_race(ctx, request_id)
        return
    await ctx.reply(ctx.t("esc.done_resolved" if resolve else "esc.done_escalated", id=request_id))
    await decisions.refresh_homes(app, done.requester_id, done.decider_id, ctx.person.id)


def category_buttons(app: Core, lang: str) -> list[list[Button]]:
    buttons = [
        Button(app.catalog.t(lang, f"esc.category.{c}"), "esc.category", {"category": c}) for c in CATEGORIES
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def escalation_form(ctx: Context) -> Form:
    categories = tuple((c, ctx.t(f"esc.category.{c}")) for c in CATEGORIES)
    return Form(
        "escalation",
        ctx.t("form.esc.title"),
        ctx.t("form.submit"),
        (
            Field("category", ctx.t("form.esc.category"), "choice", choices=categories),
            Field("description", ctx.t("form.esc.description"), "long_text"),
            Field("order", ctx.t("form.esc.order"), "text", required=False),
            Field(
                "urgency",
                ctx.t("form.esc.urgency"),
                "choice",
                initial="normal",
                choices=(
                    ("normal", ctx.t("esc.button.normal")),
                    ("emergency", ctx.t("esc.button.emergency")),
                ),
            ),
        ),
    )


async def submit_escalation(
    ctx: Context, values: dict[str, str], payload: dict[str, Any]
) -> dict[str, str] | None:
    if not values.get("description", "").strip():
        return {"description": ctx.t("form.problem.required")}
    await create(
        ctx,
        {
            "category": values.get("category") or "other",
            "description": values["description"].strip(),
            "order": values.get("order") or None,
            "emergency": values.get("urgency") == "emergency",
        },
    )
    return None


def register(app: Core) -> None:
    router = app.router
    decisions.register_kind(app, KIND, decisions.KindSpec(escalation_summary))
    forms.register(app, "escalation", submit_escalation)
    app.ticks.register("escalations", climb)

    @router.command(
        "escalate",
        keywords=("上报", "升级", "请示"),
        help_key="help.desc.escalate",
        order=33,
        takes_args=True,
        personal=True,
    )
    async def escalate(ctx: Context) -> None:
        data: dict[str, Any] = {}
        if ctx.args:
            words = ctx.args.split(maxsplit=1)
            if words[0] in ("紧急", "urgent", "emergency"):
                data["emergency"] = True
                data["description"] = words[1] if len(words) > 1 else ""
            else:
                data["description"] = ctx.args
        if not data and await forms.offer(ctx, escalation_form(ctx)):
            return
        if data.get("description"):
            await ask_next(ctx, data)
            return
        await ctx.start_conversation("escalate", "category", data)
        await ctx.reply(ctx.t("esc.ask.category"), category_buttons(ctx.app, ctx.lang))

    async def conversation_data(ctx: Context) -> ConversationState | None:
        async with ctx.app.db.read() as conn:
            state = await ctx.app.conversations.get(conn, ctx.person.id)
        if state is None or state.kind != "escalate" or state.expired(ctx.now):
            await ctx.reply(ctx.t("conversation.expired"))
            return None
        return state

    async def ask_next(ctx: Context, data: dict[str, Any]) -> None:
        if not data.get("description"):
            await ctx.start_conversation("escalate", "description", data)
            await ctx.reply(ctx.t("esc.ask.description"))
        elif not data.get("category"):
            found = rules.category_from_words(str(data["description"]), CATEGORIES)
            if found is not None:
                await ask_next(ctx, {**data, "category": found})
                return
            await ctx.start_conversation("escalate", "category", data)
            await ctx.reply(ctx.t("esc.ask.category"), category_buttons(ctx.app, ctx.lang))
        elif data.get("emergency"):
            await ctx.end_conversation()
            await create(ctx, {**data, "order": data.get("order")})
        elif "order" not in data:
            await ctx.start_conversation("escalate", "order", data)
            await ctx.reply(ctx.t("esc.ask.order"), [[Button(ctx.t("esc.button.no_order"), "esc.no_order")]])
        else:
            await ctx.start_conversation("escalate", "urgency", data)
            await ctx.reply(
                ctx.t("esc.ask.urgency"),
                [
                    [
                        Button(ctx.t("esc.button.normal"), "esc.urgency", {"emergency": False}),
                        Button(ctx.t("esc.button.emergency"), "esc.urgency", {"emergency": True}),
                    ]
                ],
            )

    @router.action("esc.category")
    async def picked_category(ctx: Context, payload: dict[str, Any]) -> None:
        state = await conversation_data(ctx)
        if state is not None:
            category = payload.get("category") if payload.get("category") in CATEGORIES else "other"
            await ask_next(ctx, {**state.data, "category": category})

    @router.action("esc.no_order")
    async def no_order(ctx: Context, payload: dict[str, Any]) -> None:
        state = await conversation_data(ctx)
        if state is not None:
            await ask_next(ctx, {**state.data, "order": None})

    @router.action("esc.urgency")
    async def picked_urgency(ctx: Context, payload: dict[str, Any]) -> None:
        state = await conversation_data(ctx)
        if state is not None:
            await ctx.end_conversation()
            await create(ctx, {**state.data, "emergency": bool(payload.get("emergency"))})

    @router.conversation("escalate")
    async def step(ctx: Context, state: ConversationState) -> None:
        text = (ctx.incoming.text or "").strip()
        data = dict(state.data)
        if state.step == "category":
            await ctx.reply(ctx.t("esc.ask.category"), category_buttons(ctx.app, ctx.lang))
        elif state.step == "description":
            data["description"] = text[:500]
            await ask_next(ctx, data)
        elif state.step == "order":
            data["order"] = text[:64] or None
            await ask_next(ctx, data)
        elif state.step in ("resolve", "escalate"):
            await ctx.end_conversation()
            await finish(ctx, int(data["id"]), state.step == "resolve", text[:500] or "-")
        else:
            await ask_next(ctx, data)

    router.action("esc.ack")(acknowledge)

    async def ask_note(ctx: Context, payload: dict[str, Any], step_name: str) -> None:
        request = await decisions.load_for_press(ctx, payload)
        if request is None or not await may_act(ctx, request):
            return
        await ctx.start_conversation("escalate", step_name, {"id": request.id})
        await ctx.reply(ctx.t(f"esc.ask.{step_name}", id=request.id))

    @router.action("esc.resolve")
    async def resolve(ctx: Context, payload: dict[str, Any]) -> None:
        await ask_note(ctx, payload, "resolve")

    @router.action("esc.escalate")
    async def escalate_further(ctx: Context, payload: dict[str, Any]) -> None:
        await ask_note(ctx, payload, "escalate")

    @router.command(
        "escalations",
        keywords=("升级列表",),
        min_role="lead",
        help_key="help.desc.escalations",
        order=42,
        personal=True,
    )
    async def open_list(ctx: Context) -> None:
        async with ctx.app.db.read() as conn:
            live = await engine.live_of_kind(conn, (KIND,))
        if not live:
            await ctx.reply(ctx.t("esc.list.none"))
            return
        live.sort(key=lambda r: r.created_at)
        names = await decisions.names(ctx.app, *(r.decider_id for r in live))
        lines = [ctx.t("esc.list.title", count=len(live))]
        for r in live:
            lines.append(
                ctx.t(
                    "esc.list.line",
                    summary=decisions.summary(ctx.app, r, ctx.lang),
                    age=decisions.age(ctx.now, r.created_at, ctx.lang),
                    state=decisions.state_label(ctx.app, ctx.lang, r.state),
                    who=decisions.name_of(names, r.decider_id),
                )
            )
        await ctx.reply("\n".join(lines))
