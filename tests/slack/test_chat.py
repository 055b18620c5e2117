"""Slack end to end over loopback HTTP: /desk, DMs, mentions, buttons, the App Home, files in and out."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import sqlalchemy as sa

from bot.app import App
from bot.context import Context
from bot.core import Core
from bot.home import register_section
from bot.messages import Button, FileOut, Outgoing, Person
from bot.outbox import enqueue
from bot.schema import message_copies, outbox, people
from tests.slack.conftest import CHENJING, STRANGER, SUPERVISORS_CHANNEL, WANGFANG, ZHANGLEI
from tests.slack.harness import SlackDesk, dm_channel, message_buttons, message_text


async def language_of(app: App, person_id: str) -> str:
    async with app.db.read() as conn:
        return str(
            (await conn.execute(sa.select(people.c.language).where(people.c.id == person_id))).scalar()
        )


async def test_desk_help_in_chinese_and_english(desk: SlackDesk) -> None:
    status, body = await desk.command(WANGFANG, "帮助")
    assert (status, body) == (200, "")
    status, _ = await desk.command(CHENJING, "help")
    assert status == 200
    await desk.flush()
    assert desk.last_text(WANGFANG).startswith("王芳，您好")
    assert "/whoami" in desk.last_text(WANGFANG)
    assert desk.last_text(CHENJING).startswith("Hello 陈静")
    posted = desk.api.messages(dm_channel(WANGFANG))[0]
    assert posted["blocks"][0]["type"] == "section" and posted["blocks"][0]["text"]["type"] == "mrkdwn"


async def test_a_command_word_after_desk_runs_that_command(desk: SlackDesk) -> None:
    await desk.command(WANGFANG, "whoami")
    await desk.command(WANGFANG, "")  # a bare /desk shows the help
    await desk.flush()
    whoami, help_text = desk.texts_to(WANGFANG)
    assert "U0AGT00101" in whoami and "王芳" in whoami
    assert help_text.startswith("王芳，您好")


async def test_a_handbook_question_in_a_dm_reaches_the_fallback(desk: SlackDesk, app: App) -> None:
    asked: list[str] = []
    if app.router.fallback is None:

        async def answer(ctx: Context) -> None:
            asked.append(ctx.args)
            await ctx.reply("晚班 21:00 下班（第二十条）")

        app.router.set_fallback(answer)
    assert await desk.dm(WANGFANG, "晚班几点下班") == 200
    await desk.flush()
    if asked:
        assert asked == ["晚班几点下班"]
        assert desk.last_text(WANGFANG) == "晚班 21:00 下班（第二十条）"
    else:
        assert desk.last_text(WANGFANG)  # the real handbook search answered


async def test_desk_lang_then_pressing_english(desk: SlackDesk, app: App) -> None:
    await desk.command(WANGFANG, "lang")
    await desk.flush()
    card = desk.api.messages(dm_channel(WANGFANG))[-1]
    assert [label for label, _ in message_buttons(card)] == ["中文", "English"]
    assert card["blocks"][-1]["type"] == "actions"
    status, _ = await desk.press_label(WANGFANG, "English")
    assert status == 200
    await desk.flush()
    assert desk.last_text(WANGFANG) == "OK, I will talk to you in English from now on."
    assert await language_of(app, "wangfang") == "en"


async def test_a_pressed_button_that_means_nothing_is_refused_politely(desk: SlackDesk) -> None:
    await desk.press(WANGFANG, "forged-token")
    await desk.flush()
    assert desk.last_text(WANGFANG) == "这个按钮已失效，请重新操作。"


async def test_app_home_is_published_and_refreshed_after_a_message(desk: SlackDesk, app: App) -> None:
    waiting = ["班次：12-02 白班 09:00-18:00"]

    async def shifts(app_: Core, person: Person) -> list[str]:
        return list(waiting)

    register_section(app, shifts)
    assert await desk.home_opened(WANGFANG) == 200
    await desk.flush()
    first = desk.api.calls_to("views.publish")
    assert len(first) == 1 and first[0]["user_id"] == WANGFANG
    view = first[0]["view"]
    assert view["type"] == "home" and "王芳" in view["blocks"][0]["text"]["text"]
    assert any("12-02 白班" in message_text({"blocks": [b]}) for b in view["blocks"])

    waiting[0] = "班次：12-03 晚班 13:00-22:00"
    await desk.command(WANGFANG, "whoami")
    await desk.flush()
    again = desk.api.calls_to("views.publish")
    assert len(again) == 2
    assert any("12-03 晚班" in message_text({"blocks": [b]}) for b in again[1]["view"]["blocks"])


async def test_home_of_someone_who_never_opened_it_is_left_alone(desk: SlackDesk) -> None:
    await desk.command(CHENJING, "whoami")
    await desk.flush()
    assert desk.api.calls_to("views.publish") == []


async def test_home_quick_button_runs_its_command(desk: SlackDesk) -> None:
    await desk.home_opened(CHENJING)
    await desk.flush()
    view = desk.api.calls_to("views.publish")[0]["view"]
    quick = next(b for b in view["blocks"] if b["type"] == "actions")["elements"]
    assert [e["text"]["text"] for e in quick] == ["Help", "Who am I", "Language"]
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEST001"},
        "user": {"id": CHENJING},
        "trigger_id": "t.home",
        "container": {"type": "view", "view_id": "V1"},
        "actions": [{"type": "button", "action_id": quick[1]["action_id"], "value": quick[1]["value"]}],
    }
    status, _ = await desk.post(
        urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
    )
    assert status == 200
    await desk.flush()
    assert "Name: 陈静" in desk.last_text(CHENJING)


async def test_a_file_shared_with_the_bot_reaches_the_file_handler(desk: SlackDesk, app: App) -> None:
    received: list[tuple[str, bytes, str | None]] = []

    async def take_file(ctx: Context) -> None:
        assert ctx.incoming.file is not None
        received.append((ctx.incoming.file.name, ctx.incoming.file.data, ctx.incoming.text))
        await ctx.reply("收到")

    app.router.file_handler = take_file
    data = "姓名,12-01\n王芳,白\n".encode()
    file = desk.api.add_file("roster.csv", data, mimetype="text/csv")
    assert await desk.dm(WANGFANG, "十二月排班", files=[file]) == 200
    await desk.flush()
    assert received == [("roster.csv", data, "十二月排班")]
    assert desk.last_text(WANGFANG) == "收到"


async def test_a_file_from_elsewhere_never_gets_the_token(desk: SlackDesk, app: App) -> None:
    async def take_file(ctx: Context) -> None:
        raise AssertionError("must not be called")

    app.router.file_handler = take_file
    file = desk.api.add_file("x.csv", b"a")
    file["url_private_download"] = file["url_private"] = "http://203.0.113.9/files/x.csv"
    await desk.dm(WANGFANG, "", files=[file])
    await desk.flush()
    assert desk.last_text(WANGFANG) == "没能从 Slack 下载这个文件，请重新发送。"


async def test_a_file_out_is_uploaded_into_the_dm(desk: SlackDesk, app: App) -> None:
    @app.router.command("testfile")
    async def send_file(ctx: Context) -> None:
        await ctx.reply(
            "十二月考勤", file=FileOut("attendance-2026-12.csv", b"name,late\nwangfang,0\n", "text/csv")
        )

    await desk.command(ZHANGLEI, "testfile")
    await desk.flush()
    methods = [c.method for c in desk.api.calls if c.method.startswith("files") or c.method == "upload"]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    complete = desk.api.calls_to("files.completeUploadExternal")[0]
    assert complete["channel_id"] == dm_channel(ZHANGLEI) and complete["initial_comment"] == "十二月考勤"
    assert list(desk.api.uploads.values()) == [b"name,late\nwangfang,0\n"]


async def test_user_text_is_escaped_so_channel_never_pings(desk: SlackDesk) -> None:
    # Slack sends what a person literally typed as &lt;!channel&gt;; echoing it must stay inert.
    await desk.command(WANGFANG, "lang &lt;!channel&gt; &amp; &lt;@U0LEAD0001&gt;")
    await desk.dm(WANGFANG, "lang <!here>")
    await desk.flush()
    for params in desk.api.messages(dm_channel(WANGFANG)):
        raw = params["text"] + "".join(b["text"]["text"] for b in params["blocks"] if b["type"] == "section")
        assert "<!" not in raw and "<@" not in raw
    assert "“<!channel> & <@U0LEAD0001>”" in desk.texts_to(WANGFANG)[0]
    assert "&lt;!channel&gt; &amp;" in desk.api.messages(dm_channel(WANGFANG))[0]["text"]


async def test_a_mention_in_a_channel_is_answered_there(desk: SlackDesk) -> None:
    assert await desk.mention(CHENJING, "C0GENERAL1", "help") == 200
    await desk.flush()
    posted = desk.api.messages("C0GENERAL1")
    assert len(posted) == 1 and message_text(posted[0]).startswith("Hello 陈静")


async def test_desk_in_a_channel_answers_in_the_dm_and_says_so_there(desk: SlackDesk) -> None:
    await desk.command(WANGFANG, "whoami", channel="C0GENERAL1")
    await desk.flush()
    assert "王芳" in desk.last_text(WANGFANG)
    assert desk.api.messages("C0GENERAL1") == []
    pointer = desk.api.calls_to("chat.postEphemeral")
    assert len(pointer) == 1
    assert pointer[0]["channel"] == "C0GENERAL1" and pointer[0]["user"] == WANGFANG
    assert "私聊" in message_text(pointer[0])


async def test_an_unregistered_member_gets_a_polite_answer(desk: SlackDesk) -> None:
    await desk.command(STRANGER, "打卡")
    await desk.dm(STRANGER, "hello")
    await desk.flush()
    texts = desk.texts_to(STRANGER)
    assert len(texts) == 2 and all("slack:U0NOBODY99" in t for t in texts)


async def test_supervisors_chat_goes_to_the_configured_channel(desk: SlackDesk, app: App) -> None:
    card = Outgoing("审批：王芳 12-03 换班", to_chat="supervisors", buttons=[[Button("批准", "x.ok")]])
    async with app.db.transaction() as conn:
        await enqueue(conn, card, app.clock.now())
    await desk.flush()
    posted = desk.api.messages(SUPERVISORS_CHANNEL)
    assert len(posted) == 1 and message_buttons(posted[0])[0][0] == "批准"
    assert app.shared.supervisors_chat == SUPERVISORS_CHANNEL

    # The decision edits every copy and removes the buttons.
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("已批准（张磊）", edit_of=card.id), app.clock.now())
    await desk.flush()
    update = desk.api.calls_to("chat.update")
    assert len(update) == 1
    async with app.db.read() as conn:
        ts = (await conn.execute(sa.select(message_copies.c.platform_message_id))).scalar()
    assert update[0]["channel"] == SUPERVISORS_CHANNEL and update[0]["ts"] == ts
    assert [b["type"] for b in update[0]["blocks"]] == ["section"]


async def test_a_person_without_a_slack_id_is_undeliverable(desk: SlackDesk, app: App) -> None:
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("hello admin", to_person="admin"), app.clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        status = (await conn.execute(sa.select(outbox.c.status))).scalar()
    assert status == "undeliverable"
    assert desk.api.messages() == []


async def test_the_real_ack_comes_before_the_work(live_desk: SlackDesk) -> None:
    status, body = await live_desk.command(WANGFANG, "help")
    assert (status, body) == (200, "")
    posted = await live_desk.wait_for("chat.postMessage")
    assert message_text(posted[0]).startswith("王芳，您好")


async def test_url_verification_health_and_metrics(desk: SlackDesk, app: App) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "legacy"}).encode()
    status, text = await desk.post(body, "application/json")
    assert status == 200 and "abc123" in text
    async with desk.session.get(desk.url + "/healthz") as response:
        assert response.status == 503  # no scheduler runs in this test
        assert (await response.json())["database"] is True
    app.hooks.scheduler_alive = lambda: True
    async with desk.session.get(desk.url + "/healthz") as response:
        assert response.status == 200
    await desk.command(WANGFANG, "help")
    async with desk.session.get(desk.url + "/metrics") as response:
        assert 'deskmate_messages_in_total{platform="slack"} 1.0' in await response.text()


async def test_a_used_link_code_is_refused_in_slack(desk: SlackDesk, app: App) -> None:
    from bot import identities

    async with app.db.transaction() as conn:
        code = await identities.new_code(conn, "admin", now=app.clock.now(), actor="test")
    await desk.dm(STRANGER, f"/link {code}")
    await desk.dm("U0OTHER777", f"/link {code}")
    await desk.flush()
    assert desk.texts_to(STRANGER) == [
        "绑定成功！这个 Slack 账号现在属于 系统管理员（admin）。发送 /help 查看可以做什么。"
    ]
    assert desk.texts_to("U0OTHER777") == ["这个绑定码已经用过了，请向管理员要一个新的。"]
    person = await app.resolve_person("slack", STRANGER)
    assert person is not None and person.id == "admin"
