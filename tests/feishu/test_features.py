"""The department's features through Feishu, end to end over HTTP on 127.0.0.1: a handbook question, a late
clock-in, a swap decided with card presses (the colleague's in private, the lead's in the supervisors'
group; every copy updated), an escalation that climbs, a roster file in and a report file out, `/link`."""

from __future__ import annotations

import json
from datetime import date, timedelta

import sqlalchemy as sa

from bot import identities
from bot.schema import audit_log, punches
from tests.conftest import local
from tests.feishu.conftest import SUPERVISORS_GROUP
from tests.feishu.harness import FeishuDesk, open_id
from tests.helpers import roster, shift_of

ROSTER = {"wangfang": "DDDD-DDDDD", "liuyang": "EE-EEEE-EE", "zhanglei": "DDDDDDDDDD"}


async def test_a_handbook_question_is_answered_with_its_article(desk: FeishuDesk) -> None:
    """第十七条 gives the evening shift's hours: cited as the answer, or as the first of the choices."""
    (reply,) = await desk.say("wangfang", "晚班几点下班？")
    if reply.startswith("您是想问"):
        card = desk.fake.sent_to(open_id("wangfang"))[-1]
        labels = [label for label, _ in desk.fake.buttons(card)]
        assert len(labels) == 3 and labels[0].startswith("第十七条")
    else:
        assert "第十七条" in reply


async def test_a_late_clock_in_is_late_by_its_minutes(desk: FeishuDesk) -> None:
    """The day shift starts at 09:00 and 5 minutes are grace (第二十九条): 09:12 is 12 minutes late."""
    await roster(desk.app, ROSTER)
    desk.clock.set(local("2026-12-01 09:12"))
    created = local("2026-12-01 09:12").timestamp()
    (done,) = await desk.say("wangfang", "打卡", created=created)
    assert done.startswith("✅ 上班打卡 09:12") and "迟到 12 分钟" in done
    async with desk.app.db.read() as conn:
        verdicts = (await conn.execute(sa.select(punches.c.verdict))).scalars().all()
    assert verdicts == ["late"]


async def test_an_early_clock_out_confirmed_by_a_press_is_timed_by_the_press(desk: FeishuDesk) -> None:
    """/out at 17:40 is asked about (20 min early, 第三十条); the confirm pressed at 17:42 by Feishu's clock
    and handled at 17:50 is stored at 17:42: 18 minutes early, an early leave."""
    await roster(desk.app, ROSTER)
    desk.clock.set(local("2026-12-01 08:58"))
    await desk.say("wangfang", "打卡", created=local("2026-12-01 08:58").timestamp())
    desk.clock.set(local("2026-12-01 17:40"))
    (asked,) = await desk.say("wangfang", "/out", created=local("2026-12-01 17:40").timestamp())
    assert "比下班时间早 20 分钟，属于早退（第三十条）" in asked
    desk.clock.set(local("2026-12-01 17:50"))
    before = len(desk.texts_to("wangfang"))
    await desk.press_label("wangfang", "确认下班打卡", created=local("2026-12-01 17:42").timestamp())
    (done,) = desk.texts_to("wangfang")[before:]
    assert done == "✅ 下班打卡 17:42：白班 09:00–18:00\n比下班时间早 18 分钟，属于早退（第三十条）。"
    async with desk.app.db.read() as conn:
        stored = (await conn.execute(sa.select(punches.c.kind, punches.c.verdict, punches.c.at))).all()
    assert [(k, v, at.astimezone(desk.app.tz).strftime("%H:%M")) for k, v, at in stored] == [
        ("clock_in", "on_time", "08:58"),
        ("clock_out", "early_leave", "17:42"),
    ]


async def test_a_swap_with_both_presses_one_in_the_supervisors_group(desk: FeishuDesk) -> None:
    await roster(desk.app, ROSTER)
    await desk.say("wangfang", "/swap 12-04 liuyang 12-04")
    ask = desk.latest_card(open_id("liuyang"), "👍 同意")
    assert [label for label, _ in desk.fake.buttons(ask)] == ["👍 同意", "👎 不同意"]
    toast = await desk.press_label("liuyang", "👍 同意")
    assert toast == {"toast": {"type": "info", "content": "收到，正在处理…"}}  # answered at once
    lead_card = desk.latest_card(open_id("zhanglei"), "✅ 批准")
    group_card = desk.latest_card(SUPERVISORS_GROUP, "✅ 批准")
    assert "12-04 白班 ⇄ 刘洋 12-04 晚班" in (desk.fake.shown(lead_card) or "")
    assert desk.fake.buttons(group_card) != [] and [b for b, _ in desk.fake.buttons(group_card)] == [
        b for b, _ in desk.fake.buttons(lead_card)
    ]
    await desk.press_label("zhanglei", "✅ 批准", group=SUPERVISORS_GROUP)
    updated = {c.params["message_id"]: json.loads(c.body["content"]) for c in desk.fake.patches()}
    copies = {lead_card.body["_message_id"], group_card.body["_message_id"]}
    assert copies <= set(updated)  # every copy of the card shows the decision …
    for message_id in copies:
        card = updated[message_id]
        assert "已批准（张磊" in card["elements"][0]["text"]["content"]
        assert [e for e in card["elements"] if e["tag"] == "action"] == []  # … and has no buttons left
    assert await shift_of(desk.app, "wangfang", date(2026, 12, 4)) == "evening"
    assert await shift_of(desk.app, "liuyang", date(2026, 12, 4)) == "day"


