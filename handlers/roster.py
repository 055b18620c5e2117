"""The roster and reports: import a roster file (CLI or sent to the bot), the week as a picture,
attendance reports as CSV, XLSX or a chart. Everything here reads or writes through the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import org, roster_store
from bot.context import Context
from bot.messages import FileOut, Outgoing
from bot.schema import requests, roster_entries
from handlers import publish
from handlers.common import cite, parse_day, policy, shift_label
from handlers.report import attendance_report
from schedules.policy import Policy
from schedules.report import render_roster_png
from schedules.roster.checks import RosterViolation, validate_roster
from schedules.roster.generator import generate_roster
from schedules.roster.importing import parse_roster
from schedules.roster.model import RosterEntry, RosterError, RosterProblem

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

Format = Literal["csv", "xlsx", "png"]
MIMES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
}


CHANGE_DAYS = 7
"""People are told about changes to their next seven days, today included."""


@dataclass(frozen=True)
class CellChange:
    """One cell of someone's next seven days, as they saw it before and see it now."""

    person_id: str
    day: date
    before: roster_store.StoredEntry | None
    after: roster_store.StoredEntry | None


@dataclass(frozen=True)
class ImportSummary:
    people: int
    entries: int
    first: date
    last: date
    by_shift: dict[str, int]
    violations: list[RosterViolation]
    conflicts: list[roster_store.Conflict] = field(default_factory=list)
    undone: list[roster_store.Override] = field(default_factory=list)
    changes: dict[str, list[CellChange]] = field(default_factory=dict)


