"""打卡: clock-in and clock-out matched to the rostered shift, with the handbook's verdict (第四章)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import buttons, roster_store
from bot import requests as engine
from bot.context import Context
from bot.i18n import Catalog
from bot.messages import Button, Person
from bot.punch_store import NO_SHIFT, existing_punch, grace_uses, record_punch
from handlers import overtime
from handlers import requests as decisions
from handlers.common import calendar, cite, cite_all, hhmm, policy, shift_label, weekday
from handlers.report import leave_half, leave_type, overtime_cap
from schedules.attendance import (
    MatchedShift,
    PunchKind,
    ShiftFacts,
    Verdict,
    VerdictKind,
    match_shift,
    punch_time,
    rest_day_overtime_minutes,
    shift_verdict,
    worked_window,
)
from schedules.requests import Refusal, pick_decider
from schedules.roster.model import RosterEntry
from schedules.timeutil import shift_window

if TYPE_CHECKING:
    from bot.core import Core


def as_entries(stored: list[roster_store.StoredEntry]) -> list[RosterEntry]:
    return [RosterEntry(e.person_id, e.day, e.shift_code) for e in stored]


async def entries_around(
    conn: AsyncConnection, app: Core, person_id: str, moment: datetime
) -> list[RosterEntry]:
    today = moment.astimezone(app.tz).date()
    stored = await roster_store.between(
        conn, today - timedelta(days=1), today + timedelta(days=1), [person_id]
    )
    return as_entries(stored)


def verdict_key(verdict: Verdict) -> str:
    """The catalog key of a punch verdict's sentence: an absence says whether it came from arriving late
    or from leaving early, so the sentence names its real cause."""
    if verdict.kind is VerdictKind.ABSENT:
        return "clock.verdict.absent_early" if verdict.minutes_early else "clock.verdict.absent_late"
    return f"clock.verdict.{verdict.kind.value}"


def verdict_text(catalog: Catalog, lang: str, verdict: Verdict) -> str:
    """A punch verdict as one sentence in the reader's language, numbers in their plural form."""
    articles = cite_all(verdict.articles, lang)
    return catalog.t(
        lang,
        verdict_key(verdict),
        minutes=verdict.minutes_late or verdict.minutes_early,
        left=verdict.grace_uses_left if verdict.grace_uses_left is not None else 0,
        units=verdict.overtime_units,
        overtime=verdict.overtime_minutes,
        articles=articles,
    )


@dataclass(frozen=True)
class Judged:
    """A punch judged from a read snapshot: the same punch stored before, or the verdict on this one."""

    earlier: datetime | None
    verdict: Verdict | None
    clocked_in: bool = True  # for a clock-out: whether the shift has its clock-in
    leave_half: str | None = None  # "am"/"pm": that half is on leave, the punch is for the other


async def judge_punch(
    ctx: Context, conn: AsyncConnection, kind: str, matched: MatchedShift, at: datetime
) -> Judged:
    """Everything a punch on a matched shift is judged on, read without the write lock; the verdict is
    the shift's (``schedules.attendance.shift_verdict``) with this punch added, as the report will see it."""
    day, code = matched.entry.date, matched.shift_code
    # half of the shift on approved leave: the punch is judged against the half that is worked
    cell = await roster_store.entry(conn, ctx.person.id, day)
    half = leave_half(cell.note if cell is not None else None)
    leave = leave_type(cell.note) if cell is not None and half is not None else None
    earlier = await existing_punch(conn, ctx.person.id, day, code, kind)
    if earlier is not None:
        return Judged(earlier, None, leave_half=half)
    grace = await grace_uses(conn, ctx.person.id, day)
    if kind == "clock_in":
        facts = ShiftFacts(ctx.person.id, day, code, clock_in=at, leave=leave, leave_half=half)
        shift = shift_verdict(facts, grace, at, policy(ctx.app), ctx.app.tz)
        return Judged(None, shift.arrival, leave_half=half)
    clocked_in = await existing_punch(conn, ctx.person.id, day, code, "clock_in")
    facts = ShiftFacts(
        ctx.person.id, day, code, clock_in=clocked_in, clock_out=at, leave=leave, leave_half=half
    )
    shift = shift_verdict(facts, grace, at, policy(ctx.app), ctx.app.tz)
    return Judged(None, shift.departure, clocked_in is not None, half)


