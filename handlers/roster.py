"""The roster and reports: import a roster file (CLI or sent to the bot), the week as a picture,
attendance reports as CSV, XLSX or a chart. Everything here reads or writes through the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa

from bot import org, roster_store
from bot.context import Context
from bot.messages import FileOut
from bot.schema import roster_entries
from handlers import publish
from handlers.common import parse_day, policy
from handlers.report import attendance_report
from schedules.report import render_roster_png
from schedules.roster.checks import validate_roster
from schedules.roster.importing import parse_roster
from schedules.roster.model import RosterEntry, RosterError, RosterProblem

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

Format = Literal["csv", "xlsx", "png"]
MIMES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
}


@dataclass(frozen=True)
class ImportSummary:
    people: int
    entries: int
    first: date
    last: date
    by_shift: dict[str, int]
    warnings: list[str]


async def import_roster(
    app: App,
    data: bytes,
    filename: str,
    actor: str,
    progress: Callable[[int, int], None] | None = None,
    *,
    announce: bool = True,
) -> ImportSummary:
    """Validate the whole file, then store it in one transaction; raises RosterError and stores nothing.
    Storing it publishes it: with `announce`, everyone on it is sent their week (`handlers.publish`)."""
    async with app.db.read() as conn:
        everyone = await app.directory.all(conn)
    names = {p.id: p.name for p in everyone}
    today = app.clock.now().astimezone(app.tz).date()
    entries = await asyncio.to_thread(
        parse_roster, data, filename, set(names), policy(app), names=names, reference=today, progress=progress
    )
    now = app.clock.now()
    async with app.db.transaction() as conn:
        rows = [(e.person_id, e.date, e.shift_code) for e in entries]
        await roster_store.upsert(conn, rows, now)
        if announce:
            await publish.announce_week(conn, app, rows, now)
        first, last = min(e.date for e in entries), max(e.date for e in entries)
        await app.audit_in(
            conn,
            actor=actor,
            action="roster.imported",
            object_type="roster",
            object_id=filename[:128],
            after={"entries": len(entries), "from": first.isoformat(), "to": last.isoformat()},
        )
    by_shift: dict[str, int] = {}
    for e in entries:
        by_shift[e.shift_code or "rest"] = by_shift.get(e.shift_code or "rest", 0) + 1
    try:
        violations = validate_roster(entries, policy(app))
    except TypeError:
        violations = []
    return ImportSummary(
        len({e.person_id for e in entries}),
        len(entries),
        first,
        last,
        by_shift,
        [v.message for v in violations][:10],
    )


def problem_text(app: App, lang: str, problem: RosterProblem) -> str:
    """A roster problem in the reader's language, naming the row and column."""
    key = f"roster.problem.{problem.code}"
    text = app.catalog.t(lang, key, **dict(problem.params)) if app.catalog.has(key) else problem.message
    return f"{problem.cell}: {text}" if problem.cell else text


async def roster_picture(app: App, week: date, team: str | None) -> bytes:
    monday = week - timedelta(days=week.weekday())
    async with app.db.read() as conn:
        members = [
            p
            for p in await app.directory.all(conn)
            if p.role in ("agent", "lead") and (team is None or p.team == team)
        ]
        stored = await roster_store.between(conn, monday, monday + timedelta(days=6), [p.id for p in members])
    entries = [RosterEntry(e.person_id, e.day, e.shift_code) for e in stored]
    names = {p.id: p.name for p in members}
    order = [p.id for p in sorted(members, key=lambda p: (p.team or "", p.role != "lead", p.id))]
    return await asyncio.to_thread(
        render_roster_png, entries, monday, names, policy=policy(app), people=order
    )


