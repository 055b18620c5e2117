"""Identities: platform accounts in one table, the migration that moved the old columns there, the
org file's `feishu:`/`dingtalk:` keys, and `/link CODE` with a good, a used, an expired and a wrong code."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from bot import identities, migrate, org
from bot.app import App
from bot.clock import FakeClock
from bot.db import Database
from bot.messages import Incoming
from bot.schema import audit_log, outbox
from tests.conftest import REPO
from tests.helpers import Chat, deskmate

FEISHU_USER = "ou_0f1e2d3c4b5a69788796a5b4c3d2e1f0"


async def _invite(app: App, person_id: str) -> str:
    async with app.db.transaction() as conn:
        return await identities.new_code(conn, person_id, now=app.clock.now(), actor="test")


async def _say(app: App, platform: str, sender: str, text: str, *, language: str = "zh-CN") -> list[str]:
    """What the bot queued in answer to `sender` saying `text` in their private chat."""
    async with app.db.read() as conn:
        before = int((await conn.execute(sa.select(sa.func.max(outbox.c.id)))).scalar() or 0)
    person = await app.resolve_person(platform, sender)
    await app.process(
        Incoming(platform, f"dm-{sender}", sender, person, app.clock.now(), text=text, locale_hint=language)
    )
    async with app.db.read() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.payload).where(outbox.c.id > before).order_by(outbox.c.id)
        )
        return [r.payload["text"] for r in rows]


async def _audit(app: App, action: str) -> list[dict[str, object]]:
    async with app.db.read() as conn:
        rows = await conn.execute(sa.select(audit_log).where(audit_log.c.action == action))
        return [dict(r._mapping) for r in rows]


async def test_a_good_code_links_the_sender_once(app: App) -> None:
    code = await _invite(app, "wangfang")
    assert await app.resolve_person("feishu", FEISHU_USER) is None
    replies = await _say(app, "feishu", FEISHU_USER, f"/link {identities.show_code(code).lower()}")
    assert replies == ["绑定成功！这个 飞书 账号现在属于 王芳（wangfang）。发送 /help 查看可以做什么。"]
    person = await app.resolve_person("feishu", FEISHU_USER)
    assert person is not None and person.id == "wangfang" and person.feishu == FEISHU_USER
    assert person.telegram == "100000101"  # her other accounts stay
    linked = await _audit(app, "identity.linked")
    assert [(r["actor"], r["object_id"]) for r in linked] == [(f"feishu:{FEISHU_USER}", "wangfang")]
    assert linked[0]["after"] == {"platform": "feishu", "account": FEISHU_USER}
    # The same code again from the same account: already hers; from another account: used.
    assert await _say(app, "feishu", FEISHU_USER, f"/link {code}") == [
        "这个账号已经绑定在您（王芳）名下，无需再绑定。"
    ]
    other = "ou_99999999999999999999999999999999"
    assert await _say(app, "feishu", other, f"/link {code}", language="en") == [
        "That code has already been used. Please ask your administrator for a new one."
    ]
    assert await app.resolve_person("feishu", other) is None
    refused = await _audit(app, "identity.link_refused")
    assert [r["after"] for r in refused] == [{"reason": "already"}, {"reason": "used"}]


async def test_the_console_links_a_name_not_in_the_org(app: App, clock: FakeClock) -> None:
    """Script mode tells an unknown name how to link, so `/link CODE` must work there too."""
    code = await _invite(app, "zhaoqiang")
    chat = Chat(app, clock)
    told = await chat.say("newcomer", "/help")
    assert "console:newcomer" in told[0]["text"] and "/link" in told[0]["text"]
    linked = await chat.say("newcomer", f"/link {identities.show_code(code)}")
    assert [m["text"] for m in linked] == [
        "绑定成功！这个 控制台 账号现在属于 赵强（zhaoqiang）。发送 /help 查看可以做什么。"
    ]
    who = await chat.say("newcomer", "/whoami")
    assert who[0]["to"] == "zhaoqiang" and "姓名：赵强" in who[0]["text"]
    assert (await chat.say("stranger", f"/link {code}"))[0][
        "text"
    ] == "这个绑定码已经用过了，请向管理员要一个新的。"


async def test_an_expired_or_wrong_code_changes_nothing(app: App, clock: FakeClock) -> None:
    code = await _invite(app, "liuyang")
    clock.set(clock.now() + timedelta(hours=24))  # valid for 24 hours: at the 24th hour it is over
    assert await _say(app, "dingtalk", "staff4711", f"/link {code}", language="en") == [
        "That code has expired (a code is valid for 24 hours). Please ask your administrator for a new one."
    ]
    assert await _say(app, "dingtalk", "staff4711", "/link ABCD-EFGH") == [
        "这个绑定码不对。请核对一下（8 位字母和数字，例如 K7P2-QX9M），或向管理员要一个新的。"
    ]
    assert await _say(app, "dingtalk", "staff4711", "/link") == [
        "请发送 /link 加上管理员给您的绑定码，例如：/link K7P2-QX9M"
    ]
    assert await app.resolve_person("dingtalk", "staff4711") is None
    assert [r["after"] for r in await _audit(app, "identity.link_refused")] == [
        {"reason": "expired"},
        {"reason": "unknown"},
    ]
    fresh = await _invite(app, "liuyang")  # a new code, within its day, works
    clock.set(clock.now() + timedelta(hours=23, minutes=59))
    assert (await _say(app, "dingtalk", "staff4711", f"/link {fresh}"))[0].startswith(
        "绑定成功！这个 钉钉 账号"
    )


async def test_an_account_of_someone_else_is_not_taken_by_a_code(app: App) -> None:
    code = await _invite(app, "liuyang")
    replies = await _say(app, "telegram", "100000101", f"/link {code}")  # 王芳's Telegram account
    assert replies == ["这个账号已经绑定在 Deskmate 的另一个人名下，我没有改动。请联系管理员。"]
    person = await app.resolve_person("telegram", "100000101")
    assert person is not None and person.id == "wangfang"


async def test_an_unregistered_sender_is_told_their_id_and_how_to_link(app: App) -> None:
    replies = await _say(app, "feishu", FEISHU_USER, "hello", language="en")
    assert replies == [
        "Hello! You are not registered with Deskmate yet. Please give your supervisor this id:"
        f" feishu:{FEISHU_USER}, or, if your administrator gave you a code, send /link CODE."
    ]


async def test_the_org_file_takes_feishu_and_dingtalk_accounts(app: App, tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(
        f"people:\n  - {{id: wangfang, feishu: {FEISHU_USER}, dingtalk: manager4220}}\n", encoding="utf-8"
    )
    async with app.db.transaction() as conn:
        await org.import_org(conn, org.load_org_file(path), actor="test", now=app.clock.now())
    by_feishu = await app.resolve_person("feishu", FEISHU_USER)
    by_dingtalk = await app.resolve_person("dingtalk", "manager4220")
    assert by_feishu is not None and by_dingtalk is not None and by_feishu.id == by_dingtalk.id == "wangfang"
    with pytest.raises(org.OrgError) as caught:
        org.parse_org(
            {
                "teams": [{"id": "t", "name": "T"}],
                "people": [{"id": "a", "name": "A", "role": "lead", "team": "t", "feishu": "u123"}],
            }
        )
    assert caught.value.problems == [
        "person a: malformed feishu user id 'u123' (the open_id, like ou_7d8a6e6df7621556ce0d21922b676706)"
    ]


def _downgrade(connection: sa.Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(migrate._config(connection), revision)


async def test_the_migration_moves_telegram_and_slack_ids(database_url: str) -> None:
    """Down to the columns and up again, on SQLite and PostgreSQL: the ids move both ways."""
    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        async with db.engine.begin() as conn:
            await conn.run_sync(_downgrade, "0010_held_alerts")
        async with db.transaction() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO people"
                    " (id, name, role, team, language, telegram_id, slack_id, active, updated_at)"
                    " VALUES ('a', 'A', 'agent', 't', 'zh-CN', '123456', 'U0AAAAAAA', true, :at),"
                    " ('b', 'B', 'agent', 't', 'en', NULL, 'U0BBBBBBB', true, :at),"
                    " ('c', 'C', 'agent', 't', 'en', NULL, NULL, true, :at)"
                ),
                {"at": datetime(2026, 11, 30, tzinfo=UTC).replace(tzinfo=None)},  # stored naive, in UTC
            )
        assert await migrate.upgrade(db) == migrate.head_revision()
        async with db.read() as conn:
            moved = await identities.all_accounts(conn)
            columns = {c["name"] for c in await conn.run_sync(lambda c: sa.inspect(c).get_columns("people"))}
            b = await org.Directory().by_platform(conn, "slack", "U0BBBBBBB")
        assert moved == {"a": {"telegram": "123456", "slack": "U0AAAAAAA"}, "b": {"slack": "U0BBBBBBB"}}
        assert not {"telegram_id", "slack_id"} & columns
        assert b is not None and b.id == "b" and b.slack == "U0BBBBBBB"
    finally:
        await db.dispose()


def _deskmate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "PATH": "/usr/bin:/bin"}
    return deskmate(*args, env=env, cwd=REPO, check=False)


def test_cli_invite_and_list(tmp_path: Path) -> None:
    department = {
        "teams": [{"id": "t1", "name": "一组"}],
        "people": [
            {"id": "lead1", "name": "张三", "role": "lead", "team": "t1", "feishu": FEISHU_USER},
            {"id": "agent1", "name": "李四", "role": "agent", "team": "t1", "dingtalk": "staff0001"},
        ],
    }
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(department, allow_unicode=True), encoding="utf-8")
    assert _deskmate(tmp_path, "org", "import", str(path)).returncode == 0
    listed = {p["id"]: p for p in json.loads(_deskmate(tmp_path, "org", "list", "--json").stdout)}
    assert listed["lead1"] == {
        "id": "lead1",
        "name": "张三",
        "role": "lead",
        "team": "t1",
        "language": "zh-CN",
        "telegram": None,
        "slack": None,
        "feishu": FEISHU_USER,
        "dingtalk": None,
    }
    assert listed["agent1"]["dingtalk"] == "staff0001"
    invited = _deskmate(tmp_path, "org", "invite", "agent1")
    assert invited.returncode == 0, invited.stderr
    lines = invited.stdout.splitlines()
    assert lines[0].startswith("invite code for 李四 (agent1): ")
    code = lines[0].rsplit(" ", 1)[1]
    assert len(code) == 9 and code[4] == "-" and set(code.replace("-", "")) <= set(identities.CODE_ALPHABET)
    assert lines[-1] == f"/link {code}"
    missing = _deskmate(tmp_path, "org", "invite", "nobody")
    assert missing.returncode == 2 and "no person 'nobody'" in missing.stderr
