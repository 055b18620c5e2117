"""打卡: clock-in and clock-out matched to the rostered shift with the handbook's verdict, my shifts,
who is on duty, shift reminders, and 补卡 (missed punch) requests decided by the lead (第三、四章)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import forms, home, roster_store
from bot import requests as engine
from bot.context import Context
from bot.messages import Outgoing, Person
from bot.schema import people, punches, requests, teams
from handlers import requests as decisions
from handlers.common import calendar, cite, cite_all, parse_day, policy, shift_label
from schedules.attendance import (
    MatchedShift,
    PunchKind,
    Verdict,
    absence_threshold,
    check_missed_punch,
    clock_in_verdict,
    clock_out_verdict,
    grace_end,
    match_shift,
)
from schedules.reminders import Reminder, ReminderKind, due_reminders, still_useful
from schedules.roster.model import RosterEntry
from schedules.timeutil import local_instant, shift_window

if TYPE_CHECKING:
    from bot.app import App

MISSED = "missed_punch"
NO_SHIFT = "-"


# punches' unique key: one punch of each kind per person and shift
PUNCH_KEY = ["person_id", "shift_day", "shift_code", "kind"]


def hhmm(app: App, moment: datetime) -> str:
    return moment.astimezone(app.tz).strftime("%H:%M")


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


async def grace_uses(conn: AsyncConnection, person_id: str, day: date) -> int:
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    query = (
        sa.select(sa.func.count())
        .select_from(punches)
        .where(
            punches.c.person_id == person_id,
            punches.c.grace_used,
            punches.c.shift_day >= first,
            punches.c.shift_day < nxt,
        )
    )
    return int((await conn.execute(query)).scalar_one())


async def existing_punch(
    conn: AsyncConnection, person_id: str, day: date, code: str, kind: str
) -> datetime | None:
    at: datetime | None = (
        await conn.execute(
            sa.select(punches.c.at).where(
                punches.c.person_id == person_id,
                punches.c.shift_day == day,
                punches.c.shift_code == code,
                punches.c.kind == kind,
            )
        )
    ).scalar()
    return at


async def record_punch(
    conn: AsyncConnection,
    app: App,
    person_id: str,
    kind: str,
    at: datetime,
    day: date,
    code: str,
    verdict_kind: str,
    verdict: Verdict | None,
    source: str,
    actor: str,
) -> bool:
    """Store one punch with its audit row; False when the same punch already exists."""
    values = {
        "person_id": person_id,
        "kind": kind,
        "at": at,
        "shift_day": day,
        "shift_code": code,
        "verdict": verdict_kind,
        "minutes": (verdict.minutes_late or verdict.minutes_early) if verdict else 0,
        "grace_used": bool(verdict and verdict.uses_grace),
        "overtime_units": verdict.overtime_units if verdict else 0,
        "source": source,
        "created_at": app.clock.now(),
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stored = await conn.execute(
        insert(punches).values(values).on_conflict_do_nothing(index_elements=PUNCH_KEY)
    )
    if not stored.rowcount:
        # Another replica or a double tap stored the same punch a moment ago: keep theirs.
        return False
    await app.audit_in(
        conn,
        actor=actor,
        action=f"punch.{kind}",
        object_type="punch",
        object_id=f"{person_id}:{day.isoformat()}:{code}",
        after={**values, "at": at.isoformat(), "shift_day": day.isoformat(), "created_at": None},
    )
    return True


def verdict_text(app: App, lang: str, verdict: Verdict) -> str:
    articles = cite_all(verdict.articles, lang)
    return app.catalog.t(
        lang,
        f"clock.verdict.{verdict.kind.value}",
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
    """Everything a punch on a matched shift is judged on, read without the write lock."""
    day, code = matched.entry.date, matched.shift_code
    earlier = await existing_punch(conn, ctx.person.id, day, code, kind)
    if earlier is not None:
        return Judged(earlier, None)
    if kind == "clock_in":
        grace = await grace_uses(conn, ctx.person.id, day)
        return Judged(None, clock_in_verdict(matched.start, ctx.now, grace, policy(ctx.app)))
    clocked_in = await existing_punch(conn, ctx.person.id, day, code, "clock_in") is not None
    return Judged(None, clock_out_verdict(matched.end, ctx.now, policy(ctx.app)), clocked_in)


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
    text = ctx.t(done, time=hhmm(app, now), shift=label) + "\n" + verdict_text(app, ctx.lang, verdict)
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


WEEKDAYS = {"zh-CN": "一二三四五六日", "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}


def weekday(lang: str, day: date) -> str:
    names = WEEKDAYS["en" if lang == "en" else "zh-CN"]
    return names[day.weekday()] if lang == "en" else "周" + names[day.weekday()]


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
    by_team: dict[str | None, list[str]] = {}
    for e in stored:
        if e.shift_code is None or e.person_id not in everyone:
            continue
        start, end = shift_window(e.day, rules.shift(e.shift_code), app.tz)
        if not start <= now < end:
            continue
        person = everyone[e.person_id]
        punch = punched.get((e.person_id, e.day, e.shift_code))
        if e.note and e.note.startswith("leave:"):
            state = ctx.t("onduty.leave")
        elif punch is not None:
            state = ctx.t(
                "onduty.in", time=hhmm(app, punch.at), verdict=ctx.t(f"onduty.verdict.{punch.verdict}")
            )
        elif now >= absence_threshold(start, rules):
            state = ctx.t("onduty.absent")
        elif now >= grace_end(start, rules):
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


# ----- missed punch (补卡) ---------------------------------------------------------------------------
def missed_summary(app: App, request: engine.Request, lang: str) -> str:
    p = request.payload
    kind = app.catalog.t(lang, f"missed.kind.{p['punch']}")
    return app.catalog.t(
        lang,
        "missed.summary",
        name=p["requester_name"],
        day=p["day"][5:],
        kind=kind,
        time=p["time"],
        reason=p["reason"],
    )


async def apply_missed(conn: AsyncConnection, app: App, request: engine.Request, now: datetime) -> None:
    """On approval the punch is recorded at the stated time and judged like any other punch."""
    p = request.payload
    day = date.fromisoformat(p["day"])
    rules = policy(app)
    at = local_instant(
        day if p.get("time_day") is None else date.fromisoformat(p["time_day"]),
        time.fromisoformat(p["time"]),
        app.tz,
    )
    code = p["shift"]
    start, end = shift_window(day, rules.shift(code), app.tz)
    if await existing_punch(conn, request.requester_id, day, code, p["punch"]) is not None:
        return
    if p["punch"] == "clock_in":
        verdict = clock_in_verdict(start, at, await grace_uses(conn, request.requester_id, day), rules)
    else:
        verdict = clock_out_verdict(end, at, rules)
    await record_punch(
        conn,
        app,
        request.requester_id,
        p["punch"],
        at,
        day,
        code,
        verdict.kind.value,
        verdict,
        "missed_punch",
        request.decided_by or "system",
    )


async def missed_punch(ctx: Context) -> None:
    """`/missed 12-01 in 09:02 原因`: check the deadline and the monthly limit, then ask the lead."""
    app, rules = ctx.app, policy(ctx.app)
    words = ctx.args.split(maxsplit=3)
    today = ctx.now.astimezone(app.tz).date()
    kinds = {"in": "clock_in", "上班": "clock_in", "out": "clock_out", "下班": "clock_out"}
    day = parse_day(words[0], today) if words else None
    punch = kinds.get(words[1].lower()) if len(words) > 1 else None
    at: time | None = None
    if len(words) > 2:
        try:
            hour, _, minute = words[2].replace("：", ":").partition(":")
            at = time(int(hour), int(minute))
        except ValueError:
            at = None
    if not words:
        from handlers.forms import missed_form

        if await forms.offer(ctx, missed_form(ctx)):
            return
    if day is None or punch is None or at is None or len(words) < 4:
        await ctx.reply(ctx.t("missed.usage"))
        return
    if day > today:
        day = day.replace(year=day.year - 1) if (day - today).days > 180 else day
    async with app.db.transaction() as conn:
        entry = await roster_store.entry(conn, ctx.person.id, day)
        if entry is None or entry.shift_code is None:
            await ctx.send(ctx.answer(ctx.t("missed.no_shift", day=f"{day:%m-%d}")), conn=conn)
            return
        if await existing_punch(conn, ctx.person.id, day, entry.shift_code, punch) is not None:
            await ctx.send(ctx.answer(ctx.t("missed.exists", day=f"{day:%m-%d}")), conn=conn)
            return
        month_start = day.replace(day=1)
        used = [
            r
            for r in (
                await conn.execute(
                    sa.select(requests.c.payload).where(
                        requests.c.kind == MISSED,
                        requests.c.requester_id == ctx.person.id,
                        requests.c.state.in_([engine.PENDING, engine.APPROVED]),
                    )
                )
            ).scalars()
            if str(r.get("day", "")).startswith(month_start.strftime("%Y-%m"))
        ]
        verdict = check_missed_punch(day, today, len(used), rules, calendar(app))
        if not verdict.allowed:
            await app.audit_in(
                conn,
                actor=ctx.person.id,
                action="missed_punch.refused",
                object_id=ctx.person.id,
                after={"reason": verdict.reason},
            )
            await ctx.send(
                ctx.answer(
                    ctx.t(
                        f"missed.refused.{verdict.reason}",
                        deadline=f"{verdict.deadline:%m-%d}",
                        limit=rules.missed_punch.per_month,
                        article=cite(verdict.article, ctx.lang),
                    )
                ),
                conn=conn,
            )
            return
        start, _ = shift_window(day, rules.shift(entry.shift_code), app.tz)
        time_day = (
            day + timedelta(days=1) if at < start.astimezone(app.tz).time() and punch == "clock_out" else day
        )
        payload = {
            "day": day.isoformat(),
            "punch": punch,
            "time": at.strftime("%H:%M"),
            "shift": entry.shift_code,
            "reason": words[3][:300],
            "requester_name": ctx.person.name,
            "time_day": time_day.isoformat() if time_day != day else None,
        }
        deadline_at = local_instant(verdict.deadline + timedelta(days=1), time(0), app.tz)
        request = await decisions.submit_for_decision(
            conn, ctx, kind=MISSED, level="lead", payload=payload, expires_at=deadline_at + timedelta(days=2)
        )
        await ctx.send(
            ctx.answer(
                ctx.t(
                    "missed.sent", summary=decisions.summary(app, request, ctx.lang), left=verdict.uses_left
                )
            ),
            conn=conn,
        )
    await decisions.refresh_homes(app, ctx.person.id, request.decider_id)


async def load_policy_at_start(app: App) -> None:
    """A bad POLICY_FILE or HOLIDAYS_FILE stops the bot at start with one line, not at the first clock-in."""
    policy(app)
    calendar(app)


def register(app: App) -> None:
    router = app.router
    app.services.setdefault("on_prepare", []).append(load_policy_at_start)
    home.register_section(app, home_shifts)
    decisions.register_kind(app, MISSED, decisions.KindSpec(missed_summary, apply_missed))
    app.ticks.register("shift_reminders", send_reminders)
    router.command("in", keywords=("打卡", "上班", "签到"), help_key="help.desc.in", order=10)(clock_in)
    router.command("out", keywords=("下班", "签退"), help_key="help.desc.out", order=11)(clock_out)
    router.command("shifts", keywords=("我的排班", "排班"), help_key="help.desc.shifts", order=12)(my_shifts)
    router.command("missed", keywords=("补卡",), help_key="help.desc.missed", order=13, takes_args=True)(
        missed_punch
    )
    router.command(
        "onduty",
        keywords=("谁在班",),
        min_role="lead",
        help_key="help.desc.onduty",
        order=43,
        private_only=True,
    )(on_duty_view)
