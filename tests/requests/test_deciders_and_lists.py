"""Issue 14 on the console: who decides (第七条, 第四十八条), leave counted on the roster, deadlines that are
real (第四十一条, 第四十七条, 第八十三至八十五条), lists with buttons for everything, the give-away wording.

The clock starts at 2026-12-01 08:00 (Asia/Shanghai). Rosters are written as one letter a day from 12-01:
D 白班 09:00-18:00, E 晚班 14:00-23:00, - rest (第十七条).
"""

from __future__ import annotations

import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import people, requests
from tests.helpers import Chat, roster

SERVICE = ("wangfang", "liuyang", "chenjing", "yangmin", "zhaoqiang")


async def count_requests(app: App) -> int:
    async with app.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(requests))).scalar_one())


# ----- who decides ------------------------------------------------------------------------------------
async def test_a_supervisor_and_the_manager_are_decided_above_them(app: App, clock: FakeClock) -> None:
    chat = Chat(app, clock)
    await roster(app, {"liujun": "DDDDDDDDDDDD", "wangjianguo": "DDDDDDDDDDDD"})
    # 刘军 (supervisor), one day: the tier says lead, but the decider stands above him: the manager.
    sent = await chat.say("liujun", "/leave 事假 12-08 12-08 体检")
    assert any(m["to"] == "wangjianguo" and m["buttons"][:2] == ["✅ 批准", "❌ 驳回"] for m in sent), sent
    assert not any(m["to"] == "zhanglei" for m in sent)
    # 王建国 (manager), 5 roster days (12-08..12-12): above the manager, the approver of last resort.
    sent = await chat.say("wangjianguo", "/leave 年假 12-08 12-12 旅行")
    assert any(m["to"] == "admin" and m["buttons"] for m in sent), sent
    assert any(m["to"] == "wangjianguo" and "已提交给 系统管理员" in m["text"] for m in sent)


async def test_without_a_last_resort_the_managers_leave_is_refused_with_what_to_configure(
    app: App, clock: FakeClock
) -> None:
    async with app.db.transaction() as conn:
        await conn.execute(people.update().where(people.c.role == "admin").values(active=False))
    await roster(app, {"wangjianguo": "DDDDDDDDDDDD"})
    chat = Chat(app, clock)
    sent = await chat.say("wangjianguo", "/leave 年假 12-08 12-12 旅行")
    assert len(sent) == 1 and "approver_of_last_resort" in sent[0]["text"], sent
    assert await count_requests(app) == 0


async def test_only_the_chain_decides_never_another_team_or_the_admin(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDDDDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/leave 事假 12-08 12-08 家里有事")
    token = chat.transport.latest_buttons["zhanglei"][0]["token"]
    for other in ("chenhui", "lina", "admin", "liuyang"):
        chat.transport.latest_buttons[other] = [{"label": "x", "token": token}]
        refused = await chat.say(other, "press 1")
        assert "应由 张磊 或更高一级" in refused[0]["text"], (other, refused)
    chat.transport.latest_buttons["liujun"] = [{"label": "x", "token": token}]
    decided = await chat.say("liujun", "press 1")  # 刘军 is above 张磊 in 王芳's own chain
    assert any(m["to"] == "wangfang" and "已批准" in m["text"] for m in decided)


async def test_a_decider_on_leave_today_is_passed_over_and_the_card_says_so(
    app: App, clock: FakeClock
) -> None:
    await roster(app, {"wangfang": "DDDDDDDDDDDD", "zhanglei": "-DDDDDDDDDDD"})
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "/leave 事假 12-08 12-08 家里有事")
    card = next(m for m in sent if m["to"] == "liujun")
    assert "张磊 今天不在班，已转由上一级审批" in card["text"]
    assert not any(m["to"] == "zhanglei" for m in sent)


async def test_english_card_names_who_was_passed_over(app: App, clock: FakeClock) -> None:
    await roster(app, {"chenjing": "DDDDDDDDDDDD", "zhanglei": "-DDDDDDDDDDD"})
    chat = Chat(app, clock)
    sent = await chat.say("chenjing", "/leave personal 12-08 12-08 dentist")
    assert any(
        m["to"] == "chenjing" and m["text"].startswith("Your leave request went to 刘军") for m in sent
    ), sent


