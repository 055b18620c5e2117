"""The department's features through Telegram: clock-in, a swap decided with buttons (every copy edited,
the supervisors' group included), leave decided from the group, an escalation that climbs by itself, a
roster file in, a roster picture and a report out, and a handbook question."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bot.schema import punches
from fakes.telegram_api import Call
from tests.conftest import local
from tests.helpers import roster, shift_of
from tests.telegram.conftest import SUPERVISORS_CHAT, TG, StartTelegram, Telegram

ROSTER = {"wangfang": "DDDD-DDDDD", "liuyang": "EE-EEEE-EE", "zhanglei": "DDDDDDDDDD"}


@pytest.fixture
async def desk(start_telegram: StartTelegram) -> Telegram:
    telegram = await start_telegram()
    await roster(telegram.app, ROSTER)
    return telegram


def button(call: Call, label: str) -> str:
    """The callback data of the button with this label."""
    labels = call.button_labels()
    assert label in labels, labels
    return call.button_tokens()[labels.index(label)]


def message_id_of(telegram: Telegram, call: Call) -> int:
    """The id the fake gave a message we sent (to press its buttons as Telegram would)."""
    chat = call.chat_id
    assert chat is not None
    return max(mid for (c, mid), m in telegram.api.messages.items() if c == chat and m["text"] == call.text)


async def test_clock_in_with_a_command_and_a_keyword(desk: Telegram) -> None:
    desk.clock.set(local("2026-12-01 08:50"))
    first = await desk.say("wangfang", "/in")
    again = await desk.say("wangfang", "打卡")
    assert (first[0].text or "").startswith("✅ 上班打卡 08:50") and "不用重复打卡" in (again[0].text or "")
    async with desk.app.db.read() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(punches))).scalar()
    assert count == 1


async def test_a_swap_is_accepted_and_approved_and_every_copy_is_edited(desk: Telegram) -> None:
    await desk.say("wangfang", "/swap 12-04 liuyang 12-04")
    ask = desk.to("liuyang")[-1]
    assert ask.button_labels() == ["👍 同意", "👎 不同意"]
    await desk.press("liuyang", button(ask, "👍 同意"), message_id=message_id_of(desk, ask))
    card = desk.to("zhanglei")[-1]
    group_card = desk.api.deliveries(SUPERVISORS_CHAT)[-1]
    assert "12-04 白班 ⇄ 刘洋 12-04 晚班" in (card.text or "")
    assert group_card.button_labels() == card.button_labels()
    calls = await desk.press("zhanglei", button(card, "✅ 批准"), message_id=message_id_of(desk, card))
    assert calls[0].method == "answerCallbackQuery"
    edits = [c for c in calls if c.method == "editMessageText" and c.ok]
    assert {e.chat_id for e in edits} >= {TG["zhanglei"], SUPERVISORS_CHAT}  # every copy
    decided = [e for e in edits if "已批准（张磊" in (e.params.get("text") or "")]
    assert decided and all("reply_markup" not in e.params for e in decided)
    assert all(m["reply_markup"] is None for (c, _), m in desk.api.messages.items() if c == SUPERVISORS_CHAT)
    assert await shift_of(desk.app, "wangfang", date(2026, 12, 4)) == "evening"


async def test_leave_is_decided_by_a_press_in_the_supervisors_group(desk: Telegram) -> None:
    await desk.say("wangfang", "/leave 事假 12-08 12-10 搬家")  # three days: the supervisor decides
    group_card = desk.api.deliveries(SUPERVISORS_CHAT)[-1]
    token = button(group_card, "✅ 批准")
    calls = await desk.press(
        "liujun", token, chat_id=SUPERVISORS_CHAT, message_id=message_id_of(desk, group_card)
    )
    assert calls[0].method == "answerCallbackQuery"
    edited = [c for c in calls if c.method == "editMessageText" and c.chat_id == SUPERVISORS_CHAT]
    assert edited and "已批准" in (edited[0].params.get("text") or "")
    assert any("已批准" in (c.text or "") for c in desk.to("wangfang"))


def latest_keyboard(telegram: Telegram, who: str) -> Call:
    """The last message sent to or edited in a person's chat that has buttons, as a person sees it."""
    chat = TG[who]
    shown = [
        c
        for c in telegram.api.calls
        if c.ok and c.chat_id == chat and c.method in ("sendMessage", "editMessageText") and c.button_tokens()
    ]
    assert shown, f"{who} has no buttons"
    return shown[-1]


