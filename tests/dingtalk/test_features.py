"""The department's features through DingTalk, end to end: frames over the fake Stream gateway's
WebSocket, replies through the fake OpenAPI, all on 127.0.0.1, through the inbox and the outbox.
Expected sentences come from the handbook's articles (cited beside each)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bot.app import App, table_count
from bot.clock import FakeClock
from bot.messages import Outgoing
from bot.outbox import enqueue
from bot.schema import audit_log, inbox, outbox, people, punches
from fakes.dingtalk_api import CARD_CREATE, CARD_UPDATE, MEDIA_UPLOAD, SEND_TO_USERS, FakeDingTalk
from tests.conftest import local
from tests.dingtalk.conftest import SUPERVISORS_GROUP
from tests.dingtalk.harness import DingTalkDesk, staff
from tests.helpers import roster, shift_of


@pytest.fixture
async def rostered(app: App) -> App:
    await roster(app, {"wangfang": "DDDD-DDDDD", "liuyang": "EE-EEEE-EE", "zhanglei": "DDDDDDDDDD"})
    return app


async def test_a_handbook_question_is_answered_with_its_article(desk: DingTalkDesk) -> None:
    """第十七条 gives the evening shift's hours: cited as the answer, or as the first of the choices
    (a card) when the lexical search is not sure enough."""
    await desk.say("wangfang", "晚班几点下班？")
    await desk.flush()
    (reply,) = desk.texts_to("wangfang")
    cards = desk.fake.cards_to(user=staff("wangfang"))
    if reply.startswith("您是想问"):
        labels = [label for label, _ in desk.fake.card_buttons(cards[-1])]
        assert len(labels) == 3 and labels[0].startswith("第十七条")
    else:
        assert "第十七条" in reply and not cards


async def test_a_late_clock_in(desk: DingTalkDesk, rostered: App, clock: FakeClock) -> None:
    """White shift from 9:00 (第十七条); 12 minutes after is past the 5-minute grace (第二十九条), so late
    (第三十条: not more than 30 minutes)."""
    clock.set(local("2026-12-01 09:12"))
    await desk.say("wangfang", "打卡")
    await desk.flush()
    (done,) = desk.texts_to("wangfang")
    assert done.startswith("✅ 上班打卡 09:12") and "迟到 12 分钟" in done
    async with rostered.db.read() as conn:
        verdict = (await conn.execute(sa.select(punches.c.verdict))).scalar_one()
    assert verdict == "late"


async def test_the_punch_counts_at_the_moment_dingtalk_says_it_was_sent(
    desk: DingTalkDesk, rostered: App, clock: FakeClock
) -> None:
    """Sent 09:03 (createAt), received 09:13: within 第二十九条's 5 minutes, not late."""
    clock.set(local("2026-12-01 09:13"))
    await desk.say("wangfang", "打卡", sent_at=local("2026-12-01 09:03"))
    await desk.flush()
    (done,) = desk.texts_to("wangfang")
    assert done.startswith("✅ 上班打卡 09:03") and "晚到 3 分钟，在宽限期内，不计迟到" in done


async def test_a_message_delivered_twice_is_handled_once(
    desk: DingTalkDesk, rostered: App, clock: FakeClock
) -> None:
    clock.set(local("2026-12-01 08:50"))
    first = desk.message("wangfang", text="打卡", msg_id="msgTWICE0001")
    ack1 = await desk.deliver("/v1.0/im/bot/messages/get", first, frame_id="frame-1")
    # DingTalk did not see the ack in time and sends the same message again, in a new frame.
    ack2 = await desk.deliver("/v1.0/im/bot/messages/get", first, frame_id="frame-2")
    await desk.flush()
    assert ack1["code"] == ack2["code"] == 200  # both acked, so DingTalk stops resending
    assert len(desk.texts_to("wangfang")) == 1
    assert await table_count(rostered, inbox) == 1
    assert await table_count(rostered, punches) == 1


async def test_a_full_swap_with_presses_one_in_the_supervisors_group(
    desk: DingTalkDesk, rostered: App
) -> None:
    await desk.say("wangfang", "/swap 12-04 liuyang 12-04")
    await desk.flush()
    (ask,) = desk.fake.cards_to(user=staff("liuyang"))
    assert [label for label, _ in desk.fake.card_buttons(ask)] == ["👍 同意", "👎 不同意"]
    await desk.press_label("liuyang", "👍 同意")
    await desk.flush()
    (lead_card,) = desk.fake.cards_to(user=staff("zhanglei"))
    (group_card,) = desk.fake.cards_to(group=SUPERVISORS_GROUP)
    assert "12-04 白班 ⇄ 刘洋 12-04 晚班" in lead_card["cardData"]["cardParamMap"]["content"]

    await desk.press_label("zhanglei", "✅ 批准", group=SUPERVISORS_GROUP)  # decided in the group
    await desk.flush()
    updates = desk.fake.calls_to(CARD_UPDATE)
    decided = [u for u in updates if "已批准（张磊" in u["cardData"]["cardParamMap"]["content"]]
    # every copy of the decision card shows the decision, and its buttons are gone
    assert {u["outTrackId"] for u in decided} == {lead_card["outTrackId"], group_card["outTrackId"]}
    assert all(json.loads(u["cardData"]["cardParamMap"]["buttons"]) == [] for u in decided)
    assert await shift_of(rostered, "wangfang", date(2026, 12, 4)) == "evening"
    assert await shift_of(rostered, "liuyang", date(2026, 12, 4)) == "day"
    assert any("批准" in t for t in desk.texts_to("wangfang")[1:])