def punch_shift_label(ctx: Context, matched: MatchedShift, judged: Judged) -> str:
    """The shift a punch is for, as the person reads it: "白班 09:00–18:00"."""
    app = ctx.app
    start, end = worked_window(matched.start, matched.end, judged.leave_half)
    name = shift_label(app, matched.shift_code, ctx.lang)
    if judged.leave_half is not None:  # "白班下午半天 13:30–18:00": the half that is worked
        name += (" " if ctx.lang == "en" else "") + ctx.t(f"remind.worked_half.{judged.leave_half}")
    return f"{name} {hhmm(app, start)}–{hhmm(app, end)}"


async def store_punch(
    ctx: Context, conn: AsyncConnection, kind: str, matched: MatchedShift, judged: Judged, now: datetime
) -> str:
    """Store a judged punch with its audit row and return the reply. A second punch of the same kind,
    seen in the snapshot or stored meanwhile (a double tap, another replica), is answered politely and
    not stored again. ``now`` is the punch's time (the person's)."""
    app = ctx.app
    day, code = matched.entry.date, matched.shift_code
    label = punch_shift_label(ctx, matched, judged)
    already, done = (
        ("clock.already_in", "clock.in_done")
        if kind == "clock_in"
        else ("clock.already_out", "clock.out_done")
    )
    if judged.verdict is None:
        return ctx.t(already, time=hhmm(app, judged.earlier or now), shift=label)
    verdict = judged.verdict
    stored = await record_punch(
        conn, app, ctx.person.id, kind, now, day, code, verdict.kind.value, verdict, "chat", ctx.person.id
    )
    if not stored:
        return ctx.t(already, time=hhmm(app, now), shift=label)
    text = ctx.t(done, time=hhmm(app, now), shift=label) + "\n" + verdict_text(app.catalog, ctx.lang, verdict)
    if not judged.clocked_in:
        text += "\n" + ctx.t("clock.out_without_in", day=f"{day:%m-%d}")
    return text


async def person_time(ctx: Context, kind: str) -> datetime | None:
    """The punch's time from the platform's timestamp (``schedules.attendance.punch_time``); None when it
    is too old to be a punch: then the person is told why (a 补卡 is the way) and the refusal audited."""
    app, rules = ctx.app, policy(ctx.app)
    timing = punch_time(ctx.incoming.platform_at, ctx.now, rules)
    if not timing.refused:
        return timing.at
    local = timing.at.astimezone(app.tz)
    async with app.db.transaction() as conn:
        await app.audit_in(
            conn,
            actor=ctx.person.id,
            action=f"punch.{kind}.refused_old",
            object_type="punch",
            object_id=ctx.person.id,
            after={"platform_at": timing.at.isoformat(), "received_at": ctx.now.isoformat()},
        )
        text = ctx.t(
            "clock.too_old",
            when=f"{local:%m-%d %H:%M}",
            hours=rules.attendance.punch_max_age_hours,
            article=cite(rules.missed_punch.article, ctx.lang),
        )
        await ctx.send(ctx.answer(text), conn=conn)
    return None