# ----- leave counted like HR --------------------------------------------------------------------------
async def test_leave_counts_roster_days_and_refuses_overlap_and_rest_days(app: App, clock: FakeClock) -> None:
    # 王芳 12-09..12-13: 晚 休 晚 休 白 → 3 days (第四十八条: more than 1, at most 3 → the supervisor).
    await roster(app, {"wangfang": "DDD-EEEEE-E-D"})
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "/leave 年假 12-09 12-13 旅行")
    assert any(m["to"] == "liujun" and m["buttons"] for m in sent), sent
    assert any(m["to"] == "wangfang" and "（3 天）" in m["text"] for m in sent)
    overlap = await chat.say("wangfang", "/leave 事假 12-13 12-13 x")
    assert overlap[0]["text"] == "这段时间已有您的请假申请 #1（待审批或已批准），不能重复申请。"
    rest = await chat.say("wangfang", "/leave 事假 12-04 12-04 x")
    assert rest[0]["text"].startswith("12-04 至 12-04 您都没有排班")
    assert await count_requests(app) == 1


async def test_leave_expires_when_its_first_shift_starts(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDDDDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/leave 事假 12-05 12-05 x")
    assert not any("过期" in m["text"] for m in await chat.line("clock: 2026-12-05 08:59"))
    expired = await chat.line("clock: 2026-12-05 09:00")
    told = next(m for m in expired if m["to"] == "wangfang" and "过期" in m["text"])
    assert "第四十七条" in told["text"] and "第四十一条" not in told["text"]


# ----- escalations --------------------------------------------------------------------------------------
async def test_one_liners_keep_the_description_and_take_the_category_from_the_words(
    app: App, clock: FakeClock
) -> None:
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 10:00")
    asked = await chat.say("wangfang", "/escalate 客户要求退款")
    assert asked[0]["text"] == "相关的订单号或客户编号？"  # category and description known already
    await chat.say("wangfang", "press 没有单号")
    sent = await chat.say("wangfang", "press 普通")
    card = next(m for m in sent if m["buttons"])
    assert "【超出权限】王芳：客户要求退款" in card["text"]
    urgent = await chat.say("wangfang", "/escalate 紧急 系统宕机了，客户无法下单")
    assert any("🚨紧急 【系统故障】" in m["text"] for m in urgent if m["buttons"])
    unclear = await chat.say("wangfang", "/escalate 紧急 现场情况不明")
    assert unclear[0]["text"] == "请选择上报类别："
    picked = await chat.say("wangfang", "press 人身或财产安全")
    assert any("【人身或财产安全】王芳：现场情况不明" in m["text"] for m in picked if m["buttons"])


async def test_decision_deadline_is_reminded_then_escalated(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDD", "zhanglei": "DDDD"})
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 10:00")
    await chat.say("wangfang", "/escalate 客户辱骂客服")
    await chat.say("wangfang", "press 没有单号")
    await chat.say("wangfang", "press 普通")
    acked = await chat.say("zhanglei", "press 确认接收")
    mine = next(m for m in acked if m["to"] == "zhanglei" and m["buttons"])
    assert "请在 12-01 10:30 前给出处理意见（第八十五条）" in mine["text"]  # 第八十五条: the lead, 30 minutes
    reminder = await chat.line("clock: 2026-12-01 10:15")
    assert any(m["to"] == "zhanglei" and "须在 12-01 10:30 前给出处理意见" in m["text"] for m in reminder)
    moved = await chat.line("clock: 2026-12-01 10:30")
    assert any(m["to"] == "liujun" and m["buttons"] for m in moved)
    assert any(m["to"] == "wangfang" and "未在时限内给出处理意见" in m["text"] for m in moved)


async def test_at_the_top_the_text_promises_only_reminders(app: App, clock: FakeClock) -> None:
    async with app.db.transaction() as conn:
        await conn.execute(people.update().where(people.c.role == "admin").values(active=False))
    chat = Chat(app, clock)
    await chat.line("clock: 2026-12-01 10:00")
    sent = await chat.say("liujun", "/escalate 客户要求赔偿5000元")
    await chat.say("liujun", "press 没有单号")
    sent = await chat.say("liujun", "press 普通")
    told = next(m for m in sent if m["to"] == "liujun")
    assert "这已是最高一级：未确认前每 30 分钟会提醒 王建国 一次" in told["text"]
    assert "自动升级" not in told["text"]


# ----- lists --------------------------------------------------------------------------------------------
async def test_pending_pages_through_everything_with_buttons_for_each(app: App, clock: FakeClock) -> None:
    await roster(app, {p: "DDDDDDDDDDDD" for p in (*SERVICE, "huangwei", "zhoujie")})
    chat = Chat(app, clock)
    for person in (*SERVICE, "huangwei", "zhoujie"):
        await chat.say(person, "/leave 事假 12-08 12-08 x")
    first = (await chat.say("wangjianguo", "/pending"))[0]
    assert "（7 项" in first["text"] and "第 1/2 页" in first["text"]
    assert first["buttons"][:2] == ["✅ 批准 #1", "❌ 驳回 #1"]
    assert len([b for b in first["buttons"] if b.startswith("✅")]) == 5 and first["buttons"][-1] == "更多 ▶"
    second = (await chat.say("wangjianguo", "press 更多 ▶"))[0]
    assert "第 2/2 页" in second["text"]
    assert [b for b in second["buttons"] if b.startswith("✅")] == ["✅ 批准 #6", "✅ 批准 #7"]
    # 张磊 sees only his team's five; 李娜 only hers.
    assert "（5 项" in (await chat.say("zhanglei", "/pending"))[0]["text"]
    assert "（2 项" in (await chat.say("lina", "/pending"))[0]["text"]


async def test_reminders_are_one_digest_per_decider_with_buttons(app: App, clock: FakeClock) -> None:
    await roster(app, {p: "DDDDDDDDDDDD" for p in SERVICE[:3]})
    chat = Chat(app, clock)
    for person in SERVICE[:3]:
        await chat.say(person, "/leave 事假 12-08 12-08 x")
    reminded = [m for m in await chat.line("clock: 2026-12-01 10:00") if m["to"] == "zhanglei"]
    assert len(reminded) == 1, reminded
    assert reminded[0]["text"].startswith("提醒：以下 3 项申请还在等您处理")
    assert [b for b in reminded[0]["buttons"] if b.startswith("✅")] == [
        "✅ 批准 #1",
        "✅ 批准 #2",
        "✅ 批准 #3",
    ]


async def test_giveaway_has_its_own_words_and_offers_only_who_can_take_it(app: App, clock: FakeClock) -> None:
    # 12-04: 陈静 rests but works 12-01..12-03 and 12-05..12-07, so taking 12-04 makes 7 days in a row;
    # 黄伟 rests and would work 12-03..12-06 at most: the only one offered.
    await roster(
        app,
        {
            "wangfang": "DDDDDD------",
            "chenjing": "DDD-DDD-----",
            "huangwei": "DD----------",
            "liuyang": "DDDDDDDDDDDD",
        },
    )
    chat = Chat(app, clock)
    mine = await chat.say("wangfang", "/giveaway")
    assert mine[0]["text"] == "要请同事替哪一天的班？（对方接您的班，您当天休息）"
    who = await chat.say("wangfang", "press 12-04 白班")
    assert who[0]["text"].startswith("12-04 请谁替班？")
    names = who[0]["buttons"]
    assert "黄伟" in names and "陈静" not in names and "刘洋" not in names
    sent = await chat.say("wangfang", "press 黄伟")
    assert any(m["to"] == "huangwei" and m["text"].startswith("王芳 想请您替班") for m in sent)


async def test_a_bad_answer_in_the_leave_form_asks_only_that_step_again(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DDDDDDDDDDDD"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/leave")
    await chat.say("wangfang", "press 事假")
    await chat.say("wangfang", "12-09")
    again = await chat.say("wangfang", "12-08")
    assert again[0]["text"] == "结束日期早于开始日期，请重新填写。\n到哪天结束？（例如 12-09）"
    assert (await chat.say("wangfang", "后天后"))[0]["text"].startswith("“后天后”不是日期")
    assert (await chat.say("wangfang", "12-10"))[0]["text"] == "请简单写一下事由："
    sent = await chat.say("wangfang", "搬家")
    card = next(m for m in sent if m["to"] == "liujun")  # 12-09..12-10: 2 roster days → the supervisor
    assert "12-09 至 12-10（2 天）" in card["text"]