async def test_an_escalation_climbs_when_nobody_acknowledges(desk: Telegram) -> None:
    desk.clock.set(local("2026-12-01 10:00"))
    await desk.say("wangfang", "上报")
    await desk.press("wangfang", button(latest_keyboard(desk, "wangfang"), "客户刁难"))
    await desk.say("wangfang", "客户要求超额赔偿")
    await desk.press("wangfang", button(latest_keyboard(desk, "wangfang"), "没有单号"))
    await desk.press("wangfang", button(latest_keyboard(desk, "wangfang"), "普通"))
    card = desk.to("zhanglei")[-1]
    assert card.button_labels() == ["✋ 确认接收", "✅ 已解决", "⬆️ 继续上报"]
    assert desk.to("liujun") == []
    desk.clock.set(desk.clock.now() + timedelta(minutes=6))
    await desk.app.run_due(desk.clock.now())
    await desk.flush()
    climbed = desk.to("liujun")
    assert climbed and "客户要求超额赔偿" in (climbed[-1].text or "")


async def test_a_roster_file_sent_by_a_lead_is_imported(desk: Telegram) -> None:
    csv = "姓名,12-08,12-09\n王芳,白,晚\n刘洋,休,白\n".encode()
    refused = await desk.upload("wangfang", "roster.csv", csv)
    accepted = await desk.upload("zhanglei", "roster.csv", csv, caption="下周排班")
    assert [c.text for c in refused if c.method == "sendMessage"] == [
        desk.app.catalog.t("zh-CN", "roster.upload.not_allowed")
    ]
    assert any("12-08" in (c.text or "") for c in accepted if c.method == "sendMessage")
    assert await shift_of(desk.app, "wangfang", date(2026, 12, 9)) == "evening"


async def test_the_roster_picture_is_a_photo_and_the_report_a_document(desk: Telegram) -> None:
    picture = await desk.say("wangfang", "排班表")
    assert [c.method for c in picture] == ["sendPhoto"]
    assert picture[0].files["photo"][1][:8] == b"\x89PNG\r\n\x1a\n"
    report = await desk.say("zhanglei", "/report")
    assert [c.method for c in report] == ["sendDocument"]
    name, data = report[0].files["document"]
    assert name.endswith(".xlsx") and data[:2] == b"PK"


async def test_a_handbook_question_is_answered_with_its_article(desk: Telegram) -> None:
    """第十七条 states the evening shift's hours: it is cited, either as the answer or as the first choice
    (the lexical search, used here, offers a choice when it is not sure enough)."""
    (reply,) = await desk.say("wangfang", "晚班几点下班？")
    keyboard = reply.params.get("reply_markup") or {"inline_keyboard": []}
    labels = [button["text"] for row in keyboard["inline_keyboard"] for button in row]
    if (reply.text or "").startswith("您是想问"):
        assert len(labels) == 3 and labels[0].startswith("第十七条")
    else:
        assert "第十七条" in (reply.text or "")


async def test_a_punch_gets_the_verdict_of_its_message_date(desk: Telegram) -> None:
    """Sent at 09:03 (grace, 第二十九条), received ten minutes later: judged at the person's 09:03."""
    desk.clock.set(local("2026-12-01 09:13"))
    sent = int(local("2026-12-01 09:03").timestamp())
    (done,) = await desk.say("wangfang", "/in", date=sent)
    assert (done.text or "").startswith("✅ 上班打卡 09:03")
    assert "晚到 3 分钟，在宽限期内，不计迟到" in (done.text or "")
    async with desk.app.db.read() as conn:
        row = (await conn.execute(sa.select(punches.c.at, punches.c.created_at, punches.c.verdict))).one()
    assert (row.at, row.verdict) == (local("2026-12-01 09:03"), "grace")
    assert row.created_at - row.at >= timedelta(minutes=10)  # the time it was received is kept too


async def test_a_message_date_in_the_future_counts_as_received(desk: Telegram) -> None:
    desk.clock.set(local("2026-12-01 09:12"))
    ahead = int(local("2026-12-01 09:40").timestamp())  # the phone's clock is wrong: use ours
    (done,) = await desk.say("wangfang", "/in", date=ahead)
    assert (done.text or "").startswith("✅ 上班打卡 09:12") and "迟到 12 分钟" in (done.text or "")
