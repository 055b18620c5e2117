"""Personal data only in private chats, through Telegram: every command in a group, the supervisors' group
card and 20 concurrent presses on it, a stranger in a group."""

from __future__ import annotations

import pytest

from tests.helpers import roster
from tests.telegram.conftest import STRANGER, SUPERVISORS_CHAT, TG, StartTelegram, Telegram
from tests.telegram.test_features import button, message_id_of

NOTE = "涉及个人信息，我已私聊发给您。"
BY_ROLE = {"agent": "wangfang", "lead": "zhanglei", "supervisor": "liujun", "manager": "wangjianguo"}
SENDS = ("sendMessage", "sendDocument", "sendPhoto")


@pytest.fixture
async def desk(start_telegram: StartTelegram) -> Telegram:
    telegram = await start_telegram()
    await roster(telegram.app, {"wangfang": "DDDD-DDDDD", "zhanglei": "DDDDDDDDDD"})
    return telegram


@pytest.mark.slow  # every command the bot has, each through the fake Bot API
async def test_every_command_in_a_group(desk: Telegram) -> None:
    """A personal command leaves one note in the group and answers privately; the others (help, lang,
    rule, cancel) answer in the group without anybody's platform id."""
    ids = {str(i) for i in TG.values()}
    for name, command in sorted(desk.app.router.commands.items()):
        who = BY_ROLE[command.min_role]
        replies = await desk.say(who, f"/{name}", chat_id=SUPERVISORS_CHAT)
        in_group = [r.text or r.params.get("caption") or "" for r in replies if r.chat_id == SUPERVISORS_CHAT]
        private = [r for r in replies if r.chat_id == TG[who]]
        if command.personal:
            assert in_group == [NOTE], (name, in_group)
            assert private, f"/{name}: nothing in {who}'s private chat"
        else:
            assert in_group and not private, (name, replies)
            assert not any(i in text for text in in_group for i in ids), (name, in_group)
        await desk.say(who, "/cancel")  # end any form the command opened
        await desk.advance(3)  # people take a moment: the group stays under Telegram's 20 a minute


async def test_a_stranger_in_a_group_gets_no_reply_there(desk: Telegram) -> None:
    assert await desk.say(STRANGER, "/help", chat_id=SUPERVISORS_CHAT) == []
    assert not [c for c in desk.api.calls if str(STRANGER) in (c.text or "")]


async def test_twenty_presses_on_the_group_card_post_nothing_more_there(desk: Telegram) -> None:
    replies = await desk.say("wangfang", "/leave 事假 12-08 12-10 看病-隐私")
    card = next(r for r in replies if r.chat_id == SUPERVISORS_CHAT)
    assert "王芳" in (card.text or "") and "看病" not in (card.text or "")  # policy default: no reason
    token = button(card, "✅ 批准")
    message_id = message_id_of(desk, card)
    before = len(desk.api.sent("sendMessage", chat_id=SUPERVISORS_CHAT))
    updates = [
        desk.api.press_update(TG["liujun"], token, chat_id=SUPERVISORS_CHAT, message_id=message_id)
        for _ in range(20)
    ]
    calls = await desk.feed(*updates)
    assert len(desk.api.sent("sendMessage", chat_id=SUPERVISORS_CHAT)) == before
    edits = [c for c in calls if c.method == "editMessageText" and c.chat_id == SUPERVISORS_CHAT]
    assert len(edits) == 1 and "已批准" in (edits[0].params.get("text") or "")
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    assert len(answers) == 20
    alerts = [a for a in answers if a.params.get("show_alert") in (True, "true")]
    assert len(alerts) == 19 and all("已经处理" in (a.params.get("text") or "") for a in alerts)
    assert not [c for c in calls if c.method == "sendMessage" and c.chat_id == TG["liujun"]]


async def test_a_stranger_pressing_a_group_card_is_answered_in_the_press_alone(desk: Telegram) -> None:
    replies = await desk.say("wangfang", "/leave 事假 12-08 12-10 搬家")
    card = next(r for r in replies if r.chat_id == SUPERVISORS_CHAT)
    calls = await desk.press(STRANGER, button(card, "✅ 批准"), chat_id=SUPERVISORS_CHAT)
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert f"telegram:{STRANGER}" in (answer.params.get("text") or "")
    assert not [c for c in calls if c.method in SENDS]
