"""The rule again at the approver's press, on the roster as it is then (issue 14): a roster changed between
request and approval can make a swap, give-away or leave invalid; it is then refused with the article,
audited, both parties told, and the roster left as it is. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log, requests
from tests.helpers import Chat, roster, shift_of


async def cells(app: App, first: date, last: date) -> dict[tuple[str, date], str | None]:
    async with app.db.read() as conn:
        return {(e.person_id, e.day): e.shift_code for e in await roster_store.between(conn, first, last)}


async def state_and_actions(app: App, request_id: int) -> tuple[str, list[str]]:
    async with app.db.read() as conn:
        state = (await conn.execute(sa.select(requests.c.state).where(requests.c.id == request_id))).scalar()
        actions = (
            (
                await conn.execute(
                    sa.select(audit_log.c.action)
                    .where(audit_log.c.object_id == str(request_id))
                    .order_by(audit_log.c.id)
                )
            )
            .scalars()
            .all()
        )
    return str(state), list(actions)


async def test_a_swap_whose_shift_changed_since_is_refused_at_the_press(app: App, clock: FakeClock) -> None:
    """王芳 asks to swap her 12-04 day shift for 刘洋's evening; 刘洋 agrees; then the published roster gives
    王芳 12-04 off. Approving would now give 刘洋 a shift that 王芳 no longer has: 第四十一条 refusal."""
    await roster(app, {"wangfang": "DDDD-DD", "liuyang": "EE-EEEE"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang 12-04")
    await chat.say("liuyang", "press 同意")
    await roster(app, {"wangfang": "DDD--DD"})  # the roster re-published: 王芳 rests on 12-04
    before = await cells(app, date(2026, 12, 1), date(2026, 12, 7))
    pressed = await chat.say("zhanglei", "press 批准")
    why = "王芳 12-04 的排班已和申请时不同，这项申请不能按卡片上写的生效（第四十一条）。"
    mine = next(m for m in pressed if m["to"] == "zhanglei" and not m["edit_of"])
    assert mine["text"].startswith("您按了批准，但按当前排班复核未通过") and why in mine["text"], mine
    told = {m["to"]: m["text"] for m in pressed if m["to"] in ("wangfang", "liuyang")}
    assert set(told) == {"wangfang", "liuyang"}
    assert all("已自动驳回，排班不变" in text and why in text for text in told.values()), told
    edits = [m for m in pressed if m["edit_of"]]
    assert edits and all(m["buttons"] == [] and why in m["text"] for m in edits), edits
    assert await cells(app, date(2026, 12, 1), date(2026, 12, 7)) == before
    assert await shift_of(app, "liuyang", date(2026, 12, 4)) == "evening"
    state, actions = await state_and_actions(app, 1)
    assert state == "rejected"
    assert actions[-1] == "swap.refused_at_approval" and "swap.approved" not in actions
    assert "roster.changed" not in actions


async def test_a_give_away_that_now_breaks_the_six_day_limit_is_refused(app: App, clock: FakeClock) -> None:
    """王芳 gives her 12-04 day shift to 陈静 (en), who rests 12-03 and 12-04: with it 陈静 works
    12-04..12-07, four days. Then the roster gives 陈静 12-03 too: taking 12-04 now makes 12-01..12-07
    seven days in a row, more than 第四十三条's six. The refusal reaches 陈静 in English."""
    await roster(app, {"wangfang": "DDDD-DD-", "chenjing": "DD--DDD-"})
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "/giveaway 12-04 chenjing")
    assert any(m["to"] == "chenjing" and m["buttons"] for m in sent), sent
    await chat.say("chenjing", "press Agree")
    await roster(app, {"chenjing": "DDD-DDD-"})
    before = await cells(app, date(2026, 12, 1), date(2026, 12, 8))
    pressed = await chat.say("zhanglei", "press 批准")
    zh = next(m["text"] for m in pressed if m["to"] == "wangfang")
    en = next(m["text"] for m in pressed if m["to"] == "chenjing")
    assert "换班后 陈静 会连续工作超过 6 天（第四十三条）。" in zh, zh
    assert en.startswith("Your request was checked again at approval"), en
    assert "After the swap 陈静 would work more than 6 days in a row (Article 43)." in en, en
    assert await cells(app, date(2026, 12, 1), date(2026, 12, 8)) == before
    state, actions = await state_and_actions(app, 1)
    assert (state, actions[-1]) == ("rejected", "give_away.refused_at_approval")


