"""The plan and the decisions are separate facts: a new plan never undoes an approved decision (issue 13).

The expected roster is worked out the way a person would: take the plan, then apply each approved decision
to it in the order they were decided (a swap or give-away changes the shift, a leave marks the day).
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import migrate, roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.db import Database
from bot.schema import audit_log, outbox, roster_entries, roster_overrides
from handlers.roster import import_roster, store_plan
from schedules.roster.model import RosterEntry
from tests.conftest import local

PEOPLE = ("a", "b", "c")
DAYS = tuple(date(2026, 12, 1) + timedelta(days=i) for i in range(5))
CODES = (None, "day", "evening")
NOW = local("2026-11-30 10:00")

Seen = dict[tuple[str, date], tuple[str | None, str | None]]


@dataclass(frozen=True)
class Decision:
    kind: str  # "swap", "give_away", "leave", "missed_punch"
    person: str
    other: str
    day: date


plans = st.dictionaries(
    st.tuples(st.sampled_from(PEOPLE), st.sampled_from(DAYS)), st.sampled_from(CODES), max_size=15
)
decisions = st.lists(
    st.builds(
        Decision,
        st.sampled_from(("swap", "give_away", "leave", "missed_punch")),
        st.sampled_from(PEOPLE),
        st.sampled_from(PEOPLE),
        st.sampled_from(DAYS),
    ),
    max_size=6,
).filter(lambda made: all(d.person != d.other for d in made))


def by_hand(plan: dict[tuple[str, date], str | None], made: list[list[roster_store.CellDecision]]) -> Seen:
    """The plan, then each decision's cells applied in the order they were decided.

    A decision is what it did when it was approved (liuyang took the day shift), so over a new plan it
    still does exactly that; a leave marks a day only where there is a cell to mark.
    """
    seen: Seen = {cell: (code, None) for cell, code in plan.items()}
    for cells in made:
        for c in cells:
            cell = (c.person_id, c.day)
            if c.sets_shift:
                seen[cell] = (c.shift_code, c.note if c.note is not None else seen.get(cell, (None, None))[1])
            elif cell in seen:
                seen[cell] = (seen[cell][0], c.note)
    return seen


def cells_of(seen: Seen, d: Decision, n: int) -> list[roster_store.CellDecision]:
    """What the approval code hands to the store for decision number ``n``."""
    mine, theirs = (d.person, d.day), (d.other, d.day)
    if d.kind == "swap":
        a, b = seen.get(mine, (None, None))[0], seen.get(theirs, (None, None))[0]
        return [
            roster_store.set_shift(d.person, d.day, b, f"swap#{n}"),
            roster_store.set_shift(d.other, d.day, a, f"swap#{n}"),
        ]
    if d.kind == "give_away":
        shift = seen.get(mine, (None, None))[0]
        return [
            roster_store.set_shift(d.other, d.day, shift, f"give_away#{n}"),
            roster_store.set_shift(d.person, d.day, None, f"give_away#{n}"),
        ]
    if d.kind == "leave":
        return [roster_store.mark(d.person, d.day, "leave:annual")] if mine in seen else []
    return [roster_store.set_shift(d.person, d.day, "day")]


async def seen_now(db: Database) -> Seen:
    async with db.read() as conn:
        rows = await roster_store.between(conn, DAYS[0], DAYS[-1])
    return {(e.person_id, e.day): (e.shift_code, e.note) for e in rows}


async def scenario(
    db: Database,
    plan: dict[tuple[str, date], str | None],
    made: list[Decision],
    new_plan: dict[tuple[str, date], str | None],
) -> None:
    async with db.transaction() as conn:
        await conn.execute(roster_overrides.delete())
        await conn.execute(roster_entries.delete())
        await roster_store.write_plan(conn, [(p, d, c) for (p, d), c in plan.items()], NOW)
    effects: list[list[roster_store.CellDecision]] = []
    for n, d in enumerate(made, start=1):
        cells = cells_of(by_hand(plan, effects), d, n)
        async with db.transaction() as conn:
            await roster_store.record_decision(
                conn, decision=d.kind, request_id=n, cells=cells, actor="lead", now=NOW
            )
        effects.append(cells)
    expected = by_hand(plan, effects)
    assert await seen_now(db) == expected

    # re-importing the plan the roster came from changes nothing and conflicts with nothing
    async with db.transaction() as conn:
        again = await roster_store.write_plan(conn, [(p, d, c) for (p, d), c in plan.items()], NOW)
    assert again.conflicts == [] and again.undone == []
    assert await seen_now(db) == expected

    # any other plan keeps every decision: the same decisions over the new plan
    async with db.transaction() as conn:
        await roster_store.write_plan(conn, [(p, d, c) for (p, d), c in new_plan.items()], NOW)
    assert await seen_now(db) == by_hand({**plan, **new_plan}, effects)


def test_seen_roster_is_the_plan_with_the_decisions_applied_before_and_after_reimport(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    loop.run_until_complete(migrate.upgrade(db))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(plan=plans, made=decisions, new_plan=plans)
    def check(
        plan: dict[tuple[str, date], str | None],
        made: list[Decision],
        new_plan: dict[tuple[str, date], str | None],
    ) -> None:
        loop.run_until_complete(scenario(db, plan, made, new_plan))

    try:
        check()
    finally:
        loop.run_until_complete(db.dispose())
        loop.close()


# ----- conflicts, on both backends ------------------------------------------------------------------------
CSV_PLAN = "person,2026-12-01,2026-12-02\nwangfang,白,白\nliuyang,晚,晚\n"


async def test_reimport_lists_a_conflicting_decision_and_keeps_it(app: App, clock: FakeClock) -> None:
    await import_roster(app, CSV_PLAN.encode(), "plan.csv", "zhanglei")
    async with app.db.transaction() as conn:
        await roster_store.record_decision(
            conn,
            decision="swap",
            request_id=7,
            cells=[
                roster_store.set_shift("wangfang", date(2026, 12, 2), "evening", "swap#7"),
                roster_store.set_shift("liuyang", date(2026, 12, 2), "day", "swap#7"),
            ],
            actor="zhanglei",
            now=clock.now(),
        )
    # the new plan gives wangfang a rest on 12-02: the shift she swapped away no longer exists
    changed = "person,2026-12-01,2026-12-02\nwangfang,白,休\nliuyang,晚,晚\n"
    summary = await import_roster(app, changed.encode(), "plan2.csv", "zhanglei")
    assert [(c.key, c.person_id, c.was, c.now) for c in summary.conflicts] == [
        ("swap#7", "wangfang", "day", None)
    ]
    assert summary.undone == []
    async with app.db.read() as conn:
        cell = await roster_store.entry(conn, "wangfang", date(2026, 12, 2))
    assert cell is not None and (cell.shift_code, cell.note) == ("evening", "swap#7")


async def test_override_decisions_unapplies_the_whole_decision_with_audit_and_messages(
    app: App, clock: FakeClock
) -> None:
    await import_roster(app, CSV_PLAN.encode(), "plan.csv", "zhanglei")
    async with app.db.transaction() as conn:
        await roster_store.record_decision(
            conn,
            decision="swap",
            request_id=7,
            cells=[
                roster_store.set_shift("wangfang", date(2026, 12, 2), "evening", "swap#7"),
                roster_store.set_shift("liuyang", date(2026, 12, 2), "day", "swap#7"),
            ],
            actor="zhanglei",
            now=clock.now(),
        )
    changed = "person,2026-12-01,2026-12-02\nwangfang,白,休\nliuyang,晚,晚\n"
    summary = await import_roster(app, changed.encode(), "plan2.csv", "zhanglei", override_decisions=True)
    assert sorted(o.person_id for o in summary.undone) == ["liuyang", "wangfang"]
    async with app.db.read() as conn:
        seen = {
            (e.person_id, e.day): e.shift_code for e in await roster_store.between(conn, DAYS[0], DAYS[1])
        }
        actions = (
            await conn.execute(sa.select(audit_log.c.action, audit_log.c.object_id).order_by(audit_log.c.id))
        ).all()
        queued = (await conn.execute(sa.select(outbox.c.payload))).scalars().all()
    assert seen[("wangfang", date(2026, 12, 2))] is None  # the new plan, no longer the swap
    assert seen[("liuyang", date(2026, 12, 2))] == "evening"
    assert ("roster.decision_undone", "swap#7") in [(a.action, a.object_id) for a in actions]
    texts = [str(payload["text"]) for payload in queued]
    assert sum("#7" in t and "不再有效" in t for t in texts) == 2  # wangfang and liuyang, in Chinese


async def test_same_file_twice_changes_nothing_and_tells_nobody(app: App) -> None:
    await import_roster(app, CSV_PLAN.encode(), "plan.csv", "zhanglei")
    async with app.db.read() as conn:
        before = (await conn.execute(sa.text("SELECT count(*) FROM outbox"))).scalar_one()
    summary = await import_roster(app, CSV_PLAN.encode(), "plan.csv", "zhanglei")
    async with app.db.read() as conn:
        after = (await conn.execute(sa.text("SELECT count(*) FROM outbox"))).scalar_one()
    assert summary.changes == {} and summary.conflicts == [] and after == before


async def messages_to(app: App, person: str) -> list[str]:
    async with app.db.read() as conn:
        rows = (await conn.execute(sa.select(outbox.c.payload).where(outbox.c.to_person == person))).scalars()
        return [str(r["text"]) for r in rows]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_changed_days_are_listed_and_told_once_in_the_persons_language(app: App, lang: str) -> None:
    async with app.db.transaction() as conn:
        await conn.execute(sa.text("UPDATE people SET language = :l WHERE id = 'wangfang'"), {"l": lang})
    await import_roster(app, CSV_PLAN.encode(), "plan.csv", "zhanglei")
    before = await messages_to(app, "wangfang")
    changed = "person,2026-12-01,2026-12-02\nwangfang,白,晚\nliuyang,晚,晚\n"
    summary = await import_roster(app, changed.encode(), "plan2.csv", "zhanglei")
    assert list(summary.changes) == ["wangfang"]
    [cell] = summary.changes["wangfang"]
    assert (cell.day, cell.before and cell.before.shift_code, cell.after and cell.after.shift_code) == (
        date(2026, 12, 2),
        "day",
        "evening",
    )
    # one message (the corrected week the import publishes), whose 12-02 line is the evening shift
    [told] = (await messages_to(app, "wangfang"))[len(before) :]
    line = next(x for x in told.splitlines() if x.startswith("12-02"))
    assert ("evening" if lang == "en" else "晚班") in line
    assert await messages_to(app, "liuyang") == (await messages_to(app, "liuyang"))[:1]  # unchanged: once


async def test_generated_plans_tell_the_changes_cell_by_cell(app: App) -> None:
    await import_roster(app, CSV_PLAN.encode(), "plan.csv", "zhanglei")
    before = await messages_to(app, "wangfang")
    plan = [
        RosterEntry("wangfang", date(2026, 12, 1), "day"),
        RosterEntry("wangfang", date(2026, 12, 2), None),
    ]
    summary = await store_plan(app, plan, "cli", "roster.generated", "test")
    assert [(c.day, c.after and c.after.shift_code) for c in summary.changes["wangfang"]] == [
        (date(2026, 12, 2), None)
    ]
    [told] = (await messages_to(app, "wangfang"))[len(before) :]
    assert told == "你未来 7 天的排班有变动：\n12-02 白班 → 休"


# ----- the generator sees the whole roster; imports and generation warn -------------------------------------
GENERATE_DATES = ("--from", "2026-12-01", "--to", "2026-12-14")


def test_generate_continues_from_the_stored_days_before_from(tmp_path: Path) -> None:
    """Two of the service team worked 11-25..11-30 (six days): neither may work 12-01 (第四十三条)."""
    from schedules.policy import load_policy
    from schedules.roster.checks import validate_roster
    from schedules.roster.importing import parse_roster
    from tests.conftest import REPO
    from tests.helpers import deskmate

    days = [date(2026, 11, 25) + timedelta(days=i) for i in range(6)]
    lines = ["person," + ",".join(d.isoformat() for d in days)]
    for person in ("wangfang", "liuyang"):
        lines.append(person + ",白,白,白,白,白,白")
    for person in ("chenjing", "zhanglei", "yangmin", "zhaoqiang"):
        lines.append(person + ",晚,晚,晚,晚,晚,休")
    before = tmp_path / "before.csv"
    before.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
        "ORG_FILE": str(REPO / "examples/org.yaml"),
        "POLICY_FILE": str(REPO / "examples/policy.yaml"),
        "PATH": "/usr/bin:/bin",
        "KB_SEMANTIC": "false",
    }
    deskmate("roster", "import", str(before), env=env, cwd=REPO, check=True)
    made = deskmate("roster", "generate", "--team", "service", *GENERATE_DATES, env=env, cwd=REPO, check=True)
    policy = load_policy(REPO / "examples/policy.yaml")
    ids = ["wangfang", "liuyang", "chenjing", "zhanglei", "yangmin", "zhaoqiang"]
    planned = parse_roster(made.stdout.encode(), "g.csv", ids, policy)
    stored = parse_roster(before.read_bytes(), "before.csv", ids, policy)
    assert {e.shift_code for e in planned if e.date == date(2026, 12, 1) and e.person_id in ids[:2]} == {None}
    runs = [v for v in validate_roster([*stored, *planned], policy) if v.code == "consecutive_days"]
    assert runs == []
    assert "warning:" not in made.stderr


async def test_an_import_warns_about_a_run_across_its_start_with_person_day_and_article(app: App) -> None:
    week = [date(2026, 11, 25) + timedelta(days=i) for i in range(6)]
    first = "person," + ",".join(d.isoformat() for d in week) + "\nwangfang,白,白,白,白,白,白\n"
    summary = await import_roster(app, first.encode(), "a.csv", "zhanglei")
    assert summary.violations == []
    second = "person,2026-12-01,2026-12-02\nwangfang,白,白\n"
    summary = await import_roster(app, second.encode(), "b.csv", "zhanglei")
    [run] = summary.violations
    assert (run.code, run.person_id, run.date, run.article.zh) == (
        "consecutive_days",
        "wangfang",
        date(2026, 11, 25),
        "第四十三条",
    )
    assert run.params["days"] == "8"
    from handlers.roster import violation_text

    assert (
        violation_text(app, "zh-CN", run)
        == "wangfang 11-25：从 2026-11-25 起连续上班 8 天（最多 6 天）（第四十三条）"
    )


# ----- as a user meets it: console script lines on the fake clock -------------------------------------------
async def test_decisions_survive_reimport_and_generate_in_the_console(app: App, clock: FakeClock) -> None:
    """王芳 works evening 12-04 and 陈静 day; they swap (approved by 张磊), and 王芳's 事假 on 12-08 is
    approved. A re-import of examples/roster.csv and a generated plan leave both decisions in force:
    /shifts, /onduty, the reminders and the report all follow them."""
    from handlers.report import attendance_report
    from handlers.roster import plan_roster
    from tests.conftest import REPO
    from tests.helpers import Chat

    example = (REPO / "examples" / "roster.csv").read_bytes()
    await import_roster(app, example, "roster.csv", "zhanglei")
    chat = Chat(app, clock)
    for line in [
        "clock: 2026-12-02 10:00",  # 张磊 rests on 12-01, and a decider off today is passed over (issue 14)
        "wangfang: /leave 事假 12-08 12-08 体检",
        "zhanglei: press 批准",
        "wangfang: /swap 12-04 chenjing 12-04",
        "chenjing: press 1",
        "zhanglei: press 1",
    ]:
        await chat.line(line)
    assert sum(m["to"] == "wangfang" and "已批准" in m["text"] for m in chat.sent) == 2

    again = await import_roster(app, example, "roster.csv", "zhanglei")
    assert again.conflicts == [] and again.changes == {}
    plan, _ = await plan_roster(app, date(2026, 12, 1), date(2026, 12, 13), "service")
    generated = await store_plan(app, plan, "cli", "roster.generated", "test")
    # the new plan puts 王芳 on days on 12-04: the swap was decided against her evening shift, so it is listed
    assert ("swap#2", "wangfang", "evening") in [(c.key, c.person_id, c.was) for c in generated.conflicts]
    assert generated.undone == []

    start = len(chat.sent)
    for line in [
        "clock: 2026-12-04 08:00",
        "clock: 2026-12-04 08:50",
        "wangfang: /shifts",
        "chenjing: /shifts",
    ]:
        await chat.line(line)
    morning = chat.sent[start:]
    # the day-shift reminder goes to 王芳, who took the day shift, and not to 陈静, who gave it away
    assert any(m["to"] == "wangfang" and m["text"].startswith("⏰ 王芳") for m in morning)
    assert not any(m["to"] == "chenjing" and m["text"].startswith("⏰") for m in morning)
    mine = next(m["text"] for m in morning if m["to"] == "wangfang" and m["text"].startswith("我未来7天"))
    assert "12-04 周五  白班 09:00–18:00" in mine
    assert next(line for line in mine.splitlines() if line.startswith("12-08")).endswith("（请假）")
    hers = next(m["text"] for m in morning if m["to"] == "chenjing" and m["text"].startswith("My shifts"))
    assert "12-04 Fri  evening 14:00–23:00" in hers
    await chat.line("clock: 2026-12-04 10:00")
    [on_duty] = await chat.say("zhanglei", "/onduty")
    assert "王芳（白班）" in on_duty["text"] and "陈静（白班）" not in on_duty["text"]
    await chat.line("clock: 2026-12-08 10:00")
    [on_duty] = await chat.say("zhanglei", "/onduty")
    assert next(line for line in on_duty["text"].splitlines() if "王芳" in line).endswith("🌴 请假")

    report = await attendance_report(
        app, date(2026, 12, 4), date(2026, 12, 8), "service", "csv", "zh-CN", detail=True
    )
    rows = {(r[0], r[3]): r for r in csv.reader(io.StringIO(report.decode("utf-8-sig")))}
    assert rows[("wangfang", "2026-12-04")][4] == "白班"
    assert rows[("chenjing", "2026-12-04")][4] == "晚班"
    assert rows[("wangfang", "2026-12-08")][7] == "请假"
