"""Shift swaps end to end on the console: request, accept, approve, roster changed; every refusal."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
import sqlalchemy as sa

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log, requests
from tests.conftest import local
from tests.helpers import Chat, roster, shift_of


@pytest.fixture
async def team(app: App) -> App:
    await roster(
        app,
        {
            "wangfang": "DDDD-DDDDD",
            "liuyang": "EE-EEEE-EE",
            "chenjing": "DD--DDDDDD",
            "huangwei": "DDD-DDDD-D",
        },
    )
    return app


async def test_full_swap_request_accept_approve(team: App, clock: FakeClock) -> None:
    chat = Chat(team, clock)
    sent = await chat.say("wangfang", "/swap 12-04 liuyang 12-04")
    assert any(m["to"] == "liuyang" and m["buttons"] == ["👍 同意", "👎 不同意"] for m in sent)
    assert any(m["to"] == "wangfang" and "已发给 刘洋 确认" in m["text"] for m in sent)
    accepted = await chat.say("liuyang", "press 1")
    card = next(m for m in accepted if m["to"] == "zhanglei")
    assert card["buttons"] == ["✅ 批准", "❌ 驳回", "驳回并说明理由"]
    assert "12-04 白班 ⇄ 刘洋 12-04 晚班" in card["text"]
    stale = chat.transport.latest_buttons["zhanglei"]
    decided = await chat.say("zhanglei", "press 批准")
    edits = [m for m in decided if m["edit_of"]]
    assert edits and all(m["buttons"] == [] for m in edits)
    assert any("已批准（张磊" in m["text"] for m in edits)
    told = {m["to"] for m in decided if not m["edit_of"]}
    assert {"wangfang", "liuyang"} <= told
    assert await shift_of(team, "wangfang", date(2026, 12, 4)) == "evening"
    assert await shift_of(team, "liuyang", date(2026, 12, 4)) == "day"
    # The card lost its buttons; a stale copy pressed again gets "already decided", never an error.
    assert "zhanglei" not in chat.transport.latest_buttons
    chat.transport.latest_buttons["zhanglei"] = stale
    again = await chat.say("zhanglei", "press 1")
    assert again[0]["text"].startswith("申请 #1 已经处理：已批准（张磊，12-01 08:00）")
    async with team.db.read() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action).order_by(audit_log.c.id))).scalars().all()
    assert [a for a in actions if a.startswith(("swap.", "roster."))] == [
        "swap.created",
        "swap.accepted",
        "swap.approved",
        "roster.changed",
    ]


async def test_swap_across_teams_goes_to_the_lowest_common_superior(team: App, clock: FakeClock) -> None:
    """王芳 (客服组: 张磊, 刘军) and 黄伟 (订单组: 李娜, 陈辉) share only the manager above them, so 王建国
    decides and both leads are told; the roster changes in exactly the four cells of the two shifts."""
    chat = Chat(team, clock)
    async with team.db.read() as conn:
        before = {
            (e.person_id, e.day): e.shift_code
            for e in await roster_store.between(conn, date(2026, 12, 1), date(2026, 12, 10))
        }
    await chat.say("wangfang", "/swap 12-04 huangwei 12-05")
    decider_cards = await chat.say("huangwei", "press 1")
    assert any(m["to"] == "wangjianguo" and m["buttons"] for m in decider_cards)
    assert {m["to"] for m in decider_cards if "跨组申请，由 王建国 审批" in m["text"]} == {"zhanglei", "lina"}
    assert not any(m["to"] in ("liujun", "chenhui") and m["buttons"] for m in decider_cards)
    await chat.say("wangjianguo", "press 批准")
    async with team.db.read() as conn:
        after = {
            (e.person_id, e.day): e.shift_code
            for e in await roster_store.between(conn, date(2026, 12, 1), date(2026, 12, 10))
        }
    changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    assert changed == {
        ("wangfang", date(2026, 12, 4)): ("day", None),
        ("huangwei", date(2026, 12, 4)): (None, "day"),
        ("huangwei", date(2026, 12, 5)): ("day", None),
        ("wangfang", date(2026, 12, 5)): (None, "day"),
    }


async def test_a_cross_day_swap_never_exchanges_a_second_day(team: App, clock: FakeClock) -> None:
    """The issue's case: 刘洋 already works 12-05, so she cannot also take 王芳's 12-05 shift; the old code
    silently exchanged both days' cells instead."""
    chat = Chat(team, clock)
    sent = await chat.say("wangfang", "/swap 12-06 liuyang 12-07")
    assert sent[0]["text"] == "刘洋 12-06 已有排班，不能再接这个班（第四十三条）。", sent


