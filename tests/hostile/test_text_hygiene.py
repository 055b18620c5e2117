"""Text hygiene: user text with control characters is shown escaped on the command line; NUL and lone
surrogates never reach either database; ids longer than their columns are handled without an error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import audit
from bot.app import App
from bot.clock import FakeClock
from bot.messages import Incoming
from bot.schema import audit_log, kb_feedback
from schedules.texthygiene import json_line, terminal_safe
from tests.conftest import REPO
from tests.helpers import Chat, deskmate

BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])


def test_terminal_text_escapes_control_characters() -> None:
    assert terminal_safe("a\x1b[2Jb\x1b]0;title\x07") == "a\\x1b[2Jb\\x1b]0;title\\x07"
    assert terminal_safe("x\u202egnp.exe\r\n") == "x\\u202egnp.exe\\x0d\\x0a"
    assert terminal_safe("王芳\nok", keep_newlines=True) == "王芳\nok"
    assert json_line({"q": "\x1b[2J\x9b"}) == '{"q": "\\u001b[2J\\u009b"}'


@BOTH
async def test_nul_and_lone_surrogates_are_removed_before_storage(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    replies = await chat.say("wangfang", "迟到\x00怎么\ud800处理")
    assert replies and "错误码" not in replies[-1]["text"]
    async with app.db.transaction() as conn:
        await audit.record(
            conn,
            at=clock.now(),
            actor="wang\x00fang",
            action="test.hygiene",
            object_type="chat",
            object_id="c\ud83d1",
            after={"note\x00": ["a\x00b", "\udc00c"]},
        )
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(audit_log).where(audit_log.c.action == "test.hygiene"))).one()
        found = await app.directory.by_id(conn, "wangfang\x00")  # compared, never matched, no error
    assert (row.actor, row.object_id, row.after) == ("wangfang", "c1", {"note": ["ab", "c"]})
    assert found is None


@BOTH
async def test_long_unregistered_ids_get_the_normal_reply_or_are_ignored(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sixty = "x" * 60
    await app.handle(Incoming("console", sixty, sixty, None, clock.now(), text="/help"))
    await app.deliver()
    assert chat.sent[-1]["text"].startswith("您好！您还没有在 Deskmate 登记")
    async with app.db.read() as conn:
        actor = (
            await conn.execute(
                sa.select(audit_log.c.actor).where(audit_log.c.action == "access.unregistered")
            )
        ).scalar_one()
    assert actor == ("console:" + sixty)[:63] + "…"
    before = len(chat.sent)
    far = "y" * 65
    await app.handle(Incoming("console", far, far, None, clock.now(), text="/help"))
    await app.deliver()
    assert len(chat.sent) == before  # cannot be addressed: ignored, with a log line, not an error


async def test_kb_feedback_prints_typed_escape_sequences_escaped(
    app: App, clock: FakeClock, tmp_path: Path
) -> None:
    async with app.db.transaction() as conn:
        await conn.execute(
            kb_feedback.insert().values(
                at=clock.now(), person_id="wangfang", question="\x1b[2J\x1b]0;pwned\x07hi", ref=None, vote=0
            )
        )
    url = app.settings.database_url
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "KB_SEMANTIC": "false"}
    for extra in ([], ["--json"]):
        result = await asyncio.to_thread(deskmate, "kb", "feedback", *extra, env=env, cwd=REPO, check=False)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert "pwned" in result.stdout