async def clock_in(ctx: Context) -> None:
    app, rules = ctx.app, policy(ctx.app)
    now = await person_time(ctx, "clock_in")
    if now is None:
        return
    # Read first, then write: SQLite has one writer at a time and at a shift's start everybody clocks
    # in at once, while the reads need no lock. A punch stored in between still meets the unique key.
    async with app.db.read() as conn:
        entries = await entries_around(conn, app, ctx.person.id, now)
        matched = match_shift(now, entries, rules, app.tz, kind=PunchKind.CLOCK_IN)
        judged = await judge_punch(ctx, conn, "clock_in", matched, now) if matched is not None else None
    if matched is None or judged is None:
        await clock_in_without_shift(ctx, entries, now)
        return
    verdict = judged.verdict
    if verdict is not None and verdict.kind is VerdictKind.TOO_EARLY and verdict.opens_at is not None:
        # a morning off: the worked half starts at the shift's midpoint, and its window an hour before
        window = timedelta(minutes=rules.clock_in.window_opens_minutes)
        text = ctx.t(
            "clock.too_early_half",
            day=f"{matched.entry.date:%m-%d}",
            start=hhmm(app, verdict.opens_at + window),
            opens=hhmm(app, verdict.opens_at),
            article=cite(rules.clock_in.article_window, ctx.lang),
        )
        async with app.db.transaction() as conn:
            await ctx.send(ctx.answer(text), conn=conn)
        return
    async with app.db.transaction() as conn:
        text = await store_punch(ctx, conn, "clock_in", matched, judged, now)
        await ctx.send(ctx.answer(text), conn=conn)


NEXT_SHIFT_DAYS = 31
FOLLOW_UP = {"agent": "lead", "lead": "supervisor", "supervisor": "manager"}
"""Who checks a punch without a shift: the level above the person's own (nobody checks themselves)."""


async def follow_up(conn: AsyncConnection, app: Core, person: Person) -> Person | None:
    """The person above in their own chain who checks a punch without a shift; None for a manager."""
    level = FOLLOW_UP.get(person.role)
    if level is None:
        return None
    try:  # a check, not a decision: nobody is passed over for being off today
        decider = pick_decider(person.id, level, await engine.load_chart(conn))  # type: ignore[arg-type]
    except Refusal:
        return None
    return await app.directory.by_id(conn, decider.person_id)


async def next_shift_text(ctx: Context, conn: AsyncConnection, today: date) -> str:
    """ "Your next shift: 12-07 周一 白班 09:00–18:00", with its date, so it never reads as today's."""
    app = ctx.app
    ahead = await roster_store.between(
        conn, today + timedelta(days=1), today + timedelta(days=NEXT_SHIFT_DAYS), [ctx.person.id]
    )
    nxt = next((e for e in ahead if e.shift_code is not None), None)
    if nxt is None or nxt.shift_code is None:
        return ctx.t("clock.no_next_shift", days=NEXT_SHIFT_DAYS)
    start, end = shift_window(nxt.day, policy(app).shift(nxt.shift_code), app.tz)
    label = f"{shift_label(app, nxt.shift_code, ctx.lang)} {hhmm(app, start)}–{hhmm(app, end)}"
    return ctx.t("clock.next_shift", day=f"{nxt.day:%m-%d}", weekday=weekday(ctx.lang, nxt.day), shift=label)


