"""打卡: clock-in and clock-out matched to the rostered shift, with the handbook's verdict (第四章)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import roster_store
from bot.context import Context
from bot.i18n import Catalog
from bot.messages import Person
from bot.punch_store import NO_SHIFT, existing_punch, grace_uses, record_punch
from bot.schema import teams
from handlers import requests as decisions
from handlers.common import calendar, cite, cite_all, hhmm, policy, shift_label
from schedules.attendance import (
    MatchedShift,
    PunchKind,
    ShiftFacts,
    Verdict,
    VerdictKind,
    match_shift,
    shift_verdict,
)
from schedules.roster.model import RosterEntry
from schedules.timeutil import shift_window

if TYPE_CHECKING:
    from bot.app import App


def as_entries(stored: list[roster_store.StoredEntry]) -> list[RosterEntry]:
    return [RosterEntry(e.person_id, e.day, e.shift_code) for e in stored]


async def entries_around(
    conn: AsyncConnection, app: App, person_id: str, moment: datetime
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


async def lead_of(conn: AsyncConnection, person: Person) -> str | None:
    if person.team is None:
        return None
    lead: str | None = (
        await conn.execute(sa.select(teams.c.lead_id).where(teams.c.id == person.team))
    ).scalar()
    return lead if lead != person.id else None


@dataclass(frozen=True)
class Judged:
    """A punch judged from a read snapshot: the same punch stored before, or the verdict on this one."""

    earlier: datetime | None
    verdict: Verdict | None
    clocked_in: bool = True  # for a clock-out: whether the shift has its clock-in


async def judge_punch(ctx: Context, conn: AsyncConnection, kind: str, matched: MatchedShift) -> Judged:
    """Everything a punch on a matched shift is judged on, read without the write lock; the verdict is
    the shift's (``schedules.attendance.shift_verdict``) with this punch added, as the report will see it."""
    day, code = matched.entry.date, matched.shift_code
    earlier = await existing_punch(conn, ctx.person.id, day, code, kind)
    if earlier is not None:
        return Judged(earlier, None)
    grace = await grace_uses(conn, ctx.person.id, day)
    if kind == "clock_in":
        facts = ShiftFacts(ctx.person.id, day, code, clock_in=ctx.now)
        shift = shift_verdict(facts, grace, ctx.now, policy(ctx.app), ctx.app.tz)
        return Judged(None, shift.arrival)
    clocked_in = await existing_punch(conn, ctx.person.id, day, code, "clock_in")
    facts = ShiftFacts(ctx.person.id, day, code, clock_in=clocked_in, clock_out=ctx.now)
    shift = shift_verdict(facts, grace, ctx.now, policy(ctx.app), ctx.app.tz)
    return Judged(None, shift.departure, clocked_in is not None)


async def store_punch(
    ctx: Context, conn: AsyncConnection, kind: str, matched: MatchedShift, judged: Judged
) -> str:
    """Store a judged punch with its audit row and return the reply. A second punch of the same kind,
    seen in the snapshot or stored meanwhile (a double tap, another replica), is answered politely and
    not stored again."""
    app, now = ctx.app, ctx.now
    day, code = matched.entry.date, matched.shift_code
    label = f"{shift_label(app, code, ctx.lang)} {hhmm(app, matched.start)}–{hhmm(app, matched.end)}"
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


async def clock_in(ctx: Context) -> None:
    app, rules = ctx.app, policy(ctx.app)
    now = ctx.now
    # Read first, then write: SQLite has one writer at a time and at a shift's start everybody clocks
    # in at once, while the reads need no lock. A punch stored in between still meets the unique key.
    async with app.db.read() as conn:
        entries = await entries_around(conn, app, ctx.person.id, now)
        matched = match_shift(now, entries, rules, app.tz, kind=PunchKind.CLOCK_IN)
        judged = await judge_punch(ctx, conn, "clock_in", matched) if matched is not None else None
    if matched is None or judged is None:
        await clock_in_without_shift(ctx, entries)
        return
    async with app.db.transaction() as conn:
        await ctx.send(ctx.answer(await store_punch(ctx, conn, "clock_in", matched, judged)), conn=conn)


async def clock_in_without_shift(ctx: Context, entries: list[RosterEntry]) -> None:
    """Too early for the next shift, or no shift at all (then stored as such, and the lead told)."""
    app, rules = ctx.app, policy(ctx.app)
    now = ctx.now
    upcoming = [
        shift_window(e.date, rules.shift(e.shift_code), app.tz)[0]
        for e in entries
        if e.shift_code is not None
    ]
    later = [s for s in upcoming if s > now]
    async with app.db.transaction() as conn:
        if later:
            opens = min(later) - timedelta(minutes=rules.clock_in.window_opens_minutes)
            await ctx.send(
                ctx.answer(
                    ctx.t(
                        "clock.too_early",
                        opens=hhmm(app, opens),
                        start=hhmm(app, min(later)),
                        article=cite(rules.clock_in.article_window, ctx.lang),
                    )
                ),
                conn=conn,
            )
            return
        today = now.astimezone(app.tz).date()
        if await existing_punch(conn, ctx.person.id, today, NO_SHIFT, "clock_in"):
            await ctx.send(ctx.answer(ctx.t("clock.no_shift_again")), conn=conn)
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
        lead = await lead_of(conn, ctx.person)
        await decisions.tell(
            conn, app, lead, "clock.lead.no_shift", name=ctx.person.name, time=hhmm(app, now)
        )
        await ctx.send(ctx.answer(ctx.t("clock.no_shift", time=hhmm(app, now))), conn=conn)


async def clock_out(ctx: Context) -> None:
    app, rules = ctx.app, policy(ctx.app)
    now = ctx.now
    async with app.db.read() as conn:  # read first, then write, as for clock_in
        entries = await entries_around(conn, app, ctx.person.id, now)
        matched = match_shift(now, entries, rules, app.tz, kind=PunchKind.CLOCK_OUT)
        judged = await judge_punch(ctx, conn, "clock_out", matched) if matched is not None else None
    async with app.db.transaction() as conn:
        if matched is None or judged is None:
            await ctx.send(ctx.answer(ctx.t("clock.out_no_shift")), conn=conn)
            return
        await ctx.send(ctx.answer(await store_punch(ctx, conn, "clock_out", matched, judged)), conn=conn)


async def load_policy_at_start(app: App) -> None:
    """A bad POLICY_FILE or HOLIDAYS_FILE stops the bot at start with one line, not at the first clock-in."""
    policy(app)
    calendar(app)


def register(app: App) -> None:
    router = app.router
    app.services.setdefault("on_prepare", []).append(load_policy_at_start)
    router.command("in", keywords=("打卡", "上班", "签到"), help_key="help.desc.in", order=10, personal=True)(
        clock_in
    )
    router.command("out", keywords=("下班", "签退"), help_key="help.desc.out", order=11, personal=True)(
        clock_out
    )
