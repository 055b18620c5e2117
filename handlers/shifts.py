"""My shifts, who is on duty now, and the shift reminders (第三章、第四章)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import home, roster_store
from bot import requests as engine
from bot.context import Context
from bot.messages import Outgoing, Person
from bot.schema import punches
from handlers.common import cite_all, hhmm, policy, shift_label, weekday
from handlers.report import leave_type
from schedules.attendance import ShiftFacts, ShiftVerdictKind, VerdictKind, shift_verdict
from schedules.reminders import Reminder, ReminderKind, due_reminders, still_useful
from schedules.requests import Refusal, pick_decider
from schedules.roster.model import RosterEntry
from schedules.timeutil import shift_window

FOLLOW_UP_LEVEL = {"agent": "lead", "lead": "supervisor", "supervisor": "manager"}

if TYPE_CHECKING:
    from bot.app import App


async def shifts_text(app: App, person: Person, now: datetime) -> str:
    """My next 7 days, as the chat and the Home page show it."""
    lang = person.language
    today = now.astimezone(app.tz).date()
    async with app.db.read() as conn:
        stored = await roster_store.between(conn, today, today + timedelta(days=6), [person.id])
    if not stored:
        return app.catalog.t(lang, "shifts.none")
    lines = [app.catalog.t(lang, "shifts.title")]
    for e in stored:
        if e.shift_code is None:
            what = shift_label(app, None, lang)
        else:
            start, end = shift_window(e.day, policy(app).shift(e.shift_code), app.tz)
            what = f"{shift_label(app, e.shift_code, lang)} {hhmm(app, start)}–{hhmm(app, end)}"
        if e.note and e.note.startswith("leave:"):
            what += " " + app.catalog.t(lang, "shifts.on_leave")
        lines.append(f"{e.day:%m-%d} {weekday(lang, e.day)}  {what}")
    return "\n".join(lines)


async def my_shifts(ctx: Context) -> None:
    await ctx.reply(await shifts_text(ctx.app, ctx.person, ctx.now))


async def home_shifts(app: App, person: Person) -> list[str]:
    if person.role not in ("agent", "lead"):
        return []
    return [await shifts_text(app, person, app.clock.now())]


async def on_duty_view(ctx: Context) -> None:
    app, rules = ctx.app, policy(ctx.app)
    now = ctx.now
    today = now.astimezone(app.tz).date()
    async with app.db.read() as conn:
        stored = await roster_store.between(conn, today - timedelta(days=1), today)
        everyone = {p.id: p for p in await app.directory.all(conn)}
        team_rows = await app.directory.teams(conn)
        punched = {
            (r.person_id, r.shift_day, r.shift_code): r
            for r in await conn.execute(
                sa.select(punches).where(
                    punches.c.shift_day >= today - timedelta(days=1), punches.c.kind == "clock_in"
                )
            )
        }
        graced = (
            await conn.execute(
                sa.select(punches.c.person_id, punches.c.shift_day).where(
                    punches.c.grace_used, punches.c.shift_day >= (today - timedelta(days=1)).replace(day=1)
                )
            )
        ).all()
    by_team: dict[str | None, list[str]] = {}
    for e in stored:
        if e.shift_code is None or e.person_id not in everyone:
            continue
        start, end = shift_window(e.day, rules.shift(e.shift_code), app.tz)
        if not start <= now < end:
            continue
        person = everyone[e.person_id]
        punch = punched.get((e.person_id, e.day, e.shift_code))
        facts = ShiftFacts(
            e.person_id,
            e.day,
            e.shift_code,
            clock_in=punch.at if punch is not None else None,
            leave=leave_type(e.note),
        )
        # the running shift's verdict so far, as the report will compute it
        grace = sum(
            1
            for g in graced
            if g.person_id == e.person_id and g.shift_day < e.day and g.shift_day.month == e.day.month
        )
        verdict = shift_verdict(facts, grace, now, rules, app.tz)
        if verdict.kind is ShiftVerdictKind.ON_LEAVE:
            state = ctx.t("onduty.leave")
        elif punch is not None:
            shown = verdict.arrival.kind.value if verdict.arrival is not None else punch.verdict
            state = ctx.t("onduty.in", time=hhmm(app, punch.at), verdict=ctx.t(f"onduty.verdict.{shown}"))
        elif verdict.so_far is VerdictKind.ABSENT:
            state = ctx.t("onduty.absent")
        elif verdict.so_far is VerdictKind.LATE:
            state = ctx.t("onduty.late")
        else:
            state = ctx.t("onduty.not_yet")
        label = shift_label(app, e.shift_code, ctx.lang)
        by_team.setdefault(person.team, []).append(f"  {person.name}（{label}）{state}")
    if not by_team:
        await ctx.reply(ctx.t("onduty.nobody"))
        return
    lines = [ctx.t("onduty.title", time=hhmm(app, now))]
    for team in team_rows:
        if team.id in by_team:
            lines.append((team.name_en or team.name) if ctx.lang == "en" else team.name)
            lines.extend(by_team[team.id])
    await ctx.reply("\n".join(lines))


# ----- reminders ------------------------------------------------------------------------------------
REMINDER_KEYS = {
    ReminderKind.BEFORE_SHIFT: "remind.before_shift",
    ReminderKind.GRACE_NUDGE: "remind.grace_nudge",
    ReminderKind.ABSENCE_ALERT: "remind.absence_alert",
    ReminderKind.CLOCK_OUT: "remind.clock_out",
}


async def reminder_message(
    conn: AsyncConnection, app: App, reminder: Reminder, now: datetime
) -> Outgoing | None:
    """The reminder's sentence; an alert sent on a later day than its shift names the shift's day."""
    recipient = await app.directory.by_id(conn, reminder.recipient_id)
    subject = await app.directory.by_id(conn, reminder.person_id)
    if recipient is None or subject is None:
        return None
    lang = recipient.language
    key = REMINDER_KEYS[reminder.kind]
    if now.astimezone(app.tz).date() != reminder.shift_date:
        key += "_past"  # "❗ 12-01 陈静 …": yesterday's alert must not read as today's
    text = app.catalog.t(
        lang,
        key,
        day=f"{reminder.shift_date:%m-%d}",
        name=subject.name,
        shift=shift_label(app, reminder.shift_code, lang),
        start=hhmm(app, reminder.shift_start),
        end=hhmm(app, reminder.shift_end),
        minutes=reminder.data.get("lead_minutes", reminder.data.get("minutes", 0)),
        articles=cite_all(reminder.articles, lang),
    )
    return Outgoing(text=text, to_person=recipient.id)


async def send_reminders(app: App, t0: datetime, t1: datetime) -> None:
    """Scheduled: everything due in (t0, t1], each at most once (its key), and only while still useful."""
    rules = policy(app)
    first = t0.astimezone(app.tz).date() - timedelta(days=1)
    last = t1.astimezone(app.tz).date() + timedelta(days=1)
    async with app.db.read() as conn:
        stored = await roster_store.between(conn, first, last)
        done = await conn.execute(
            sa.select(punches.c.person_id, punches.c.shift_day, punches.c.kind).where(
                punches.c.shift_day >= first, punches.c.shift_day <= last
            )
        )
        punch_keys = [(r.person_id, r.shift_day, r.kind) for r in done]
        everyone = await app.directory.all(conn)
        active = {p.id for p in everyone}
        chart = await engine.load_chart(conn)
    # whoever follows up a missed clock-in: the level above the person in their own chain (第十一条), so a
    # lead's goes to their supervisor and a supervisor's to the manager; nobody follows up on themselves
    follow_up: dict[str, str] = {}
    for p in everyone:
        level = FOLLOW_UP_LEVEL.get(p.role)
        if level is None:
            continue
        try:
            follow_up[p.id] = pick_decider(p.id, level, chart).person_id  # type: ignore[arg-type]
        except Refusal:
            continue
    excused = {(e.person_id, e.day) for e in stored if e.note and e.note.startswith("leave:")}
    entries = [RosterEntry(e.person_id, e.day, e.shift_code) for e in stored if e.person_id in active]
    due = due_reminders(t0, t1, entries, punch_keys, rules, app.tz, follow_up, excused=excused)
    for reminder in due:
        if not still_useful(reminder, t1):
            # missed while the bot was down and no longer true or useful: dropped, and the drop recorded
            async with app.db.transaction() as conn:
                await app.audit_in(
                    conn,
                    actor="system",
                    action="reminder.dropped_stale",
                    object_type="reminder",
                    object_id=reminder.key,
                    after={"due_at": reminder.due_at.isoformat(), "checked_at": t1.isoformat()},
                )
            continue
        async with app.db.transaction() as conn:
            out = await reminder_message(conn, app, reminder, t1)
            if out is not None and await app.notify(conn, out, idempotency_key=f"remind:{reminder.key}"):
                app.metrics.reminders_sent.labels(reminder.kind.value).inc()


def register(app: App) -> None:
    router = app.router
    home.register_section(app, home_shifts)
    app.ticks.register("shift_reminders", send_reminders)
    router.command(
        "shifts", keywords=("我的排班", "排班"), help_key="help.desc.shifts", order=12, personal=True
    )(my_shifts)
    router.command(
        "onduty",
        keywords=("谁在班",),
        min_role="lead",
        help_key="help.desc.onduty",
        order=43,
        personal=True,
    )(on_duty_view)