async def clock_in_without_shift(ctx: Context, entries: list[RosterEntry], now: datetime) -> None:
    """Too early for today's shift; or a rest day or no shift at all: the punch is kept as a record (it
    counts as no attendance), the person is told it is a rest day, their next shift with its date, and
    that overtime on a rest day is an overtime request (第二十五条); whoever is above them is asked to
    check, and the reply names them only when someone was told."""
    app, rules = ctx.app, policy(ctx.app)
    today = now.astimezone(app.tz).date()
    later = sorted(
        (shift_window(e.date, rules.shift(e.shift_code), app.tz)[0], e.date)
        for e in entries
        if e.shift_code is not None and e.date == today
    )
    later = [(start, day) for start, day in later if start > now]
    async with app.db.transaction() as conn:
        if later:
            start, day = later[0]
            opens = start - timedelta(minutes=rules.clock_in.window_opens_minutes)
            text = ctx.t(
                "clock.too_early",
                opens=hhmm(app, opens),
                start=hhmm(app, start),
                day=f"{day:%m-%d}",
                article=cite(rules.clock_in.article_window, ctx.lang),
            )
            await ctx.send(ctx.answer(text), conn=conn)
            return
        rest_day = any(e.date == today and e.shift_code is None for e in entries)
        if await existing_punch(conn, ctx.person.id, today, NO_SHIFT, "clock_in"):
            again = [ctx.t("clock.no_shift_again")]
            if rest_day:
                again.append(await rest_day_overtime(ctx, conn, today, now))
            await ctx.send(ctx.answer("\n".join(again)), conn=conn)
            return
        await record_punch(
            conn,
            app,
            ctx.person.id,
            "clock_in",
            now,
            today,
            NO_SHIFT,
            "no_shift",
            None,
            "chat",
            ctx.person.id,
        )
        key = "clock.rest_day" if rest_day else "clock.no_shift"
        lines = [
            ctx.t(key, time=hhmm(app, now), day=f"{today:%m-%d}"),
            await next_shift_text(ctx, conn, today),
        ]
        if rest_day:
            lines.append(await rest_day_overtime(ctx, conn, today, now))
        else:  # not on the roster at all: whoever is above checks the roster
            above = await follow_up(conn, app, ctx.person)
            if above is not None:
                await decisions.tell(
                    conn, app, above.id, "clock.lead.no_shift", name=ctx.person.name, time=hhmm(app, now)
                )
                lines.append(ctx.t("clock.told_to_check", name=above.name))
        await ctx.send(ctx.answer("\n".join(lines)), conn=conn)


async def rest_day_overtime(ctx: Context, conn: AsyncConnection, today: date, now: datetime) -> str:
    """Work on a rest day is overtime, approved by the supervisor (第二十五条): an approved or pending
    request for today is named; otherwise the punch becomes such a request, and the reply names who decides
    it (they were sent its card)."""
    app = ctx.app
    article = cite(policy(app).overtime.article_cap, ctx.lang)
    request = await overtime.overtime_on(conn, ctx.person.id, today)
    if request is None:
        request = await overtime.request_rest_day_overtime(conn, ctx, today, hhmm(app, now))
        if request is None:
            return ctx.t("clock.rest_overtime", article=article)
        key = "clock.overtime_requested"
    else:
        key = "clock.overtime_approved" if request.state == engine.APPROVED else "clock.overtime_pending"
    decider = await app.directory.by_id(conn, request.decider_id or "")
    return ctx.t(key, request=request.id, name=decider.name if decider else "", article=article)


