"""Telegram end to end: the real PTB Application and our adapter against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import sqlalchemy as sa

from bot.app import App
from bot.context import Context
from bot.messages import Button, FileOut, Outgoing
from bot.schema import audit_log
from fakes.telegram_api import BOT_USERNAME
from tests.telegram.conftest import STRANGER, SUPERVISORS_CHAT, TG, StartTelegram, Telegram


async def audit_actions(app: App, action: str) -> list[dict[str, object]]:
    async with app.db.read() as conn:
        rows = await conn.execute(sa.select(audit_log).where(audit_log.c.action == action))
        return [dict(r._mapping) for r in rows]


def echo_fallback(app: App) -> None:
    """A stand-in for the handbook answer: repeats the question, so tests see what reached it."""

    async def fallback(ctx: Context) -> None:
        await ctx.reply(f"Q: {ctx.args}")

    app.router.set_fallback(fallback)


# ----- commands, keywords, languages -----------------------------------------------------------
async def test_commands_are_published_in_chinese_and_english(telegram: Telegram) -> None:
    published = telegram.api.sent("setMyCommands")
    by_language = {(c.params.get("language_code"), c.params["scope"]["type"]): c for c in published}
    assert set(by_language) == {
        (None, "default"),
        ("zh", "default"),
        (None, "all_group_chats"),
        ("zh", "all_group_chats"),
    }
    english = {c["command"]: c["description"] for c in by_language[None, "default"].params["commands"]}
    chinese = {c["command"]: c["description"] for c in by_language["zh", "default"].params["commands"]}
    assert english["help"] == "show this help" and chinese["help"] == "查看帮助"
    assert {"help", "whoami", "lang", "cancel"} <= set(english) and set(english) == set(chinese)
    with_help = {name for name, c in telegram.app.router.commands.items() if c.help_key}
    assert set(english) == with_help


async def test_personal_commands_are_offered_in_groups_and_answered_privately(
    start_telegram: StartTelegram,
) -> None:
    def setup(app: App) -> None:
        @app.router.command("t_mydata", help_key="help.desc.whoami", personal=True)
        async def mydata(ctx: Context) -> None:
            await ctx.reply("secret")

    telegram = await start_telegram(setup=setup)
    scopes = {
        c.params["scope"]["type"]: c
        for c in telegram.api.sent("setMyCommands")
        if "language_code" not in c.params
    }
    assert "t_mydata" in [c["command"] for c in scopes["default"].params["commands"]]
    assert "t_mydata" in [c["command"] for c in scopes["all_group_chats"].params["commands"]]
    replies = await telegram.say("wangfang", "/t_mydata", chat_id=SUPERVISORS_CHAT)
    assert [(r.chat_id, r.text) for r in replies] == [
        (SUPERVISORS_CHAT, "涉及个人信息，我已私聊发给您。"),
        (TG["wangfang"], "secret"),
    ]


async def test_help_in_chinese(telegram: Telegram) -> None:
    replies = await telegram.say("wangfang", "/help")
    assert len(replies) == 1
    reply = replies[0]
    assert reply.method == "sendMessage" and reply.chat_id == TG["wangfang"]
    assert (
        reply.text is not None and reply.text.startswith("王芳，您好") and "/whoami（我是谁）" in reply.text
    )
    assert "parse_mode" not in reply.params


async def test_chinese_keyword_as_plain_text(telegram: Telegram) -> None:
    by_command = await telegram.say("wangfang", "/help")
    by_keyword = await telegram.say("wangfang", "帮助")
    assert by_keyword[0].text == by_command[0].text
    whoami = await telegram.say("liuyang", "我是谁")
    assert "刘洋" in (whoami[0].text or "") and str(TG["liuyang"]) in (whoami[0].text or "")


async def test_lang_with_the_inline_keyboard(telegram: Telegram) -> None:
    asked = await telegram.say("wangfang", "/lang")
    assert asked[0].button_labels() == ["中文", "English"]
    tokens = asked[0].button_tokens()
    assert all(0 < len(t.encode()) <= 64 for t in tokens)
    calls = await telegram.press("wangfang", tokens[1])
    methods = [c.method for c in calls if c.ok]
    assert methods[0] == "answerCallbackQuery", "the press is answered before the work"
    assert calls[0].params.get("text") == "收到，正在处理…"
    confirmation = [c for c in calls if c.method == "sendMessage"]
    assert [c.text for c in confirmation] == ["OK, I will talk to you in English from now on."]
    person = await telegram.app.resolve_person("telegram", str(TG["wangfang"]))
    assert person is not None and person.language == "en"
    english_help = await telegram.say("wangfang", "/help")
    assert (english_help[0].text or "").startswith("Hello 王芳")


async def test_unregistered_user_is_told_their_id(telegram: Telegram) -> None:
    replies = await telegram.say(STRANGER, "/help")
    assert len(replies) == 1 and replies[0].chat_id == STRANGER
    assert f"telegram:{STRANGER}" in (replies[0].text or "")
    assert len(await audit_actions(telegram.app, "access.unregistered")) == 1
    # A stranger chatting in a group is not a question for the bot: no public refusal.
    assert await telegram.say(STRANGER, "大家好", chat_id=SUPERVISORS_CHAT) == []


async def test_unknown_button_is_refused_politely(telegram: Telegram) -> None:
    calls = await telegram.press("wangfang", "forged-token")
    assert calls[0].method == "answerCallbackQuery"
    assert [c.text for c in calls if c.method == "sendMessage"] == ["这个按钮已失效，请重新操作。"]


# ----- handbook questions and groups -----------------------------------------------------------
async def test_a_question_goes_to_the_handbook_fallback(start_telegram: StartTelegram) -> None:
    telegram = await start_telegram(setup=echo_fallback)
    replies = await telegram.say("wangfang", "晚班几点下班？")
    assert [r.text for r in replies] == ["Q: 晚班几点下班？"]
    # In a group only a question addressed to the bot is answered, in the group, without the mention.
    assert await telegram.say("wangfang", "晚班几点下班？", chat_id=SUPERVISORS_CHAT) == []
    mentioned = await telegram.say("wangfang", f"@{BOT_USERNAME} 晚班几点下班？", chat_id=SUPERVISORS_CHAT)
    assert [(r.chat_id, r.text) for r in mentioned] == [(SUPERVISORS_CHAT, "Q: 晚班几点下班？")]
    replied = await telegram.say("wangfang", "那早班呢", chat_id=SUPERVISORS_CHAT, reply_to_bot=True)
    assert [r.text for r in replied] == ["Q: 那早班呢"]


async def test_group_commands_only_when_addressed_to_this_bot(telegram: Telegram) -> None:
    group = SUPERVISORS_CHAT
    assert await telegram.say("liujun", "/help@some_other_bot", chat_id=group) == []
    assert await telegram.say("liujun", "帮助", chat_id=group) == []
    ours = await telegram.say("liujun", f"/help@{BOT_USERNAME}", chat_id=group)
    bare = await telegram.say("liujun", "/help", chat_id=group)
    assert [r.chat_id for r in ours + bare] == [group, group]
    assert "刘军" in (ours[0].text or "")


async def test_user_text_never_changes_formatting(start_telegram: StartTelegram) -> None:
    telegram = await start_telegram(setup=echo_fallback)
    tricky = "<b>粗体</b> *星号* _下划线_ [链接](http://example.invalid) `code`"
    replies = await telegram.say("wangfang", tricky)
    assert replies[0].text == f"Q: {tricky}"
    assert "parse_mode" not in replies[0].params and "entities" not in replies[0].params


async def test_a_long_answer_is_split_and_buttons_stay_on_the_last_piece(
    start_telegram: StartTelegram,
) -> None:
    def setup(app: App) -> None:
        @app.router.command("t_long")
        async def long(ctx: Context) -> None:
            await ctx.reply(
                "\n".join(f"第{i}行：" + "很长的内容" * 20 for i in range(100)), [[Button("OK", "x")]]
            )

    telegram = await start_telegram(setup=setup)
    replies = await telegram.say("wangfang", "/t_long")
    assert len(replies) == 3 and all(len(r.text or "") <= 4096 for r in replies)
    assert [bool(r.button_tokens()) for r in replies] == [False, False, True]
    assert "\n".join(r.text or "" for r in replies).count("第99行") == 1


# ----- the supervisors' group: cards, presses, edits ------------------------------------------
def card_feature(app: App) -> None:
    """A minimal approval card, so the group flow is tested whatever the real features are."""

    @app.router.command("t_card")
    async def card(ctx: Context) -> None:
        await ctx.send(
            ctx.answer("已提交"),
            Outgoing(
                text=f"{ctx.person.name} 申请调休",
                to_chat="supervisors",
                buttons=[[Button("批准", "t_card.ok")]],
            ),
        )

    @app.router.action("t_card.ok")
    async def approve(ctx: Context, payload: dict[str, object]) -> None:
        await ctx.send(Outgoing(text=f"已由{ctx.person.name}批准", edit_of=str(payload["_message_id"])))


async def test_supervisors_group_gets_the_card_and_a_press_there_edits_it(
    start_telegram: StartTelegram,
) -> None:
    telegram = await start_telegram(setup=card_feature)
    replies = await telegram.say("wangfang", "/t_card")
    card = next(r for r in replies if r.chat_id == SUPERVISORS_CHAT)
    assert card.text == "王芳 申请调休" and card.button_labels() == ["批准"]
    sent_id = max(mid for (chat, mid) in telegram.api.messages if chat == SUPERVISORS_CHAT)
    calls = await telegram.press(
        "liujun", card.button_tokens()[0], chat_id=SUPERVISORS_CHAT, message_id=sent_id
    )
    assert calls[0].method == "answerCallbackQuery"
    edits = [c for c in calls if c.method == "editMessageText"]
    assert len(edits) == 1 and edits[0].ok
    assert edits[0].chat_id == SUPERVISORS_CHAT and edits[0].params["message_id"] == sent_id
    assert edits[0].params["text"] == "已由刘军批准" and "reply_markup" not in edits[0].params
    assert telegram.api.messages[SUPERVISORS_CHAT, sent_id]["reply_markup"] is None


async def test_an_edit_retried_after_success_is_harmless(start_telegram: StartTelegram) -> None:
    telegram = await start_telegram(setup=card_feature)
    replies = await telegram.say("wangfang", "/t_card")
    card = next(r for r in replies if r.chat_id == SUPERVISORS_CHAT)
    token = card.button_tokens()[0]
    await telegram.press("liujun", token, chat_id=SUPERVISORS_CHAT)
    # The same decision pressed again edits to the same text: Telegram says "not modified", we move on.
    again = await telegram.press("liujun", token, chat_id=SUPERVISORS_CHAT)
    assert [c.status for c in again if c.method == "editMessageText"] == [400]
    assert await telegram.app.dispatcher.pending_count() == 0  # type: ignore[union-attr]


# ----- files in and out -----------------------------------------------------------------------
async def test_a_document_reaches_the_file_handler(start_telegram: StartTelegram) -> None:
    received: list[tuple[str, bytes, str | None]] = []

    def setup(app: App) -> None:
        async def on_file(ctx: Context) -> None:
            assert ctx.incoming.file is not None
            received.append((ctx.incoming.file.name, ctx.incoming.file.data, ctx.incoming.text))
            await ctx.reply(f"收到 {ctx.incoming.file.name}")

        app.router.set_file_handler(on_file)

    telegram = await start_telegram(setup=setup)
    content = "工号,日期,班次\nwangfang,2026-12-01,白班\n".encode() + bytes(range(256))
    calls = await telegram.upload("zhanglei", "排班表.csv", content, caption="十二月排班")
    assert received == [("排班表.csv", content, "十二月排班")]
    assert [c.method for c in calls if c.ok][:2] == ["getFile", "download"]
    assert [c.text for c in calls if c.method == "sendMessage"] == ["收到 排班表.csv"]


async def test_a_document_when_no_feature_takes_files(start_telegram: StartTelegram) -> None:
    def setup(app: App) -> None:
        app.router.file_handler = None

    telegram = await start_telegram(setup=setup)
    calls = await telegram.upload("wangfang", "x.xlsx", b"PK\x03\x04")
    assert "getFile" not in [c.method for c in calls]
    assert [c.text for c in calls if c.method == "sendMessage"] == [
        "我现在不接收文件。如果想导入排班表等文件，请先问问您的组长或管理员。"
    ]


async def test_files_out_as_document_and_png_as_photo(start_telegram: StartTelegram) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    xlsx = b"PK\x03\x04 report"

    def setup(app: App) -> None:
        @app.router.command("t_files")
        async def report(ctx: Context) -> None:
            await ctx.reply("十二月考勤", file=FileOut("考勤.xlsx", xlsx, "application/vnd.ms-excel"))
            await ctx.reply("迟到趋势", file=FileOut("chart.png", png, "image/png"))

    telegram = await start_telegram(setup=setup)
    replies = await telegram.say("zhanglei", "/t_files")
    assert [r.method for r in replies] == ["sendDocument", "sendPhoto"]
    assert (
        replies[0].files["document"] == ("考勤.xlsx", xlsx) and replies[0].params["caption"] == "十二月考勤"
    )
    assert replies[1].files["photo"] == ("chart.png", png) and replies[1].params["caption"] == "迟到趋势"
    assert all(r.chat_id == TG["zhanglei"] for r in replies)


async def test_group_chatter_is_not_taken_as_the_next_step_of_a_form(telegram: Telegram) -> None:
    await telegram.say("wangfang", "/lang")  # the form now waits for zh or en
    # With privacy mode off the bot sees all group messages; an unaddressed "en" there is not an answer.
    assert await telegram.say("wangfang", "en", chat_id=SUPERVISORS_CHAT) == []
    person = await telegram.app.resolve_person("telegram", str(TG["wangfang"]))
    assert person is not None and person.language == "zh-CN"
    done = await telegram.say("wangfang", "en")
    assert [c.text for c in done] == ["OK, I will talk to you in English from now on."]


async def test_link_code_makes_a_stranger_someone(telegram: Telegram) -> None:
    """`deskmate org invite admin` then `/link CODE` from an unknown Telegram account: it is theirs."""
    from bot import identities

    async with telegram.app.db.transaction() as conn:
        code = await identities.new_code(conn, "admin", now=telegram.app.clock.now(), actor="test")
    replies = await telegram.say(STRANGER, f"/link {identities.show_code(code)}")
    assert [(r.chat_id, r.text) for r in replies] == [
        (STRANGER, "绑定成功！这个 Telegram 账号现在属于 系统管理员（admin）。发送 /help 查看可以做什么。")
    ]
    whoami = await telegram.say(STRANGER, "/whoami")
    assert f"Telegram：{STRANGER}" in (whoami[0].text or "") and "系统管理员" in (whoami[0].text or "")
    again = await telegram.say(STRANGER, f"/link {code}")
    assert [r.text for r in again] == ["这个账号已经绑定在您（系统管理员）名下，无需再绑定。"]
