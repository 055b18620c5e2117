"""My shifts, who is on duty now, and the shift reminders (第三章、第四章)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot import home, roster_store
from bot import requests as engine
from bot.context import Context
from bot.messages import Outgoing, Person
from bot.schema import held_alerts, punches
from handlers.common import cite_all, hhmm, policy, shift_label, weekday
from handlers.report import leave_half, leave_type
from schedules.attendance import ShiftFacts, ShiftVerdictKind, VerdictKind, shift_verdict, worked_window
from schedules.reminders import Reminder, due_reminders, held_by_quiet_hours, wording
from schedules.requests import Refusal, pick_decider
from schedules.roster.model import RosterEntry
from schedules.timeutil import shift_window

FOLLOW_UP_LEVEL = {"agent": "lead", "lead": "supervisor", "supervisor": "manager"}

if TYPE_CHECKING:
    from bot.core import Core


async def shifts_text(app: Core, person: Person, now: datetime) -> str:
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
        half = leave_half(e.note)
        if half is not None:
            what += " " + app.catalog.t(lang, f"shifts.leave_half.{half}")
        elif e.note and e.note.startswith("leave:"):
            what += " " + app.catalog.t(lang, "shifts.on_leave")
        lines.append(f"{e.day:%m-%d} {weekday(lang, e.day)}  {what}")
    return "\n".join(lines)


async def my_shifts(ctx: Context) -> None:
    await ctx.reply(await shifts_text(ctx.app, ctx.person, ctx.now))


async def home_shifts(app: Core, person: Person) -> list[str]:
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
        half = leave_half(e.note)
        facts = ShiftFacts(
            e.person_id,
            e.day,
            e.shift_code,
            clock_in=punch.at if punch is not None else None,
            leave=leave_type(e.note),
            leave_half=half,
        )
        # the running shift's verdict so far, as the report will compute it
        grace = sum(
            1
            for g in graced
            if g.person_id == e.person_id and g.shift_day < e.day and g.shift_day.month == e.day.month
        )
        verdict = shift_verdict(facts, grace, now, rules, app.tz)
        # half a day off: on leave during that half, judged as on duty during the other (worked_window)
        worked_start, worked_end = worked_window(start, end, half)
        boundary = hhmm(app, worked_start if half == "am" else worked_end)  # the midpoint, for a half
        if verdict.kind is ShiftVerdictKind.ON_LEAVE:
            state = ctx.t("onduty.leave")
        elif half is not None and not worked_start <= now < worked_end:
            state = ctx.t(f"onduty.leave_half.{half}", time=boundary)
        elif punch is not None:
            shown = verdict.arrival.kind.value if verdict.arrival is not None else punch.verdict
            state = ctx.t("onduty.in", time=hhmm(app, punch.at), verdict=ctx.t(f"onduty.verdict.{shown}"))
        elif verdict.so_far is VerdictKind.ABSENT:
            state = ctx.t("onduty.absent")
        elif verdict.so_far is VerdictKind.LATE:
            state = ctx.t("onduty.late")
        else:
            state = ctx.t("onduty.not_yet")
        if half is not None and worked_start <= now < worked_end:
            state += ctx.t(f"onduty.worked_half.{half}", time=boundary)
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
# Reminders stored per commit: the outbox starts on the first batch while the rest are stored, and its
# claim waits behind one short batch, not a long one (50 a batch: first Feishu send 0.27-0.29 s after the
# tick began; 10: 0.15-0.20 s, at load 4.5). Ten rows a commit still store far faster than any platform sends.
REMINDER_BATCH = 10


def reminder_message(
    app: Core, reminder: Reminder, now: datetime, people_by_id: Mapping[str, Person]
) -> Outgoing | None:
    """The reminder's sentence as true at ``now`` (``schedules.reminders.wording``), or None when nothing
    true and useful is left to say; an alert about another day than today names that day."""
    recipient = people_by_id.get(reminder.recipient_id)
    subject = people_by_id.get(reminder.person_id)
    said = wording(reminder, now, policy(app), app.tz)
    if recipient is None or subject is None or said is None:
        return None
    lang = recipient.language
    shift = shift_label(app, reminder.shift_code, lang)
    half = reminder.data.get("leave_half")
    if half in ("am", "pm"):  # half of the shift on leave: the times are those of the half worked
        shift += (" " if lang == "en" else "") + app.catalog.t(lang, f"remind.worked_half.{half}")
    text = app.catalog.t(
        lang,
        said.key,
        day=f"{reminder.shift_date:%m-%d}",
        name=subject.name,
        shift=shift,
        start=hhmm(app, reminder.shift_start),
        end=hhmm(app, reminder.shift_end),
        minutes=said.minutes,
        counts_as=app.catalog.t(lang, f"onduty.verdict.{said.counts_as}") if said.counts_as else "",
        articles=cite_all(reminder.articles, lang),
    )
    return Outgoing(text=text, to_person=recipient.id)


async def drop(app: Core, reminder: Reminder, now: datetime) -> None:
    """A reminder with nothing true and useful left to say: not sent, and the drop recorded."""
    async with app.db.transaction() as conn:
        await app.audit_in(
            conn,
            actor="system",
            action="reminder.dropped_stale",
            object_type="reminder",
            object_id=reminder.key,
            after={"due_at": reminder.due_at.isoformat(), "checked_at": now.isoformat()},
        )


async def hold(app: Core, reminder: Reminder, now: datetime) -> None:
    """Quiet hours hold a lead's alert about a finished shift for the morning summary (stored, audited)."""
    async with app.db.transaction() as conn:
        seen = await conn.execute(
            sa.select(held_alerts.c.id).where(held_alerts.c.reminder_key == reminder.key)
        )
        if seen.first() is not None:
            return
        await conn.execute(
            held_alerts.insert().values(
                reminder_key=reminder.key,
                recipient_id=reminder.recipient_id,
                person_id=reminder.person_id,
                shift_day=reminder.shift_date,
                shift_code=reminder.shift_code,
                held_at=now,
            )
        )
        await app.audit_in(
            conn,
            actor="system",
            action="reminder.held",
            object_type="reminder",
            object_id=reminder.key,
            after={"recipient": reminder.recipient_id, "held_at": now.isoformat()},
        )


