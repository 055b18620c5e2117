"""Personal data only in private, through Slack: every command mentioned in a channel, the supervisors'
channel card and 20 concurrent presses on it, a stranger in a channel."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import App
from tests.helpers import roster
from tests.slack.conftest import STRANGER, SUPERVISORS_CHANNEL, WANGFANG
from tests.slack.harness import SlackDesk, dm_channel, message_buttons, message_text

CHANNEL = "C0GENERAL1"
NOTE = "涉及个人信息，我已私聊发给您。"
MEMBER = {
    "agent": WANGFANG,
    "lead": "U0LEAD0001",
    "supervisor": "U0SUP00001",
    "manager": "U0MGR00001",
}


@pytest.fixture
async def rostered(app: App) -> App:
    await roster(app, {"wangfang": "DDDD-DDDDD", "zhanglei": "DDDDDDDDDD"})
    return app


def posted_in(desk: SlackDesk, channel: str) -> list[str]:
    return [message_text(p) for p in desk.api.messages(channel)]


def ephemeral_in(desk: SlackDesk, channel: str, user: str) -> list[str]:
    return [
        message_text(p)
        for p in desk.api.calls_to("chat.postEphemeral")
        if p.get("channel") == channel and p.get("user") == user
    ]


async def test_every_command_mentioned_in_a_channel(desk: SlackDesk, rostered: App) -> None:
    """A personal command: an ephemeral note in the channel, the answer in the DM, nothing posted in
    the channel. The others answer in the channel without anybody's member id."""
    for name, command in sorted(rostered.router.commands.items()):
        user = MEMBER[command.min_role]
        desk.api.clear()
        assert await desk.mention(user, CHANNEL, f"/{name}") == 200
        await desk.flush()
        in_channel = posted_in(desk, CHANNEL)
        uploads = desk.api.calls_to("files.completeUploadExternal")
        in_dm = desk.api.messages(dm_channel(user)) + [
            p for p in uploads if p.get("channel_id") == dm_channel(user)
        ]
        if command.personal:
            assert in_channel == [], (name, in_channel)
            assert ephemeral_in(desk, CHANNEL, user) == [NOTE], name
            assert in_dm, f"/{name}: nothing in the DM"
        else:
            assert in_channel, name
            assert not any(m in text for text in in_channel for m in MEMBER.values()), (name, in_channel)
        await desk.dm(user, "/cancel")
        await desk.flush()


async def test_a_stranger_in_a_channel_is_answered_only_where_nobody_else_sees(
    desk: SlackDesk, rostered: App
) -> None:
    assert await desk.mention(STRANGER, CHANNEL, "help") == 200
    await desk.flush()
    assert posted_in(desk, CHANNEL) == []
    told = ephemeral_in(desk, CHANNEL, STRANGER)
    assert len(told) == 1 and f"slack:{STRANGER}" in told[0]


async def test_twenty_presses_on_the_channel_card_post_nothing_more_there(
    desk: SlackDesk, rostered: App
) -> None:
    await desk.dm(WANGFANG, "/leave 事假 12-08 12-10 看病-隐私")
    await desk.flush()
    cards = desk.api.messages(SUPERVISORS_CHANNEL)
    assert len(cards) == 1 and "王芳" in message_text(cards[0]) and "看病" not in message_text(cards[0])
    token = next(value for label, value in message_buttons(cards[0]) if label == "✅ 批准")
    supervisor = MEMBER["supervisor"]
    desk.api.clear()
    statuses = await asyncio.gather(
        *(desk.press(supervisor, token, channel=SUPERVISORS_CHANNEL) for _ in range(20))
    )
    assert [s for s, _ in statuses] == [200] * 20
    await desk.flush()
    assert desk.api.messages(SUPERVISORS_CHANNEL) == []
    edits = [p for p in desk.api.calls_to("chat.update") if p.get("channel") == SUPERVISORS_CHANNEL]
    assert len(edits) == 1 and "已批准" in message_text(edits[0])
    told = ephemeral_in(desk, SUPERVISORS_CHANNEL, supervisor)
    assert len(told) == 19 and all("已经处理" in text for text in told)
    assert not [t for t in posted_in(desk, dm_channel(supervisor)) if "已经处理" in t]
