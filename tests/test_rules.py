"""Handbook questions in the chat: the cited answer, buttons, votes, the no-answer path."""

from __future__ import annotations

import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import kb_feedback
from tests.helpers import Chat


async def test_private_question_is_answered_with_the_article(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "晚班几点下班？")
    assert len(sent) == 1
    message = sent[0]
    assert message["text"].startswith("📖 第十七条（第三章 工作时间与排班）")
    assert "👍" in message["buttons"] and "👎" in message["buttons"]


async def test_rule_command_and_english(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("chenjing", "/rule how many times a month can I use the grace period?")
    assert sent[0]["text"].startswith("📖 Article 29")


async def test_long_article_is_trimmed_with_a_full_text_button(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "查询 哪些情况属于重大投诉")
    assert sent[0]["text"].startswith("📖 第七十七条")
    if "全文" in sent[0]["buttons"]:
        full = await chat.say("wangfang", "press 全文")
        assert len(full[0]["text"]) > len(sent[0]["text"]) - 5


async def test_votes_and_unanswered_questions_are_stored(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    await chat.say("wangfang", "晚班几点下班？")
    thanks = await chat.say("wangfang", "press 👎")
    assert thanks[0]["text"].startswith("谢谢反馈")
    declined = await chat.say("wangfang", "今天上海会下雨吗？")
    assert declined[0]["text"].startswith("没有找到能回答这个问题的规定")
    async with app.db.read() as conn:
        rows = (await conn.execute(sa.select(kb_feedback).order_by(kb_feedback.c.id))).all()
    assert [(r.question, r.ref, r.vote) for r in rows] == [
        ("晚班几点下班？", "第十七条", -1),
        ("今天上海会下雨吗？", None, 0),
    ]


def test_kb_feedback_lists_thumbs_down_and_unanswered(tmp_path: object) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import REPO

    env = {
        "DATABASE_URL": f"sqlite:///{Path(str(tmp_path)) / 'f.db'}",
        "PATH": "/usr/bin:/bin",
        "KB_SEMANTIC": "false",
    }
    script = (
        "wangfang: 请假要提前几天申请？\nwangfang: press 👎\n"
        "wangfang: 今天上海会下雨吗？\nwangfang: 今天上海会下雨吗？\n"
    )
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "console", "--script", "-"],
        input=script,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "kb", "feedback", "--json"],
        text=True,
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert (
        items[0]["question"] == "今天上海会下雨吗？"
        and items[0]["kind"] == "no_answer"
        and items[0]["times"] == 2
    )
    assert items[1]["question"] == "请假要提前几天申请？" and items[1]["kind"] == "thumbs_down"
