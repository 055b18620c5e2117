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
from bot.messages import Button, Person
from bot.schema import people, requests
from handlers import requests as decisions
from handlers.common import parse_day, policy, shift_label
from handlers.requests import Refusal
from schedules.timeutil import shift_window

if TYPE_CHECKING:
    from bot.app import App

SWAP, GIVE_AWAY = "swap", "give_away"
LOOKAHEAD_DAYS = 14
NEARBY_DAYS = 3


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def swap_summary(app: App, request: engine.Request, lang: str) -> str:
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


def _changes(
    kind: str,
    requester: str,
    colleague: str,
    day: date,
    their_day: date | None,
    entries: dict[tuple[str, date], str | None],
) -> dict[tuple[str, date], str | None]:
    """The roster cells after the request: a swap exchanges both people's entries on the days involved;
    a give-away moves the shift to the colleague and leaves the requester resting."""
    if kind == GIVE_AWAY:
        return {(colleague, day): entries.get((requester, day)), (requester, day): None}
    result: dict[tuple[str, date], str | None] = {}
    for d in {day, their_day or day}:
        result[(requester, d)] = entries.get((colleague, d))
        result[(colleague, d)] = entries.get((requester, d))
    return result


def _check_result(
    app: App, person_id: str, days: dict[date, str | None]
) -> tuple[str, dict[str, Any]] | None:
    """第四十三条: no more than 6 days in a row, at least 11 h between shifts, one shift a day."""
    rules = policy(app).swaps
    ordered = sorted(days)
    run = 0
    previous: date | None = None
    for d in ordered:
        working = days[d] is not None
        if (
            working
            and previous is not None
            and d - previous == timedelta(days=1)
            and days[previous] is not None
        ):
            run += 1
        else:
            run = 1 if working else 0
        if run > rules.max_consecutive_days:
            return "swap.refused.consecutive", {"days": rules.max_consecutive_days, "person": person_id}
        previous = d
    for d in ordered:
        nxt = d + timedelta(days=1)
        a, b = days.get(d), days.get(nxt)
        if a is None or b is None:
            continue
        _, end = shift_window(d, policy(app).shift(a), app.tz)
        start, _ = shift_window(nxt, policy(app).shift(b), app.tz)
        if start - end < timedelta(hours=rules.min_rest_hours):
            return "swap.refused.rest", {"hours": rules.min_rest_hours, "person": person_id}
    return None


async def _monthly_count(conn: AsyncConnection, person_id: str, day: date) -> int:
    rows = await conn.execute(
        sa.select(requests.c.payload).where(
            requests.c.kind.in_([SWAP, GIVE_AWAY]),
            requests.c.state.in_([engine.AWAITING_COLLEAGUE, engine.PENDING, engine.APPROVED]),
            sa.or_(requests.c.requester_id == person_id, requests.c.subject_id == person_id),
        )
    )
    return sum(1 for (payload,) in rows if _day(payload["day"]).strftime("%Y-%m") == day.strftime("%Y-%m"))


async def _overlapping(conn: AsyncConnection, person_ids: set[str], days: set[date]) -> int | None:
    rows = await conn.execute(
        sa.select(requests.c.id, requests.c.requester_id, requests.c.subject_id, requests.c.payload).where(
            requests.c.kind.in_([SWAP, GIVE_AWAY]),
            requests.c.state.in_([engine.AWAITING_COLLEAGUE, engine.PENDING]),
        )
    )
    for row in rows:
        involved = {row.requester_id, row.subject_id}
        their_days = {_day(row.payload["day"]), _day(row.payload.get("their_day") or row.payload["day"])}
        if involved & person_ids and their_days & days:
            return int(row.id)
    return None


