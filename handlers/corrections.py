"""更正考勤: a lead (for their own team) or an admin corrects one finished shift's verdict with a reason.

The correction is stored beside the punches (never by editing them), audited, shown in the report's detail
rows, and the person is told. A finished period's report changes only through such corrections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from bot import punch_store
from bot.context import Context
from bot.messages import Person
from handlers import requests as decisions
from handlers.common import parse_day
from handlers.report import close_due_months, judged_between
from schedules.attendance import CORRECTABLE, ShiftVerdictKind
from schedules.report import VERDICT_LABELS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from bot.core import Core

MAX_REASON = 300


def verdict_word(text: str) -> ShiftVerdictKind | None:
    """A verdict as typed: its code (late, absent_half_day) or its label (迟到, 旷工半天, on time)."""
    word = text.strip().lower().replace(" ", "_")
    for kind in CORRECTABLE:
        zh, en = VERDICT_LABELS[kind.value]
        if word in (kind.value, zh, en.replace(" ", "_")):
            return kind
    return None


def may_correct(actor: Person, subject: Person) -> bool:
    """An admin, for anyone; a lead, for the agents of their own team (not their supervisor, who shares the
    team but stands above them); nobody corrects their own attendance."""
    if actor.id == subject.id:
        return False
    return actor.role == "admin" or (
        actor.role == "lead"
        and subject.role == "agent"
        and actor.team is not None
        and actor.team == subject.team
    )


@dataclass(frozen=True)
class Corrected:
    """The outcome: ``problem`` is a catalog key suffix when nothing was stored."""

    problem: str | None
    before: ShiftVerdictKind | None = None
    correction_id: int = 0


async def correct_shift(
    conn: AsyncConnection,
    app: Core,
    actor: Person,
    subject: Person,
    day: date,
    kind: ShiftVerdictKind,
    reason: str,
    now: datetime,
) -> Corrected:
    """Check and store one correction (in the caller's transaction) and queue the note to the person."""
    if not may_correct(actor, subject):
        return Corrected("not_allowed")
    judged = await judged_between(conn, app, day.replace(day=1), day, [subject.id], now)
    verdicts = [v for v in judged if v.facts.day == day]
    if not verdicts or verdicts[0].facts.shift_code is None:
        return Corrected("no_shift")
    current = verdicts[0]
    if current.kind is ShiftVerdictKind.IN_PROGRESS:
        return Corrected("not_finished")
    correction_id = await punch_store.add_correction(
        conn, app, subject.id, day, kind.value, reason[:MAX_REASON], actor.id
    )
    await decisions.tell(
        conn,
        app,
        subject.id,
        "correct.told",
        day=f"{day:%m-%d}",
        before=label(app, subject.language, current.kind),
        after=label(app, subject.language, kind),
        reason=reason[:MAX_REASON],
        name=actor.name,
    )
    return Corrected(None, current.kind, correction_id)


def label(app: Core, lang: str, kind: ShiftVerdictKind) -> str:
    return app.catalog.t(lang, f"verdict.kind.{kind.value}")


async def find_person(conn: AsyncConnection, app: Core, word: str) -> Person | None:
    """By id or by exact name."""
    found = await app.directory.by_id(conn, word)
    if found is not None:
        return found
    return next((p for p in await app.directory.all(conn) if p.name == word), None)


async def correct(ctx: Context) -> None:
    """`/correct 王芳 12-01 准时 原因`."""
    app = ctx.app
    words = ctx.args.split(maxsplit=3)
    today = ctx.now.astimezone(app.tz).date()
    if len(words) < 4:
        await ctx.reply(ctx.t("correct.usage"))
        return
    day = parse_day(words[1], today)
    if day is not None and day > today:
        day = day.replace(year=day.year - 1) if (day - today) > timedelta(days=180) else day
    kind = verdict_word(words[2])
    if day is None or kind is None:
        await ctx.reply(ctx.t("correct.usage"))
        return
    async with app.db.transaction() as conn:
        subject = await find_person(conn, app, words[0])
        if subject is None:
            await ctx.send(ctx.answer(ctx.t("correct.unknown_person", who=words[0])), conn=conn)
            return
        done = await correct_shift(conn, app, ctx.person, subject, day, kind, words[3], ctx.now)
        if done.problem is not None:
            text = ctx.t(f"correct.{done.problem}", name=subject.name, day=f"{day:%m-%d}")
        else:
            assert done.before is not None
            text = ctx.t(
                "correct.done",
                name=subject.name,
                day=f"{day:%m-%d}",
                before=label(app, ctx.lang, done.before),
                after=label(app, ctx.lang, kind),
            )
        await ctx.send(ctx.answer(text), conn=conn)


def register(app: Core) -> None:
    app.ticks.register("attendance_close", close_due_months)
    app.router.command(
        "correct",
        keywords=("更正考勤",),
        min_role="lead",
        help_key="help.desc.correct",
        order=45,
        takes_args=True,
        personal=True,
    )(correct)
