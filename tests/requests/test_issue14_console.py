"""Issue 14 as a user meets it: `deskmate console --demo --script` (in this process, as the console tests
run it) on SQLite and on PostgreSQL, one flow in Chinese and one in English, with bad input on the way.

Expected values are worked out from the handbook and the demo roster (examples/roster.csv), as of 12-01
08:00: 张磊 rests on 12-01, so the lead's requests pass to 刘军 (supervisor) and the card says so; 王芳 works
12-04 晚班 and 陈静 12-04 白班; 陈静 works 12-09 and 12-10 白班; 王芳 rests 12-10 and 12-12 and works 12-09,
12-11 (晚) and 12-13 (白)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.helpers import deskmate, json_lines


async def run(database_url: str, tmp_path: Path, script: str) -> list[dict[str, Any]]:
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "KB_SEMANTIC": "false"}
    (tmp_path / "script.txt").write_text(script, encoding="utf-8")
    result = await asyncio.to_thread(
        deskmate,
        "console",
        "--demo",
        "--script",
        str(tmp_path / "script.txt"),
        "--json",
        env=env,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    return json_lines(result.stdout)


def texts(messages: list[dict[str, Any]], to: str) -> list[str]:
    return [m["text"] for m in messages if m["to"] == to and not m["edit_of"]]


ZH = """clock: 2026-12-01 08:00
wangfang: /swap 12-04 chenjing 12-13
wangfang: /swap 12-04 chenjing
chenjing: press Agree
liujun: press 批准
wangfang: /shifts
wangfang: /leave 年假 12-10 12-10 休息
wangfang: /leave 年假 12-09 12-13 旅行
wangfang: /leave 事假 12-11 12-11 办事
wangfang: /leave 事假 后天后 12-11 办事
liujun: /leave 事假 12-08 12-08 体检
wangjianguo: /leave 事假 12-08 12-08 体检
wangfang: /leave 病假 12-05 下午 看牙
wangfang: /requests
wangfang: press 取消已批准的 #1
chenjing: press Agree
liujun: /pending
liujun: press ✅ 批准 #6
wangfang: /shifts
wangjianguo: /escalate 紧急 系统宕机，全部渠道打不开
clock: 2026-12-01 08:29
clock: 2026-12-01 08:30
"""


async def test_the_issue_in_chinese(database_url: str, tmp_path: Path) -> None:
    sent = await run(database_url, tmp_path, ZH)
    wangfang = texts(sent, "wangfang")
    # 1, 2: the issue's cross-day case is refused with the article instead of exchanging a hidden second day.
    assert wangfang[0] == "陈静 12-04 已有排班，不能再接这个班（第四十三条）。"
    # A same-day swap: the card names the two cells, and exactly those change (12-05 stays 晚班).
    card = next(t for t in texts(sent, "liujun") if t.startswith("王芳 的换班申请已获对方同意"))
    assert "王芳 12-04 晚班 ⇄ 陈静 12-04 白班" in card and "（张磊 今天不在班，已转由上一级审批）" in card
    shifts = [t for t in wangfang if t.startswith("我未来7天的排班")]
    assert "12-04 周五  白班 09:00–18:00" in shifts[0] and "12-05 周六  晚班 14:00–23:00" in shifts[0]
    # 4: leave counted on the roster: a rest day only is refused; 12-09..12-13 over 晚 休 晚 休 白 is 3 days,
    # so the supervisor decides (第四十八条); an overlapping request is refused naming the first.
    assert "12-10 至 12-10 您都没有排班（休息日或节假日），不需要请假（第四十八条）。" in wangfang
    assert any("#2 请假：王芳 年休假 12-09 至 12-13（3 天）" in t for t in texts(sent, "liujun"))
    assert "这段时间已有您的请假申请 #2（待审批或已批准），不能重复申请。" in wangfang
    assert "“后天后”不是日期，请写 12-08、2026-12-08 或 明天。" in wangfang  # named, with what to write
    # 3: a supervisor's leave goes to the manager, the manager's to the approver of last resort (admin).
    assert any(t.startswith("刘军 申请请假") for t in texts(sent, "wangjianguo"))
    assert any(t.startswith("王建国 申请请假") for t in texts(sent, "admin"))
    # Half a day (病假, unit 0.5): 0.5 day, so the lead's tier; the lead rests today, so 刘军.
    assert any("#5 请假：王芳 病假 12-05 下午半天（0.5 天）" in t for t in texts(sent, "liujun"))
    # 7: cancelling the approved swap: 陈静 agrees, 刘军 approves, and the roster goes back.
    assert "12-04 周五  晚班 14:00–23:00" in shifts[1]
    # 6: /pending lists everything with buttons for each item.
    pending = next(m for m in sent if m["to"] == "liujun" and m["text"].startswith("等您处理的申请（3 项"))
    assert pending["buttons"] == [
        "✅ 批准 #2",
        "❌ 驳回 #2",
        "✅ 批准 #5",
        "❌ 驳回 #5",
        "✅ 批准 #6",
        "❌ 驳回 #6",
    ]
    # 5: the manager's own emergency goes to the approver of last resort, the top: only the cadence is
    # promised, and the reminder comes at 30 minutes, not before, and speaks of no move up.
    assert "已上报给 系统管理员（#7）。这已是最高一级：未确认前每 30 分钟会提醒 系统管理员 一次。" in texts(
        sent, "wangjianguo"
    )
    reminders = [m for m in sent if m["to"] == "admin" and m["text"].startswith("提醒")]
    assert [m["at"][11:16] for m in reminders] == ["08:30"]
    assert "这已是最高一级，确认前每 30 分钟提醒您一次" in reminders[0]["text"]
    assert "【系统故障】" in reminders[0]["text"]  # the category from its words (宕机)


EN = """clock: 2026-12-01 08:00
chenjing: /swap 12-04 wangfang
wangfang: press 同意
liujun: press 批准
chenjing: /shifts
chenjing: /leave annual 12-09 12-09 family
chenjing: /leave sick 12-10 am dentist
chenjing: /leave annual 12-11 pm trip
chenjing: /leave sick 12-09 12-09 again
chenjing: /leave vacation 12-09 12-09 x
chenjing: /escalate The customer threatens to hurt himself
chenjing: press No order number
chenjing: press Normal
clock: 2026-12-01 08:07
clock: 2026-12-01 08:08
clock: 2026-12-01 08:15
"""


async def test_the_issue_in_english(database_url: str, tmp_path: Path) -> None:
    sent = await run(database_url, tmp_path, EN)
    chenjing = texts(sent, "chenjing")
    assert any(
        t.startswith("Your request was approved: #1 shift swap: 陈静 12-04 day ⇄ 王芳 12-04 evening")
        for t in chenjing
    )
    shifts = next(t for t in chenjing if t.startswith("My shifts for the next 7 days"))
    assert "12-04 Fri  evening 14:00–23:00" in shifts and "12-03 Thu  day 09:00–18:00" in shifts
    assert "12-05 Sat  rest" in shifts
    # A one-day annual leave: the lead's tier, passed to 刘军 because 张磊 rests today (the card says so).
    assert (
        "Your leave request went to 刘军: #2 leave: 陈静 annual leave 12-09 to 12-09 (1 day), reason: family"
        in chenjing
    )
    assert (
        "Your leave request went to 刘军: #3 leave: 陈静 sick leave 12-10 morning (0.5 days), reason: dentist"
        in chenjing
    )
    assert "annual leave is taken in units of 1 day, not half days (Article 52)." in chenjing
    overlap = "You already have leave request #2 (waiting or approved) for these days"
    assert any(t.startswith(overlap) for t in chenjing)
    assert any(t.startswith('There is no leave type "vacation"; pick one below') for t in chenjing)
    # An escalation at 08:00: no lead is on duty yet (day shifts start 09:00), so the supervisor, with 15
    # minutes (第八十三条); the category comes from "hurt"; reminded halfway (08:07:30), moved at 08:15.
    assert "Escalated to 刘军 (#4); if not acknowledged within 15 minutes it moves up by itself." in chenjing
    card = next(t for t in texts(sent, "liujun") if "#4 升级" in t and "15 分钟内确认接收" in t)
    assert "【人身或财产安全】" in card
    reminded = [m for m in sent if m["to"] == "liujun" and m["text"].startswith("提醒：这项上报仍未确认接收")]
    assert [m["at"][11:16] for m in reminded] == ["08:08"]
    assert "请在 12-01 08:15 前确认（第八十三条）" in reminded[0]["text"]
    assert any(
        t.startswith("刘军 did not acknowledge in time; your escalation moved up to 王建国 (Article 84)")
        for t in chenjing
    )