async def test_colleague_declines(team: App, clock: FakeClock) -> None:
    chat = Chat(team, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang")
    declined = await chat.say("liuyang", "press 不同意")
    assert any(m["to"] == "wangfang" and "不同意这次换班" in m["text"] for m in declined)
    assert await shift_of(team, "wangfang", date(2026, 12, 4)) == "day"


async def test_button_flow_builds_the_same_request(team: App, clock: FakeClock) -> None:
    chat = Chat(team, clock)
    mine = await chat.say("wangfang", "换班")
    assert mine[0]["buttons"][0] == "12-02 白班"  # 12-01 starts within 24 hours
    who = await chat.say("wangfang", "press 12-04 白班")
    assert "刘洋 (晚班)" in who[0]["buttons"]
    theirs = await chat.say("wangfang", "press 刘洋 (晚班)")
    assert "12-04 晚班" in theirs[0]["buttons"]
    sent = await chat.say("wangfang", "press 12-04 晚班")
    assert any(m["to"] == "liuyang" for m in sent)


async def test_give_away(team: App, clock: FakeClock) -> None:
    chat = Chat(team, clock)
    await chat.say("wangfang", "/giveaway 12-03 chenjing")
    await chat.say("chenjing", "press 1")
    await chat.say("zhanglei", "press 1")
    assert await shift_of(team, "wangfang", date(2026, 12, 3)) is None
    assert await shift_of(team, "chenjing", date(2026, 12, 3)) == "day"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/swap 12-01 liuyang", "至少 24 小时申请（第四十条）"),
        ("/swap 12-05 liuyang", "您 12-05 没有排班"),
        ("/swap 12-04 liuyang 12-08", "刘洋 12-08 没有排班，无法换这个班（第三十九条）"),
        ("/swap 12-03 wangfang", "不能和自己换班"),
        ("/swap 12-03 nobody", "找不到同事“nobody”"),
        ("/swap 12-03", "用法：/swap"),
        ("/giveaway 12-04 liuyang", "刘洋 12-04 已有排班"),
        ("/swap 12-02 liuyang", "两个班次之间的休息不足 11 小时（第四十三条）"),
    ],
)
async def test_refusals_quote_the_article(team: App, clock: FakeClock, line: str, expected: str) -> None:
    chat = Chat(team, clock)
    sent = await chat.say("wangfang", line)
    assert len(sent) == 1 and expected in sent[0]["text"], sent
    async with team.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(requests))).scalar() == 0


async def test_refusals_for_new_hire_overlap_and_consecutive(team: App, clock: FakeClock) -> None:
    chat = Chat(team, clock)
    # zhaoqiang joined 2026-11-16: still in the first month.
    await roster(team, {"zhaoqiang": "DDDDDDDDDD"})
    assert (
        "入职未满1个月的员工不能申请换班（第三十九条）"
        in (await chat.say("zhaoqiang", "/swap 12-03 liuyang"))[0]["text"]
    )
    # A pending swap for the same day blocks another one by either person.
    await chat.say("wangfang", "/swap 12-04 liuyang")
    assert (
        "已有一项待处理的换班申请 #1" in (await chat.say("liuyang", "/swap 12-04 chenjing 12-05"))[0]["text"]
    )
    # Taking huangwei's 12-03 would give chenjing seven days in a row.
    await roster(team, {"chenjing": "DD-DDDD-DD"})
    text = (await chat.say("huangwei", "/giveaway 12-03 chenjing"))[0]["text"]
    assert text == "换班后 陈静 会连续工作超过 6 天（第四十三条）。"


