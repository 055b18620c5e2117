"""Next week's roster (第二十一条): the lead is reminded at the publish deadline when the week is not in
for everyone on the team, and each person gets their week, in their language, when a roster publishes it.
The rules (when, who is missing, which week) are in `schedules.publish`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import roster_store
from bot.messages import Outgoing
from handlers.common import cite, hhmm, policy, shift_label, weekday
from schedules.publish import publish_deadlines, unrostered, week_to_announce
from schedules.timeutil import shift_window

if TYPE_CHECKING:
    from bot.core import Core

ROSTERED_ROLES = ("agent", "lead")


def _span(monday: date) -> str:
    sunday = monday + timedelta(days=6)
    return f"{monday:%m-%d}–{sunday:%m-%d}"


async def remind_unpublished(app: Core, t0: datetime, t1: datetime) -> None:
    """Scheduled: at each publish deadline in (t0, t1], remind the lead of every team whose members are
    not all on next week's roster. Once per team and week (the message's key)."""
    rules = policy(app).roster
    for deadline, monday in publish_deadlines(t0, t1, rules, app.tz):
        async with app.db.read() as conn:
            everyone = await app.directory.all(conn)
            teams = await app.directory.teams(conn)
            stored = await roster_store.between(conn, monday, monday + timedelta(days=6))
        rostered = [(e.person_id, e.day) for e in stored]
        for team in teams:
            members = [p for p in everyone if p.team == team.id and p.role in ROSTERED_ROLES]
            missing = set(unrostered(monday, [p.id for p in members], rostered))
            if not missing or team.lead_id is None:
                continue
            async with app.db.transaction() as conn:
                lead = await app.directory.by_id(conn, team.lead_id)
                if lead is None:
                    continue
                lang = lead.language
                text = app.catalog.t(
                    lang,
                    "publish.remind_lead",
                    week=_span(monday),
                    team=(team.name_en or team.name) if lang == "en" else team.name,
                    names=(", " if lang == "en" else "、").join(p.name for p in members if p.id in missing),
                    deadline=f"{weekday(lang, deadline.astimezone(app.tz).date())} {hhmm(app, deadline)}",
                    article=cite(rules.article_publish, lang),
                )
                await app.notify(
                    conn,
                    Outgoing(text=text, to_person=lead.id),
                    idempotency_key=f"roster.publish:{team.id}:{monday.isoformat()}",
                )


async def announce_week(
    conn: AsyncConnection, app: Core, entries: Sequence[tuple[str, date, str | None]], now: datetime
) -> set[str]:
    """Inside the import's transaction: everyone on the earliest week of `entries` that has not ended gets
    that week (shift or rest for each day it lists), in their language. The same week sent again unchanged
    is not repeated; a corrected one is. Returns who was sent their week."""
    monday = week_to_announce([day for _, day, _ in entries], now.astimezone(app.tz).date())
    told: set[str] = set()
    if monday is None:
        return told
    sunday = monday + timedelta(days=6)
    week: dict[str, list[tuple[date, str | None]]] = {}
    for person_id, day, code in entries:
        if monday <= day <= sunday:
            week.setdefault(person_id, []).append((day, code))
    people = await app.directory.by_ids(conn, sorted(week))
    rules = policy(app)
    for person_id, days in sorted(week.items()):
        person = people.get(person_id)
        if person is None:
            continue
        lang = person.language
        lines = [app.catalog.t(lang, "publish.your_week", name=person.name, week=_span(monday))]
        for day, code in sorted(days):
            what = shift_label(app, code, lang)
            if code is not None:
                start, end = shift_window(day, rules.shift(code), app.tz)
                what = f"{what} {hhmm(app, start)}–{hhmm(app, end)}"
            lines.append(f"{day:%m-%d} {weekday(lang, day)}  {what}")
        text = "\n".join(lines)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        if await app.notify(
            conn,
            Outgoing(text=text, to_person=person.id),
            idempotency_key=f"roster.week:{person.id}:{monday.isoformat()}:{digest}",
        ):
            told.add(person.id)
    return told


def register(app: Core) -> None:
    app.ticks.register("roster_publish", remind_unpublished)