async def test_an_escalation_climbs_when_nobody_acknowledges(desk: FeishuDesk) -> None:
    await roster(desk.app, ROSTER)
    desk.clock.set(local("2026-12-01 10:00"))
    await desk.say("wangfang", "上报")
    await desk.press_label("wangfang", "客户刁难")
    await desk.say("wangfang", "客户要求超额赔偿")
    await desk.press_label("wangfang", "没有单号")
    await desk.press_label("wangfang", "普通")
    card = desk.latest_card(open_id("zhanglei"), "✋ 确认接收")
    assert [b for b, _ in desk.fake.buttons(card)] == ["✋ 确认接收", "✅ 已解决", "⬆️ 继续上报"]
    assert desk.texts_to("liujun") == []
    desk.clock.set(desk.clock.now() + timedelta(minutes=6))
    await desk.app.run_due(desk.clock.now())
    await desk.flush()
    climbed = desk.texts_to("liujun")
    assert climbed and "客户要求超额赔偿" in climbed[-1]


async def test_a_roster_file_in_and_a_report_file_out(desk: FeishuDesk) -> None:
    await roster(desk.app, ROSTER)
    csv = "姓名,12-08,12-09\n王芳,白,晚\n刘洋,休,白\n".encode()
    await desk.send_file("zhanglei", "roster.csv", csv)
    assert any("12-08" in text for text in desk.texts_to("zhanglei"))
    assert await shift_of(desk.app, "wangfang", date(2026, 12, 9)) == "evening"
    before = len(desk.fake.sends())
    await desk.say("zhanglei", "/report")
    files = [c for c in desk.fake.sends()[before:] if c.body["msg_type"] == "file"]
    assert len(files) == 1 and files[0].body["receive_id"] == open_id("zhanglei")
    key = json.loads(files[0].body["content"])["file_key"]
    name, data = desk.fake.uploads[key]
    assert name.endswith(".xlsx") and data[:2] == b"PK"
    before = len(desk.fake.sends())
    await desk.say("wangfang", "排班表")
    images = [c for c in desk.fake.sends()[before:] if c.body["msg_type"] == "image"]
    assert len(images) == 1
    assert (
        desk.fake.uploads[json.loads(images[0].body["content"])["image_key"]][1][:8] == b"\x89PNG\r\n\x1a\n"
    )


async def test_link_with_a_good_a_used_and_an_expired_code(desk: FeishuDesk) -> None:
    stranger = "ou_alphanewcomer00000000000000001"
    other = "ou_bravonewcomer00000000000000002"
    async with desk.app.db.transaction() as conn:
        code = await identities.new_code(conn, "admin", now=desk.clock.now(), actor="test")
        old = await identities.new_code(
            conn, "admin", now=desk.clock.now() - timedelta(hours=25), actor="test"
        )
    event = desk.fake.message_event(stranger, "hello", token=desk.token)
    await desk.deliver(event)
    assert desk.fake.texts_to(stranger) == [
        f"您好！您还没有在 Deskmate 登记。请把这个编号发给您的主管：feishu:{stranger}；"
        "如果管理员给了您绑定码，请发送 /link 绑定码。"
    ]
    await desk.deliver(desk.fake.message_event(stranger, f"/link {code}", token=desk.token))
    await desk.deliver(desk.fake.message_event(other, f"/link {code}", token=desk.token))
    await desk.deliver(desk.fake.message_event(other, f"/link {old}", token=desk.token))
    assert (
        desk.fake.texts_to(stranger)[-1]
        == "绑定成功！这个 飞书 账号现在属于 系统管理员（admin）。发送 /help 查看可以做什么。"
    )
    assert desk.fake.texts_to(other) == [
        "这个绑定码已经用过了，请向管理员要一个新的。",
        "这个绑定码已过期（有效期 24 小时），请向管理员要一个新的。",
    ]
    person = await desk.app.resolve_person("feishu", stranger)
    assert person is not None and person.id == "admin"
    async with desk.app.db.read() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert actions.count("identity.linked") == 1 and actions.count("identity.link_refused") == 2


async def test_an_at_mention_in_a_group_is_answered_there_and_personal_data_privately(
    desk: FeishuDesk,
) -> None:
    group = "oc_teamchat000000000000000000001"
    await desk.say("wangfang", "/help", chat_id=group, chat_type="group")  # "@Deskmate /help"
    in_group = desk.fake.texts_to(group)
    assert len(in_group) == 1 and in_group[0].startswith("王芳，您好")
    await desk.say("wangfang", "/whoami", chat_id=group, chat_type="group")
    assert desk.fake.texts_to(group)[1:] == ["涉及个人信息，我已私聊发给您。"]
    private = desk.fake.texts_to(open_id("wangfang"))
    assert (
        len(private) == 1 and "编号：wangfang" in private[0] and f"飞书：{open_id('wangfang')}" in private[0]
    )


async def test_an_english_speaker_gets_english_toasts_and_answers(desk: FeishuDesk) -> None:
    """陈静 (chenjing) has language: en in the org file."""
    press = desk.fake.press_event(open_id("chenjing"), "forged-token", "om_out99999999", token=desk.token)
    answer = await desk.deliver(press)
    assert answer == {"toast": {"type": "info", "content": "Got it, working on it…"}}
    assert desk.texts_to("chenjing") == ["This button is no longer valid; please start again."]
    (reply,) = await desk.say("chenjing", "/link")
    assert (
        reply == "Send /link followed by the code your administrator gave you, for example: /link K7P2-QX9M"
    )
