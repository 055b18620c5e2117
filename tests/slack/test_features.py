"""The department's features through Slack: clock-in, a swap decided with buttons (every copy edited),
an escalation that climbs by itself, a roster file in and a report file out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import punches
from tests.conftest import local
from tests.helpers import roster, shift_of
from tests.slack.conftest import SUPERVISORS_CHANNEL, WANGFANG, ZHANGLEI
from tests.slack.harness import SlackDesk, dm_channel, message_buttons, message_text

LIUYANG = "U0AGT00102"
LIUJUN = "U0SUP00001"  # supervisor of 客服组


@pytest.fixture
async def rostered(app: App) -> App:
    await roster(app, {"wangfang": "DDDD-DDDDD", "liuyang": "EE-EEEE-EE", "zhanglei": "DDDDDDDDDD"})
    return app


async def test_clock_in_with_desk_and_a_keyword(desk: SlackDesk, rostered: App, clock: FakeClock) -> None:
    clock.set(local("2026-12-01 08:50"))
    await desk.command(WANGFANG, "in")
    await desk.command(WANGFANG, "打卡")
    await desk.flush()
    done, again = desk.texts_to(WANGFANG)
    assert done.startswith("✅ 上班打卡 08:50") and "不用重复打卡" in again
    async with rostered.db.read() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(punches))).scalar()
    assert count == 1


async def test_a_swap_is_requested_accepted_and_approved_with_buttons(desk: SlackDesk, rostered: App) -> None:
    await desk.command(WANGFANG, "swap 12-04 liuyang 12-04")
    await desk.flush()
    ask = desk.api.messages(dm_channel(LIUYANG))[-1]
    assert [label for label, _ in message_buttons(ask)] == ["👍 同意", "👎 不同意"]
    await desk.press_label(LIUYANG, "👍 同意")
    await desk.flush()
    card = desk.api.messages(dm_channel(ZHANGLEI))[-1]
    assert "12-04 白班 ⇄ 刘洋 12-04 晚班" in message_text(card)
    cards_in_channel = desk.api.messages(SUPERVISORS_CHANNEL)

    await desk.press_label(ZHANGLEI, "✅ 批准")
    await desk.flush()
    edits = desk.api.calls_to("chat.update")
    edited_channels = {e["channel"] for e in edits}
    assert dm_channel(ZHANGLEI) in edited_channels
    assert len(cards_in_channel) == 1 and SUPERVISORS_CHANNEL in edited_channels  # every copy edited
    decided = [e for e in edits if "已批准（张磊" in message_text(e)]
    assert decided and all(b["type"] != "actions" for e in decided for b in e["blocks"])
    assert await shift_of(rostered, "wangfang", date(2026, 12, 4)) == "evening"
    assert any("批准" in t for t in desk.texts_to(WANGFANG)[1:])


async def test_an_escalation_climbs_when_nobody_acknowledges(
    desk: SlackDesk, rostered: App, clock: FakeClock
) -> None:
    clock.set(local("2026-12-01 10:00"))
    await desk.dm(WANGFANG, "上报")  # typed in a DM: no modal trigger, so the step-by-step buttons
    await desk.flush()
    await desk.press_label(WANGFANG, "客户刁难")
    await desk.flush()
    await desk.dm(WANGFANG, "客户要求超额赔偿")
    await desk.flush()
    await desk.press_label(WANGFANG, "没有单号")
    await desk.flush()
    await desk.press_label(WANGFANG, "普通")
    await desk.flush()
    card = desk.api.messages(dm_channel(ZHANGLEI))[-1]
    assert [label for label, _ in message_buttons(card)] == ["✋ 确认接收", "✅ 已解决", "⬆️ 继续上报"]
    assert desk.api.messages(dm_channel(LIUJUN)) == []
    clock.set(clock.now() + timedelta(minutes=6))
    await rostered.run_due(clock.now())
    await desk.flush()
    climbed = desk.api.messages(dm_channel(LIUJUN))
    assert climbed and "客户要求超额赔偿" in message_text(climbed[-1])


async def test_a_roster_file_sent_by_a_lead_is_imported(desk: SlackDesk, rostered: App) -> None:
    csv = "姓名,12-08,12-09\n王芳,白,晚\n刘洋,休,白\n".encode()
    refused = desk.api.add_file("roster.csv", csv, mimetype="text/csv")
    await desk.dm(WANGFANG, "", files=[refused])
    accepted = desk.api.add_file("roster.csv", csv, mimetype="text/csv")
    await desk.dm(ZHANGLEI, "下周排班", files=[accepted])
    await desk.flush()
    # 王芳 is refused; the lead's upload then publishes next week, so she is also sent her week (第二十一条).
    refusal, week = desk.texts_to(WANGFANG)
    assert refusal == rostered.catalog.t("zh-CN", "roster.upload.not_allowed")
    assert week.startswith("王芳，您12-07–12-13这一周的排班已公布：")
    assert "12-08" in desk.texts_to(ZHANGLEI)[0]
    assert await shift_of(rostered, "wangfang", date(2026, 12, 9)) == "evening"


async def test_a_report_is_uploaded_as_a_file(desk: SlackDesk, rostered: App) -> None:
    await desk.command(ZHANGLEI, "考勤报表")
    await desk.flush()
    complete = desk.api.calls_to("files.completeUploadExternal")
    assert len(complete) == 1 and complete[0]["channel_id"] == dm_channel(ZHANGLEI)
    assert complete[0]["files"][0]["title"].endswith(".xlsx")
    assert next(iter(desk.api.uploads.values()))[:2] == b"PK"  # an xlsx is a zip


async def test_a_punch_gets_the_verdict_of_the_time_it_was_sent(
    desk: SlackDesk, rostered: App, clock: FakeClock
) -> None:
    """Sent at 09:03 (grace: 第二十九条), received at 09:13: the punch is the person's 09:03, not late."""
    clock.set(local("2026-12-01 09:13"))
    await desk.dm(WANGFANG, "打卡", sent_at=local("2026-12-01 09:03"))
    await desk.flush()
    (done,) = desk.texts_to(WANGFANG)
    assert done.startswith("✅ 上班打卡 09:03") and "晚到 3 分钟，在宽限期内，不计迟到" in done
    async with rostered.db.read() as conn:
        row = (await conn.execute(sa.select(punches.c.at, punches.c.created_at, punches.c.verdict))).one()
    assert (row.at.replace(microsecond=0), row.verdict) == (local("2026-12-01 09:03"), "grace")
    assert row.created_at == local("2026-12-01 09:13")  # the time it was received is kept too


