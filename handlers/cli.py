"""`deskmate roster …` and `deskmate report …`: the same features as the chat, from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from datetime import date
from pathlib import Path
from typing import Any

from bot.settings import load_settings
from schedules.private_files import open_private
from schedules.texthygiene import json_line, terminal_safe


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-12-01") from None


async def _with_app(work: Any) -> int:
    from bot.app import App

    settings = load_settings()
    app = App(settings)
    try:
        await app.prepare(import_org_if_empty=True)
        result: int = await work(app)
        return result
    finally:
        await app.close()


def cmd_roster_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from handlers.roster import import_roster, problem_text, summary_lines
    from schedules.filelimits import ROSTER_LIMITS, FileLimitError, read_bytes
    from schedules.roster.model import RosterError

    path = Path(args.file)
    try:
        data = read_bytes(path, ROSTER_LIMITS)
    except OSError as exc:
        print(f"{path}: cannot read the file ({exc.strerror})", file=sys.stderr)
        return 2
    except FileLimitError as exc:
        print(f"{path}: {exc}; nothing was imported", file=sys.stderr)
        return 2

    async def work(app: Any) -> int:
        bar = tqdm(total=0, unit="row", disable=len(data) < 200_000, file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            # The command line loads rosters (past ones, test and demo data too); publishing a week to its
            # people is the lead's upload in the chat (第二十一条, handlers.publish). Whose next 7 days
            # changed is still told, cell by cell.
            summary = await import_roster(
                app,
                data,
                path.name,
                "cli",
                progress,
                announce=False,
                override_decisions=args.override_decisions,
            )
        except RosterError as exc:
            for problem in exc.problems:
                print(terminal_safe(f"{path}: {problem_text(app, 'en', problem)}"), file=sys.stderr)
            print("nothing was imported", file=sys.stderr)
            return 2
        finally:
            bar.close()
        print(
            f"imported {summary.entries} entries for {summary.people} people, "
            f"{summary.first} to {summary.last}"
        )
        for line in summary_lines(app, "en", summary):
            print(terminal_safe(line))
        return 0

    return asyncio.run(_with_app(work))


def cmd_roster_generate(args: argparse.Namespace) -> int:
    from handlers.common import policy
    from handlers.roster import new_violations, plan_roster, store_plan, summary_lines, violation_text
    from schedules.roster.export import write_roster_csv

    if args.to < args.from_:
        print("--to is before --from", file=sys.stderr)
        return 2

    async def work(app: Any) -> int:
        try:
            entries, previous = await plan_roster(app, args.from_, args.to, args.team, seed=args.seed)
        except LookupError:
            print(f"no people in team {args.team!r}", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"cannot make a roster: {exc}", file=sys.stderr)
            return 2
        out = io.StringIO()
        write_roster_csv(entries, out, policy(app), people=sorted({e.person_id for e in entries}))
        if args.output:
            with open_private(args.output, "w", encoding="utf-8") as fh:
                fh.write(out.getvalue())
        else:
            sys.stdout.write(out.getvalue())
        if not args.apply:
            for violation in new_violations(entries, previous, policy(app)):
                print(f"warning: {violation_text(app, 'en', violation)}", file=sys.stderr)
            return 0
        summary = await store_plan(
            app,
            entries,
            "cli",
            "roster.generated",
            f"{args.from_}..{args.to}",
            override_decisions=args.override_decisions,
        )
        print(f"stored {len(entries)} entries", file=sys.stderr)
        for line in summary_lines(app, "en", summary):
            print(line, file=sys.stderr)
        return 0

    return asyncio.run(_with_app(work))


def cmd_report(args: argparse.Namespace) -> int:
    from handlers.report import attendance_report

    if args.to < args.from_:
        print("--to is before --from", file=sys.stderr)
        return 2

    async def work(app: Any) -> int:
        data = await attendance_report(
            app, args.from_, args.to, args.team, args.format, args.lang, detail=args.detail
        )
        output = args.output or f"attendance-{args.from_}-{args.to}.{args.format}"
        if output == "-":
            sys.stdout.buffer.write(data)
        else:
            with open_private(output, "wb") as fh:
                fh.write(data)
            print(f"wrote {output}")
        return 0

    return asyncio.run(_with_app(work))


def cmd_attendance_correct(args: argparse.Namespace) -> int:
    """`deskmate attendance correct`: the same check and record as /correct, for a lead or an admin."""
    from handlers.corrections import correct_shift, find_person, verdict_word

    kind = verdict_word(args.verdict)
    if kind is None:
        print(f"unknown verdict {args.verdict!r} (e.g. on_time, late, absent_half_day)", file=sys.stderr)
        return 2
    if not args.reason.strip():
        print("--reason must say why", file=sys.stderr)
        return 2

    async def work(app: Any) -> int:
        async with app.db.transaction() as conn:
            actor = await find_person(conn, app, args.by)
            subject = await find_person(conn, app, args.person)
            if actor is None or subject is None:
                print(f"unknown person {args.by if actor is None else args.person!r}", file=sys.stderr)
                return 2
            done = await correct_shift(
                conn, app, actor, subject, args.date, kind, args.reason.strip(), app.clock.now()
            )
        if done.problem is not None:
            print(f"not corrected: {done.problem.replace('_', ' ')}", file=sys.stderr)
            return 1
        before = done.before.value if done.before else "?"
        print(
            f"corrected {subject.id} {args.date}: {before} -> {kind.value} (correction #{done.correction_id})"
        )
        return 0

    return asyncio.run(_with_app(work))


def cmd_attendance_close(args: argparse.Namespace) -> int:
    """`deskmate attendance close --month 2026-11`: freeze a finished month now (it closes by itself on the
    policy's ``attendance.close_on_day``); from then on only corrections change its report."""
    from handlers.report import close_month

    async def work(app: Any) -> int:
        async with app.db.transaction() as conn:
            frozen = await close_month(conn, app, args.month, "cli", app.clock.now())
        if frozen is None:
            print(f"{args.month:%Y-%m} is already closed or not over yet", file=sys.stderr)
            return 1
        print(f"closed {args.month:%Y-%m}: {frozen} shift verdicts frozen; only corrections change them now")
        return 0

    return asyncio.run(_with_app(work))


def _month(text: str) -> date:
    try:
        return date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month like 2026-11") from None


def cmd_kb_feedback(args: argparse.Namespace) -> int:
    """Questions people voted 👎 on or that found no rule: work for whoever maintains the handbook."""

    import sqlalchemy as sa

    from bot.schema import kb_feedback

    async def work(app: Any) -> int:
        if args.learned:
            return await _print_learned(app, args.json)
        async with app.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        kb_feedback.c.question,
                        kb_feedback.c.ref,
                        kb_feedback.c.vote,
                        sa.func.count().label("times"),
                        sa.func.max(kb_feedback.c.at).label("last"),
                    )
                    .where(kb_feedback.c.vote <= 0)
                    .group_by(kb_feedback.c.question, kb_feedback.c.ref, kb_feedback.c.vote)
                    .order_by(sa.func.count().desc(), sa.func.max(kb_feedback.c.at).desc())
                )
            ).all()
        items = [
            {
                "question": r.question,
                "answer": r.ref,
                "kind": "no_answer" if r.vote == 0 else "thumbs_down",
                "times": int(r.times),
                "last": r.last.isoformat(),
            }
            for r in rows
        ]
        if args.json:
            for item in items:
                print(json_line(item))
        elif not items:
            print("no negative votes and no unanswered questions")
        else:
            for item in items:
                answer = item["answer"] or "(no rule found)"
                line = f"{item['times']:>3}× {item['kind']:<11} {answer:<14} {item['question']}"
                print(terminal_safe(line))
        return 0

    return asyncio.run(_with_app(work))