async def test_monthly_limit(team: App, clock: FakeClock) -> None:
    from bot import requests as engine

    async with team.db.transaction() as conn:
        for day in ("2026-12-02", "2026-12-03", "2026-12-09"):
            await engine.create(
                conn,
                kind="swap",
                state=engine.APPROVED,
                requester_id="wangfang",
                subject_id="chenjing",
                now=clock.now(),
                payload={"day": day, "their_day": day},
            )
    chat = Chat(team, clock)
    text = (await chat.say("wangfang", "/swap 12-04 liuyang"))[0]["text"]
    assert text == "王芳 本月换班已达 3 次上限（第四十二条）。"


async def test_permissions_on_the_decision(team: App, clock: FakeClock) -> None:
    chat = Chat(team, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang")
    await chat.say("liuyang", "press 1")
    # Another agent cannot decide; the requester cannot either (via /pending buttons they do not get).
    token = chat.transport.latest_buttons["zhanglei"][0]["token"]
    chat.transport.latest_buttons["chenjing"] = [{"label": "x", "token": token}]
    chat.transport.latest_buttons["wangfang"] = [{"label": "x", "token": token}]
    refused = await chat.say("chenjing", "press 1")
    assert (
        refused[0]["text"] == "Request #1 is for 张磊 or someone above to decide; your press changed nothing."
    )
    own = await chat.say("wangfang", "press 1")
    assert "不能审批自己参与的申请" in own[0]["text"]
    # The supervisor is above the lead: allowed.
    chat.transport.latest_buttons["liujun"] = [{"label": "x", "token": token}]
    await chat.say("liujun", "press 1")
    assert await shift_of(team, "wangfang", date(2026, 12, 4)) == "evening"
    chat.transport.latest_buttons["zhanglei"] = [{"label": "x", "token": token}]
    later = await chat.say("zhanglei", "press 1")
    assert "已经处理：已批准（刘军" in later[0]["text"]


@pytest.mark.slow  # 30 presses at once; on PostgreSQL each takes its own connection (~30 s under load)
async def test_concurrent_approvals_give_one_decision(team: App, clock: FakeClock) -> None:
    chat = Chat(team, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang")
    await chat.say("liuyang", "press 1")
    token = chat.transport.latest_buttons["zhanglei"][0]["token"]
    from bot.messages import Incoming

    lead = await team.person("zhanglei")
    await asyncio.gather(
        *(
            team.handle(Incoming("console", "zhanglei", "zhanglei", lead, clock.now(), button_token=token))
            for _ in range(30)
        )
    )
    async with team.db.read() as conn:
        approved = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(audit_log).where(audit_log.c.action == "swap.approved")
            )
        ).scalar()
    assert approved == 1


async def test_pending_and_my_requests_and_cancel(team: App, clock: FakeClock) -> None:
    chat = Chat(team, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang")
    await chat.say("liuyang", "press 1")
    clock.set(local("2026-12-01 10:30"))
    pending = (await chat.say("zhanglei", "待审批"))[0]
    assert "等您处理的申请（1 项" in pending["text"] and "已等待 2小时30分" in pending["text"]
    mine = (await chat.say("wangfang", "我的申请"))[0]
    assert "待审批" in mine["text"] and mine["buttons"] == ["撤回 #1"]
    cancelled = await chat.say("wangfang", "press 1")
    assert any("申请 #1 已撤回" in m["text"] for m in cancelled)
    assert any(m["edit_of"] and "已撤回" in m["text"] for m in cancelled)
    assert "没有等您审批" in (await chat.say("zhanglei", "/pending"))[0]["text"]


async def test_decider_is_reminded_and_request_expires(team: App, clock: FakeClock) -> None:
    chat = Chat(team, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang")
    await chat.say("liuyang", "press 1")
    await chat.line("clock: 2026-12-01 09:30")
    reminded = await chat.line("clock: 2026-12-01 10:30")
    assert any(m["to"] == "zhanglei" and m["text"].startswith("提醒") for m in reminded)
    expired = await chat.line("clock: 2026-12-04 09:01")
    assert any(m["to"] == "wangfang" and "申请已过期" in m["text"] for m in expired)
    assert await shift_of(team, "wangfang", date(2026, 12, 4)) == "day"