async def test_a_rate_limit_answer_then_success(desk: DingTalkDesk, app: App, clock: FakeClock) -> None:
    """DingTalk's QPS refusal (403, no Retry-After) waits one second, then the message goes out once."""
    desk.fake.rate_limit(SEND_TO_USERS)
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("排班提醒", to_person="wangfang"), clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(outbox))).one()
    assert row.status == "pending" and row.next_attempt_at == clock.now() + timedelta(seconds=1)
    assert desk.texts_to("wangfang") == ["排班提醒"]  # the refused attempt
    clock.set(clock.now() + timedelta(seconds=1))
    await desk.flush()
    assert desk.texts_to("wangfang") == ["排班提醒", "排班提醒"]  # refused once, accepted once
    async with app.db.read() as conn:
        assert (await conn.execute(sa.select(outbox.c.status))).scalar_one() == "sent"


async def test_a_person_who_left_is_marked_and_their_lead_told_once(desk: DingTalkDesk, app: App) -> None:
    desk.fake.left.add(staff("wangfang"))
    async with app.db.transaction() as conn:
        for text in ("排班提醒", "审批结果"):
            await enqueue(conn, Outgoing(text, to_person="wangfang"), app.clock.now())
        await enqueue(conn, Outgoing("排班提醒", to_person="liuyang"), app.clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        marked = dict((await conn.execute(sa.select(people.c.id, people.c.blocked_at))).all())
        statuses = list((await conn.execute(sa.select(outbox.c.status).order_by(outbox.c.id))).scalars())
        blocked_rows = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(audit_log)
                .where(audit_log.c.action == "person.left_platform")
            )
        ).scalar_one()
    assert marked["wangfang"] is not None and marked["liuyang"] is None
    told = desk.texts_to("zhanglei")  # 张磊 leads wangfang's team
    assert len(told) == 1 and "王芳（wangfang）" in told[0] and "已不是本组织成员" in told[0]
    assert "屏蔽" not in told[0]
    assert blocked_rows == 1
    assert statuses[:3] == ["undeliverable", "undeliverable", "sent"]


async def test_an_escalation_climbs_when_nobody_acknowledges(
    desk: DingTalkDesk, rostered: App, clock: FakeClock
) -> None:
    clock.set(local("2026-12-01 10:00"))
    await desk.say("wangfang", "上报")
    await desk.flush()
    await desk.press_label("wangfang", "客户刁难")
    await desk.flush()
    await desk.say("wangfang", "客户要求超额赔偿")
    await desk.flush()
    await desk.press_label("wangfang", "没有单号")
    await desk.flush()
    await desk.press_label("wangfang", "普通")
    await desk.flush()
    card = desk.fake.cards_to(user=staff("zhanglei"))[-1]
    assert [label for label, _ in desk.fake.card_buttons(card)] == ["✋ 确认接收", "✅ 已解决", "⬆️ 继续上报"]
    assert desk.texts_to("liujun") == []
    clock.set(clock.now() + timedelta(minutes=6))
    await rostered.run_due(clock.now())
    await desk.flush()
    climbed = desk.texts_to("liujun")
    assert climbed and "客户要求超额赔偿" in climbed[-1]


async def test_a_roster_file_sent_by_a_lead_is_imported(desk: DingTalkDesk, rostered: App) -> None:
    csv = "姓名,12-08,12-09\n王芳,白,晚\n刘洋,休,白\n".encode()
    await desk.send_file("wangfang", "roster.csv", csv)
    await desk.send_file("zhanglei", "roster.csv", csv)
    await desk.flush()
    # 王芳 is refused; the lead's upload then publishes next week, so she is also sent her week (第二十一条).
    refusal, week = desk.texts_to("wangfang")
    assert refusal == rostered.catalog.t("zh-CN", "roster.upload.not_allowed")
    assert week.startswith("王芳，您12-07–12-13这一周的排班已公布：")
    assert "12-08" in desk.texts_to("zhanglei")[0]
    assert await shift_of(rostered, "wangfang", date(2026, 12, 9)) == "evening"


async def test_a_report_goes_out_as_a_file(desk: DingTalkDesk, rostered: App) -> None:
    await desk.say("zhanglei", "考勤报表")
    await desk.flush()
    (upload,) = desk.fake.calls_to(MEDIA_UPLOAD)
    assert upload["type"] == "file" and str(upload["name"]).endswith(".xlsx")
    sent = [c for c in desk.fake.calls_to(SEND_TO_USERS) if c["msgKey"] == "sampleFile"]
    assert len(sent) == 1 and sent[0]["userIds"] == [staff("zhanglei")]
    param = json.loads(sent[0]["msgParam"])
    assert param["fileType"] == "xlsx" and param["fileName"].endswith(".xlsx")
    name, data = desk.fake.uploads[param["mediaId"]]
    assert name == param["fileName"] and data[:2] == b"PK"  # an xlsx is a zip


