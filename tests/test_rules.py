"""Handbook questions in the chat: the cited answer, buttons, votes, the no-answer path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import kb_feedback
from bot.settings import Settings
from tests.helpers import Chat


async def test_private_question_is_answered_with_the_article(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "婚假有几天？")
    assert len(sent) == 1
    message = sent[0]
    assert message["text"].startswith("📖 第五十三条（第六章 请假与休假）")
    assert "👍" in message["buttons"] and "👎" in message["buttons"]


async def test_rule_command_and_english(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("chenjing", "/rule How many days of marriage leave do I get?")
    assert sent[0]["text"].startswith("📖 Article 53")


async def test_long_article_is_trimmed_with_a_full_text_button(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "查询 哪些情况属于重大投诉")
    assert sent[0]["text"].startswith("📖 第七十七条")
    if "全文" in sent[0]["buttons"]:
        full = await chat.say("wangfang", "press 全文")
        assert len(full[0]["text"]) > len(sent[0]["text"]) - 5


async def test_votes_and_unanswered_questions_are_stored(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    await chat.say("wangfang", "婚假有几天？")
    thanks = await chat.say("wangfang", "press 👎")
    assert thanks[0]["text"].startswith("谢谢反馈")
    declined = await chat.say("wangfang", "今天上海会下雨吗？")
    assert declined[0]["text"].startswith("没有找到能回答这个问题的规定")
    async with app.db.read() as conn:
        rows = (await conn.execute(sa.select(kb_feedback).order_by(kb_feedback.c.id))).all()
    assert [(r.question, r.ref, r.vote) for r in rows] == [
        ("婚假有几天？", "第五十三条", -1),
        ("今天上海会下雨吗？", None, 0),
    ]


async def test_unsure_question_offers_a_choice_and_the_pick_is_stored(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "换斑要提前多久")
    assert sent[0]["text"] == "您是想问："
    labels = sent[0]["buttons"]
    assert len(labels) == 3 and any(label.startswith("第四十条 ") for label in labels)
    pick = next(label for label in labels if label.startswith("第四十条 "))
    assert "换班申请应在" in pick  # the article's first words, so the asker can tell them apart
    shown = await chat.say("wangfang", f"press {pick}")
    assert shown[0]["text"].startswith("📖 第四十条（第五章 换班）")
    assert "至少24小时" in shown[0]["text"]
    async with app.db.read() as conn:
        rows = (await conn.execute(sa.select(kb_feedback))).all()
    assert [(r.question, r.ref, r.vote) for r in rows] == [("换斑要提前多久", "第四十条", 2)]


async def test_a_vote_counts_once_per_person_and_answer(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    await chat.say("wangfang", "婚假有几天？")
    await chat.say("wangfang", "press 👎")
    again = await chat.say("wangfang", "press 👎")
    assert again[0]["text"].startswith("已记下")
    changed = await chat.say("wangfang", "press 👍")
    assert changed[0]["text"].startswith("谢谢反馈")
    await chat.say("chenjing", "婚假有几天？")
    await chat.say("chenjing", "press 👎")
    async with app.db.read() as conn:
        rows = (await conn.execute(sa.select(kb_feedback).order_by(kb_feedback.c.id))).all()
    assert [(r.person_id, r.ref, r.vote) for r in rows] == [
        ("wangfang", "第五十三条", 1),
        ("chenjing", "第五十三条", -1),
    ]


async def test_other_departments_questions(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    # The handbook names Human Resources as doing payroll (Article 37): say whom to ask.
    sent = await chat.say("chenjing", "When is payday?")
    assert sent[0]["text"].startswith("No rule in the handbook answers this. Under Article 37")
    assert "Human Resources" in sent[0]["text"] and not sent[0]["buttons"]
    # Taxes: the handbook names nobody, so a plain no.
    sent = await chat.say("chenjing", "How do I file my income tax return?")
    assert sent[0]["text"] == "I found no rule that answers this."


def test_kb_feedback_lists_thumbs_down_and_unanswered(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from tests.conftest import REPO
    from tests.helpers import deskmate

    env = {
        "DATABASE_URL": f"sqlite:///{Path(str(tmp_path)) / 'f.db'}",
        "ORG_FILE": "examples/org.yaml",
        "PATH": "/usr/bin:/bin",
        "KB_SEMANTIC": "false",
    }
    script = (
        "wangfang: 请假要提前几天申请？\nwangfang: press 👎\n"
        "wangfang: 今天上海会下雨吗？\nwangfang: 今天上海会下雨吗？\n"
    )
    deskmate("console", "--script", "-", input=script, env=env, cwd=REPO, check=True)
    result = deskmate("kb", "feedback", "--json", env=env, cwd=REPO, check=True)
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert (
        items[0]["question"] == "今天上海会下雨吗？"
        and items[0]["kind"] == "no_answer"
        and items[0]["times"] == 2
    )
    assert items[1]["question"] == "请假要提前几天申请？" and items[1]["kind"] == "thumbs_down"


async def test_a_picked_article_answers_the_same_question_next_time(app: App, clock: FakeClock) -> None:
    from bot.schema import audit_log as audit
    from handlers.rules import forget, learn_key, learned_pairs

    chat = Chat(app, clock)
    offered = await chat.say("wangfang", "换斑要提前多久")
    pick = next(label for label in offered[0]["buttons"] if label.startswith("第四十条 "))
    await chat.say("wangfang", f"press {pick}")
    # Someone else, the same question written a little differently: answered with the pick, saying so.
    sent = await chat.say("zhanglei", "换斑 要提前多久？")
    assert sent[0]["text"].startswith("📖 第四十条（第五章 换班）")
    assert "之前有同事就这个问题选了这一条" in sent[0]["text"]
    pairs = await learned_pairs(app)
    assert [(p.question, p.ref, p.net) for p in pairs] == [("换斑要提前多久", "第四十条", 1)]
    # A lead removes it: gone from the list and from the answers, and the removal is audited.
    assert await forget(app, learn_key("换斑要提前多久"), "第四十条", "zhanglei", clock.now()) == 1
    assert await learned_pairs(app) == []
    again = await chat.say("zhanglei", "换斑要提前多久")
    assert again[0]["text"] == "您是想问："
    async with app.db.read() as conn:
        actions = (await conn.execute(sa.select(audit.c.action, audit.c.actor))).all()
    assert ("kb.forget", "zhanglei") in [(a.action, a.actor) for a in actions]


async def test_a_thumbs_down_from_the_picker_unlearns(app: App, clock: FakeClock) -> None:
    from handlers.rules import learned_pairs

    chat = Chat(app, clock)
    offered = await chat.say("wangfang", "换斑要提前多久")
    pick = next(label for label in offered[0]["buttons"] if label.startswith("第四十条 "))
    await chat.say("wangfang", f"press {pick}")
    await chat.say("wangfang", "press 👎")
    assert await learned_pairs(app) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_database_keeps_one_vote_per_person_and_answer(app: App, clock: FakeClock) -> None:
    """The unique vote key refuses a second 👍/👎 row for the same person, question key and article,
    whatever code writes it (two presses racing included)."""
    from handlers.rules import learn_key, vote_key

    key = learn_key("婚假有几天？")
    row = {"at": clock.now(), "person_id": "wangfang", "question": "婚假有几天？", "ref": "第五十三条"}
    row |= {"question_key": key, "vote_key": vote_key("wangfang", key, "第五十三条")}
    async with app.db.transaction() as conn:
        await conn.execute(kb_feedback.insert().values(**row, vote=1))
    with pytest.raises(sa.exc.IntegrityError):
        async with app.db.transaction() as conn:
            await conn.execute(kb_feedback.insert().values(**row, vote=-1))
    # The same question typed differently is the same answer: one vote, now changed.
    chat = Chat(app, clock)
    await chat.say("wangfang", "婚假 有几天")
    assert (await chat.say("wangfang", "press 👎"))[0]["text"].startswith("谢谢反馈")
    async with app.db.read() as conn:
        votes = (await conn.execute(sa.select(kb_feedback.c.vote))).scalars().all()
    assert votes == [-1]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_what_one_replica_learns_the_other_answers_with_at_once(
    app: App, settings: Settings, clock: FakeClock
) -> None:
    """Learned pairs live in the database, not in a process: a second App on the same database
    answers a near-identical question with the article picked on the first, without a restart."""
    other = App(settings, clock=clock)
    await other.prepare()
    try:
        here, there = Chat(app, clock), Chat(other, clock)
        before = await there.say("zhanglei", "换斑要提前多久？")
        assert before[0]["text"] == "您是想问："
        offered = await here.say("wangfang", "换斑要提前多久")
        pick = next(label for label in offered[0]["buttons"] if label.startswith("第四十条 "))
        await here.say("wangfang", f"press {pick}")
        after = await there.say("zhanglei", "换斑 要提前多久？")
        assert after[0]["text"].startswith("📖 第四十条（第五章 换班）")
        assert "之前有同事就这个问题选了这一条" in after[0]["text"]
    finally:
        await other.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_migration_keys_old_feedback_and_keeps_a_persons_latest_vote(database_url: str) -> None:
    """0013 on feedback written before it: keys filled in, a person's two votes on one answer (the
    question typed two ways) become the latest one, picks and unanswered questions stay."""
    from alembic import command

    from bot import migrate
    from bot.db import Database
    from handlers.rules import learn_key, vote_key

    def down(connection: sa.Connection) -> None:
        command.downgrade(migrate._config(connection), "0012_closed_months")

    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        async with db.engine.begin() as conn:
            await conn.run_sync(down)
        at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).replace(tzinfo=None)  # stored naive, in UTC
        rows = [
            ("wangfang", "婚假有几天？", "第五十三条", -1, at),
            ("chenjing", "婚假有几天？", "第五十三条", 1, at + timedelta(minutes=1)),
            ("wangfang", "婚假 有几天", "第五十三条", 1, at + timedelta(minutes=2)),
            ("wangfang", "换斑要提前多久", "第四十条", 2, at + timedelta(minutes=3)),
            ("wangfang", "今天上海会下雨吗？", None, 0, at + timedelta(minutes=4)),
        ]
        async with db.transaction() as conn:
            for person, question, ref, vote, when in rows:
                await conn.execute(
                    sa.text(
                        "INSERT INTO kb_feedback (at, person_id, question, ref, vote)"
                        " VALUES (:at, :person, :question, :ref, :vote)"
                    ),
                    {"at": when, "person": person, "question": question, "ref": ref, "vote": vote},
                )
        assert await migrate.upgrade(db) == migrate.head_revision()
        async with db.read() as conn:
            kept = (
                await conn.execute(
                    sa.select(
                        kb_feedback.c.person_id,
                        kb_feedback.c.question,
                        kb_feedback.c.vote,
                        kb_feedback.c.question_key,
                        kb_feedback.c.vote_key,
                    ).order_by(kb_feedback.c.id)
                )
            ).all()
    finally:
        await db.dispose()
    key = learn_key("婚假有几天？")
    assert key == learn_key("婚假 有几天") == "婚假有几天"
    assert [tuple(r) for r in kept] == [
        ("chenjing", "婚假有几天？", 1, key, vote_key("chenjing", key, "第五十三条")),
        ("wangfang", "婚假 有几天", 1, key, vote_key("wangfang", key, "第五十三条")),
        ("wangfang", "换斑要提前多久", 2, "换斑要提前多久", None),
        ("wangfang", "今天上海会下雨吗？", 0, "今天上海会下雨吗", None),
    ]