async def clock_out_without_shift(ctx: Context, conn: AsyncConnection, now: datetime) -> str:
    """A clock-out after today's clock-in without a shift (a rest day's overtime) is recorded: its length
    is what the overtime request is decided on. Otherwise there is nothing to clock out from."""
    app = ctx.app
    today = now.astimezone(app.tz).date()
    began = await existing_punch(conn, ctx.person.id, today, NO_SHIFT, "clock_in")
    if began is None or began >= now:
        return ctx.t("clock.out_no_shift")
    ended = await existing_punch(conn, ctx.person.id, today, NO_SHIFT, "clock_out")
    if ended is not None:
        return ctx.t("clock.rest_out_again", time=hhmm(app, ended))
    await record_punch(
        conn, app, ctx.person.id, "clock_out", now, today, NO_SHIFT, "no_shift", None, "chat", ctx.person.id
    )
    minutes = int((now - began).total_seconds() // 60)
    lines = [
        ctx.t(
            "clock.rest_out",
            time=hhmm(app, now),
            start=hhmm(app, began),
            hours=minutes // 60,
            minutes=minutes % 60,
        )
    ]
    request = await overtime.overtime_on(conn, ctx.person.id, today)
    if request is not None and request.state == engine.APPROVED:
        # approved already: the hours count now (stored in the request when it approved the punches)
        await overtime.record_rest_day_hours(conn, app, request, now)
        approved = rest_day_overtime_minutes(began, now, overtime_cap(request.payload), policy(app))
        lines.append(
            ctx.t(
                "clock.rest_out_approved",
                request=request.id,
                hours=f"{round(approved / 60, 2):g}",
                article=cite(policy(app).overtime.article_cap, ctx.lang),
            )
        )
    elif request is not None:
        lines.append(ctx.t("clock.rest_out_request", request=request.id))
    return "\n".join(lines)


async def clock_out(ctx: Context) -> None:
    app, rules = ctx.app, policy(ctx.app)
    now = await person_time(ctx, "clock_out")
    if now is None:
        return
    async with app.db.read() as conn:  # read first, then write, as for clock_in
        entries = await entries_around(conn, app, ctx.person.id, now)
        matched = match_shift(now, entries, rules, app.tz, kind=PunchKind.CLOCK_OUT)
        judged = await judge_punch(ctx, conn, "clock_out", matched, now) if matched is not None else None
    async with app.db.transaction() as conn:
        if matched is None or judged is None:
            await ctx.send(ctx.answer(await clock_out_without_shift(ctx, conn, now)), conn=conn)
            return
        if judged.verdict is not None and judged.verdict.leaves_early:
            await ask_before_early_out(ctx, conn, matched, judged, now)
            return
        text = await store_punch(ctx, conn, "clock_out", matched, judged, now)
        await ctx.send(ctx.answer(text), conn=conn)


async def ask_before_early_out(
    ctx: Context, conn: AsyncConnection, matched: MatchedShift, judged: Judged, now: datetime
) -> None:
    """A clock-out that would count as early leave or absence (第三十条) is asked about first: a shift has
    one clock-out (第二十八条), so a mis-tap stored at once would cost pay with no way back but a
    correction. Nothing is stored until the person presses confirm."""
    app, verdict = ctx.app, judged.verdict
    assert verdict is not None
    label = punch_shift_label(ctx, matched, judged)
    payload = {
        "person": ctx.person.id,
        "day": matched.entry.date.isoformat(),
        "shift": matched.shift_code,
        "label": label,
    }
    await app.audit_in(
        conn,
        actor=ctx.person.id,
        action="punch.clock_out.asked",
        object_type="punch",
        object_id=ctx.person.id,
        after={
            **payload,
            "at": now.isoformat(),
            "verdict": verdict.kind.value,
            "early": verdict.minutes_early,
        },
    )
    text = ctx.t(
        "clock.out_confirm",
        time=hhmm(app, now),
        shift=label,
        verdict=verdict_text(app.catalog, ctx.lang, verdict),
        article=cite(policy(app).clock_in.article_window, ctx.lang),
    )
    rows = [
        [
            Button(ctx.t("clock.button.out_now"), "clock.out_confirm", payload),
            Button(ctx.t("clock.button.out_cancel"), "clock.out_cancel", payload),
        ]
    ]
    await ctx.send(ctx.answer(text, rows), conn=conn)


def asked_shift(ctx: Context, payload: dict[str, Any]) -> tuple[date, str, str] | None:
    """The shift a confirm/cancel card asked about (day, code, label); None when the card is not the
    presser's own."""
    try:
        day = date.fromisoformat(str(payload.get("day")))
    except ValueError:
        return None
    if payload.get("person") != ctx.person.id or not payload.get("shift"):
        return None
    return day, str(payload["shift"]), str(payload.get("label") or "")


async def nothing_to_confirm(ctx: Context, conn: AsyncConnection, payload: dict[str, Any]) -> None:
    """A stale press (cancelled already, another shift now, not the presser's card): audited, answered."""
    await ctx.app.audit_in(
        conn,
        actor=ctx.person.id,
        action="punch.clock_out.stale_press",
        object_type="punch",
        object_id=ctx.person.id,
        after={k: v for k, v in payload.items() if not k.startswith("_")},
    )
    await ctx.send(ctx.answer(ctx.t("clock.out_nothing_to_confirm")), conn=conn)


async def confirm_early_out(ctx: Context, payload: dict[str, Any]) -> None:
    """Confirm pressed: the clock-out is stored at the press's time (the person's), judged then, and
    answered as /out answers; a second press finds it stored and says so."""
    app, rules = ctx.app, policy(ctx.app)
    asked = asked_shift(ctx, payload)
    if asked is None:
        async with app.db.transaction() as conn:
            await nothing_to_confirm(ctx, conn, payload)
        return
    day, code, label = asked
    now = await person_time(ctx, "clock_out")
    if now is None:
        return
    message_id = str(payload.get("_message_id") or "")
    async with app.db.read() as conn:
        entries = await entries_around(conn, app, ctx.person.id, now)
        matched = match_shift(now, entries, rules, app.tz, kind=PunchKind.CLOCK_OUT)
        if matched is not None and (matched.entry.date, matched.shift_code) != (day, code):
            matched = None  # the card was about another shift: not this one's clock-out
        judged = await judge_punch(ctx, conn, "clock_out", matched, now) if matched is not None else None
    async with app.db.transaction() as conn:
        # Looked at in the transaction that stores the punch, so a cancel cannot slip in between.
        earlier = await existing_punch(conn, ctx.person.id, day, code, "clock_out")
        answered = await buttons.closed(conn, message_id)
        if earlier is not None:
            await ctx.send(
                ctx.answer(ctx.t("clock.already_out", time=hhmm(app, earlier), shift=label)), conn=conn
            )
        elif matched is None or judged is None or answered is not None:
            await nothing_to_confirm(ctx, conn, payload)
        else:
            text = await store_punch(ctx, conn, "clock_out", matched, judged, now)
            await ctx.send(ctx.answer(text), conn=conn)


async def cancel_early_out(ctx: Context, payload: dict[str, Any]) -> None:
    """Cancel pressed: nothing is stored, the card is closed (a later confirm on it does nothing) and the
    person is told; after a confirm it says the clock-out is already stored."""
    app = ctx.app
    asked = asked_shift(ctx, payload)
    message_id = str(payload.get("_message_id") or "")
    async with app.db.transaction() as conn:
        if asked is None:
            await nothing_to_confirm(ctx, conn, payload)
            return
        day, code, label = asked
        earlier = await existing_punch(conn, ctx.person.id, day, code, "clock_out")
        if earlier is not None:
            await ctx.send(
                ctx.answer(ctx.t("clock.already_out", time=hhmm(app, earlier), shift=label)), conn=conn
            )
            return
        if await buttons.closed(conn, message_id) is not None:
            await nothing_to_confirm(ctx, conn, payload)
            return
        await buttons.close(conn, message_id, "cancelled")
        await app.audit_in(
            conn,
            actor=ctx.person.id,
            action="punch.clock_out.cancelled",
            object_type="punch",
            object_id=ctx.person.id,
            after={"day": day.isoformat(), "shift": code, "at": ctx.now.isoformat()},
        )
        await ctx.send(ctx.answer(ctx.t("clock.out_cancelled", shift=label)), conn=conn)


async def load_policy_at_start(app: Core) -> None:
    """A bad POLICY_FILE or HOLIDAYS_FILE stops the bot at start with one line, not at the first clock-in."""
    policy(app)
    calendar(app)


def register(app: Core) -> None:
    router = app.router
    app.hooks.on_prepare.append(load_policy_at_start)
    router.command(
        "in", keywords=("上班打卡", "打卡", "上班", "签到"), help_key="help.desc.in", order=10, personal=True
    )(clock_in)
    router.command(
        "out", keywords=("下班打卡", "下班", "签退"), help_key="help.desc.out", order=11, personal=True
    )(clock_out)
    router.action("clock.out_confirm")(confirm_early_out)
    router.action("clock.out_cancel")(cancel_early_out)