async def test_an_at_mention_in_a_group_is_answered_there(desk: DingTalkDesk, dingtalk: FakeDingTalk) -> None:
    group = "cidTEAMGROUP000000000001=="
    await desk.say("wangfang", "/help", group=group)
    await desk.flush()
    assert dingtalk.texts_in(group), "no answer in the group"


async def test_an_unknown_user_gets_their_id_and_nothing_else(desk: DingTalkDesk, app: App) -> None:
    await desk.say("nobody", "打卡", user="stranger001")
    await desk.flush()
    (answer,) = desk.fake.texts_to("stranger001")
    assert "dingtalk:stranger001" in answer
    assert await table_count(app, punches) == 0
    assert CARD_CREATE not in {c.path for c in desk.fake.calls}


async def test_link_with_a_good_then_a_used_code(desk: DingTalkDesk, app: App) -> None:
    from bot import identities

    async with app.db.transaction() as conn:
        code = await identities.new_code(conn, "admin", now=app.clock.now(), actor="test")
    await desk.say("nobody", f"/link {code}", user="newcomer01")
    await desk.say("nobody", f"/link {code}", user="newcomer02")
    await desk.flush()
    assert desk.fake.texts_to("newcomer01") == [
        "绑定成功！这个 钉钉 账号现在属于 系统管理员（admin）。发送 /help 查看可以做什么。"
    ]
    assert desk.fake.texts_to("newcomer02") == ["这个绑定码已经用过了，请向管理员要一个新的。"]
    person = await app.resolve_person("dingtalk", "newcomer01")
    assert person is not None and person.id == "admin"


async def test_the_roster_picture_goes_out_as_an_image(desk: DingTalkDesk, rostered: App) -> None:
    await desk.say("wangfang", "排班表")
    await desk.flush()
    (upload,) = desk.fake.calls_to(MEDIA_UPLOAD)
    assert upload["type"] == "image"
    (sent,) = [c for c in desk.fake.calls_to(SEND_TO_USERS) if c["msgKey"] == "sampleImageMsg"]
    assert sent["userIds"] == [staff("wangfang")]
    name, data = desk.fake.uploads[json.loads(sent["msgParam"])["photoURL"]]
    assert name.endswith(".png") and data[:8] == b"\x89PNG\r\n\x1a\n"


async def test_server_errors_are_retried_and_an_expired_token_renewed(
    desk: DingTalkDesk, app: App, clock: FakeClock
) -> None:
    desk.fake.refuse(SEND_TO_USERS, 503, {"code": "ServiceUnavailable"})
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("你好", to_person="wangfang"), clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        assert (await conn.execute(sa.select(outbox.c.status))).scalar_one() == "pending"
    desk.fake.tokens.clear()  # the token expired meanwhile: the next call is refused with 401
    clock.set(clock.now() + timedelta(minutes=5))
    await desk.flush()
    async with app.db.read() as conn:
        assert (await conn.execute(sa.select(outbox.c.status))).scalar_one() == "sent"
    assert desk.texts_to("wangfang") == ["你好", "你好", "你好"]  # 503, then 401, then accepted
    assert len(desk.fake.calls_to("/v1.0/oauth2/accessToken")) == 2
    # The same refusal as a 400 with the code: the token is renewed too.
    desk.fake.refuse(SEND_TO_USERS, 400, {"code": "InvalidAuthentication", "message": "expired"})
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("再见", to_person="wangfang"), clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        statuses = list((await conn.execute(sa.select(outbox.c.status).order_by(outbox.c.id))).scalars())
    assert statuses == ["sent", "sent"] and desk.texts_to("wangfang")[-2:] == ["再见", "再见"]
    assert len(desk.fake.calls_to("/v1.0/oauth2/accessToken")) == 3


async def test_a_group_the_robot_is_not_in_is_undeliverable(desk: DingTalkDesk, app: App) -> None:
    desk.fake.refuse("/v1.0/robot/groupMessages/send", 400, {"code": "robot.notInGroup", "message": "no"})
    async with app.db.transaction() as conn:
        await enqueue(conn, Outgoing("公告", to_chat="cidELSEWHERE0000001=="), app.clock.now())
    await desk.flush()
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(outbox.c.status, outbox.c.last_error))).one()
    assert row.status == "undeliverable" and "robot.notInGroup" in row.last_error


async def test_personal_data_asked_for_in_a_group_goes_to_the_private_chat(desk: DingTalkDesk) -> None:
    """README "Personal data only in private chats": /whoami typed in a group is answered privately."""
    group = "cidTEAMGROUP000000000001=="
    await desk.say("wangfang", "/whoami", group=group)
    await desk.flush()
    private = desk.texts_to("wangfang")
    assert private and "编号：wangfang" in private[-1] and "钉钉：dtwangfang" in private[-1]
    in_group = desk.fake.texts_in(group)
    assert all("dtwangfang" not in text and "wangfang" not in text for text in in_group)
