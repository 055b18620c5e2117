"""The router: commands, keywords, roles, buttons, conversations and the fallback."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.context import Context
from bot.router import Router
from bot.schema import audit_log
from tests.helpers import Chat


async def _noop(ctx: Context) -> None:
    return None


def test_resolve_slash_keyword_and_unknown() -> None:
    router = Router()
    router.command("help", keywords=("帮助",))(_noop)
    router.command("rule", keywords=("查询", "问"), free_text=True)(_noop)
    assert router.resolve("/help")[0].name == "help"  # type: ignore[index,union-attr]
    assert router.resolve("/help@deskmate_bot extra") == (router.commands["help"], "extra")
    assert router.resolve("／HELP") == (router.commands["help"], "")
    assert router.resolve("帮助") == (router.commands["help"], "")
    assert router.resolve("查询晚班几点下班") == (router.commands["rule"], "晚班几点下班")
    assert router.resolve("查询 晚班") == (router.commands["rule"], "晚班")
    assert router.resolve("/nothing") == (None, "nothing")
    assert router.resolve("晚班几点下班？") is None
    assert router.resolve("问") == (router.commands["rule"], "")


def test_duplicate_registrations_are_refused() -> None:
    router = Router()
    router.command("help", keywords=("帮助",))(_noop)
    with pytest.raises(ValueError):
        router.command("help")(_noop)
    with pytest.raises(ValueError):
        router.command("other", keywords=("帮助",))(_noop)


async def test_help_lists_only_what_the_role_may_do(app: App, clock: FakeClock) -> None:
    @app.router.command("teamstats", keywords=("组统计",), min_role="lead", help_key="help.desc.whoami")
    async def teamstats(ctx: Context) -> None:
        await ctx.reply("ok")

    chat = Chat(app, clock)
    agent_help = (await chat.say("wangfang", "/help"))[0]["text"]
    lead_help = (await chat.say("zhanglei", "帮助"))[0]["text"]
    assert "/teamstats" not in agent_help and "/teamstats" in lead_help
    refused = await chat.say("wangfang", "/teamstats")
    assert refused[0]["text"] == "抱歉，您的角色（客服专员）不能使用这个功能。"


async def test_unknown_command_and_fallback(app: App, clock: FakeClock) -> None:
    seen: list[str] = []

    async def fallback(ctx: Context) -> None:
        seen.append(ctx.args)
        await ctx.reply("fallback")

    app.router.set_fallback(fallback)
    chat = Chat(app, clock)
    unknown = await chat.say("chenjing", "/frobnicate")
    assert unknown[0]["text"].startswith('There is no command "/frobnicate"')
    await chat.say("wangfang", "晚班几点下班？")
    assert seen == ["晚班几点下班？"]


async def test_unregistered_person_gets_only_the_polite_answer(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("stranger", "/help")
    assert len(sent) == 1
    assert sent[0]["text"] == (
        "您好！您还没有在 Deskmate 登记。请把这个编号发给您的主管：console:stranger；"
        "如果管理员给了您绑定码，请发送 /link 绑定码。"
    )
    async with app.db.read() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert "access.unregistered" in actions


async def test_forged_button_is_refused_and_audited(app: App, clock: FakeClock) -> None:
    from bot.messages import Incoming

    person = await app.person("wangfang")
    chat = Chat(app, clock)
    await app.handle(
        Incoming("console", "wangfang", "wangfang", person, clock.now(), button_token="forged-token")
    )
    await app.deliver()
    assert chat.sent[-1]["text"] == "这个按钮已失效，请重新操作。"
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(audit_log).where(audit_log.c.action == "button.refused"))).one()
    assert row.actor == "wangfang" and row.object_id == "forged-token"


async def test_a_failing_handler_apologises_with_the_logged_code(
    app: App, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    @app.router.command("boom")
    async def boom(ctx: Context) -> None:
        raise RuntimeError("kaboom")

    chat = Chat(app, clock)
    with caplog.at_level(logging.ERROR):
        sent = await chat.say("wangfang", "/boom")
    text = sent[0]["text"]
    assert "kaboom" not in text and "Traceback" not in text
    code = text.split("错误码 ")[1].split(" ")[0]
    assert code.startswith("E") and len(code) == 7
    assert any(code in record.getMessage() and record.exc_info for record in caplog.records)


async def test_too_long_message_is_answered_not_processed(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "帮" * 5000)
    assert sent[0]["text"] == "消息太长了（最多 4096 字），请精简后再发。"


async def test_language_switch_by_button_and_audit(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    ask = await chat.say("wangfang", "/lang")
    assert ask[0]["buttons"] == ["中文", "English"]
    done = await chat.say("wangfang", "press English")
    assert done[0]["text"] == "OK, I will talk to you in English from now on."
    assert (await app.person("wangfang")).language == "en"  # type: ignore[union-attr]
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(audit_log).where(audit_log.c.action == "person.language"))).one()
    assert (row.before, row.after, row.actor) == ("zh-CN", "en", "wangfang")


async def test_conversation_survives_a_restart_and_times_out(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    await chat.say("wangfang", "/lang")
    # A new App on the same database file: the open conversation is still there.
    restarted = App(app.settings, clock=clock)
    await restarted.prepare()
    try:
        chat2 = Chat(restarted, clock)
        clock.set(clock.now() + timedelta(minutes=5))
        answer = await chat2.say("wangfang", "en")
        assert answer[0]["text"] == "OK, I will talk to you in English from now on."
        await chat2.say("wangfang", "/lang")
        clock.set(clock.now() + timedelta(minutes=31))
        seen: list[str] = []

        async def fallback(ctx: Context) -> None:
            seen.append(ctx.args)

        restarted.router.set_fallback(fallback)
        expired = await chat2.say("wangfang", "zh")
        assert expired[0]["text"] == "Your previous step timed out and was cancelled."
        assert seen == ["zh"]
        assert (await restarted.person("wangfang")).language == "en"  # type: ignore[union-attr]
    finally:
        await restarted.close()


def test_questions_that_start_with_a_keyword_go_to_the_handbook() -> None:
    router = Router()
    router.command("in", keywords=("打卡", "上班"))(_noop)
    router.command("leave", keywords=("请假",), takes_args=True)(_noop)
    router.command("rule", keywords=("查询",), free_text=True)(_noop)
    assert router.resolve("打卡") == (router.commands["in"], "")
    assert router.resolve("打卡时间是几点") is None
    assert router.resolve("上班 迟到了怎么办？") is None
    assert router.resolve("请假要提前几天申请？") is None
    assert router.resolve("请假 病假 12-05 12-05 发烧") == (router.commands["leave"], "病假 12-05 12-05 发烧")
    assert router.resolve("请假明天") == (router.commands["leave"], "明天")
    assert router.resolve("查询迟到怎么算？") == (router.commands["rule"], "迟到怎么算？")
    assert router.resolve("/leave 要提前几天？") == (router.commands["leave"], "要提前几天？")


async def test_group_chatter_is_not_taken_as_the_next_form_step(app: App, clock: FakeClock) -> None:
    from bot.messages import Incoming

    chat = Chat(app, clock)
    await chat.say("wangfang", "/lang")  # opens the language form in the private chat
    person = await app.person("wangfang")
    await app.handle(
        Incoming(
            "console",
            "group-1",
            "wangfang",
            person,
            clock.now(),
            text="en",
            is_private=False,
            addressed_to_bot=False,
        )
    )
    await app.deliver()
    assert (await app.person("wangfang")).language == "zh-CN"  # type: ignore[union-attr]
    done = await chat.say("wangfang", "en")  # the answer in the private chat still counts
    assert done[0]["text"] == "OK, I will talk to you in English from now on."