async def _print_learned(app: Any, as_json: bool) -> int:
    from handlers.rules import learned_pairs

    pairs = await learned_pairs(app)
    if as_json:
        for pair in pairs:
            item = {"question": pair.question, "key": pair.key, "answer": pair.ref, "net": pair.net}
            item |= {"people": pair.people, "last": pair.last.isoformat()}
            print(json_line(item))
    elif not pairs:
        print("nothing learned yet (no article chosen or voted 👍 for a question)")
    else:
        for pair in pairs:
            print(terminal_safe(f"{pair.net:>+3} ({pair.people} people) {pair.ref:<14} {pair.question}"))
    return 0


def cmd_kb_forget(args: argparse.Namespace) -> int:
    """Remove a learned question -> article pair (its picks and votes); leads and above only."""
    from bot.org import rank
    from handlers.rules import forget, learn_key

    async def work(app: Any) -> int:
        person = await app.person(args.by)
        if person is None or rank(person.role) < rank("lead"):
            print(
                terminal_safe(
                    f"{args.by}: only a lead, supervisor, manager or admin may remove what was learned"
                ),
                file=sys.stderr,
            )
            return 2
        removed = await forget(app, learn_key(args.question), args.ref, person.id, app.clock.now())
        if not removed:
            print(terminal_safe(f"nothing learned for {args.question!r} -> {args.ref}"), file=sys.stderr)
            return 1
        print(terminal_safe(f"removed {removed} feedback rows: {args.question!r} -> {args.ref} (audited)"))
        return 0

    return asyncio.run(_with_app(work))


