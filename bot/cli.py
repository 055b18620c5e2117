"""The `deskmate` command line: the console, database, org and (when present) feature commands."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bot.settings import EXAMPLES_DIR, Settings, load_settings
from schedules.texthygiene import json_line, terminal_safe

log = logging.getLogger("deskmate")

# Feature packages that add their own subcommands through `add_commands(subparsers)`.
COMMAND_MODULES = (
    "knowledge.cli",
    "schedules.cli",
    "handlers.cli",
    "bot.adapters.telegram.cli",
    "bot.adapters.slack.cli",
    "bot.adapters.dingtalk.cli",
    "bot.adapters.feishu.cli",
)


def _setup_logging(settings: Settings, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else getattr(logging, settings.log_level)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _startup_errors() -> tuple[type[Exception], ...]:
    """Errors in files an operator wrote (org, policy, handbook): one line and exit code 2."""
    from bot.org import OrgError

    found: list[type[Exception]] = [OrgError]
    for module, name in (
        ("schedules.policy", "PolicyError"),
        ("schedules.calendar", "HolidayError"),
        ("knowledge.model", "HandbookError"),
    ):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        return 130
    except _startup_errors() as exc:
        print(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, file=sys.stderr)
        return 2


# ----- console ---------------------------------------------------------------------------------
async def _console(args: argparse.Namespace, settings: Settings) -> int:
    from bot.adapters.console import Console, ConsoleTransport, interactive
    from bot.app import App
    from bot.clock import FakeClock

    clock = FakeClock()
    app = App(settings, clock=clock)
    try:
        await app.prepare()
        if args.demo:
            from handlers.roster import extend_live_roster

            await extend_live_roster(app, actor="demo")
        transport = ConsoleTransport(settings.tz, clock, sys.stdout, as_json=args.json)
        console = Console(app, clock, transport)
        if args.script is None:
            return await interactive(console, args.as_person)
        if args.script == "-":
            return await console.run_script(sys.stdin, sys.stderr)
        path = Path(args.script)
        try:
            handle = await asyncio.to_thread(path.open, encoding="utf-8")
        except OSError as exc:
            print(f"cannot read script {path}: {exc.strerror}", file=sys.stderr)
            return 2
        with handle:
            return await console.run_script(handle, sys.stderr)
    finally:
        await app.close()


DEMO_ORG = EXAMPLES_DIR / "org.yaml"
DEMO_ROSTER = EXAMPLES_DIR / "roster.csv"


def cmd_console(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.demo:
        # Demo data reaches a database only when asked for (make demo, --demo); settings still win.
        settings.org_file = settings.org_file or DEMO_ORG
        settings.roster_file = settings.roster_file or DEMO_ROSTER
    _setup_logging(settings, quiet=True)
    return run(_console(args, settings))


# ----- db and org ------------------------------------------------------------------------------
async def _db_upgrade(settings: Settings) -> int:
    from bot import migrate
    from bot.db import Database

    db = Database(settings.database_url)
    try:
        revision = await migrate.upgrade(db)
    finally:
        await db.dispose()
    print(f"database at revision {revision}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = load_settings()
    _setup_logging(settings, quiet=True)
    return run(_db_upgrade(settings))


async def _org_import(path: Path, settings: Settings) -> int:
    from bot import migrate, org
    from bot.clock import SystemClock
    from bot.db import Database

    try:
        department = org.load_org_file(path)
    except org.OrgError as exc:
        for problem in exc.problems:
            print(terminal_safe(f"{exc.source}: {problem}"), file=sys.stderr)
        print("nothing was imported", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        now = SystemClock().now()
        async with db.transaction() as conn:
            counts = await org.import_org(
                conn, department, actor="cli", now=now, today=now.astimezone(settings.tz).date()
            )
    except org.OrgError as exc:  # checked against the stored department: nothing was written
        for problem in exc.problems:
            print(terminal_safe(f"{path}: {problem}"), file=sys.stderr)
        print("nothing was imported", file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    for warning in department.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"imported {len(department.people)} people in {len(department.teams)} teams: "
        f"{counts['added']} added, {counts['updated']} updated, {counts['unchanged']} unchanged"
    )
    return 0


def cmd_org_import(args: argparse.Namespace) -> int:
    settings = load_settings()
    _setup_logging(settings, quiet=True)
    return run(_org_import(Path(args.file), settings))


async def _org_list(settings: Settings, as_json: bool) -> int:
    from bot import migrate
    from bot.db import Database
    from bot.org import Directory, person_json

    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        async with db.read() as conn:
            everyone = await Directory().all(conn)
    finally:
        await db.dispose()
    if as_json:
        print(json_line([person_json(p) for p in everyone]))
    else:
        for p in everyone:
            print(terminal_safe(f"{p.id:<14} {p.name:<8} {p.role:<10} {p.team or '-':<10} {p.language}"))
    return 0


async def _org_erase(person_id: str, settings: Settings) -> int:
    from bot import leavers, migrate
    from bot.clock import SystemClock
    from bot.db import Database

    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        async with db.transaction() as conn:
            done = await leavers.erase(conn, person_id, actor="cli", now=SystemClock().now(), why="request")
    finally:
        await db.dispose()
    if not done:
        print(f"no person {person_id!r} whose data is not erased yet", file=sys.stderr)
        return 2
    print(f"{person_id}: personal data anonymised (attendance kept); audited as person.erased")
    return 0


async def _org_invite(person_id: str, settings: Settings) -> int:
    from bot import identities, migrate
    from bot.clock import SystemClock
    from bot.db import Database
    from bot.org import Directory

    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        now = SystemClock().now()
        async with db.transaction() as conn:
            person = await Directory().by_id(conn, person_id)
            code = None
            if person is not None:
                code = await identities.new_code(conn, person.id, now=now, actor="cli")
    finally:
        await db.dispose()
    if person is None or code is None:
        print(f"no person {person_id!r} who works here (see deskmate org list)", file=sys.stderr)
        return 2
    until = (now + identities.CODE_LIFETIME).astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    shown = identities.show_code(code)
    print(terminal_safe(f"invite code for {person.name} ({person.id}): {shown}"))
    print(f"valid once, until {until} ({settings.tz}); they send this to the bot on any platform:")
    print(f"/link {shown}")
    return 0


def cmd_org_invite(args: argparse.Namespace) -> int:
    settings = load_settings()
    _setup_logging(settings, quiet=True)
    return run(_org_invite(args.person, settings))


def cmd_org_erase(args: argparse.Namespace) -> int:
    settings = load_settings()
    _setup_logging(settings, quiet=True)
    return run(_org_erase(args.person, settings))


def cmd_org_list(args: argparse.Namespace) -> int:
    settings = load_settings()
    _setup_logging(settings, quiet=True)
    return run(_org_list(settings, args.json))


# ----- inbox ---------------------------------------------------------------------------------------
async def _inbox(args: argparse.Namespace, settings: Settings) -> int:
    from bot import inbox, migrate
    from bot.clock import SystemClock
    from bot.db import Database

    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        if args.inbox_command == "list":
            state = None if args.state == "all" else args.state
            rows = await inbox.listing(db, state, limit=args.limit)
            if args.json:
                listed = [
                    {
                        "id": r.id,
                        "platform": r.platform,
                        "sender": r.sender_id,
                        "state": r.state,
                        "attempts": r.attempts,
                        "received_at": r.received_at.isoformat(),
                        "error": r.error,
                        "summary": r.summary,
                    }
                    for r in rows
                ]
                print(json_line(listed))
            else:
                for r in rows:
                    when = r.received_at.isoformat(timespec="seconds")
                    sender = terminal_safe(r.sender_id)
                    print(f"{r.id:>8} {r.platform:<9} {sender:<14} {r.state:<8} {r.attempts:>2} {when}")
                    if r.error:
                        print(f"         {terminal_safe(r.error)}")
                if not rows:
                    print("no rows")
            return 0
        changed = await inbox.operate(db, args.ids, args.inbox_command, actor="cli", now=SystemClock().now())
    finally:
        await db.dispose()
    verb = "back in line" if args.inbox_command == "retry" else "discarded"
    print(f"{changed} of {len(args.ids)} parked rows {verb}")
    return 0 if changed == len(args.ids) else 1


def cmd_inbox(args: argparse.Namespace) -> int:
    settings = load_settings()
    _setup_logging(settings, quiet=True)
    return run(_inbox(args, settings))


# ----- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deskmate", description="Deskmate: the customer-service desk assistant"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    console = sub.add_parser("console", help="chat with the bot in the terminal, or run a script")
    console.add_argument("--as", dest="as_person", metavar="PERSON", help="start as this person id")
    console.add_argument("--script", metavar="FILE", help="run script lines from FILE, or - for stdin")
    console.add_argument("--json", action="store_true", help="print each bot message as one JSON line")
    console.add_argument(
        "--demo",
        action="store_true",
        help="the demo department: examples/org.yaml and roster.csv, and live days up to 2 weeks ahead",
    )
    console.set_defaults(func=cmd_console)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate the database to the latest schema").set_defaults(
        func=cmd_db_upgrade
    )

    org_parser = sub.add_parser("org", help="people and teams").add_subparsers(
        dest="org_command", required=True
    )
    org_import = org_parser.add_parser("import", help="validate and upsert an org YAML file")
    org_import.add_argument("file")
    org_import.set_defaults(func=cmd_org_import)
    org_erase = org_parser.add_parser(
        "erase", help="anonymise a person's personal data now (name, ids, request texts); attendance stays"
    )
    org_erase.add_argument("person", metavar="PERSON", help="the person's id")
    org_erase.set_defaults(func=cmd_org_erase)
    org_invite = org_parser.add_parser(
        "invite",
        help="print a one-time code (valid 24 h) with which a person links a chat account: /link CODE",
    )
    org_invite.add_argument("person", metavar="PERSON", help="the person's id")
    org_invite.set_defaults(func=cmd_org_invite)
    org_list = org_parser.add_parser("list", help="list the people")
    org_list.add_argument("--json", action="store_true")
    org_list.set_defaults(func=cmd_org_list)

    inbox_parser = sub.add_parser("inbox", help="updates received: list, retry or discard parked ones")
    inbox_sub = inbox_parser.add_subparsers(dest="inbox_command", required=True)
    inbox_list = inbox_sub.add_parser("list", help="list inbox rows (parked ones unless --state says)")
    inbox_list.add_argument("--state", choices=("parked", "pending", "done", "all"), default="parked")
    inbox_list.add_argument("--limit", type=int, default=100)
    inbox_list.add_argument("--json", action="store_true")
    inbox_list.set_defaults(func=cmd_inbox)
    for action, text in (
        ("retry", "put parked rows back in line (their attempts start over)"),
        ("discard", "give up on parked rows (marked done, unhandled, audited)"),
    ):
        parser_for = inbox_sub.add_parser(action, help=text)
        parser_for.add_argument("ids", nargs="+", type=int, metavar="ID")
        parser_for.set_defaults(func=cmd_inbox)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        adder: Callable[[Any], None] | None = getattr(module, "add_commands", None) or getattr(
            module, "add_kb_commands", None
        )
        if adder is not None:
            adder(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