async def send_morning_summaries(app: Core, now: datetime) -> None:
    """Outside quiet hours: what they held goes out as ONE message per recipient, oldest shift first."""
    rules = policy(app)
    quiet = rules.reminders.quiet_hours
    if quiet is not None and quiet.contains(now.astimezone(app.tz).time()):
        return
    async with app.db.read() as conn:
        held = (
            await conn.execute(
                sa.select(held_alerts)
                .where(held_alerts.c.summarized_at.is_(None))
                .order_by(held_alerts.c.recipient_id, held_alerts.c.shift_day, held_alerts.c.id)
            )
        ).all()
    by_recipient: dict[str, list[sa.Row[Any]]] = {}
    for row in held:
        by_recipient.setdefault(row.recipient_id, []).append(row)
    for recipient_id, rows in by_recipient.items():
        try:
            await summarise(app, recipient_id, rows, now)
        except _Taken:
            continue  # another replica summarised some of them meanwhile: rolled back, theirs stands


class _Taken(Exception):
    """Raised inside the summary's transaction to roll it back."""


async def summarise(app: Core, recipient_id: str, rows: list[sa.Row[Any]], now: datetime) -> None:
    """One recipient's held alerts: marked summarised, audited and sent as one message, in one transaction."""
    rules = policy(app)
    async with app.db.transaction() as conn:
        recipient = await app.directory.by_id(conn, recipient_id)
        ids = [r.id for r in rows]
        done = await conn.execute(
            held_alerts.update()
            .where(held_alerts.c.id.in_(ids), held_alerts.c.summarized_at.is_(None))
            .values(summarized_at=now)
        )
        if done.rowcount != len(ids):
            raise _Taken
        await app.audit_in(
            conn,
            actor="system",
            action="reminder.summary_sent",
            object_type="reminder",
            object_id=recipient_id,
            after={"alerts": [r.reminder_key for r in rows]},
        )
        if recipient is None:
            return  # left meanwhile: nothing is sent to them
        lang = recipient.language
        lines = [app.catalog.t(lang, "remind.summary.title", count=len(rows))]
        for r in rows:
            subject = await app.directory.by_id(conn, r.person_id)
            start, end = shift_window(r.shift_day, rules.shift(r.shift_code), app.tz)
            lines.append(
                app.catalog.t(
                    lang,
                    "remind.summary.line",
                    name=subject.name if subject is not None else r.person_id,
                    day=f"{r.shift_day:%m-%d}",
                    shift=shift_label(app, r.shift_code, lang),
                    start=hhmm(app, start),
                    end=hhmm(app, end),
                )
            )
        articles = (rules.clock_in.article_late, rules.clock_in.article_absent)
        lines.append(app.catalog.t(lang, "remind.summary.end", articles=cite_all(articles, lang)))
        await app.notify(
            conn,
            Outgoing(text="\n".join(lines), to_person=recipient.id),
            idempotency_key=f"remind:summary:{recipient_id}:{min(ids)}",
        )


async def send_reminders(app: Core, t0: datetime, t1: datetime) -> None:
    """Scheduled: everything due in (t0, t1], each at most once (its key), worded as true at ``t1``; what
    is no longer useful is dropped (audited), what quiet hours hold goes into the morning summary."""
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
    # a whole day on leave is not reminded of; half a day is, for the half that is worked
    halves = {(e.person_id, e.day): h for e in stored if (h := leave_half(e.note)) is not None}
    excused = {(e.person_id, e.day) for e in stored if e.on_leave and (e.person_id, e.day) not in halves}
    entries = [RosterEntry(e.person_id, e.day, e.shift_code) for e in stored if e.person_id in active]
    due = due_reminders(
        t0, t1, entries, punch_keys, rules, app.tz, follow_up, excused=excused, half_leave=halves
    )
    to_send: list[Reminder] = []
    for reminder in due:
        if wording(reminder, t1, rules, app.tz) is None:
            await drop(app, reminder, t1)
        elif held_by_quiet_hours(reminder, t1, rules, app.tz):
            await hold(app, reminder, t1)
        else:
            to_send.append(reminder)
    # People as loaded above (not one lookup per reminder), and a commit per batch: 300 reminders at 08:45
    # were 300 transactions and 600 lookups, which held the outbox back on the same database.
    people_by_id = {p.id: p for p in everyone}
    for first_of_batch in range(0, len(to_send), REMINDER_BATCH):
        async with app.db.transaction() as conn:
            for reminder in to_send[first_of_batch : first_of_batch + REMINDER_BATCH]:
                out = reminder_message(app, reminder, t1, people_by_id)
                key = f"remind:{reminder.key}"
                if out is not None and await app.notify(conn, out, idempotency_key=key):
                    app.metrics.reminders_sent.labels(reminder.kind.value).inc()
    await send_morning_summaries(app, t1)


def register(app: Core) -> None:
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
