"""换班 / 替班: swap shifts with a colleague, or hand one over; the colleague accepts, the lead
(same team) or supervisor (across teams) approves, and the roster changes atomically (第五章)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import forms, roster_store
from bot import requests as engine
from bot.context import Context
from bot.forms import Field, Form
from bot.messages import Button, Person
from bot.schema import people, requests
from handlers import requests as decisions
from handlers.common import iso_day, parse_day, policy, shift_label
from schedules import requests as rules
from schedules.requests import Refusal
from schedules.timeutil import shift_window

if TYPE_CHECKING:
    from bot.core import Core

SWAP, GIVE_AWAY = "swap", "give_away"
LOOKAHEAD_DAYS = 14
NEARBY_DAYS = 3


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _kind(kind: str) -> rules.SwapKind:
    return "swap" if kind == SWAP else "give_away"


def swap_summary(app: Core, request: engine.Request, lang: str) -> str:
    p = request.payload
    mine = f"{p['requester_name']} {_day(p['day']):%m-%d} {shift_label(app, p['shift'], lang)}"
    if request.kind == GIVE_AWAY:
        return app.catalog.t(lang, "swap.summary.give_away", mine=mine, colleague=p["colleague_name"])
    theirs = f"{p['colleague_name']} {_day(p['their_day']):%m-%d} {shift_label(app, p['their_shift'], lang)}"
    return app.catalog.t(lang, "swap.summary.swap", mine=mine, theirs=theirs)


# ----- the checks -----------------------------------------------------------------------------------
async def find_person(conn: AsyncConnection, text: str) -> Person | None:
    """A colleague by id or by name."""
    wanted = text.strip()
    person = await _directory_lookup(conn, wanted.lower())
    if person is not None:
        return person
    rows = (await conn.execute(sa.select(people.c.id).where(people.c.name == wanted, people.c.active))).all()
    if len(rows) == 1:
        return await _directory_lookup(conn, rows[0].id)
    return None


async def _directory_lookup(conn: AsyncConnection, person_id: str) -> Person | None:
    from bot.org import Directory

    return await Directory().by_id(conn, person_id)


async def _monthly_count(conn: AsyncConnection, person_id: str, day: date, exclude: int | None = None) -> int:
    rows = await conn.execute(
        sa.select(requests.c.payload).where(
            requests.c.id != (exclude if exclude is not None else -1),
            requests.c.kind.in_([SWAP, GIVE_AWAY]),
            requests.c.state.in_([engine.AWAITING_COLLEAGUE, engine.PENDING, engine.APPROVED]),
            sa.or_(requests.c.requester_id == person_id, requests.c.subject_id == person_id),
        )
    )
    return sum(1 for (payload,) in rows if _day(payload["day"]).strftime("%Y-%m") == day.strftime("%Y-%m"))


async def _open_swaps(
    conn: AsyncConnection, person_ids: set[str], exclude: int | None = None
) -> list[rules.OpenRequest]:
    """Swaps and give-aways still waiting that involve these people (but ``exclude``)."""
    rows = await conn.execute(
        sa.select(
            requests.c.id,
            requests.c.kind,
            requests.c.state,
            requests.c.requester_id,
            requests.c.subject_id,
            requests.c.payload,
        ).where(
            requests.c.id != (exclude if exclude is not None else -1),
            requests.c.kind.in_([SWAP, GIVE_AWAY]),
            requests.c.state.in_([engine.AWAITING_COLLEAGUE, engine.PENDING]),
            sa.or_(requests.c.requester_id.in_(person_ids), requests.c.subject_id.in_(person_ids)),
        )
    )
    return [
        rules.OpenRequest(
            int(r.id),
            str(r.kind),
            frozenset(p for p in (r.requester_id, r.subject_id) if p),
            frozenset({_day(r.payload["day"]), _day(r.payload.get("their_day") or r.payload["day"])}),
            str(r.state),
        )
        for r in rows
    ]


async def _member(conn: AsyncConnection, person: Person) -> rules.Member:
    joined = (await conn.execute(sa.select(people.c.joined_on).where(people.c.id == person.id))).scalar()
    return rules.Member(person.id, person.name, person.role, person.team, joined)


async def check(
    conn: AsyncConnection,
    app: Core,
    requester: Person,
    colleague: Person,
    kind: str,
    day: date,
    their_day: date | None,
    now: datetime,
    *,
    urgent: bool = False,
    approving: engine.Request | None = None,
) -> rules.SwapPlan:
    """Gather the facts the swap rule needs (both people's roster around the days, this month's swaps,
    open requests) and ask it; raises ``Refusal``. ``approving``: the request being approved, checked
    again on the roster as it is now (itself left out of the counts and the open requests)."""
    reach = timedelta(days=policy(app).swaps.max_consecutive_days + 1)
    span = sorted({day, their_day or day})
    window = await roster_store.between(conn, span[0] - reach, span[-1] + reach, [requester.id, colleague.id])
    cells = {(e.person_id, e.day): e.shift_code for e in window}
    exclude = approving.id if approving is not None else None
    counts = {p.id: await _monthly_count(conn, p.id, day, exclude) for p in (requester, colleague)}
    card = None
    if approving is not None:
        card = (str(approving.payload["shift"]), approving.payload.get("their_shift"))
    return rules.check_swap(
        _kind(kind),
        await _member(conn, requester),
        await _member(conn, colleague),
        day,
        their_day if kind == SWAP else None,
        now,
        cells,
        policy(app),
        swaps_this_month=counts,
        open_requests=await _open_swaps(conn, {requester.id, colleague.id}, exclude),
        urgent=urgent,
        card=card,
    )


async def recheck_swap(conn: AsyncConnection, app: Core, request: engine.Request, now: datetime) -> None:
    """At the colleague's and at the approver's press: the swap rule again, on the roster as it is now;
    raises ``Refusal``."""
    p = request.payload
    requester = await app.directory.by_id(conn, request.requester_id)
    colleague = await app.directory.by_id(conn, request.subject_id) if request.subject_id else None
    if requester is None or colleague is None:
        raise Refusal("swap.refused.not_rostered", name=p.get("colleague_name", "-"))
    their_day = _day(p["their_day"]) if p.get("their_day") else None
    await check(
        conn,
        app,
        requester,
        colleague,
        request.kind,
        _day(p["day"]),
        their_day,
        now,
        urgent=bool(p.get("urgent")),
        approving=request,
    )


async def _refused_now(
    conn: AsyncConnection, app: Core, request: engine.Request, now: datetime
) -> Refusal | None:
    try:
        await recheck_swap(conn, app, request, now)
    except Refusal as refusal:
        return refusal
    return None


# ----- creating, accepting, approving -------------------------------------------------------------
async def create_swap(
    ctx: Context, kind: str, colleague_text: str, day: date, their_day: date | None, urgent: bool = False
) -> None:
    app = ctx.app
    swap_rules = policy(app).swaps
    async with app.db.transaction() as conn:
        colleague = await find_person(conn, colleague_text)
        if colleague is None:
            await ctx.send(ctx.answer(ctx.t("swap.unknown_colleague", name=colleague_text[:40])), conn=conn)
            return
        try:
            plan = await check(conn, app, ctx.person, colleague, kind, day, their_day, ctx.now, urgent=urgent)
            decider = await engine.decider_for(
                conn, ctx.person.id, plan.level, ctx.now.astimezone(app.tz).date(), colleague=colleague.id
            )
        except Refusal as refusal:
            await decisions.refuse(conn, ctx, f"{kind}.refused", refusal)
            return
        payload = {
            "day": day.isoformat(),
            "shift": plan.shift,
            "their_day": their_day.isoformat() if their_day and kind == SWAP else None,
            "their_shift": plan.their_shift,
            "requester_name": ctx.person.name,
            "colleague_name": colleague.name,
            "level": plan.level,
            "decider": decider.person_id,
            "decider_level": decider.level,
            "urgent": urgent,
        }
        interval = timedelta(minutes=policy(app).reminders.approval_reminder_interval_minutes)
        request = await engine.create(
            conn,
            kind=kind,
            state=engine.AWAITING_COLLEAGUE,
            requester_id=ctx.person.id,
            now=ctx.now,
            payload=payload,
            subject_id=colleague.id,
            team=ctx.person.team,
            expires_at=plan.first_start,
            next_reminder_at=ctx.now + interval,
        )
        lang = colleague.language
        buttons = [
            [
                Button(app.catalog.t(lang, "swap.button.accept"), "swap.accept", {"id": request.id}),
                Button(app.catalog.t(lang, "swap.button.decline"), "swap.decline", {"id": request.id}),
            ]
        ]
        await decisions.send_card(
            conn,
            app,
            request,
            colleague,
            intro_key=_t(kind, "card.colleague"),
            buttons=buttons,
            hours=swap_rules.approval_deadline_hours,
        )
        await ctx.send(
            ctx.answer(
                ctx.t(
                    _t(kind, "sent"), summary=decisions.summary(app, request, ctx.lang), name=colleague.name
                ),
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


async def colleague_answer(ctx: Context, payload: dict[str, Any], accept: bool) -> None:
    request = await decisions.colleague_press(ctx, payload)
    if request is None:
        return
    app = ctx.app
    swap_rules = policy(app).swaps
    async with app.db.transaction() as conn:
        current = await engine.get(conn, request.id)
        if current is None or current.state != engine.AWAITING_COLLEAGUE:
            done = None
        elif not accept:
            done = await engine.transition(conn, current, engine.DECLINED, actor=ctx.person.id, now=ctx.now)
            if done is not None:
                await decisions.close_cards(conn, app, done)
                await decisions.tell(
                    conn, app, done.requester_id, _t(done.kind, "told.declined"), done, name=ctx.person.name
                )
        elif (refusal := await _refused_now(conn, app, current, ctx.now)) is not None:
            # The roster changed since it was asked (or the colleague took another shift meanwhile): the
            # rule says no at the colleague's press too, not only at the approver's.
            done = await decisions.refuse_at_approval(conn, ctx, current, refusal)
        else:
            try:
                decider = await engine.decider_for(
                    conn,
                    current.requester_id,
                    current.payload["level"],
                    ctx.now.astimezone(app.tz).date(),
                    colleague=current.subject_id,
                )
            except Refusal:
                decider = None
            due = ctx.now + timedelta(hours=swap_rules.approval_deadline_hours)
            interval = timedelta(minutes=policy(app).reminders.approval_reminder_interval_minutes)
            done = await engine.transition(
                conn,
                current,
                engine.PENDING,
                actor=ctx.person.id,
                now=ctx.now,
                action=f"{current.kind}.accepted",
                decider_level=decider.level if decider else current.payload.get("decider_level"),
                decider_id=decider.person_id if decider else current.payload.get("decider"),
                due_at=due,
                payload={**current.payload, **decisions.decider_payload(decider)}
                if decider
                else current.payload,
                next_reminder_at=ctx.now + interval,
            )
            if done is not None:
                await decisions.close_cards(conn, app, done, actor=ctx.person.id)
                recipients: list[Person] = []
                if done.decider_id is not None:
                    person = await app.directory.by_id(conn, done.decider_id)
                    if person:
                        recipients.append(person)
                for person in recipients:
                    await decisions.send_card(
                        conn,
                        app,
                        done,
                        person,
                        hours=swap_rules.approval_deadline_hours,
                        intro_key=_t(current.kind, "card.decider"),
                    )
                if decider is not None:
                    await decisions.tell_leads(conn, app, done, decider)
                await decisions.group_card(conn, app, done)
                await decisions.tell(
                    conn, app, done.requester_id, _t(done.kind, "told.accepted"), done, name=ctx.person.name
                )
    if done is None:
        await decisions.lost_race(ctx, request.id)
        return
    await decisions.refresh_homes(app, done.requester_id, done.subject_id, done.decider_id)


async def apply_swap(conn: AsyncConnection, app: Core, request: engine.Request, now: datetime) -> None:
    """On approval: exactly the cells the card names change, as overrides of the plan, in the decision's
    transaction."""
    p = request.payload
    day = _day(p["day"])
    their_day = _day(p["their_day"]) if p.get("their_day") else None
    assert request.subject_id is not None
    card = {(request.requester_id, day): p["shift"]}
    if their_day is not None:
        card[(request.subject_id, their_day)] = p.get("their_shift")
    changes = rules.swap_changes(
        _kind(request.kind), request.requester_id, request.subject_id, day, their_day, card
    )
    await decisions.change_cells(conn, app, request, changes, now)


async def undo_swap(conn: AsyncConnection, app: Core, request: engine.Request, now: datetime) -> None:
    """A cancelled swap: the cells its card named go back to what they were."""
    p = request.payload
    day = _day(p["day"])
    their_day = _day(p["their_day"]) if p.get("their_day") else None
    assert request.subject_id is not None
    back: dict[tuple[str, date], str | None] = {(request.requester_id, day): p["shift"]}
    if their_day is None:
        back[(request.subject_id, day)] = None
    elif their_day == day:
        back[(request.subject_id, day)] = p.get("their_shift")
    else:
        back[(request.subject_id, day)] = None
        back[(request.subject_id, their_day)] = p.get("their_shift")
        back[(request.requester_id, their_day)] = None
    await decisions.change_cells(conn, app, request, back, now)


# ----- the button flow: my shift → colleague → their shift ---------------------------------------
MAX_BUTTONS = 8


def _t(kind: str, key: str) -> str:
    """The give-away flow has its own wording: `giveaway.flow.x` instead of `swap.flow.x`."""
    return f"giveaway.{key}" if kind == GIVE_AWAY else f"swap.{key}"


async def my_upcoming(app: Core, person: Person, now: datetime) -> list[tuple[date, str]]:
    """My shifts in the next two weeks that start beyond the notice period (第四十条)."""
    today = now.astimezone(app.tz).date()
    async with app.db.read() as conn:
        entries = await roster_store.between(conn, today, today + timedelta(days=LOOKAHEAD_DAYS), [person.id])
    notice = timedelta(hours=policy(app).swaps.min_notice_hours)
    result = []
    for e in entries:
        if e.shift_code is None:
            continue
        start, _ = shift_window(e.day, policy(app).shift(e.shift_code), app.tz)
        if start - now >= notice:
            result.append((e.day, e.shift_code))
    return result


async def options(ctx: Context, kind: str, day: date) -> list[tuple[Person, date, str]]:
    """Every (colleague, their day, their shift) the swap rule accepts for my shift on ``day``: the facts
    are read once, then each candidate is put to :func:`schedules.requests.check_swap`."""
    app = ctx.app
    reach = timedelta(days=policy(app).swaps.max_consecutive_days + 1 + NEARBY_DAYS)
    async with app.db.read() as conn:
        everyone = [p for p in await app.directory.all(conn) if p.role in ("agent", "lead")]
        window = await roster_store.between(conn, day - reach, day + reach)
        members = {p.id: await _member(conn, p) for p in everyone}
        me = await _member(conn, ctx.person)
        counts = {p.id: await _monthly_count(conn, p.id, day) for p in [ctx.person, *everyone]}
        open_swaps = await _open_swaps(conn, {p.id for p in everyone} | {ctx.person.id})
    cells = {(e.person_id, e.day): e.shift_code for e in window}
    found: list[tuple[Person, date, str]] = []
    for person in sorted(everyone, key=lambda p: (p.team != ctx.person.team, p.name)):
        if person.id == ctx.person.id:
            continue
        days = (
            [day]
            if kind == GIVE_AWAY
            else [day + timedelta(days=i) for i in range(-NEARBY_DAYS, NEARBY_DAYS + 1)]
        )
        for their_day in days:
            try:
                plan = rules.check_swap(
                    _kind(kind),
                    me,
                    members[person.id],
                    day,
                    their_day if kind == SWAP else None,
                    ctx.now,
                    cells,
                    policy(app),
                    swaps_this_month=counts,
                    open_requests=open_swaps,
                )
            except Refusal:
                continue
            found.append((person, their_day, plan.their_shift or plan.shift))
    return found


async def start_flow(ctx: Context, kind: str) -> None:
    shifts = await my_upcoming(ctx.app, ctx.person, ctx.now)
    if not shifts:
        await ctx.reply(ctx.t(_t(kind, "flow.no_shifts"), hours=policy(ctx.app).swaps.min_notice_hours))
        return
    buttons = [
        [
            Button(
                f"{d:%m-%d} {shift_label(ctx.app, code, ctx.lang)}",
                "swap.mine",
                {"day": d.isoformat(), "kind": kind},
            )
        ]
        for d, code in shifts[:MAX_BUTTONS]
    ]
    await ctx.reply(ctx.t(_t(kind, "flow.pick_mine")), buttons)


def _page(payload: dict[str, Any]) -> int:
    try:
        return max(0, int(payload.get("page", 0)))
    except (TypeError, ValueError):
        return 0


async def pick_colleague(ctx: Context, payload: dict[str, Any]) -> None:
    day = _day(payload["day"])
    kind = str(payload.get("kind", SWAP))
    page = _page(payload)
    found = await options(ctx, kind, day)
    people = list(dict.fromkeys(p.id for p, _, _ in found))
    if not people:
        await ctx.reply(ctx.t(_t(kind, "flow.no_colleagues"), day=f"{day:%m-%d}"))
        return
    by_id = {p.id: p for p, _, _ in found}
    shift_on_day = {p.id: code for p, d, code in found if d == day}
    shown = people[page * MAX_BUTTONS : (page + 1) * MAX_BUTTONS]
    buttons = [
        [
            Button(
                f"{by_id[pid].name} ({shift_label(ctx.app, shift_on_day.get(pid), ctx.lang)})"
                if kind == SWAP and pid in shift_on_day
                else by_id[pid].name,
                "swap.colleague",
                {"day": day.isoformat(), "kind": kind, "colleague": pid},
            )
        ]
        for pid in shown
    ]
    if len(people) > (page + 1) * MAX_BUTTONS:
        more = {"day": day.isoformat(), "kind": kind, "page": page + 1}
        buttons.append([Button(ctx.t("request.button.more"), "swap.mine", more)])
    await ctx.reply(ctx.t(_t(kind, "flow.pick_colleague"), day=f"{day:%m-%d}"), buttons)


async def pick_theirs(ctx: Context, payload: dict[str, Any]) -> None:
    day = _day(payload["day"])
    colleague_id = str(payload["colleague"])
    if payload.get("kind") == GIVE_AWAY:
        await create_swap(ctx, GIVE_AWAY, colleague_id, day, None)
        return
    choices = [(d, code) for p, d, code in await options(ctx, SWAP, day) if p.id == colleague_id]
    if not choices:
        await ctx.reply(ctx.t("swap.flow.no_colleagues", day=f"{day:%m-%d}"))
        return
    buttons = [
        [
            Button(
                f"{d:%m-%d} {shift_label(ctx.app, code, ctx.lang)}",
                "swap.theirs",
                {"day": day.isoformat(), "colleague": colleague_id, "their_day": d.isoformat()},
            )
        ]
        for d, code in choices[:MAX_BUTTONS]
    ]
    await ctx.reply(ctx.t("swap.flow.pick_theirs"), buttons)


def parse_swap_args(args: str, today: date) -> tuple[date, str, date | None, bool] | None:
    """`12-03 PERSON [12-05] [紧急|urgent]`."""
    words = args.split()
    urgent = any(w in ("紧急", "urgent") for w in words)
    words = [w for w in words if w not in ("紧急", "urgent")]
    if len(words) not in (2, 3):
        return None
    day = parse_day(words[0], today)
    their_day = parse_day(words[2], today) if len(words) == 3 else day
    if day is None or their_day is None:
        return None
    return day, words[1], their_day, urgent


def swap_form(ctx: Context) -> Form:
    return Form(
        "swap",
        ctx.t("form.swap.title"),
        ctx.t("form.submit"),
        (
            Field("day", ctx.t("form.swap.day"), "date"),
            Field("colleague", ctx.t("form.swap.colleague"), "person"),
            Field(
                "their_day",
                ctx.t("form.swap.their_day"),
                "date",
                required=False,
                hint=ctx.t("form.swap.their_day_hint"),
            ),
        ),
    )


async def submit_swap(ctx: Context, values: dict[str, str], payload: dict[str, Any]) -> dict[str, str] | None:
    day = iso_day(values.get("day"))
    their_day = iso_day(values.get("their_day")) or day
    if day is None:
        return {"day": ctx.t("form.problem.date")}
    if not values.get("colleague"):
        return {"colleague": ctx.t("form.problem.choose")}
    await create_swap(ctx, SWAP, values["colleague"], day, their_day)
    return None


def register(app: Core) -> None:
    router = app.router
    spec = decisions.KindSpec(swap_summary, apply_swap, undo=undo_swap, recheck=recheck_swap)
    decisions.register_kind(app, SWAP, spec)
    decisions.register_kind(app, GIVE_AWAY, spec)
    forms.register(app, "swap", submit_swap)

    @router.command(
        "swap", keywords=("换班", "调班"), help_key="help.desc.swap", order=30, takes_args=True, personal=True
    )
    async def swap(ctx: Context) -> None:
        if not ctx.args:
            if await forms.offer(ctx, swap_form(ctx)):
                return
            await start_flow(ctx, SWAP)
            return
        parsed = parse_swap_args(ctx.args, ctx.now.astimezone(ctx.app.tz).date())
        if parsed is None:
            await ctx.reply(ctx.t("swap.usage"))
            return
        day, colleague, their_day, urgent = parsed
        await create_swap(ctx, SWAP, colleague, day, their_day, urgent)

    @router.command(
        "giveaway",
        keywords=("替班",),
        help_key="help.desc.giveaway",
        order=31,
        takes_args=True,
        personal=True,
    )
    async def give_away(ctx: Context) -> None:
        if not ctx.args:
            await start_flow(ctx, GIVE_AWAY)
            return
        words = ctx.args.split()
        day = parse_day(words[0], ctx.now.astimezone(ctx.app.tz).date()) if len(words) == 2 else None
        if day is None:
            await ctx.reply(ctx.t("swap.usage_giveaway"))
            return
        await create_swap(ctx, GIVE_AWAY, words[1], day, None)

    router.action("swap.mine")(pick_colleague)
    router.action("swap.colleague")(pick_theirs)

    @router.action("swap.theirs")
    async def theirs(ctx: Context, payload: dict[str, Any]) -> None:
        await create_swap(
            ctx, SWAP, str(payload["colleague"]), _day(payload["day"]), _day(payload["their_day"])
        )

    @router.action("swap.accept")
    async def accept(ctx: Context, payload: dict[str, Any]) -> None:
        await colleague_answer(ctx, payload, True)

    @router.action("swap.decline")
    async def decline(ctx: Context, payload: dict[str, Any]) -> None:
        await colleague_answer(ctx, payload, False)