async def check(
    conn: AsyncConnection,
    app: App,
    requester: Person,
    colleague: Person,
    kind: str,
    day: date,
    their_day: date | None,
    now: datetime,
    *,
    urgent: bool = False,
) -> dict[str, Any]:
    """Every refusal the handbook names, before anyone is asked. Returns what the request needs."""
    rules = policy(app).swaps
    if colleague.id == requester.id:
        raise Refusal("swap.refused.self")
    if colleague.role not in ("agent", "lead"):
        raise Refusal("swap.refused.not_rostered", name=colleague.name)
    joined = (await conn.execute(sa.select(people.c.joined_on).where(people.c.id == requester.id))).scalar()
    if joined is not None and (now.astimezone(app.tz).date() - joined).days < rules.new_hire_days:
        raise Refusal("swap.refused.new_hire", article=rules.article_who)
    span = sorted({day, their_day or day})
    window = await roster_store.between(
        conn, span[0] - timedelta(days=13), span[-1] + timedelta(days=13), [requester.id, colleague.id]
    )
    entries = {(e.person_id, e.day): e.shift_code for e in window}
    mine = entries.get((requester.id, day))
    if mine is None:
        raise Refusal("swap.refused.no_shift", day=f"{day:%m-%d}")
    their_shift = None
    if kind == SWAP:
        assert their_day is not None
        their_shift = entries.get((colleague.id, their_day))
        if their_shift is None:
            raise Refusal(
                "swap.refused.colleague_no_shift",
                name=colleague.name,
                day=f"{their_day:%m-%d}",
                article=rules.article_who,
            )
        if their_day == day and their_shift == mine:
            raise Refusal("swap.refused.same_shift", name=colleague.name)
    elif entries.get((colleague.id, day)) is not None:
        raise Refusal(
            "swap.refused.colleague_busy", name=colleague.name, day=f"{day:%m-%d}", article=rules.article_rest
        )
    starts = [shift_window(day, policy(app).shift(mine), app.tz)[0]]
    if their_shift is not None and their_day is not None:
        starts.append(shift_window(their_day, policy(app).shift(their_shift), app.tz)[0])
    earliest = min(starts)
    if earliest - now < timedelta(hours=rules.min_notice_hours):
        raise Refusal("swap.refused.notice", hours=rules.min_notice_hours, article=rules.article_notice)
    for person in (requester, colleague):
        if await _monthly_count(conn, person.id, day) >= rules.per_month:
            raise Refusal(
                "swap.refused.monthly", name=person.name, limit=rules.per_month, article=rules.article_limit
            )
    clash = await _overlapping(conn, {requester.id, colleague.id}, set(span))
    if clash is not None:
        raise Refusal("swap.refused.overlap", id=clash)
    after = dict(entries)
    after.update(_changes(kind, requester.id, colleague.id, day, their_day, entries))
    for person in (requester, colleague):
        days = {d: code for (p, d), code in after.items() if p == person.id}
        problem = _check_result(app, person.id, days)
        if problem is not None:
            key, fields = problem
            fields["person"] = person.name
            raise Refusal(key, article=rules.article_rest, **fields)
    level = (
        "lead"
        if requester.team == colleague.team and "lead" not in (requester.role, colleague.role)
        else "supervisor"
    )
    peak = policy(app).peak_sale_on(day) or (policy(app).peak_sale_on(their_day) if their_day else None)
    if peak is not None and rules.suspended_during_peak_sale:
        if not urgent:
            raise Refusal("swap.refused.peak_sale", name=peak.name, article=rules.article_peak_sale)
        level = "manager"
    return {"shift": mine, "their_shift": their_shift, "level": level, "expires_at": earliest}


