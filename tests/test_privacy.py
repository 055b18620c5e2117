"""Personal data only in private chats, on the console (the same core as every platform): every command
said in a group, a form continued there, presses on a card in the supervisors' group, strangers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.messages import Incoming
from handlers.requests import SUPERVISORS_CHAT
from schedules.policy import policy_from_mapping
from tests.helpers import Chat, roster

GROUP = "team-chat"
SENT_PRIVATELY = {
    "zh-CN": "涉及个人信息，我已私聊发给您。",
    "en": "That is personal, so I have sent it to you in a private chat.",
}
# Commands that show nobody's data and so answer in the group. Any other command must be personal.
PUBLIC_COMMANDS = {"help", "lang", "rule", "cancel"}
PERSONAL_COMMANDS = (
    "whoami",
    "in",
    "out",
    "shifts",
    "missed",
    "onduty",
    "roster",
    "report",
    "swap",
    "giveaway",
    "leave",
    "escalate",
    "overtime",
    "requests",
    "pending",
    "escalations",
    "correct",
)
BY_ROLE = {"agent": "wangfang", "lead": "zhanglei", "supervisor": "liujun", "manager": "wangjianguo"}


@pytest.fixture
async def rostered(app: App) -> App:
    await roster(app, {"wangfang": "DDDD-DDDDDDD", "zhanglei": "DDDDD-DDDDDD", "liuyang": "DDDDDD-DDDDD"})
    return app


def to_group(sent: list[dict[str, Any]], group: str = GROUP) -> list[str]:
    return [m["text"] for m in sent if m["to"] == group]


async def test_every_command_but_the_public_ones_is_personal(app: App) -> None:
    personal = {name for name, c in app.router.commands.items() if c.personal}
    assert set(app.router.commands) - personal == PUBLIC_COMMANDS
    assert personal == set(PERSONAL_COMMANDS)  # each is tried in a group below


@pytest.mark.parametrize("name", PERSONAL_COMMANDS)
async def test_a_personal_command_in_a_group_is_answered_privately(
    rostered: App, clock: FakeClock, name: str
) -> None:
    command = rostered.router.commands[name]
    who = BY_ROLE[command.min_role]
    chat = Chat(rostered, clock)
    sent = await chat.say(who, f"/{name}", GROUP)
    assert to_group(sent) == [SENT_PRIVATELY["zh-CN"]], sent
    assert [m for m in sent if m["to"] == who], f"/{name} sent nothing to {who} privately: {sent}"


async def test_the_group_note_is_in_the_senders_language(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    sent = await chat.say("chenjing", "/whoami", GROUP)
    assert to_group(sent) == [SENT_PRIVATELY["en"]]
    private = [m["text"] for m in sent if m["to"] == "chenjing"]
    assert len(private) == 1 and "100000103" in private[0] and "U0AGT00103" in private[0]


@pytest.mark.parametrize("name", sorted(PUBLIC_COMMANDS))
async def test_a_public_command_in_a_group_shows_no_platform_id(
    rostered: App, clock: FakeClock, name: str
) -> None:
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", f"/{name}", GROUP)
    for text in to_group(sent):
        assert "100000101" not in text and "U0AGT00101" not in text


async def test_a_leave_reason_never_reaches_a_group(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    await chat.say("wangfang", "/leave 事假 12-08 12-08 看病-隐私")
    said = [
        *await chat.say("wangfang", "/requests", GROUP),
        *await chat.say("zhanglei", "/pending", GROUP),
        *await chat.say("zhanglei", "待审批", GROUP),
    ]
    assert not any("看病" in text for text in to_group(said))
    assert any("看病-隐私" in m["text"] for m in said if m["to"] == "zhanglei")


async def test_a_form_started_in_a_group_goes_on_in_private(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    said = [
        *await chat.say("wangfang", "/leave", GROUP),
        *await chat.say("wangfang", "事假", GROUP),
        *await chat.say("wangfang", "12-08", GROUP),
        *await chat.say("wangfang", "12-08", GROUP),
        *await chat.say("wangfang", "看病-隐私", GROUP),
    ]
    assert to_group(said) == [SENT_PRIVATELY["zh-CN"]] * 5
    mine = [m["text"] for m in said if m["to"] == "wangfang"]
    assert len(mine) == 5 and "看病-隐私" in mine[-1]


async def test_a_stranger_in_a_group_gets_no_public_answer(rostered: App, clock: FakeClock) -> None:
    chat = Chat(rostered, clock)
    assert await chat.say("nobody", "/help", GROUP) == []
    private = await chat.say("nobody", "/help")
    assert [m["to"] for m in private] == ["nobody"] and "console:nobody" in private[0]["text"]


async def test_a_group_card_shows_no_leave_reason_by_default(rostered: App, clock: FakeClock) -> None:
    rostered.shared.supervisors_chat = SUPERVISORS_CHAT
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", "/leave 事假 12-08 12-10 看病-隐私")
    cards = [m for m in sent if m["to"] == SUPERVISORS_CHAT]
    assert len(cards) == 1 and "王芳" in cards[0]["text"] and "看病" not in cards[0]["text"]
    # The decider's own card (a private chat) keeps the reason: they decide on it.
    assert any("看病-隐私" in m["text"] for m in sent if m["to"] == "liujun")
    approved = await chat.say("liujun", "press 批准", SUPERVISORS_CHAT)
    edits = [m for m in approved if m["to"] == SUPERVISORS_CHAT]
    assert edits and all("看病" not in m["text"] for m in edits)


async def test_twenty_presses_on_a_group_card_post_nothing_more_in_the_group(
    rostered: App, clock: FakeClock
) -> None:
    rostered.shared.supervisors_chat = SUPERVISORS_CHAT
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", "/leave 事假 12-08 12-10 搬家")
    card = next(m for m in sent if m["to"] == SUPERVISORS_CHAT)
    token = chat.transport.button_token(SUPERVISORS_CHAT, "批准")
    before = len(chat.sent)

    async def press() -> None:
        incoming = Incoming(
            platform="console",
            chat_id=SUPERVISORS_CHAT,
            sender_id="liujun",
            person=await rostered.resolve_person("console", "liujun"),
            at=clock.now(),
            button_token=token,
            is_private=False,
        )
        await rostered.handle(incoming)

    await asyncio.gather(*(press() for _ in range(20)))
    await rostered.deliver()
    after = chat.sent[before:]
    in_group = [m for m in after if m["to"] == SUPERVISORS_CHAT]
    assert all(m["edit_of"] == card["id"] for m in in_group), in_group  # only the card's own edit
    told = [m["text"] for m in after if m["to"] == "liujun" and "已经处理" in m["text"]]
    assert len(told) == 19  # "already decided", each to the presser alone


async def test_a_group_card_shows_the_leave_reason_when_the_policy_says_so(
    rostered: App, clock: FakeClock
) -> None:
    rostered.shared.supervisors_chat = SUPERVISORS_CHAT
    rostered.shared.policy = policy_from_mapping({"privacy": {"leave_reason_on_group_cards": True}})
    chat = Chat(rostered, clock)
    sent = await chat.say("wangfang", "/leave 事假 12-08 12-10 搬家")
    cards = [m for m in sent if m["to"] == SUPERVISORS_CHAT]
    assert len(cards) == 1 and "事由：搬家" in cards[0]["text"]