def _add_kb_feedback(sub: Any) -> None:
    kb = sub.choices.get("kb")
    if kb is None:
        return
    commands = next((a for a in kb._actions if isinstance(a, argparse._SubParsersAction)), None)
    if commands is None:
        return
    feedback = commands.add_parser(
        "feedback", help="questions with 👎 votes or no answer, most frequent first"
    )
    feedback.add_argument("--json", action="store_true", help="one JSON object per line")
    feedback.add_argument(
        "--learned",
        action="store_true",
        help="instead: the question -> article pairs people taught (picks, 👍) that the bot answers with",
    )
    feedback.set_defaults(func=cmd_kb_feedback)
    forget = commands.add_parser("forget", help="remove a learned question -> article pair (lead or above)")
    forget.add_argument("question")
    forget.add_argument("ref", help="the article, e.g. 第四十条")
    forget.add_argument("--by", required=True, help="your person id (a lead, supervisor, manager or admin)")
    forget.set_defaults(func=cmd_kb_forget)


def add_commands(sub: Any) -> None:
    _add_kb_feedback(sub)
    roster = sub.add_parser("roster", help="import or generate the shift roster").add_subparsers(
        dest="roster_command", required=True
    )
    importer = roster.add_parser(
        "import", help="validate and import a CSV or XLSX roster (grid or long form)"
    )
    importer.add_argument("file")
    importer.add_argument(
        "--override-decisions",
        action="store_true",
        help="un-apply approved decisions the new roster conflicts with (each person is told)",
    )
    importer.set_defaults(func=cmd_roster_import)
    generator = roster.add_parser(
        "generate", help="make a six-on-one-off roster with weekly day/evening rotation"
    )
    generator.add_argument("--from", dest="from_", type=_date, required=True)
    generator.add_argument("--to", type=_date, required=True)
    generator.add_argument("--team")
    generator.add_argument("--seed", type=int, default=0)
    generator.add_argument("--output", help="write the grid CSV here instead of stdout")
    generator.add_argument("--apply", action="store_true", help="also store it as the roster")
    generator.add_argument(
        "--override-decisions",
        action="store_true",
        help="with --apply: un-apply approved decisions the new roster conflicts with",
    )
    generator.set_defaults(func=cmd_roster_generate)

    attendance_cmds = sub.add_parser("attendance", help="attendance records").add_subparsers(
        dest="attendance_command", required=True
    )
    correcting = attendance_cmds.add_parser(
        "correct", help="correct one finished shift's verdict (a lead for their team, or an admin), audited"
    )
    correcting.add_argument("--person", required=True, help="person id or name")
    correcting.add_argument("--date", type=_date, required=True, help="the shift's date, e.g. 2026-12-01")
    correcting.add_argument("--verdict", required=True, help="on_time, grace, late, absent_half_day, …")
    correcting.add_argument("--reason", required=True)
    correcting.add_argument("--by", required=True, help="your person id (the team's lead or an admin)")
    correcting.set_defaults(func=cmd_attendance_correct)
    closing = attendance_cmds.add_parser(
        "close", help="freeze a finished month's verdicts now; afterwards only corrections change them"
    )
    closing.add_argument("--month", type=_month, required=True, help="e.g. 2026-11")
    closing.set_defaults(func=cmd_attendance_close)

    report = sub.add_parser("report", help="attendance reports").add_subparsers(
        dest="report_command", required=True
    )
    attendance = report.add_parser(
        "attendance", help="per person: days, late, grace, early leave, absence, overtime"
    )
    attendance.add_argument("--from", dest="from_", type=_date, required=True)
    attendance.add_argument("--to", type=_date, required=True)
    attendance.add_argument("--team")
    attendance.add_argument("--format", choices=("csv", "xlsx", "png"), default="csv")
    attendance.add_argument("--lang", choices=("zh-CN", "en"), default="zh-CN")
    attendance.add_argument(
        "--detail",
        action="store_true",
        help="one row per shift (date, shift, punches, verdict, article, request); XLSX puts it first",
    )
    attendance.add_argument(
        "--output", help="file to write (default attendance-FROM-TO.FORMAT; - for stdout)"
    )
    attendance.set_defaults(func=cmd_report)