async def test_the_same_swap_is_approved_when_nothing_changed(app: App, clock: FakeClock) -> None:
    """The control: without the roster change the same give-away is approved and moves one cell."""
    await roster(app, {"wangfang": "DDDD-DD-", "chenjing": "DD--DDD-"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/giveaway 12-04 chenjing")
    await chat.say("chenjing", "press Agree")
    before = await cells(app, date(2026, 12, 1), date(2026, 12, 8))
    pressed = await chat.say("zhanglei", "press 批准")
    assert any(m["to"] == "wangfang" and m["text"].startswith("您的申请已批准") for m in pressed), pressed
    after = await cells(app, date(2026, 12, 1), date(2026, 12, 8))
    changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    assert changed == {
        ("wangfang", date(2026, 12, 4)): ("day", None),
        ("chenjing", date(2026, 12, 4)): (None, "day"),
    }


async def test_a_leave_whose_days_changed_is_refused_and_the_roster_left_alone(
    app: App, clock: FakeClock
) -> None:
    """王芳 asks 事假 12-08..12-09, two rostered days, so 刘军 (supervisor, 第四十八条) decides. The roster
    is then re-published with 12-09 a rest day: the leave would count 1 day, not the 2 on its card."""
    await roster(app, {"wangfang": "DDDD-DDDDD"})
    chat = Chat(app, clock)
    sent = await chat.say("wangfang", "/leave 事假 12-08 12-09 搬家")
    assert any(m["to"] == "liujun" and "2" in m["text"] for m in sent), sent
    await roster(app, {"wangfang": "DDDD-DDD-D"})
    pressed = await chat.say("liujun", "press 批准")
    why = "按现在的排班，这段假期要计 1 天，和申请时的 2 天不同，不能按原样批准（第四十八条）。"
    assert any(m["to"] == "wangfang" and why in m["text"] for m in pressed), pressed
    assert any(m["to"] == "liujun" and not m["edit_of"] and why in m["text"] for m in pressed), pressed
    async with app.db.read() as conn:
        notes = [e.note for e in await roster_store.between(conn, date(2026, 12, 8), date(2026, 12, 9))]
    assert not any(n and n.startswith("leave:") for n in notes), notes
    state, actions = await state_and_actions(app, 1)
    assert (state, actions[-1]) == ("rejected", "leave.refused_at_approval")
    # A rejection by the rule is final: a stale copy of the card pressed again says so, changing nothing.
    again = await chat.say("liujun", "/pending")
    assert again[0]["text"] == "目前没有等您审批的申请。"


async def test_an_english_decider_reads_the_refusal_in_english(app: App, clock: FakeClock) -> None:
    """徐明 (en, order team) asks a leave decided by 李娜 (zh): each reads the refusal in their language."""
    await roster(app, {"xuming": "DDDD-DDDDD"})
    chat = Chat(app, clock)
    sent = await chat.say("xuming", "/leave personal 12-08 12-08 errands")
    assert any(m["to"] == "lina" and m["buttons"] for m in sent), sent
    await roster(app, {"xuming": "DDDD-DD-DD"})  # 12-08 becomes a rest day
    pressed = await chat.say("lina", "press 批准")
    en = next(m["text"] for m in pressed if m["to"] == "xuming")
    zh = next(m["text"] for m in pressed if m["to"] == "lina" and not m["edit_of"])
    assert en.startswith("Your request was checked again at approval"), en
    why = "You have no shift from 12-08 to 12-08 (rest days or holidays), so no leave is needed (Article 48)."
    assert why in en, en
    assert "您按了批准，但按当前排班复核未通过" in zh and "（第四十八条）" in zh, zh


async def test_a_refusal_pressed_in_the_supervisors_group_keeps_the_reason_out_of_it(
    app: App, clock: FakeClock
) -> None:
    """Pressed on the group's copy of the card: the group sees only its card edited (no leave reason);
    the presser is told why in their private chat."""
    from handlers.requests import SUPERVISORS_CHAT

    app.shared.supervisors_chat = SUPERVISORS_CHAT
    await roster(app, {"wangfang": "DDDD-DDDDD"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/leave 事假 12-08 12-09 看病-隐私")
    await roster(app, {"wangfang": "DDDD-DDD-D"})
    pressed = await chat.say("liujun", "press 批准", SUPERVISORS_CHAT)
    in_group = [m for m in pressed if m["to"] == SUPERVISORS_CHAT]
    assert in_group and all(m["edit_of"] and "看病" not in m["text"] for m in in_group), in_group
    private = [m["text"] for m in pressed if m["to"] == "liujun" and not m["edit_of"]]
    assert len(private) == 1 and private[0].startswith("您按了批准，但按当前排班复核未通过"), private
    state, actions = await state_and_actions(app, 1)
    assert (state, actions[-1]) == ("rejected", "leave.refused_at_approval")


async def test_a_swap_that_the_roster_broke_before_the_colleague_agreed_is_refused_at_their_press(
    app: App, clock: FakeClock
) -> None:
    """The rule runs at the colleague's press too: 王芳 asks 刘洋 to swap 12-04 (her day shift for his
    evening); before 刘洋 answers, the roster is re-published with 王芳 resting on 12-04. 刘洋's 同意 is
    then refused by 第四十一条: no card reaches the lead, both are told why (刘洋 once), nothing changes."""
    await roster(app, {"wangfang": "DDDD-DD", "liuyang": "EE-EEEE"})
    chat = Chat(app, clock)
    await chat.say("wangfang", "/swap 12-04 liuyang 12-04")
    await roster(app, {"wangfang": "DDD--DD"})
    before = await cells(app, date(2026, 12, 1), date(2026, 12, 7))
    pressed = await chat.say("liuyang", "press 同意")
    why = "王芳 12-04 的排班已和申请时不同，这项申请不能按卡片上写的生效（第四十一条）。"
    assert not any(m["to"] == "zhanglei" and m["buttons"] for m in pressed), pressed
    to_liuyang = [m["text"] for m in pressed if m["to"] == "liuyang" and not m["edit_of"]]
    assert len(to_liuyang) == 1 and why in to_liuyang[0], to_liuyang
    to_wangfang = [m["text"] for m in pressed if m["to"] == "wangfang"]
    assert any("已自动驳回，排班不变" in t and why in t for t in to_wangfang), to_wangfang
    assert await cells(app, date(2026, 12, 1), date(2026, 12, 7)) == before
    state, actions = await state_and_actions(app, 1)
    assert state == "rejected" and actions[-1] == "swap.refused_at_approval"
    assert "swap.accepted" not in actions
