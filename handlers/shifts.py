"""My shifts, who is on duty now, and the shift reminders (第三章、第四章)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import home, roster_store
from bot.context import Context
from bot.messages import Outgoing, Person
from bot.schema import people, punches, teams
from handlers.common import cite_all, hhmm, policy, shift_label, weekday
from handlers.report import leave_type
from schedules.attendance import ShiftFacts, ShiftVerdictKind, VerdictKind, shift_verdict
from schedules.reminders import Reminder, ReminderKind, due_reminders, still_useful
from schedules.roster.model import RosterEntry
from schedules.timeutil import shift_window

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


async def reminder_message(conn: AsyncConnection, app: App, reminder: Reminder) -> Outgoing | None:
    recipient = await app.directory.by_id(conn, reminder.recipient_id)
    subject = await app.directory.by_id(conn, reminder.person_id)
    if recipient is None or subject is None:
        return None
    lang = recipient.language
    text = app.catalog.t(
        lang,
        REMINDER_KEYS[reminder.kind],
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
        lead_rows = await conn.execute(
            sa.select(people.c.id, teams.c.lead_id)
            .join(teams, people.c.team == teams.c.id)
            .where(people.c.active)
        )
        leads: dict[str, str | None] = {row.id: row.lead_id for row in lead_rows}
        active = set(leads) | {r.id for r in await app.directory.all(conn)}
    excused = {(e.person_id, e.day) for e in stored if e.note and e.note.startswith("leave:")}
    entries = [RosterEntry(e.person_id, e.day, e.shift_code) for e in stored if e.person_id in active]
    lead_of_map = {person: lead for person, lead in leads.items() if lead and lead != person}
    due = due_reminders(t0, t1, entries, punch_keys, rules, app.tz, lead_of_map, excused=excused)
    for reminder in due:
        if not still_useful(reminder, t1):
            continue
        async with app.db.transaction() as conn:
            out = await reminder_message(conn, app, reminder)
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