# ----- creating, accepting, approving -------------------------------------------------------------
async def create_swap(
    ctx: Context, kind: str, colleague_text: str, day: date, their_day: date | None, urgent: bool = False
) -> None:
    app = ctx.app
    rules = policy(app).swaps
    async with app.db.transaction() as conn:
        colleague = await find_person(conn, colleague_text)
        if colleague is None:
            await ctx.send(ctx.answer(ctx.t("swap.unknown_colleague", name=colleague_text[:40])), conn=conn)
            return
        try:
            facts = await check(
                conn, app, ctx.person, colleague, kind, day, their_day, ctx.now, urgent=urgent
            )
        except Refusal as refusal:
            await decisions.refuse(conn, ctx, f"{kind}.refused", refusal)
            return
        payload = {
            "day": day.isoformat(),
            "shift": facts["shift"],
            "their_day": their_day.isoformat() if their_day else None,
            "their_shift": facts["their_shift"],
            "requester_name": ctx.person.name,
            "colleague_name": colleague.name,
            "level": facts["level"],
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
            expires_at=facts["expires_at"],
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
            intro_key="swap.card.colleague",
            buttons=buttons,
            hours=rules.approval_deadline_hours,
        )
        await ctx.send(
            ctx.answer(
                ctx.t("swap.sent", summary=decisions.summary(app, request, ctx.lang), name=colleague.name),
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
    request = await decisions.load_for_press(ctx, payload)
    if request is None:
        return
    if request.state != engine.AWAITING_COLLEAGUE:
        await decisions.already_decided(ctx, request)
        return
    if ctx.person.id != request.subject_id:
        await decisions.refuse_press(ctx, request, "swap.not_colleague")
        return
    app = ctx.app
    rules = policy(app).swaps
    async with app.db.transaction() as conn:
        current = await engine.get(conn, request.id)
        if current is None or current.state != engine.AWAITING_COLLEAGUE:
            done = None
        elif not accept:
            done = await engine.transition(conn, current, engine.DECLINED, actor=ctx.person.id, now=ctx.now)
            if done is not None:
                await decisions.close_cards(conn, app, done)
                await decisions.tell(
                    conn, app, done.requester_id, "swap.told.declined", done, name=ctx.person.name
                )
        else:
            exclude = {current.requester_id, ctx.person.id}
            decider = await engine.find_decider(conn, current.team, current.payload["level"], exclude)
            due = ctx.now + timedelta(hours=rules.approval_deadline_hours)
            interval = timedelta(minutes=policy(app).reminders.approval_reminder_interval_minutes)
            done = await engine.transition(
                conn,
                current,
                engine.PENDING,
                actor=ctx.person.id,
                now=ctx.now,
                action=f"{current.kind}.accepted",
                decider_level=decider.level if decider else None,
                decider_id=decider.person_id if decider else None,
                due_at=due,
                next_reminder_at=ctx.now + interval,
            )
            if done is not None:
                await decisions.close_cards(conn, app, done, actor=ctx.person.id)
                recipients: list[Person] = []
                if decider is not None:
                    person = await app.directory.by_id(conn, decider.person_id)
                    if person:
                        recipients.append(person)
                for person in recipients:
                    await decisions.send_card(
                        conn,
                        app,
                        done,
                        person,
                        hours=rules.approval_deadline_hours,
                        intro_key="swap.card.decider",
                    )
                await decisions.group_card(conn, app, done)
                await decisions.tell(
                    conn, app, done.requester_id, "swap.told.accepted", done, name=ctx.person.name
                )
    if done is None:
        async with app.db.read() as conn:
            latest = await engine.get(conn, request.id)
        if latest is not None:
            await decisions.already_decided(ctx, latest)
        return
    await decisions.refresh_homes(app, done.requester_id, done.subject_id, done.decider_id)


async def apply_swap(conn: AsyncConnection, app: App, request: engine.Request, now: datetime) -> None:
    """On approval: both people's cells change as overrides of the plan, in the decision's transaction."""
    p = request.payload
    day = _day(p["day"])
    their_day = _day(p["their_day"]) if p.get("their_day") else None
    assert request.subject_id is not None
    span = sorted({day, their_day or day})
    current = await roster_store.between(conn, span[0], span[-1], [request.requester_id, request.subject_id])
    entries = {(e.person_id, e.day): e.shift_code for e in current}
    changes = _changes(request.kind, request.requester_id, request.subject_id, day, their_day, entries)
    note = f"{request.kind}#{request.id}"
    await roster_store.record_decision(
        conn,
        decision=request.kind,
        request_id=request.id,
        cells=[roster_store.set_shift(p_, d, code, note) for (p_, d), code in changes.items()],
        actor=request.decided_by or "system",
        now=now,
    )


# ----- the button flow: my shift → colleague → their shift ---------------------------------------
async def my_upcoming(app: App, person: Person, now: datetime) -> list[tuple[date, str]]:
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


async def start_flow(ctx: Context, kind: str) -> None:
    shifts = await my_upcoming(ctx.app, ctx.person, ctx.now)
    if not shifts:
        await ctx.reply(ctx.t("swap.flow.no_shifts", hours=policy(ctx.app).swaps.min_notice_hours))
        return
    buttons = [
        [
            Button(
                f"{d:%m-%d} {shift_label(ctx.app, code, ctx.lang)}",
                "swap.mine",
                {"day": d.isoformat(), "kind": kind},
            )
        ]
        for d, code in shifts[:8]
    ]
    await ctx.reply(ctx.t("swap.flow.pick_mine"), buttons)


async def pick_colleague(ctx: Context, payload: dict[str, Any]) -> None:
    day = _day(payload["day"])
    kind = str(payload.get("kind", SWAP))
    async with ctx.app.db.read() as conn:
        mine = await roster_store.entry(conn, ctx.person.id, day)
        same_day = await roster_store.between(conn, day, day)
        everyone = {p.id: p for p in await ctx.app.directory.all(conn)}
    my_code = mine.shift_code if mine else None
    choices = []
    for entry in same_day:
        person = everyone.get(entry.person_id)
        if person is None or person.id == ctx.person.id or person.role not in ("agent", "lead"):
            continue
        if (kind == GIVE_AWAY and entry.shift_code is None) or (kind == SWAP and entry.shift_code != my_code):
            choices.append((person.team != ctx.person.team, person.name, person, entry.shift_code))
    choices.sort(key=lambda c: (c[0], c[1]))
    if not choices:
        await ctx.reply(ctx.t("swap.flow.no_colleagues", day=f"{day:%m-%d}"))
        return
    buttons = [
        [
            Button(
                f"{person.name} ({shift_label(ctx.app, code, ctx.lang)})",
                "swap.colleague",
                {"day": day.isoformat(), "kind": kind, "colleague": person.id},
            )
        ]
        for _, _, person, code in choices[:8]
    ]
    await ctx.reply(ctx.t("swap.flow.pick_colleague", day=f"{day:%m-%d}"), buttons)


async def pick_theirs(ctx: Context, payload: dict[str, Any]) -> None:
    day = _day(payload["day"])
    colleague_id = str(payload["colleague"])
    if payload.get("kind") == GIVE_AWAY:
        await create_swap(ctx, GIVE_AWAY, colleague_id, day, None)
        return
    async with ctx.app.db.read() as conn:
        theirs = await roster_store.between(
            conn, day - timedelta(days=NEARBY_DAYS), day + timedelta(days=NEARBY_DAYS), [colleague_id]
        )
    options = [e for e in theirs if e.shift_code is not None]
    if not options:
        await ctx.reply(ctx.t("swap.flow.no_colleagues", day=f"{day:%m-%d}"))
        return
    buttons = [
        [
            Button(
                f"{e.day:%m-%d} {shift_label(ctx.app, e.shift_code, ctx.lang)}",
                "swap.theirs",
                {"day": day.isoformat(), "colleague": colleague_id, "their_day": e.day.isoformat()},
            )
        ]
        for e in options
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


def register(app: App) -> None:
    router = app.router
    decisions.register_kind(app, SWAP, decisions.KindSpec(swap_summary, apply_swap))
    decisions.register_kind(app, GIVE_AWAY, decisions.KindSpec(swap_summary, apply_swap))

    @router.command(
        "swap", keywords=("换班", "调班"), help_key="help.desc.swap", order=30, takes_args=True, personal=True
    )
    async def swap(ctx: Context) -> None:
        if not ctx.args:
            from handlers.forms import swap_form

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