async def test_a_punch_sent_over_a_day_ago_is_refused(
    desk: SlackDesk, rostered: App, clock: FakeClock
) -> None:
    clock.set(local("2026-12-02 09:13"))
    await desk.dm(WANGFANG, "打卡", sent_at=local("2026-12-01 09:00"))
    await desk.flush()
    (refused,) = desk.texts_to(WANGFANG)
    assert "12-01 09:00" in refused and "超过 24 小时" in refused and "/missed" in refused
    async with rostered.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(punches))).scalar() == 0


async def test_a_slash_command_punch_counts_at_its_request_timestamp(
    live_desk: SlackDesk, rostered: App, clock: FakeClock
) -> None:
    """`/desk in` sent (and signed) at 09:03, handled at 09:13 after a busy spell: a slash command carries
    no time of its own, so its X-Slack-Request-Timestamp is the person's time: grace (第二十九条)."""
    clock.set(local("2026-12-01 09:03"))
    status, _ = await live_desk.command(WANGFANG, "in")
    assert status == 200
    clock.set(local("2026-12-01 09:13"))
    await rostered.inbox.drain()
    await live_desk.flush()
    (done,) = live_desk.texts_to(WANGFANG)
    assert done.startswith("✅ 上班打卡 09:03") and "晚到 3 分钟，在宽限期内，不计迟到" in done
    async with rostered.db.read() as conn:
        row = (await conn.execute(sa.select(punches.c.at, punches.c.created_at, punches.c.verdict))).one()
    assert (row.at, row.verdict) == (local("2026-12-01 09:03"), "grace")
    assert row.created_at == local("2026-12-01 09:13")