async def import_roster(
    app: Core,
    data: bytes,
    filename: str,
    actor: str,
    progress: Callable[[int, int], None] | None = None,
    *,
    announce: bool = True,
    override_decisions: bool = False,
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
    return await store_plan(
        app,
        entries,
        actor,
        "roster.imported",
        filename[:128],
        announce=announce,
        override_decisions=override_decisions,
    )


async def store_plan(
    app: Core,
    entries: Sequence[RosterEntry],
    actor: str,
    action: str,
    object_id: str,
    *,
    announce: bool = False,
    override_decisions: bool = False,
) -> ImportSummary:
    """Write a new plan (imported or generated) in one transaction, keeping every decision.

    With ``announce`` (an import publishes the roster, 第二十一条) everyone on it is sent their week as they
    will see it (``handlers.publish``); whoever got that week is not sent the change list as well.

    Lists the decisions the new plan conflicts with (un-applies them with ``override_decisions``, telling
    each person concerned), the rule violations it brings (with the days before it), and who sees a
    different next seven days; those people are told once, in their language, in the same transaction.
    """
    now = app.clock.now()
    today = now.astimezone(app.tz).date()
    week_end = today + timedelta(days=CHANGE_DAYS - 1)
    first, last = min(e.date for e in entries), max(e.date for e in entries)
    ids = sorted({e.person_id for e in entries})
    async with app.db.transaction() as conn:
        context = await roster_store.between(
            conn, first - timedelta(days=CONTEXT_DAYS), first - timedelta(days=1), ids
        )
        before = await roster_store.between(conn, today, week_end)
        result = await roster_store.write_plan(
            conn,
            [(e.person_id, e.date, e.shift_code) for e in entries],
            now,
            override_decisions=override_decisions,
            actor=actor,
        )
        after = await roster_store.between(conn, today, week_end)
        changes = _changes(before, after)
        announced: set[str] = set()
        if announce:
            # the week as people will see it: the new plan with the decisions still applied
            cells = {(e.person_id, e.date) for e in entries}
            seen = await roster_store.between(conn, first, last, ids)
            rows = [(e.person_id, e.day, e.shift_code) for e in seen if (e.person_id, e.day) in cells]
            announced = await publish.announce_week(conn, app, rows, now)
        await app.audit_in(
            conn,
            actor=actor,
            action=action,
            object_type="roster",
            object_id=object_id,
            after={
                "entries": len(entries),
                "from": first.isoformat(),
                "to": last.isoformat(),
                "conflicts": sorted({c.key for c in result.conflicts}),
                "undone": sorted({o.key for o in result.undone}),
                "changed_people": sorted(changes),
            },
        )
        await _tell_undone(conn, app, result.undone)
        await _tell_changes(conn, app, {p: c for p, c in changes.items() if p not in announced})
    by_shift: dict[str, int] = {}
    for e in entries:
        by_shift[e.shift_code or "rest"] = by_shift.get(e.shift_code or "rest", 0) + 1
    return ImportSummary(
        len(ids),
        len(entries),
        first,
        last,
        by_shift,
        new_violations(
            entries, [RosterEntry(e.person_id, e.day, e.shift_code) for e in context], policy(app)
        ),
        result.conflicts,
        result.undone,
        changes,
    )


CONTEXT_DAYS = 14
"""Stored days before a new plan that its checks see, so a run of work days across the start is caught."""


def new_violations(
    entries: Sequence[RosterEntry], before: Sequence[RosterEntry], rules: Policy
) -> list[RosterViolation]:
    """Violations of 第二十条/第四十三条 the plan brings, counting the stored days before it.

    Those already present in the stored days alone are not the new plan's doing and are left out.
    """
    old = {_violation_key(v) for v in validate_roster(before, rules)}
    return [v for v in validate_roster([*before, *entries], rules) if _violation_key(v) not in old]


def _violation_key(v: RosterViolation) -> tuple[object, ...]:
    return (v.code, v.date, v.person_id, v.team, v.shift_code, tuple(sorted(v.params.items())))


def _changes(
    before: Sequence[roster_store.StoredEntry], after: Sequence[roster_store.StoredEntry]
) -> dict[str, list[CellChange]]:
    """Cell by cell: the cells people could already see that now say something else.

    A day that had no cell before is being planned for the first time (a first roster, the next weeks added
    at the end), not re-planned: nothing anyone saw changed, so it is not listed and nobody is told.
    """
    was = {(e.person_id, e.day): e for e in before}
    now = {(e.person_id, e.day): e for e in after}
    changed: dict[str, list[CellChange]] = {}
    for cell in sorted(was, key=lambda c: (c[0], c[1])):
        old, new = was.get(cell), now.get(cell)
        if _same(old, new):
            continue
        changed.setdefault(cell[0], []).append(CellChange(cell[0], cell[1], old, new))
    return changed


def _same(a: roster_store.StoredEntry | None, b: roster_store.StoredEntry | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.shift_code, a.on_leave) == (b.shift_code, b.on_leave)


def cell_text(app: Core, lang: str, cell: roster_store.StoredEntry | None) -> str:
    """白班 / rest / (on leave), or a dash for a day with no entry."""
    if cell is None:
        return "-"
    text = shift_label(app, cell.shift_code, lang)
    if cell.on_leave:
        text += " " + app.catalog.t(lang, "shifts.on_leave")
    return text


def change_line(app: Core, lang: str, change: CellChange) -> str:
    return app.catalog.t(
        lang,
        "roster.change.line",
        day=f"{change.day:%m-%d}",
        before=cell_text(app, lang, change.before),
        after=cell_text(app, lang, change.after),
    )


async def _tell_changes(conn: AsyncConnection, app: Core, changes: dict[str, list[CellChange]]) -> None:
    for person_id, cells in changes.items():
        person = await app.directory.by_id(conn, person_id)
        if person is None:
            continue
        lang = person.language
        lines = [app.catalog.t(lang, "roster.change.told")]
        lines.extend(change_line(app, lang, c) for c in cells)
        await app.notify(conn, Outgoing(text="\n".join(lines), to_person=person.id))


async def _tell_undone(conn: AsyncConnection, app: Core, undone: Sequence[roster_store.Override]) -> None:
    told: set[tuple[str, str]] = set()
    requests = await _request_people(conn, [o.request_id for o in undone if o.request_id is not None])
    for o in undone:
        concerned = {o.person_id, *requests.get(o.request_id or -1, ())}
        for person_id in sorted(concerned):
            if (person_id, o.key) in told:
                continue
            told.add((person_id, o.key))
            person = await app.directory.by_id(conn, person_id)
            if person is None:
                continue
            await app.notify(
                conn,
                Outgoing(
                    text=app.catalog.t(
                        person.language,
                        "roster.decision.undone",
                        decision=app.catalog.t(person.language, f"roster.decision.{o.decision}"),
                        id=o.request_id if o.request_id is not None else "-",
                        day=f"{o.day:%m-%d}",
                    ),
                    to_person=person.id,
                ),
            )


async def _request_people(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Requester and colleague of each request: both are concerned when its decision is undone."""
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(requests.c.id, requests.c.requester_id, requests.c.subject_id).where(requests.c.id.in_(ids))
    )
    return {r.id: tuple(p for p in (r.requester_id, r.subject_id) if p) for r in rows}


def conflict_text(app: Core, lang: str, conflict: roster_store.Conflict) -> str:
    """A decision the new plan disagrees with, for the lead who imported it."""
    return app.catalog.t(
        lang,
        "roster.conflict.line",
        decision=app.catalog.t(lang, f"roster.decision.{conflict.decision}"),
        id=conflict.request_id if conflict.request_id is not None else "-",
        person=conflict.person_id,
        day=f"{conflict.day:%m-%d}",
        was=shift_label(app, conflict.was, lang),
        now=shift_label(app, conflict.now, lang),
    )


def violation_text(app: Core, lang: str, violation: RosterViolation) -> str:
    """Where (cell: person and day), what, and the article, in the reader's language."""
    key = f"roster.violation.{violation.code}"
    text = app.catalog.t(lang, key, **dict(violation.params)) if app.catalog.has(key) else violation.message
    who = violation.person_id or violation.team or ""
    return app.catalog.t(
        lang,
        "roster.violation.line",
        who=who,
        day=f"{violation.date:%m-%d}",
        text=text,
        article=cite(violation.article, lang),
    )


def summary_lines(app: Core, lang: str, summary: ImportSummary, *, limit: int = 20) -> list[str]:
    """What the lead reads after an import or generation: changes, conflicts, undone decisions, warnings."""
    lines: list[str] = []
    if summary.changes:
        lines.append(app.catalog.t(lang, "roster.summary.changes", count=len(summary.changes)))
        for person_id, cells in sorted(summary.changes.items()):
            shown = "; ".join(change_line(app, lang, c) for c in cells)
            lines.append(f"  {person_id}: {shown}")
    else:
        lines.append(app.catalog.t(lang, "roster.summary.no_changes"))
    if summary.undone:
        keys = sorted({(o.decision, o.request_id or 0) for o in summary.undone})
        lines.append(app.catalog.t(lang, "roster.summary.undone", count=len(keys)))
    elif summary.conflicts:
        lines.append(app.catalog.t(lang, "roster.summary.conflicts", count=len(summary.conflicts)))
    lines.extend("  " + conflict_text(app, lang, c) for c in summary.conflicts[:limit])
    if summary.violations:
        lines.append(app.catalog.t(lang, "roster.upload.warnings"))
        lines.extend("  " + violation_text(app, lang, v) for v in summary.violations[:limit])
        if len(summary.violations) > limit:
            lines.append(
                "  " + app.catalog.t(lang, "roster.upload.more", count=len(summary.violations) - limit)
            )
    return lines


def problem_text(app: Core, lang: str, problem: RosterProblem) -> str:
    """A roster problem in the reader's language, naming the row and column."""
    key = f"roster.problem.{problem.code}"
    text = app.catalog.t(lang, key, **dict(problem.params)) if app.catalog.has(key) else problem.message
    return f"{problem.cell}: {text}" if problem.cell else text


async def roster_picture(app: Core, week: date, team: str | None) -> bytes:
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


async def plan_roster(
    app: Core, start: date, end: date, team: str | None, *, seed: int = 0
) -> tuple[list[RosterEntry], list[RosterEntry]]:
    """A 做六休一 plan for ``start``..``end`` that continues the stored days before ``start``.

    Returns (plan, the stored days it continues from). The generator sees those days, so runs of work
    days and the rest rotation carry across the start (第二十条, 第四十三条). Raises LookupError when the
    team has nobody, ValueError (RosterGenerationError) when no plan meets the rules.
    """
    async with app.db.read() as conn:
        members: dict[str, list[str]] = {}
        for person in await app.directory.all(conn):
            if person.role in ("agent", "lead") and person.team and team in (None, person.team):
                members.setdefault(person.team, []).append(person.id)
        ids = [p for people in members.values() for p in people]
        stored = await roster_store.between(
            conn, start - timedelta(days=CONTEXT_DAYS), start - timedelta(days=1), ids
        )
    if not members:
        raise LookupError(team)
    previous = [RosterEntry(e.person_id, e.day, e.shift_code) for e in stored]
    return generate_roster(members, start, end, policy(app), seed=seed, previous=previous), previous


LIVE_DAYS = 14
"""The demo keeps a roster up to two weeks ahead of today."""


async def extend_live_roster(app: Core, *, actor: str) -> int:
    """Plan the days from the end of the stored plan (or today) to two weeks ahead; returns cells written.

    Days that already have a plan are left alone, so this runs at every demo start but generates only what
    is missing (once for a fresh demo, then nothing until the weeks run out); the new days continue the
    stored ones (runs of work days, rest rotation) and go through the same summary as any plan.
    """
    today = app.clock.now().astimezone(app.tz).date()
    end = today + timedelta(days=LIVE_DAYS - 1)
    async with app.db.read() as conn:
        last = (await conn.execute(sa.select(sa.func.max(roster_entries.c.day)))).scalar_one()
    start = today if last is None or last < today else last + timedelta(days=1)
    if start > end:
        return 0
    try:
        entries, _ = await plan_roster(app, start, end, None)
    except LookupError:
        return 0
    await store_plan(app, entries, actor, "roster.generated", f"{start}..{end}")
    return len(entries)


async def import_roster_if_empty(app: Core) -> None:
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


def register(app: Core) -> None:
    router = app.router
    app.hooks.on_seed.append(import_roster_if_empty)

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
        text += "\n" + "\n".join(summary_lines(ctx.app, ctx.lang, summary))
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