async def import_roster_if_empty(app: App) -> None:
    """First start (the demo, a new department): load ROSTER_FILE when no roster is stored yet."""
    path = app.settings.roster_file
    if path is None or not path.exists():
        return
    async with app.db.read() as conn:
        stored = (await conn.execute(sa.select(sa.func.count()).select_from(roster_entries))).scalar_one()
    if stored == 0:
        try:
            # Seeding a first start is not publishing: nobody is sent their week for it.
            await import_roster(app, path.read_bytes(), path.name, "system", announce=False)
        except RosterError as exc:
            # Seeding is a convenience: a file that does not fit this department is reported, not fatal.
            log.warning("ROSTER_FILE %s not loaded: %s", path, exc)


def register(app: App) -> None:
    router = app.router
    app.services.setdefault("on_seed", []).append(import_roster_if_empty)

    @router.set_file_handler
    async def roster_file(ctx: Context) -> None:
        upload = ctx.incoming.file
        assert upload is not None
        if org.rank(ctx.person.role) < org.rank("lead"):
            await ctx.reply(ctx.t("roster.upload.not_allowed"))
            return
        try:
            summary = await import_roster(ctx.app, upload.data, upload.name, ctx.person.id)
        except RosterError as exc:
            shown = [problem_text(ctx.app, ctx.lang, p) for p in exc.problems[:10]]
            more = len(exc.problems) - len(shown)
            text = ctx.t("roster.upload.failed", count=len(exc.problems)) + "\n" + "\n".join(shown)
            if more > 0:
                text += "\n" + ctx.t("roster.upload.more", count=more)
            await ctx.reply(text)
            return
        shifts = "，".join(f"{code} {n}" for code, n in sorted(summary.by_shift.items()))
        text = ctx.t(
            "roster.upload.done",
            people=summary.people,
            entries=summary.entries,
            first=f"{summary.first:%m-%d}",
            last=f"{summary.last:%m-%d}",
            shifts=shifts,
        )
        if summary.warnings:
            text += "\n" + ctx.t("roster.upload.warnings") + "\n" + "\n".join(summary.warnings)
        await ctx.reply(text)

    @router.command(
        "roster", keywords=("排班表",), help_key="help.desc.roster", order=14, takes_args=True, personal=True
    )
    async def week_picture(ctx: Context) -> None:
        today = ctx.now.astimezone(ctx.app.tz).date()
        word = ctx.args.strip().lower()
        if word in ("", "this", "本周"):
            week = today
        elif word in ("next", "下周"):
            week = today + timedelta(days=7)
        else:
            parsed = parse_day(word, today)
            if parsed is None:
                await ctx.reply(ctx.t("roster.usage"))
                return
            week = parsed
        team = None if org.rank(ctx.person.role) >= org.rank("supervisor") else ctx.person.team
        png = await roster_picture(ctx.app, week, team)
        monday = week - timedelta(days=week.weekday())
        await ctx.reply(
            ctx.t("roster.picture", monday=f"{monday:%m-%d}"),
            file=FileOut(f"roster-{monday.isoformat()}.png", png, "image/png"),
        )

    @router.command(
        "report",
        keywords=("考勤报表", "报表"),
        min_role="lead",
        help_key="help.desc.report",
        order=44,
        takes_args=True,
        personal=True,
    )
    async def report(ctx: Context) -> None:
        today = ctx.now.astimezone(ctx.app.tz).date()
        word = ctx.args.strip().lower()
        if word in ("last", "上月"):
            last = today.replace(day=1) - timedelta(days=1)
            first = last.replace(day=1)
        else:
            first, last = today.replace(day=1), today
        team = None if org.rank(ctx.person.role) >= org.rank("supervisor") else ctx.person.team
        data = await attendance_report(ctx.app, first, last, team, "xlsx", ctx.lang)
        name = f"attendance-{first.isoformat()}-{last.isoformat()}.xlsx"
        await ctx.reply(
            ctx.t("report.ready", first=f"{first:%m-%d}", last=f"{last:%m-%d}"),
            file=FileOut(name, data, MIMES["xlsx"]),
        )
