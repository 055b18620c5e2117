"""People who leave: `left_on` in the org file, no more messages, ids that stop resolving, anonymisation after
the policy's retention (fake clock) or at once with `deskmate org erase`, audited, attendance kept."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from bot import audit, housekeeping, identities, leavers, org
from bot.app import App
from bot.clock import FakeClock
from bot.messages import Outgoing
from bot.outbox import UNDELIVERABLE
from bot.schema import audit_log, outbox, people, punches, requests
from tests.conftest import REPO, local
from tests.helpers import Chat, roster

WANGFANG_TG = "100000101"
WANGFANG_SLACK = "U0AGT00101"


def example_org(**left: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "examples" / "org.yaml").read_text(encoding="utf-8"))
    for entry in data["people"]:
        if entry["id"] in left:
            entry["left_on"] = left[entry["id"]]
    return data


async def import_example(app: App, today: date, **left: str) -> None:
    async with app.db.transaction() as conn:
        await org.import_org(
            conn, org.parse_org(example_org(**left)), actor="test", now=app.clock.now(), today=today
        )


async def housekeeping_on(app: App, clock: FakeClock, day: str) -> None:
    """The daily run at 03:30 local on `day` (the tick itself, over the minutes around it)."""
    clock.set(local(f"{day} 03:31"))
    await housekeeping.daily(app, local(f"{day} 03:29"), clock.now())


async def person_row(app: App, person_id: str) -> Any:
    async with app.db.read() as conn:
        return (await conn.execute(sa.select(people).where(people.c.id == person_id))).one()


def test_left_on_is_read_and_checked() -> None:
    department = org.parse_org(example_org(wangfang="2026-12-31"))
    record = next(r for r in department.people if r.person.id == "wangfang")
    assert record.left_on == date(2026, 12, 31)
    with pytest.raises(org.OrgError) as bad:
        org.parse_org(example_org(wangfang="2026-02-30"))
    assert any("person wangfang: left_on" in p for p in bad.value.problems)
    with pytest.raises(org.OrgError) as early:
        org.parse_org(example_org(wangfang="2024-01-01"))  # she joined on 2024-03-01
    assert any("before joined_on" in p for p in early.value.problems)


async def test_a_leaver_gets_no_messages_and_their_ids_stop_resolving(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    async with app.db.transaction() as conn:
        await app.notify(conn, Outgoing(text="queued before she left", to_person="wangfang"))
    await import_example(app, date(2026, 12, 1), wangfang="2026-12-01")
    assert await app.resolve_person("telegram", WANGFANG_TG) is None
    assert await app.resolve_person("slack", WANGFANG_SLACK) is None
    assert await app.resolve_person("console", "wangfang") is None
    assert await app.deliver() == 0
    assert chat.sent == []
    async with app.db.read() as conn:
        status = (
            await conn.execute(sa.select(outbox.c.status).where(outbox.c.to_person == "wangfang"))
        ).scalar()
    assert status == UNDELIVERABLE
    # Written to, she is a stranger now.
    told = await chat.say("wangfang", "/whoami")
    assert len(told) == 1 and "console:wangfang" in told[0]["text"] and "王芳" not in told[0]["text"]


async def test_no_reminders_for_a_leaver_but_for_colleagues(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDDDDD", "liuyang": "DDDDDDD"})
    await import_example(app, date(2026, 12, 1), wangfang="2026-12-01")
    chat = Chat(app, clock)
    sent = [
        *await chat.line("clock: 2026-12-01 08:00"),
        *await chat.line("clock: 2026-12-01 08:50"),  # the reminder before the shift
        *await chat.line("clock: 2026-12-01 09:40"),  # and the lead's alert about an absence
    ]
    assert any(m["to"] == "liuyang" for m in sent)
    assert not any(m["to"] == "wangfang" or "王芳" in m["text"] for m in sent)


async def test_the_housekeeping_run_lets_go_on_the_day(app: App, clock: FakeClock) -> None:
    await import_example(app, date(2026, 12, 1), wangfang="2026-12-05")
    assert await app.resolve_person("telegram", WANGFANG_TG) is not None  # still here until her day
    await housekeeping_on(app, clock, "2026-12-04")
    assert await app.resolve_person("telegram", WANGFANG_TG) is not None
    await housekeeping_on(app, clock, "2026-12-05")
    assert await app.resolve_person("telegram", WANGFANG_TG) is None
    async with app.db.read() as conn:
        rows = await audit.rows_for(conn, "person", "wangfang")
    assert [r["action"] for r in rows if r["action"] == "person.left"] == ["person.left"]
    row = await person_row(app, "wangfang")
    assert row.name == "王芳" and row.erased_at is None  # her data stays until the retention is over


async def leave_and_punch(app: App, clock: FakeClock) -> Chat:
    """wangfang asks for leave with a private reason, escalates a case and clocks in once."""
    await roster(app, {"wangfang": "DDDDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/leave 事假 12-08 12-08 看病-隐私")
    clock.set(local("2026-12-01 08:58"))
    await chat.say("wangfang", "/in")
    await chat.say("wangfang", "/escalate 客户投诉订单 A123 的隐私细节")
    await chat.say("wangfang", "press 其他")
    await chat.say("wangfang", "press 没有单号")
    await chat.say("wangfang", "press 普通")
    async with app.db.read() as conn:
        payloads = [r.payload for r in await conn.execute(sa.select(requests))]
    assert {"看病-隐私", "客户投诉订单 A123 的隐私细节"} <= {
        p.get("reason") or p.get("description") for p in payloads
    }
    return chat


async def assert_erased(app: App, person_id: str) -> None:
    row = await person_row(app, person_id)
    assert row.name == leavers.ERASED
    async with app.db.read() as conn:
        assert (await identities.accounts_of(conn, [person_id]))[person_id] == {}
    assert row.erased_at is not None and not row.active
    async with app.db.read() as conn:
        payloads = [
            r.payload
            for r in await conn.execute(sa.select(requests).where(requests.c.requester_id == person_id))
        ]
        kept_punches = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(punches).where(punches.c.person_id == person_id)
            )
        ).scalar_one()
        texts = [
            json.dumps([r.before, r.after], ensure_ascii=False)
            for r in await conn.execute(sa.select(audit_log))
        ]
        sent = [json.dumps(r.payload, ensure_ascii=False) for r in await conn.execute(sa.select(outbox))]
    assert payloads and all(p.get("requester_name") == leavers.ERASED for p in payloads)
    stored = json.dumps(payloads, ensure_ascii=False) + "".join(texts) + "".join(sent)
    for secret in ("看病-隐私", "隐私细节", WANGFANG_TG, WANGFANG_SLACK):
        assert secret not in stored, secret
    assert kept_punches == 1  # attendance stays


async def test_anonymised_after_the_policys_retention(app: App, clock: FakeClock) -> None:
    await leave_and_punch(app, clock)
    await import_example(app, date(2026, 12, 1), wangfang="2026-12-01")
    await housekeeping_on(app, clock, "2029-11-30")  # three years less a day
    assert (await person_row(app, "wangfang")).name == "王芳"
    await housekeeping_on(app, clock, "2029-12-01")
    await assert_erased(app, "wangfang")
    async with app.db.read() as conn:
        [erased] = [
            r for r in await audit.rows_for(conn, "person", "wangfang") if r["action"] == "person.erased"
        ]
    assert erased["actor"] == audit.SYSTEM and erased["after"]["why"] == "retention"
    # An old org file imported again does not bring her name or ids back.
    await import_example(app, date(2029, 12, 2))
    assert (await person_row(app, "wangfang")).name == leavers.ERASED


async def test_the_retention_comes_from_the_policy(app: App, clock: FakeClock) -> None:
    from schedules.policy import policy_from_mapping

    app.shared.policy = policy_from_mapping({"privacy": {"leaver_retention_years": 1}})
    await import_example(app, date(2026, 12, 1), wangfang="2026-12-01")
    await housekeeping_on(app, clock, "2027-12-01")
    assert (await person_row(app, "wangfang")).name == leavers.ERASED


def test_retention_counts_whole_years() -> None:
    assert not leavers.retention_over(date(2024, 2, 29), 3, date(2027, 2, 27))
    assert leavers.retention_over(date(2024, 2, 29), 3, date(2027, 2, 28))


@pytest.mark.slow  # three `deskmate org erase` child processes
async def test_org_erase_on_the_command_line(app: App, clock: FakeClock, tmp_path: Path) -> None:
    await leave_and_punch(app, clock)
    env = {"DATABASE_URL": app.settings.database_url, "PATH": "/usr/bin:/bin"}

    def erase(person: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "org", "erase", person],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
            timeout=120,
        )

    done = erase("wangfang")
    assert done.returncode == 0, done.stderr
    assert "wangfang" in done.stdout
    await assert_erased(app, "wangfang")
    assert await app.resolve_person("telegram", WANGFANG_TG) is None
    async with app.db.read() as conn:
        rows = [r for r in await audit.rows_for(conn, "person", "wangfang") if r["action"] == "person.erased"]
    assert len(rows) == 1 and rows[0]["actor"] == "cli" and rows[0]["after"]["why"] == "request"
    again = erase("wangfang")
    assert again.returncode == 2 and "no person 'wangfang'" in again.stderr
    assert erase("nobody").returncode == 2
